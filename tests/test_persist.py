"""The persisted cache: a client that starts again shows its user's last known data at once,
marked stale, then refreshes; another user's rows are never loaded, and a login switches."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gamify_client import AsyncGamifyClient, CacheKey, ClientConfig, ConfigError, GamifyClient
from gamify_client.models import Dashboard, Task
from gamify_client.persist import PersistedCache
from gamify_client.refresh import DataRefreshManager
from gamify_client.testing import DemoData, GamifyBackend

from ._flavours import FLAVOURS, Client, Harness


class Restarts(Harness):
    """Clients straight on the backend's transport (its injected latency never blocks the
    async client's loop), all keeping their cache in one file."""

    def __init__(self, flavour: str, backend: GamifyBackend, config: ClientConfig, path: Path):
        super().__init__(flavour, backend, config)
        self.path = str(path)

    def persisted(self, user_id: str | None) -> Client:
        token = None if user_id is None else self.backend.token_for(user_id)
        config = self.config.replace(token=token)
        client: Client
        if self.flavour == "sync":
            http = httpx.Client(transport=self.backend.transport())
            client = GamifyClient(
                config=config, http_client=http, offline=self.path, persist_cache=True
            )
        else:
            ahttp = httpx.AsyncClient(transport=self.backend.transport())
            client = AsyncGamifyClient(
                config=config, http_client=ahttp, offline=self.path, persist_cache=True
            )
        self.clients.append(client)
        return client


@pytest.fixture(params=FLAVOURS)
def restarts(
    request: pytest.FixtureRequest, backend: GamifyBackend, config: ClientConfig, tmp_path: Path
) -> Iterator[Restarts]:
    harness = Restarts(str(request.param), backend, config, tmp_path / "offline.db")
    yield harness
    harness.close()


def _xp(data: Any) -> int:
    assert isinstance(data, Dashboard)
    return data.overall_stats.user_total_xp


def _first_run(restarts: Restarts, demo: DemoData) -> Dashboard:
    """The learner's client fetches its dashboard and tasks, then stops."""
    client = restarts.persisted(demo.users[0].id)
    query = restarts.run(client.use_dashboard_data)
    dashboard = restarts.run(query.refresh)
    restarts.run(lambda: client.refresh_manager.set(CacheKey.TASKS, []))
    restarts.run(client.close)
    assert isinstance(dashboard, Dashboard)
    return dashboard


def _earn_points(restarts: Restarts, demo: DemoData) -> int:
    """The learner earns XP from elsewhere, so the server's dashboard differs from the kept one."""
    user_id, task_id = demo.users[0].id, demo.task_ids[0]
    other = restarts.client(user_id)
    tasks: list[Task] = restarts.run(other.tasks.list)
    kind = next(task.submission_types[0] for task in tasks if task.id == task_id)
    result = restarts.run(
        lambda: other.tasks.submit(task_id, user_id=user_id, submission_type=kind, value="v")
    )
    new_xp: int | None = result.real_time.new_total_xp
    assert new_xp is not None
    return new_xp


def test_a_restarted_client_shows_the_kept_data_stale_then_the_server_data(
    restarts: Restarts, demo: DemoData
) -> None:
    user_id = demo.users[0].id
    kept = _first_run(restarts, demo)
    new_xp = _earn_points(restarts, demo)
    requests_before = len(restarts.backend.requests)
    # The first answer is held back a while, so the query is seen before it.
    held = restarts.backend.faults.add(latency=2.0, route=re.compile("/dashboard"), times=1)

    client = restarts.persisted(user_id)
    key = (CacheKey.DASHBOARD, user_id)
    entry = client.refresh_manager.peek(key)
    assert len(restarts.backend.requests) == requests_before
    assert entry is not None and entry.data == kept
    assert entry.is_stale and entry.is_invalidated
    query = restarts.run(client.use_dashboard_data)
    assert query.data == kept and query.is_stale

    restarts.run(lambda: query.wait_for(lambda q: _xp(q.data) == new_xp, timeout=30))
    assert not query.is_stale
    assert held.hits == 1


def test_another_user_never_sees_the_kept_rows_and_a_login_switches(
    restarts: Restarts, demo: DemoData
) -> None:
    first, second = demo.users[0], demo.users[1]
    kept = _first_run(restarts, demo)

    client = restarts.persisted(second.id)
    manager = client.refresh_manager
    assert manager.peek((CacheKey.DASHBOARD, first.id)) is None
    assert manager.peek(CacheKey.TASKS) is None
    shown: list[Any] = []
    query = restarts.run(client.use_dashboard_data)
    query.subscribe(lambda q: shown.append(q.data))
    restarts.run(lambda: query.wait_for(timeout=30))
    shown.append(query.data)
    assert all(d is None or d.user_profile.username == second.name for d in shown)
    # Closed, the query does not follow the login: no refetch races the check of the rows.
    query.close()

    client.token = restarts.backend.token_for(first.id)
    assert client.persisted_cache is not None and client.persisted_cache.user_id == first.id
    entry = manager.peek((CacheKey.DASHBOARD, first.id))
    assert entry is not None and entry.data == kept and entry.is_stale
    client.token = None
    assert client.persisted_cache.user_id is None


