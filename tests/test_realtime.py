"""Each rule of realtime.py, against the reference backend: the patch is in the cache the
moment a write returns (no extra request), the scoped keys are invalidated, the event is
emitted with its payload, and a failed write applies nothing."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamify_client import (
    AsyncGamifyClient,
    BadRequestError,
    CacheKey,
    ClientConfig,
    Event,
    GamifyClient,
)
from gamify_client.keys import Key
from gamify_client.models import (
    Dashboard,
    RealTimeData,
    Task,
    User,
    UserBatchProgress,
    ref_id,
)
from gamify_client.refresh import INVALIDATED, DataRefreshManager
from gamify_client.testing import GamifyBackend
from gamify_client.testing._seed import DemoData

BASE = "http://gamify.test"


class World:
    """A seeded backend, an admin client and a user client sharing one cache and events."""

    def __init__(self, backend: GamifyBackend, seed: DemoData, config: ClientConfig) -> None:
        self.backend = backend
        self.seed = seed
        self.manager = DataRefreshManager()
        self.admin = self.client(config, seed.admin.id)
        self.user = self.client(config, seed.users[0].id)
        self.events: list[tuple[str, Any]] = []
        self.admin.events.subscribe_all(lambda event, payload: self.events.append((event, payload)))
        self.invalidated: list[Key] = []
        self.manager.on_invalidate(self.invalidated.append)

    def client(self, config: ClientConfig, user_id: str) -> GamifyClient:
        http = httpx.Client(transport=self.backend.transport())
        shared_events = getattr(self, "admin", None)
        return GamifyClient(
            config=config.replace(token=self.backend.token_for(user_id)),
            http_client=http,
            refresh_manager=self.manager,
            events=shared_events.events if shared_events is not None else None,
        )

    @property
    def user_id(self) -> str:
        return self.seed.users[0].id

    def dashboard_key(self) -> Key:
        return (CacheKey.DASHBOARD, self.user_id)

    def cached(self, key: Key) -> Any:
        entry = self.manager.peek(key)
        return entry.data if entry is not None else None


@pytest.fixture
def world(
    config: ClientConfig, gamify_backend: GamifyBackend, gamify_seed: DemoData
) -> Iterator[World]:
    """Built on the project's own pytest plugin: ``gamify_backend`` and ``gamify_seed``."""
    world = World(gamify_backend, gamify_seed, config.replace(base_url=BASE))
    yield world
    world.admin.close()
    world.user.close()


def test_submit_patches_xp_at_once_without_a_request(world: World) -> None:
    key = world.dashboard_key()
    world.manager.set(key, world.user.progress.dashboard())
    world.manager.set((CacheKey.USER_PROFILE, world.user_id), world.user.users.get(world.user_id))
    progress_key = (CacheKey.USER_PROGRESS, world.user_id, world.seed.batch_id)
    world.manager.set(progress_key, world.user.progress.user(world.user_id, world.seed.batch_id))
    other_batch = (CacheKey.BATCH_PROGRESS, "0" * 24)
    world.manager.set((CacheKey.BATCH_PROGRESS, world.seed.batch_id), {"before": True})
    world.manager.set(other_batch, {"untouched": True})
    before = len(world.backend.requests)
    patched: list[Any] = []
    world.manager.subscribe(key, patched.append)

    result = world.user.tasks.submit(
        world.seed.task_ids[0], user_id=world.user_id, submission_type="Link", value="x"
    )

    assert len(world.backend.requests) == before + 1
    assert result.real_time is not None
    new_xp = result.real_time.new_total_xp
    assert new_xp == 100
    dashboard = world.cached(key)
    assert isinstance(dashboard, Dashboard)
    assert dashboard.overall_stats.user_total_xp == new_xp
    assert dashboard.user_profile.total_xp == new_xp
    assert dashboard.overall_stats.current_streak == 1
    assert dashboard.overall_stats.total_completed_tasks == 1
    metrics = dashboard.batch_progress[0].progress_metrics
    assert metrics.completed_tasks == 1
    assert metrics.completion_percentage == result.real_time.batch_progress.completion_percentage  # type: ignore[union-attr]
    # The patch is delivered at once; the invalidation that follows says so as such.
    assert patched[0] == dashboard
    assert patched[1:] == [INVALIDATED]
    profile = world.cached((CacheKey.USER_PROFILE, world.user_id))
    assert isinstance(profile, User) and profile.xps == new_xp
    progress = world.cached(progress_key)
    assert isinstance(progress, UserBatchProgress)
    statuses = {_ref_id(p.task_id): p.status for p in progress.task_progress}
    assert statuses[world.seed.task_ids[0]] == "completed"

    assert key in world.invalidated
    assert (CacheKey.BATCH_PROGRESS, world.seed.batch_id) in world.invalidated
    assert other_batch not in world.invalidated
    entry = world.manager.peek(key)
    assert entry is not None and entry.is_invalidated
    # The refetch confirms the patch.
    assert world.user.progress.dashboard().overall_stats.user_total_xp == new_xp

    events = [e for e, _ in world.events]
    assert events == [Event.TASK_COMPLETED]
    payload = world.events[0][1]
    assert isinstance(payload, RealTimeData) and payload.new_total_xp == new_xp


