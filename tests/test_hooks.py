"""Live queries of the blocking client, against the reference backend.

Most tests drive the client's scheduler by hand (``Scheduler(clock=..., threaded=False)``), so
what runs and when is exact; the end-to-end ones use the real scheduler thread and wait with
``wait_for``. The helpers at the top are shared with the async tests.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gamify_client import (
    CacheKey,
    ClientConfig,
    ConfigError,
    GamifyClient,
    InternalServerError,
)
from gamify_client.events import EventManager
from gamify_client.hooks import Query
from gamify_client.models import Dashboard
from gamify_client.refresh import DataRefreshManager
from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.timers import Scheduler

BASE_URL = "http://gamify.test"
DASHBOARD = "/api/batch-progress/dashboard/me"
TASKS = "/api/task/all"


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Org:
    """The reference backend with its demo organisation."""

    backend: GamifyBackend
    demo: DemoData

    @property
    def user_id(self) -> str:
        return self.demo.users[0].id

    def config(self, **changes: Any) -> ClientConfig:
        settings: dict[str, Any] = {
            "base_url": BASE_URL,
            "task_completion_delay": 0,
            "max_retries": 0,
            "retry_backoff": 0,
            "retry_backoff_max": 0,
        }
        settings.update(changes)
        return ClientConfig(**settings)

    def token(self, user_id: str | None = None) -> str:
        return self.backend.token_for(user_id or self.user_id)

    def requests(self, path: str) -> int:
        return self.backend.requests.count("GET", path)

    def create_task(self, client: GamifyClient, name: str = "Extra task") -> str:
        result = client.tasks.create(
            name=name,
            description="More work",
            details="Details",
            category=self.demo.category_ids[0],
            difficulty="Easy",
            batch=self.demo.batch_id,
        )
        assert result.data is not None
        return str(result.data.id)


def new_org() -> Org:
    backend = GamifyBackend()
    return Org(backend, backend.seed_demo())


def total_tasks(query: Query[Dashboard]) -> int | None:
    return None if query.data is None else query.data.overall_stats.total_tasks_across_all_batches


@pytest.fixture
def org() -> Iterator[Org]:
    made = new_org()
    yield made
    made.backend.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(org: Org, clock: FakeClock) -> Iterator[Callable[..., GamifyClient]]:
    """Clients on the reference backend; ``manual=True`` (the default) gives a scheduler that
    the test drives with ``client.scheduler.run_due()`` on the fake clock."""
    made: list[GamifyClient] = []

    def make(
        *,
        user_id: str | None = None,
        manual: bool = True,
        config: ClientConfig | None = None,
        refresh_manager: DataRefreshManager | None = None,
        events: EventManager | None = None,
    ) -> GamifyClient:
        scheduler = Scheduler(clock=clock, threaded=False) if manual else None
        client = GamifyClient(
            config=config or org.config(),
            token=org.token(user_id),
            http_client=httpx.Client(transport=org.backend.transport()),
            refresh_manager=refresh_manager,
            events=events,
            scheduler=scheduler,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# Creating, fetching, reading


def test_a_query_returns_at_once_and_fetches_on_the_scheduler(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_dashboard_data()
    assert (query.data, query.loading, query.error, query.last_updated) == (None, True, None, None)
    assert query.key == (CacheKey.DASHBOARD, org.user_id)
    assert query.fetching
    assert org.requests(DASHBOARD) == 0
    client.scheduler.run_due()
    assert not query.fetching
    assert org.requests(DASHBOARD) == 1
    assert isinstance(query.data, Dashboard)
    assert total_tasks(query) == 4
    assert not query.loading
    assert query.last_updated is not None
    assert not query.is_stale


def test_the_real_scheduler_thread_fetches_and_wait_for_returns_the_query(
    make_client: Callable[..., GamifyClient],
) -> None:
    client = make_client(manual=False)
    with client.use_tasks_data() as query:
        assert query.wait_for(timeout=10) is query
        assert query.data is not None
        assert len(query.data) == 4


def test_every_use_method_observes_its_key(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    user, batch = org.user_id, org.demo.batch_id
    queries: list[Query[Any]] = [
        client.use_dashboard_data(),
        client.use_batch_progress_data(batch),
        client.use_user_progress_data(user, batch),
        client.use_tasks_data(),
        client.use_batches_data(),
    ]
    assert [query.key for query in queries] == [
        (CacheKey.DASHBOARD, user),
        (CacheKey.BATCH_PROGRESS, batch),
        (CacheKey.USER_PROGRESS, user, batch),
        CacheKey.TASKS,
        (CacheKey.BATCHES, user),
    ]
    client.scheduler.run_due()
    assert all(query.data is not None and query.error is None for query in queries)
    assert len(org.backend.requests) == 5


def test_many_queries_on_one_key_share_one_fetch_and_one_subscription(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    queries = [client.use_dashboard_data() for _ in range(50)]
    client.scheduler.run_due()
    assert org.requests(DASHBOARD) == 1
    assert all(query.data is queries[0].data for query in queries)
    assert client.refresh_manager.stats().observers == 1
    assert client.scheduler.pending() == 1


def test_a_new_query_on_fresh_data_does_not_fetch(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    first = client.use_tasks_data()
    client.scheduler.run_due()
    second = client.use_tasks_data()
    assert second.data == first.data
    assert not second.loading
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1


def test_refresh_fetches_now_and_takes_over_the_queued_fetch(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data()
    tasks = query.refresh()
    assert tasks == query.data
    assert len(tasks) == 4
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1


def test_refresh_joins_a_fetch_in_flight(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(manual=False)
    query = client.use_tasks_data(enabled=False)
    org.backend.faults.add(latency=0.2, route=TASKS)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(query.refresh())) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert org.requests(TASKS) == 1
    assert len(results) == 5
    assert all(result == results[0] for result in results)


# Real-time: writes reach the queries without a call


def test_dashboard_updates_after_an_admin_creates_a_task_on_another_client(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    manager, events = DataRefreshManager(), EventManager()
    admin = make_client(
        user_id=org.demo.admin.id, manual=False, refresh_manager=manager, events=events
    )
    user = make_client(manual=False, refresh_manager=manager, events=events)
    dashboard = user.use_dashboard_data().wait_for(timeout=10)
    assert total_tasks(dashboard) == 4
    org.create_task(admin)
    dashboard.wait_for(lambda q: total_tasks(q) == 5, timeout=10)
    assert org.requests(DASHBOARD) == 2


def test_dashboard_holds_the_new_xp_when_the_users_own_submit_returns(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    dashboard = client.use_dashboard_data()
    client.scheduler.run_due()
    assert dashboard.data is not None
    assert dashboard.data.overall_stats.user_total_xp == 0
    client.tasks.submit(
        org.demo.task_ids[0], user_id=org.user_id, submission_type="Text Entry", value="done"
    )
    # The patch from realTimeData, before any request.
    assert dashboard.data.overall_stats.user_total_xp == 100
    assert org.requests(DASHBOARD) == 1
    # Then the invalidation's refetch confirms it.
    client.scheduler.run_due()
    assert org.requests(DASHBOARD) == 2
    assert dashboard.data.overall_stats.user_total_xp == 100
    assert dashboard.data.overall_stats.total_completed_tasks == 1


def test_query_invalidate_refetches_every_query_on_the_key_once(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    queries = [client.use_tasks_data() for _ in range(10)]
    client.scheduler.run_due()
    queries[3].invalidate()
    assert queries[3].is_stale
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2
    assert not queries[0].is_stale


def test_an_invalidation_that_lands_after_the_fetch_stored_still_refetches(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data()
    manager = client.refresh_manager
    invalidated: list[bool] = []

    def invalidate_once(_data: object) -> None:
        # Runs while the fetch that stored the data is still finishing.
        if not invalidated:
            invalidated.append(True)
            manager.invalidate(CacheKey.TASKS)

    manager.subscribe(CacheKey.TASKS, invalidate_once)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2
    assert not query.is_stale


def test_keep_previous_data_false_shows_nothing_while_invalidated_data_is_refetched(
    make_client: Callable[..., GamifyClient],
) -> None:
    client = make_client()
    keeping = client.use_tasks_data()
    dropping = client.use_tasks_data(keep_previous_data=False)
    client.scheduler.run_due()
    keeping.invalidate()
    assert keeping.data is not None
    assert not keeping.loading
    assert dropping.data is None
    assert dropping.loading
    client.scheduler.run_due()
    assert dropping.data == keeping.data
    assert not dropping.loading


# Periodic refresh


def test_polls_every_user_refresh_interval_on_the_injected_clock(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    outsider = make_client(user_id=org.demo.admin.id, manual=False)
    dashboard = client.use_dashboard_data()
    client.scheduler.run_due()
    clock.advance(29.9)
    client.scheduler.run_due()
    assert org.requests(DASHBOARD) == 1
    # A write the client cannot hear of: another client with its own cache.
    org.create_task(outsider)
    clock.advance(0.1)
    client.scheduler.run_due()
    assert org.requests(DASHBOARD) == 2
    assert total_tasks(dashboard) == 5
    clock.advance(30)
    client.scheduler.run_due()
    assert org.requests(DASHBOARD) == 3


def test_batch_progress_polls_at_the_admin_interval(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(user_id=org.demo.admin.id)
    query = client.use_batch_progress_data(org.demo.batch_id)
    path = f"/api/batch-progress/batch/{org.demo.batch_id}"
    client.scheduler.run_due()
    clock.advance(59)
    client.scheduler.run_due()
    assert org.requests(path) == 1
    clock.advance(1)
    client.scheduler.run_due()
    assert org.requests(path) == 2
    assert query.error is None


def test_intervals_on_one_key_merge_to_the_shortest(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    slow = client.use_tasks_data(refetch_interval=30)
    fast = client.use_tasks_data(refetch_interval=10)
    client.scheduler.run_due()
    for _ in range(3):
        clock.advance(10)
        client.scheduler.run_due()
    assert org.requests(TASKS) == 4
    assert client.scheduler.pending() == 1
    fast.close()
    clock.advance(10)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 4
    clock.advance(20)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 5
    assert slow.error is None


def test_no_polling_without_an_interval(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    config = org.config(user_refresh_interval=None)
    client = make_client(config=config)
    held: list[Query[Any]] = [
        client.use_tasks_data(),
        client.use_dashboard_data(refetch_interval=None),
    ]
    client.scheduler.run_due()
    assert client.scheduler.pending() == 0
    clock.advance(3600)
    client.scheduler.run_due()
    assert len(org.backend.requests) == 2
    assert all(query.data is not None for query in held)


def test_a_poll_never_fires_after_close(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(refetch_interval=5)
    client.scheduler.run_due()
    query.close()
    assert client.scheduler.pending() == 0
    clock.advance(60)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1


# Focus and network


def test_polling_pauses_while_unfocused_unless_asked_to_go_on(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    held: list[Query[Any]] = [
        client.use_tasks_data(refetch_interval=10, refetch_on_focus=False),
        client.use_dashboard_data(refetch_interval=10, refetch_in_background=True),
    ]
    client.scheduler.run_due()
    client.set_focused(False)
    assert not client.focus.focused
    clock.advance(10)
    client.scheduler.run_due()
    assert (org.requests(TASKS), org.requests(DASHBOARD)) == (1, 2)
    client.set_focused(True)
    client.scheduler.run_due()
    # Polling resumes: the overdue poll runs at once, and then every 10 s again.
    assert org.requests(TASKS) == 2
    clock.advance(10)
    client.scheduler.run_due()
    assert (org.requests(TASKS), org.requests(DASHBOARD)) == (3, 3)
    assert all(query.error is None for query in held)


def test_regaining_focus_refetches_stale_queries_once_per_key(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    user, batch = org.user_id, org.demo.batch_id
    held: list[Query[Any]] = []
    for _ in range(20):
        held += [
            client.use_dashboard_data(),
            client.use_tasks_data(),
            client.use_batches_data(),
            client.use_batch_progress_data(batch),
            client.use_user_progress_data(user, batch),
        ]
    client.scheduler.run_due()
    assert len(org.backend.requests) == 5
    client.set_focused(False)
    clock.advance(120)
    client.set_focused(True)
    client.scheduler.run_due()
    assert len(org.backend.requests) == 10
    assert all(query.error is None for query in held)


def test_focus_skips_fresh_data(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(stale_time=20, refetch_interval=None)
    client.scheduler.run_due()
    client.set_focused(False)
    clock.advance(19)
    client.set_focused(True)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    client.set_focused(False)
    clock.advance(1)
    client.set_focused(True)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2
    assert not query.is_stale


def test_focus_refetches_are_throttled(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(stale_time=0)
    client.scheduler.run_due()
    for _ in range(5):
        client.set_focused(False)
        client.set_focused(True)
        client.scheduler.run_due()
        clock.advance(1)
    # One refetch at the first focus; the others fell within the 5 s throttle.
    assert org.requests(TASKS) == 2
    client.set_focused(False)
    client.set_focused(True)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 3
    assert query.is_stale


def test_refetch_on_focus_false_and_disabled_queries_stay_quiet(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    held: list[Query[Any]] = [
        client.use_tasks_data(refetch_on_focus=False, refetch_interval=None, stale_time=0),
        client.use_dashboard_data(enabled=False),
    ]
    client.scheduler.run_due()
    client.set_focused(False)
    clock.advance(100)
    client.set_focused(True)
    client.scheduler.run_due()
    assert (org.requests(TASKS), org.requests(DASHBOARD)) == (1, 0)
    assert held[1].data is None


def test_offline_pauses_polling_and_refetches_on_reconnect(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    tasks = client.use_tasks_data()
    client.scheduler.run_due()
    client.set_online(False)
    assert not client.online.online
    assert client.scheduler.pending() == 0
    clock.advance(300)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    # Invalidated while offline: fetched when the network is back.
    tasks.invalidate()
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    client.set_online(True)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2
    assert client.scheduler.pending() == 1


def test_reconnect_skips_fresh_data_and_respects_the_option(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    held: list[Query[Any]] = [
        client.use_tasks_data(refetch_interval=None),
        client.use_dashboard_data(refetch_on_reconnect=False, refetch_interval=None, stale_time=0),
    ]
    client.scheduler.run_due()
    client.set_online(False)
    clock.advance(1)
    client.set_online(True)
    client.scheduler.run_due()
    assert (org.requests(TASKS), org.requests(DASHBOARD)) == (1, 1)
    assert all(query.data is not None for query in held)


def test_focus_listeners_hear_each_change_once(make_client: Callable[..., GamifyClient]) -> None:
    client = make_client()
    heard: list[bool] = []
    unsubscribe = client.focus.subscribe(heard.append)
    client.set_focused(False)
    client.set_focused(False)
    client.set_focused(True)
    unsubscribe()
    client.set_focused(False)
    assert heard == [False, True]


# Options


def test_select_shapes_the_data_and_only_its_changes_notify(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    xp = client.use_dashboard_data(select=lambda d: d.overall_stats.user_total_xp)
    whole = client.use_dashboard_data()
    client.scheduler.run_due()
    assert xp.data == 0
    xp_changes: list[int | None] = []
    xp.subscribe(lambda q: xp_changes.append(q.data))
    whole_changes: list[Any] = []
    whole.subscribe(lambda q: whole_changes.append(q.data))
    admin = make_client(user_id=org.demo.admin.id, refresh_manager=client.refresh_manager)
    org.create_task(admin)
    client.scheduler.run_due()
    assert len(whole_changes) == 1
    assert xp_changes == []
    client.tasks.submit(
        org.demo.task_ids[0], user_id=org.user_id, submission_type="Text Entry", value="done"
    )
    assert xp_changes == [100]
    assert xp.refresh() == 100


def test_a_select_that_raises_sets_error_and_keeps_the_data(
    make_client: Callable[..., GamifyClient],
) -> None:
    client = make_client()
    calls: list[int] = []

    def picky(tasks: list[Any]) -> int:
        calls.append(len(tasks))
        if len(calls) > 1:
            raise ValueError("picky")
        return len(tasks)

    query = client.use_tasks_data(select=picky)
    client.scheduler.run_due()
    assert query.data == 4
    client.refresh_manager.set(CacheKey.TASKS, [])
    assert query.data == 4
    assert isinstance(query.error, ValueError)


def test_enabled_false_fetches_nothing_until_enabled(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(enabled=False)
    client.scheduler.run_due()
    assert (query.data, query.loading, org.requests(TASKS)) == (None, False, 0)
    assert client.scheduler.pending() == 0
    # It still sees what others put in the cache.
    client.refresh_manager.set(CacheKey.TASKS, [])
    assert query.data == []
    query.invalidate()
    client.scheduler.run_due()
    assert org.requests(TASKS) == 0
    # Enabled again, it fetches the stale key at once.
    query.enabled = True
    assert query.enabled
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    assert query.data is not None
    assert len(query.data) == 4


def test_bad_options_are_refused(make_client: Callable[..., GamifyClient]) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="refetch_intervall"):
        client.use_tasks_data(**{"refetch_intervall": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        client.use_tasks_data(refetch_interval=0)
    with pytest.raises(ConfigError):
        client.use_tasks_data(stale_time=-1)
    assert client.refresh_manager.stats().observers == 0


# Errors


def test_an_error_keeps_the_last_good_data_and_recovers(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(refetch_interval=10)
    client.scheduler.run_due()
    good = query.data
    org.backend.faults.add(500, route=TASKS)
    clock.advance(10)
    client.scheduler.run_due()
    assert isinstance(query.error, InternalServerError)
    assert query.data is good
    clock.advance(10)
    client.scheduler.run_due()
    assert query.error is None
    assert query.data == good


def test_refresh_raises_the_typed_error_and_keeps_it(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(enabled=False)
    org.backend.faults.add(500, route=TASKS)
    with pytest.raises(InternalServerError) as raised:
        query.refresh()
    assert query.error is raised.value
    assert not query.loading
    assert len(query.refresh()) == 4
    assert query.error is None


def test_wait_for_raises_the_error_of_a_query_without_data(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(manual=False)
    org.backend.faults.add(500, route=TASKS)
    query = client.use_tasks_data()
    with pytest.raises(InternalServerError):
        query.wait_for(timeout=10)


def test_wait_for_times_out(make_client: Callable[..., GamifyClient]) -> None:
    client = make_client()
    query = client.use_tasks_data(enabled=False)
    with pytest.raises(TimeoutError):
        query.wait_for(timeout=0.01)
    with pytest.raises(TimeoutError):
        query.wait_for(lambda q: q.data is not None, timeout=0)


def test_wait_for_refuses_to_block_the_scheduler_thread(
    make_client: Callable[..., GamifyClient],
) -> None:
    client = make_client(manual=False)
    query = client.use_tasks_data()
    errors: list[BaseException] = []
    done = threading.Event()

    def on_scheduler() -> None:
        try:
            query.wait_for(timeout=1)
        except RuntimeError as error:
            errors.append(error)
        done.set()

    client.scheduler.call_later(0, on_scheduler)
    assert done.wait(10)
    assert len(errors) == 1


# Callbacks


def test_subscribers_hear_each_change_of_data_loading_or_error(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_tasks_data(refetch_interval=10)
    states: list[tuple[bool, bool, bool]] = []
    query.subscribe(lambda q: states.append((q.data is not None, q.loading, q.error is not None)))
    client.scheduler.run_due()
    assert states == [(True, False, False)]
    clock.advance(10)
    client.scheduler.run_due()
    # The same data again: nothing changed, nobody is called.
    assert len(states) == 1
    org.backend.faults.add(500, route=TASKS)
    clock.advance(10)
    client.scheduler.run_due()
    clock.advance(10)
    client.scheduler.run_due()
    assert states == [(True, False, False), (True, False, True), (True, False, False)]


def test_dispatch_runs_every_callback(org: Org, make_client: Callable[..., GamifyClient]) -> None:
    client = make_client()
    queue: list[Callable[[], None]] = []
    query = client.use_dashboard_data(dispatch=queue.append)
    heard: list[int | None] = []
    query.subscribe(lambda q: heard.append(total_tasks(q)))
    query.subscribe(lambda q: heard.append(-1))
    client.scheduler.run_due()
    assert heard == []
    assert len(queue) == 2
    admin = make_client(user_id=org.demo.admin.id, refresh_manager=client.refresh_manager)
    org.create_task(admin)
    client.scheduler.run_due()
    assert len(queue) == 4
    for callback in queue:
        callback()
    # Each callback reads the query when it runs, as a UI thread would.
    assert heard == [5, -1, 5, -1]


def test_a_raising_subscriber_is_logged_and_the_others_still_run(
    make_client: Callable[..., GamifyClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(manual=False)
    query = client.use_tasks_data()
    heard = threading.Event()

    def broken(_query: Query[Any]) -> None:
        raise RuntimeError("broken subscriber")

    query.subscribe(broken)
    query.subscribe(lambda _q: heard.set())
    with caplog.at_level(logging.ERROR, logger="gamify_client"):
        assert heard.wait(10)
    assert "subscriber" in caplog.text
    # The scheduler thread survived and still runs what comes next.
    again = threading.Event()
    client.scheduler.call_later(0, again.set)
    assert again.wait(10)


def test_unsubscribe_and_close_stop_callbacks_even_already_dispatched_ones(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    queue: list[Callable[[], None]] = []
    query = client.use_tasks_data(dispatch=queue.append)
    heard: list[str] = []
    unsubscribe = query.subscribe(lambda _q: heard.append("first"))
    query.subscribe(lambda _q: heard.append("second"))
    client.scheduler.run_due()
    unsubscribe()
    unsubscribe()
    query.close()
    query.close()
    assert query.closed
    for callback in queue:
        callback()
    client.refresh_manager.set(CacheKey.TASKS, [])
    assert heard == []
    assert query.data is not None
    assert len(query.data) == 4
    with pytest.raises(RuntimeError, match="closed"):
        query.refresh()


def test_a_callback_that_unsubscribes_others_or_closes_stops_them_at_once(
    make_client: Callable[..., GamifyClient],
) -> None:
    # Callbacks run inline here (no dispatch): what one of them does to the others of its query,
    # or of the next query of the key, counts from the next callback on.
    client = make_client()
    first, second = client.use_tasks_data(), client.use_tasks_data()
    client.scheduler.run_due()
    heard: list[str] = []
    later: list[Callable[[], None]] = []

    def unsubscribing(_query: Query[Any]) -> None:
        heard.append("unsubscribing")
        for unsubscribe in later:
            unsubscribe()

    first.subscribe(unsubscribing)
    later.append(first.subscribe(lambda _q: heard.append("first, later")))
    first.subscribe(lambda _q: (heard.append("closing"), second.close()))
    second.subscribe(lambda _q: heard.append("second"))
    added = first.subscribe(lambda _q: heard.append("added"))
    client.refresh_manager.set(CacheKey.TASKS, [])
    assert heard == ["unsubscribing", "closing", "added"]
    added()
    heard.clear()
    client.refresh_manager.set(CacheKey.TASKS, [{"_id": "x"}])
    assert heard == ["unsubscribing", "closing"]


@pytest.mark.parametrize("count", [3, 40])
def test_every_subscriber_hears_each_change_once_in_order_as_they_come_and_go(
    make_client: Callable[..., GamifyClient], count: int
) -> None:
    # Few callbacks or many (the snapshot announcing walks is remade eagerly, or lazily),
    # one that subscribes during a change hears the next one, and one that leaves is not
    # called again.
    client = make_client()
    query = client.use_tasks_data()
    client.scheduler.run_due()
    heard: list[int] = []
    unsubscribes: list[Callable[[], None]] = []

    def hear(number: int) -> Callable[[Query[Any]], None]:
        def callback(_query: Query[Any]) -> None:
            heard.append(number)
            if number == 0 and len(unsubscribes) == count:
                unsubscribes.append(query.subscribe(hear(count)))
                unsubscribes[count - 1]()

        return callback

    for number in range(count):
        unsubscribes.append(query.subscribe(hear(number)))
    client.refresh_manager.set(CacheKey.TASKS, [])
    assert heard == list(range(count - 1))
    heard.clear()
    client.refresh_manager.set(CacheKey.TASKS, [{"_id": "x"}])
    assert heard == [*range(count - 1), count]
    unsubscribes[0]()
    heard.clear()
    client.refresh_manager.set(CacheKey.TASKS, [{"_id": "y"}])
    assert heard == [*range(1, count - 1), count]


# Lifecycle


def test_close_releases_the_subscription_timer_and_listeners(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    queries: list[Query[Any]] = [
        client.use_tasks_data(),
        client.use_tasks_data(),
        client.use_dashboard_data(),
    ]
    client.scheduler.run_due()
    assert client.refresh_manager.stats().observers == 2
    assert client.focus.listener_count() == 1
    for query in queries:
        query.close()
    assert client.refresh_manager.stats().observers == 0
    assert client.scheduler.pending() == 0
    assert client.focus.listener_count() == 0
    assert client.online.listener_count() == 0
    client.refresh_manager.invalidate(CacheKey.TASKS)
    client.scheduler.run_due()
    assert len(org.backend.requests) == 2


def test_the_with_block_closes_the_query(make_client: Callable[..., GamifyClient]) -> None:
    client = make_client()
    with client.use_tasks_data() as query:
        client.scheduler.run_due()
        assert client.refresh_manager.stats().observers == 1
    assert query.closed
    assert client.refresh_manager.stats().observers == 0
    assert client.scheduler.pending() == 0


def test_an_unreferenced_query_is_collected_with_its_timer_and_subscription(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    query = client.use_dashboard_data()
    query.subscribe(lambda q: None)
    client.scheduler.run_due()
    assert client.scheduler.pending() == 1
    gone = weakref.ref(query)
    del query
    gc.collect()
    assert gone() is None
    # The release runs on the scheduler, never inside the collector.
    client.scheduler.run_due()
    assert client.refresh_manager.stats().observers == 0
    assert client.scheduler.pending() == 0
    assert client.focus.listener_count() == 0
    client.refresh_manager.invalidate(CacheKey.DASHBOARD)
    client.scheduler.run_due()
    assert org.requests(DASHBOARD) == 1


def test_a_collected_query_is_released_even_if_nothing_ever_polled(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(manual=False)
    query = client.use_tasks_data(enabled=False)
    assert client.refresh_manager.stats().observers == 1
    del query
    gc.collect()
    deadline = time.monotonic() + 10
    while client.refresh_manager.stats().observers:
        assert time.monotonic() < deadline, "the collected query was never released"
        threading.Event().wait(0.001)
    assert org.requests(TASKS) == 0


def test_closing_the_client_closes_its_queries(make_client: Callable[..., GamifyClient]) -> None:
    client = make_client()
    queries: list[Query[Any]] = [client.use_tasks_data(), client.use_dashboard_data()]
    client.scheduler.run_due()
    client.close()
    assert all(query.closed for query in queries)
    assert client.refresh_manager.stats().observers == 0
    with pytest.raises(RuntimeError, match="closed"):
        client.use_tasks_data()


def test_one_timer_thread_and_one_fetch_worker_serve_a_hundred_queries_of_one_key(
    make_client: Callable[..., GamifyClient],
) -> None:
    before = threading.active_count()
    client = make_client(manual=False)
    queries = [client.use_tasks_data(refetch_interval=0.05 + i / 1000) for i in range(100)]
    queries[0].wait_for(timeout=10)
    # The timer thread, and the fetch workers: one key is fetched once at a time, so a worker
    # more starts only when a poll comes while the last one is still winding down.
    assert threading.active_count() - before == 1 + client.scheduler.fetch_threads
    assert 1 <= client.scheduler.fetch_threads <= 2