def test_rows_are_written_behind_and_bad_rows_are_skipped(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    manager = DataRefreshManager()
    due: list[Any] = []
    cache = PersistedCache(path, manager, "u1", schedule=lambda delay, fn: due.append(fn))
    task = Task.model_validate({"_id": "t1", "name": "kept", "points": 3})
    manager.set(CacheKey.TASKS, [task])
    manager.set((CacheKey.USER_PROFILE, "u1"), {"not": "a model"})
    manager.set((CacheKey.TASKS, "again"), [task])

    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM gamify_cache").fetchone() == (0,)
    assert len(due) == 1  # one write for every store until then
    due[0]()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM gamify_cache").fetchone() == (2,)
        db.execute("INSERT INTO gamify_cache VALUES ('u1', '[\"tasks\", \"x\"]', 'Nope', '{}', 0)")
        db.execute("INSERT INTO gamify_cache VALUES ('u2', '[\"tasks\"]', 'list:Task', '[]', 0)")
    cache.close()

    fresh = DataRefreshManager()
    again = PersistedCache(path, fresh, "u1", schedule=lambda delay, fn: None)
    assert fresh.get(CacheKey.TASKS) is None  # kept data is stale
    assert fresh.server_data(CacheKey.TASKS) == [task]
    assert fresh.peek((CacheKey.TASKS, "x")) is None
    again.close()
    again.close()


def test_persist_cache_needs_the_offline_file() -> None:
    with pytest.raises(ConfigError, match="offline"):
        ClientConfig(persist_cache=True)
    environ = {"GAMIFY_OFFLINE": "x.db", "GAMIFY_PERSIST_CACHE": "1", "GAMIFY_OPTIMISTIC": "on"}
    settings = ClientConfig.from_env(environ)
    assert settings.persist_cache and settings.optimistic and settings.offline == "x.db"


class _Renamed:
    """An optimistic layer that renames every task of a list."""

    def apply(self, base: Any) -> Any:
        return [task.model_copy(update={"name": "predicted"}) for task in base]

    def conflicts(self, base: Any) -> bool:
        return False

    def dropped(self, key: Any) -> None:
        raise AssertionError("never dropped here")


def test_only_the_server_data_is_written_never_an_optimistic_change(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    manager = DataRefreshManager()
    cache = PersistedCache(path, manager, "u1", schedule=lambda delay, fn: None)
    task = Task.model_validate({"_id": "t1", "name": "server", "points": 3})
    manager.set(CacheKey.TASKS, [task])
    assert manager.add_layer(CacheKey.TASKS, _Renamed())
    cache.close()

    fresh = DataRefreshManager()
    PersistedCache(path, fresh, "u1", schedule=lambda delay, fn: None).close()
    assert fresh.server_data(CacheKey.TASKS) == [task]


def _rows(path: str) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT COUNT(*) FROM gamify_cache").fetchone()[0]
        return count


def test_an_async_client_writes_its_rows_off_the_loop_and_skips_data_json_cannot_hold(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "cache.db")
    odd = Task.model_validate({"_id": "t2", "odd": object()})
    good = Task.model_validate({"_id": "t1", "name": "kept"})

    async def scenario() -> int:
        client = AsyncGamifyClient(
            base_url="http://gamify.test", token=None, offline=path, persist_cache=True
        )
        # A token of user "u1" (unsigned: the client only reads its id claim).
        client.token = "e30.eyJpZCI6InUxIn0.sig"
        assert client.persisted_cache is not None and client.persisted_cache.user_id == "u1"
        cache = client.persisted_cache
        flushed = threading.Event()
        threads: list[int] = []
        flush = cache.flush

        def observed_flush() -> int:
            threads.append(threading.get_ident())
            written = flush()
            flushed.set()
            return written

        cache.flush = observed_flush  # type: ignore[method-assign]
        client.refresh_manager.set(CacheKey.TASKS, [good])
        client.refresh_manager.set((CacheKey.TASKS, "odd"), [odd])
        assert await asyncio.to_thread(flushed.wait, 10)
        written = _rows(path)
        await client.close()
        assert threads[0] != threading.get_ident()
        return written

    assert asyncio.run(scenario()) == 1