def test_progress_submit_task_follows_the_same_rule(world: World) -> None:
    key = world.dashboard_key()
    world.manager.set(key, world.user.progress.dashboard())
    report_key = (CacheKey.BATCH_PROGRESS, world.seed.batch_id)
    world.manager.set(report_key, world.admin.progress.batch(world.seed.batch_id))

    result = world.user.progress.submit_task(
        user_id=world.user_id, task_id=world.seed.task_ids[1], batch_id=world.seed.batch_id
    )

    assert result.real_time is not None
    dashboard = world.cached(key)
    assert dashboard.overall_stats.user_total_xp == result.real_time.new_total_xp
    report = world.cached(report_key)
    mine = [p for p in report.students_progress if _ref_id(p.user_id) == world.user_id]
    assert mine[0].progress_metrics.completed_tasks == 1
    assert report.students_progress[0] is mine[0]
    assert [e for e, _ in world.events] == [Event.TASK_COMPLETED]


def test_task_create_appends_to_the_cached_list_and_invalidates(world: World) -> None:
    world.manager.set(CacheKey.TASKS, world.admin.tasks.list())
    count = len(world.cached(CacheKey.TASKS))
    result = world.admin.tasks.create(
        name="New",
        description="d",
        details="x",
        category=world.seed.category_ids[0],
        difficulty="Easy",
        batch=world.seed.batch_id,
    )
    tasks = world.cached(CacheKey.TASKS)
    assert len(tasks) == count + 1
    assert isinstance(tasks[-1], Task) and tasks[-1].id == result.data.id
    assert CacheKey.TASKS in world.invalidated
    assert [e for e, _ in world.events] == [Event.TASK_CREATED]
    payload = world.events[0][1]
    assert isinstance(payload, RealTimeData) and payload.total_users_affected == 3


def test_a_task_in_a_batch_invalidates_the_batch_lists(world: World) -> None:
    batches = (CacheKey.BATCHES, world.user_id)
    world.manager.set(batches, [])
    world.admin.tasks.create(
        name="New",
        description="d",
        details="x",
        category=world.seed.category_ids[0],
        difficulty="Easy",
        batch=world.seed.batch_id,
    )
    assert batches in world.invalidated


def test_dashboard_of_another_user_is_invalidated_by_a_task_create(world: World) -> None:
    other = (CacheKey.DASHBOARD, world.seed.users[1].id)
    world.manager.set(other, {"stale": True})
    world.admin.tasks.create(
        name="New",
        description="d",
        details="x",
        category=world.seed.category_ids[0],
        difficulty="Easy",
        batch=world.seed.batch_id,
    )
    entry = world.manager.peek(other)
    assert entry is not None and entry.is_invalidated


def test_batch_create_and_enroll(world: World) -> None:
    world.manager.set((CacheKey.BATCHES, world.seed.admin.id), [])
    batch = world.admin.batches.create(name="B2", description="d", mentor=world.seed.mentor.id)
    assert [e for e, _ in world.events] == [Event.BATCH_CREATED]
    assert world.events[0][1].id == batch.data.id
    assert (CacheKey.BATCHES, world.seed.admin.id) in world.invalidated
    world.invalidated.clear()
    world.manager.set((CacheKey.BATCHES, world.user_id), [])
    world.admin.batches.enroll(batch.data.id, world.user_id)
    assert world.events[-1][0] == Event.BATCH_ENROLLED
    assert (CacheKey.BATCHES, world.user_id) in world.invalidated


def test_update_points_patches_the_profile(world: World) -> None:
    profile_key = (CacheKey.USER_PROFILE, world.user_id)
    world.manager.set(profile_key, world.user.users.get(world.user_id))
    world.admin.users.update_points(world.user_id, xps=999)
    assert world.cached(profile_key).xps == 999
    assert world.events[-1][0] == Event.USER_UPDATE


def test_a_failed_write_applies_nothing(world: World) -> None:
    world.user.tasks.submit(
        world.seed.task_ids[0], user_id=world.user_id, submission_type="Link", value="x"
    )
    world.events.clear()
    world.invalidated.clear()
    with pytest.raises(BadRequestError):
        world.user.tasks.submit(
            world.seed.task_ids[0], user_id=world.user_id, submission_type="Link", value="x"
        )
    assert world.events == []
    assert world.invalidated == []


def test_invalidation_waits_for_the_task_completion_delay(
    config: ClientConfig, gamify_backend: GamifyBackend, gamify_seed: DemoData
) -> None:
    backend, seed = gamify_backend, gamify_seed
    world = World(backend, seed, config.replace(base_url=BASE, task_completion_delay=0.05))
    try:
        world.manager.set(world.dashboard_key(), world.user.progress.dashboard())
        world.user.tasks.submit(
            seed.task_ids[0], user_id=world.user_id, submission_type="Link", value="x"
        )
        assert world.invalidated == []
        assert [e for e, _ in world.events] == [Event.TASK_COMPLETED]
        assert _poll(lambda: world.dashboard_key() in world.invalidated)
        assert world.user.scheduler.pending() == 0
    finally:
        world.admin.close()
        world.user.close()


def _ref_id(reference: Any) -> Any:
    return getattr(reference, "id", reference)


def _poll(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return bool(condition())


async def test_async_client_applies_the_same_rules(
    config: ClientConfig, gamify_backend: GamifyBackend, gamify_seed: DemoData
) -> None:
    backend, seed = gamify_backend, gamify_seed
    manager = DataRefreshManager()
    user_id = seed.users[0].id
    events: list[str] = []
    async with AsyncGamifyClient(
        config=config.replace(base_url=BASE, token=backend.token_for(user_id)),
        http_client=httpx.AsyncClient(transport=backend.transport()),
        refresh_manager=manager,
    ) as client:
        client.events.subscribe_all(lambda event, _payload: events.append(event))
        key = (CacheKey.DASHBOARD, user_id)
        manager.set(key, await client.progress.dashboard())
        result = await client.tasks.submit(
            seed.task_ids[0], user_id=user_id, submission_type="Link", value="x"
        )
        entry = manager.peek(key)
        assert entry is not None
        assert entry.data.overall_stats.user_total_xp == result.real_time.new_total_xp  # type: ignore[union-attr]
        assert entry.is_invalidated
        assert events == [Event.TASK_COMPLETED]


async def test_async_invalidation_waits_on_the_loop(
    config: ClientConfig, gamify_backend: GamifyBackend, gamify_seed: DemoData
) -> None:
    backend, seed = gamify_backend, gamify_seed
    manager = DataRefreshManager()
    user_id = seed.users[0].id
    invalidated = asyncio.Event()
    manager.on_invalidate(lambda key: invalidated.set())
    manager.set((CacheKey.DASHBOARD, user_id), {"before": True})
    async with AsyncGamifyClient(
        config=config.replace(
            base_url=BASE, token=backend.token_for(user_id), task_completion_delay=0.01
        ),
        http_client=httpx.AsyncClient(transport=backend.transport()),
        refresh_manager=manager,
    ) as client:
        await client.tasks.submit(
            seed.task_ids[0], user_id=user_id, submission_type="Link", value="x"
        )
        assert not invalidated.is_set()
        await asyncio.wait_for(invalidated.wait(), timeout=5)


def test_a_live_query_shows_the_patch_at_once_and_the_refetch_follows(world: World) -> None:
    path = "/api/batch-progress/dashboard/me"
    with world.user.use_dashboard_data(refetch_interval=None) as query:
        query.wait_for(timeout=5)
        fetched_before = world.backend.requests.count("GET", path)
        seen: list[int] = []
        query.subscribe(lambda q: seen.append(q.data.overall_stats.user_total_xp))

        result = world.user.tasks.submit(
            world.seed.task_ids[0], user_id=world.user_id, submission_type="Link", value="x"
        )

        assert result.real_time is not None
        assert query.data.overall_stats.user_total_xp == result.real_time.new_total_xp
        assert seen[0] == result.real_time.new_total_xp
        assert _poll(lambda: world.backend.requests.count("GET", path) == fetched_before + 1)
        query.wait_for(lambda q: not q.fetching and not q.is_stale, timeout=5)
        assert query.data.overall_stats.user_total_xp == result.real_time.new_total_xp
        assert query.error is None


def test_evolve_makes_what_model_copy_makes() -> None:
    from gamify_client.models import OverallStats
    from gamify_client.realtime import evolve

    stats = OverallStats.model_validate({"userTotalXP": 10, "currentStreak": 2, "extra": "kept"})
    changes = {"user_total_xp": 50}

    evolved = evolve(stats, changes)

    copied = stats.model_copy(update=changes)
    assert evolved == copied
    assert evolved.model_fields_set == copied.model_fields_set
    assert evolved.model_extra == {"extra": "kept"}
    assert stats.user_total_xp == 10
    assert evolve(stats, {}) is stats


def test_evolve_gives_back_the_model_itself_when_nothing_changes() -> None:
    from gamify_client.models import OverallStats
    from gamify_client.realtime import evolve

    stats = OverallStats.model_validate({"userTotalXP": 1000, "currentStreak": 2})

    assert evolve(stats, {"user_total_xp": 1000, "current_streak": 2}) is stats
    assert evolve(stats, {"user_total_xp": int("1000")}) is stats
    changed = evolve(stats, {"user_total_xp": 1000, "current_streak": 3})
    assert changed is not stats and changed.current_streak == 3
    assert evolve(stats, {"not_a_field": None}) is not stats


@pytest.mark.parametrize("others", ["populated", "ids", "deleted"])
def test_a_submission_marks_its_task_completed_however_the_tasks_are_named(others: str) -> None:
    from gamify_client.models import BatchProgressSummary
    from gamify_client.realtime import _progressed

    def reference(task_id: str) -> Any:
        if others == "ids":
            return task_id
        if others == "deleted" and task_id != "t2":
            return None
        return {"_id": task_id, "name": task_id}

    progress = UserBatchProgress.model_validate(
        {
            "taskProgress": [
                {"taskId": reference(f"t{n}"), "status": "not_started"} for n in range(5)
            ],
            "progressMetrics": {"completedTasks": 0, "totalTasks": 5},
        }
    )
    summary = BatchProgressSummary(completed_tasks=1, total_tasks=5)

    marked = _progressed(progress, summary, "t2")
    untouched = _progressed(progress, None, "t9")

    assert [entry.status for entry in marked.task_progress] == [
        "not_started",
        "not_started",
        "completed",
        "not_started",
        "not_started",
    ]
    assert marked.progress_metrics.completed_tasks == 1
    assert untouched is progress


_STATS_FIELDS = ("total_completed_tasks", "total_points_earned", "user_total_xp", "current_streak")


@given(
    held=st.dictionaries(st.sampled_from(_STATS_FIELDS), st.integers(0, 3)),
    changes=st.dictionaries(st.sampled_from(_STATS_FIELDS), st.integers(0, 3)),
)
def test_evolve_copies_exactly_when_model_copy_would_change_something(
    held: dict[str, int], changes: dict[str, int]
) -> None:
    from gamify_client.models import OverallStats
    from gamify_client.realtime import evolve

    stats = OverallStats.model_validate({**held, "extra": "kept"})

    evolved = evolve(stats, changes)

    copied = stats.model_copy(update=changes)
    if all(getattr(stats, name) == value for name, value in changes.items()):
        assert evolved is stats
    else:
        assert evolved is not stats
        assert evolved == copied
        assert evolved.model_fields_set == copied.model_fields_set
        assert evolved.model_extra == {"extra": "kept"}
        # The copy owns its fields set: marking a field on one never marks it on the other.
        assert evolved.model_fields_set is not stats.model_fields_set
    assert stats == OverallStats.model_validate({**held, "extra": "kept"})


@given(ids=st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=3)), max_size=4))
def test_a_scoped_key_names_the_ids_up_to_the_first_missing_one(ids: list[str | None]) -> None:
    from gamify_client.keys import CacheKey
    from gamify_client.realtime import scoped

    known = ids[: ids.index(None)] if None in ids else ids

    assert scoped(CacheKey.BATCH_PROGRESS, *ids) == (
        (CacheKey.BATCH_PROGRESS, *known) if known else CacheKey.BATCH_PROGRESS
    )


def _progress_of(tasks: list[str]) -> UserBatchProgress:
    return UserBatchProgress.model_validate(
        {
            "taskProgress": [
                {"taskId": {"_id": task, "name": task}, "status": "not_started"} for task in tasks
            ],
            "progressMetrics": {"completedTasks": 0, "totalTasks": len(tasks)},
        }
    )


def test_a_burst_of_submissions_searches_the_task_list_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gamify_client import realtime

    searches: list[int] = []
    search = realtime._positions

    def counted(entries: Any) -> dict[str, int]:
        searches.append(len(entries))
        return search(entries)

    monkeypatch.setattr(realtime, "_positions", counted)
    tasks = [f"t{n}" for n in range(50)]
    progress = _progress_of(tasks)

    # Each write patches the copy the one before made, in any order.
    for task in reversed(tasks):
        progress = realtime._progressed(progress, None, task)

    assert [entry.status for entry in progress.task_progress] == ["completed"] * 50
    assert searches == [50]


def test_a_task_list_changed_in_place_is_searched_again() -> None:
    from gamify_client.realtime import _progressed

    progress = _progress_of(["t0", "t1", "t2", "t3"])
    _progressed(progress, None, "t1")
    progress.task_progress.reverse()
    unknown = _progressed(progress, None, "t9")
    progress.task_progress.append(_progress_of(["t9"]).task_progress[0])

    marked = _progressed(progress, None, "t3")
    appended = _progressed(progress, None, "t9")

    assert unknown is progress
    assert [ref_id(entry.task_id) for entry in marked.task_progress] == [
        "t3",
        "t2",
        "t1",
        "t0",
        "t9",
    ]
    assert [entry.status for entry in marked.task_progress][:2] == ["completed", "not_started"]
    assert appended.task_progress[4].status == "completed"


def test_the_task_positions_of_a_collected_report_are_forgotten() -> None:
    from gamify_client.realtime import _TASK_POSITIONS, _progressed

    before = len(_TASK_POSITIONS._known)
    for _ in range(100):
        _progressed(_progress_of(["t0", "t1"]), None, "t1")
    gc.collect()

    assert len(_TASK_POSITIONS._known) <= before


def test_a_remote_write_applied_again_changes_nothing_and_calls_nobody(world: World) -> None:
    from gamify_client.resources import ALL_WRITES

    key = world.dashboard_key()
    world.manager.refresh(key, world.user.progress.dashboard)
    seen: list[Any] = []
    world.manager.subscribe(key, seen.append, invalidations=False)
    result = world.user.tasks.submit(
        world.seed.task_ids[0], user_id=world.user_id, submission_type="Text Entry", value="x"
    )
    patched = world.cached(key)
    assert len(seen) == 1 and seen[0] is patched

    write = ALL_WRITES["tasks.submit"]
    world.admin.apply_remote_write(write, {"user_id": world.user_id}, result)

    assert world.cached(key) is patched
    assert len(seen) == 1
    assert result.real_time is not None
    assert patched.overall_stats.user_total_xp == result.real_time.new_total_xp


def test_only_writes_count_as_in_flight_until_they_settle_or_fail() -> None:
    from gamify_client import ClientConfig
    from gamify_client.events import EventManager
    from gamify_client.realtime import WRITES, RealtimeSync

    sync = RealtimeSync(DataRefreshManager(), EventManager(), ClientConfig(), lambda *_: None)

    def fail_while_sending() -> None:
        with sync.sending(WRITES["tasks.submit"]):
            assert sync.writes_in_flight == 1
            raise RuntimeError("the write failed")

    with sync.sending(None), sync.sending(None):
        assert sync.writes_in_flight == 0
    with sync.sending(WRITES["tasks.submit"]):
        assert sync.writes_in_flight == 1
    with pytest.raises(RuntimeError):
        fail_while_sending()
    assert sync.writes_in_flight == 0


def test_a_write_invalidates_its_keys_in_one_pass_and_one_by_one_if_one_is_not_a_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from types import SimpleNamespace

    from gamify_client import ClientConfig
    from gamify_client.events import EventManager
    from gamify_client.models import MutationResult
    from gamify_client.realtime import RealtimeSync, Rule

    manager = DataRefreshManager()
    for key in (CacheKey.TASKS, CacheKey.BATCHES):
        manager.set(key, "data")
    batches: list[list[Key]] = []
    manager.on_invalidate_keys(batches.append)
    sync = RealtimeSync(
        manager, EventManager(), ClientConfig(task_completion_delay=0), lambda *_: None
    )

    def write(*keys: Any) -> Any:
        return SimpleNamespace(name="test.write", rule=Rule(Event.DATA_REFRESH, lambda _c: keys))

    sync.after_mutation(write(CacheKey.TASKS, CacheKey.BATCHES), {}, MutationResult(data=None))
    assert batches == [[CacheKey.TASKS, CacheKey.BATCHES]]

    batches.clear()
    with caplog.at_level(logging.ERROR, logger="gamify_client"):
        sync.after_mutation(
            write(CacheKey.TASKS, ([],), CacheKey.BATCHES), {}, MutationResult(data=None)
        )
    assert batches == [[CacheKey.TASKS], [CacheKey.BATCHES]]
    assert "after a write failed" in caplog.text
