"""DataRefreshManager: single flight, generations, invalidation, TTL, gc, observers, stats."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gamify_client.keys import CacheKey, Key
from gamify_client.refresh import INVALIDATED, CacheStats, DataRefreshManager

KEY: Key = CacheKey.TASKS
DEADLINE = 10.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.001)


async def async_wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.001)


def is_fetching(manager: DataRefreshManager, key: Key) -> bool:
    entry = manager.peek(key)
    return entry is not None and entry.fetching


# Reads and writes


def test_get_misses_until_set_then_hits() -> None:
    manager = DataRefreshManager()
    assert manager.get(KEY) is None
    assert manager.get(KEY, "default") == "default"
    manager.set(KEY, [1, 2])
    assert manager.get(KEY) == [1, 2]
    assert manager.stats().hits == 1
    assert manager.stats().misses == 2


def test_ttl_expiry_with_injected_clock() -> None:
    clock = FakeClock()
    manager = DataRefreshManager(ttl=10.0, clock=clock)
    manager.set(KEY, "value")
    clock.advance(9.9)
    assert manager.get(KEY) == "value"
    assert not manager.is_stale(KEY)
    clock.advance(0.1)
    assert manager.get(KEY) is None
    assert manager.is_stale(KEY)
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.data == "value"
    assert entry.is_stale
    assert not entry.is_invalidated


def test_set_notifies_only_when_the_data_changes() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    manager.set(KEY, {"a": 1})
    manager.set(KEY, {"a": 1})
    manager.set(KEY, {"a": 2})
    assert seen == [{"a": 1}, {"a": 2}]
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.generation == 3


def test_notify_calls_subscribers_without_storing() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    manager.notify(KEY, "announced")
    manager.notify(CacheKey.BATCHES, "nobody listens")
    assert seen == ["announced"]
    assert manager.get(KEY) is None


def test_update_patches_the_current_value() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    assert manager.update(KEY, lambda current: current) is None
    assert manager.update(KEY, lambda current: [*(current or []), "a"]) == ["a"]
    assert manager.update(KEY, lambda current: [*current, "b"]) == ["a", "b"]
    assert manager.update(KEY, lambda current: list(current)) == ["a", "b"]
    assert seen == [["a"], ["a", "b"]]
    assert manager.get(KEY) == ["a", "b"]


def test_an_update_without_comparing_tells_a_change_by_identity() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    manager.set(KEY, ["a"])
    stored = manager.get(KEY)

    assert manager.update(KEY, lambda current: current, compare=False) is stored
    # A new object is a change, equal or not: the caller promised to return the current one
    # when nothing changes.
    assert manager.update(KEY, lambda current: list(current), compare=False) == ["a"]
    assert manager.get(KEY) is not stored
    assert seen == [["a"], ["a"]]


def test_a_no_op_update_of_an_unknown_key_creates_no_entry() -> None:
    manager = DataRefreshManager()
    assert manager.update(KEY, lambda current: current) is None
    assert manager.peek(KEY) is None


def test_an_update_of_cached_keys_only_leaves_a_key_without_data_alone() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    calls: list[Any] = []

    def patch(current: Any) -> Any:
        calls.append(current)
        return [*current, "b"]

    # Observed but never stored, then not even known: the patch is not called.
    assert manager.update(KEY, patch, compare=False, cached_only=True) is None
    assert manager.update(CacheKey.BATCHES, patch, cached_only=True) is None
    assert calls == [] and seen == []
    assert manager.peek(CacheKey.BATCHES) is None

    manager.set(KEY, ["a"])
    assert manager.update(KEY, patch, compare=False, cached_only=True) == ["a", "b"]
    assert calls == [["a"]]
    assert seen == [["a"], ["a", "b"]]


def test_update_keeps_an_invalidated_key_invalidated() -> None:
    manager = DataRefreshManager()
    manager.set(KEY, 1)
    manager.invalidate(KEY)
    manager.update(KEY, lambda current: current + 1)
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.data == 2
    assert entry.is_invalidated
    assert manager.get(KEY) is None


def test_concurrent_updates_lose_no_increment() -> None:
    manager = DataRefreshManager()

    def increment_many() -> None:
        for _ in range(500):
            manager.update(KEY, lambda current: (current or 0) + 1)

    threads = [threading.Thread(target=increment_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert manager.get(KEY) == 4000


# Observers


def test_unsubscribe_is_idempotent_and_stops_the_callbacks() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    unsubscribe = manager.subscribe(KEY, seen.append)
    other = manager.subscribe(KEY, lambda _data: None)
    assert manager.stats().observers == 2
    unsubscribe()
    unsubscribe()
    assert manager.stats().observers == 1
    manager.set(KEY, "after")
    assert seen == []
    other()
    assert manager.active_keys() == []


def test_a_raising_subscriber_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []

    def broken(_data: Any) -> None:
        raise RuntimeError("subscriber bug")

    manager.subscribe(KEY, broken)
    manager.subscribe(KEY, seen.append)
    with caplog.at_level(logging.ERROR, logger="gamify_client"):
        manager.set(KEY, 1)
        manager.set(KEY, 2)
    assert seen == [1, 2]
    assert "subscriber of tasks raised" in caplog.text
    assert "subscriber bug" in caplog.text


def test_a_subscriber_may_write_back_and_sees_the_changes_in_order() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []

    def echo(data: Any) -> None:
        seen.append(data)
        if data == 1:
            manager.set(KEY, 2)

    manager.subscribe(KEY, echo)
    manager.set(KEY, 1)
    assert seen == [1, 2]
    assert manager.get(KEY) == 2


def test_active_keys_filters_by_prefix() -> None:
    manager = DataRefreshManager()
    manager.subscribe((CacheKey.BATCH_PROGRESS, "b1"), lambda _data: None)
    manager.subscribe((CacheKey.USER_PROGRESS, "u1", "b1"), lambda _data: None)
    manager.set(CacheKey.TASKS, [])
    assert manager.active_keys(CacheKey.BATCH_PROGRESS) == [(CacheKey.BATCH_PROGRESS, "b1")]
    assert set(manager.active_keys()) == {
        (CacheKey.BATCH_PROGRESS, "b1"),
        (CacheKey.USER_PROGRESS, "u1", "b1"),
    }


# Invalidation


def test_prefix_invalidation_reaches_every_tuple_key_under_it() -> None:
    manager = DataRefreshManager()
    b1, b2 = (CacheKey.BATCH_PROGRESS, "b1"), (CacheKey.BATCH_PROGRESS, "b2")
    user_b1 = (CacheKey.USER_PROGRESS, "u1", "b1")
    for key in (b1, b2, user_b1, CacheKey.TASKS):
        manager.set(key, "data")
    only_observed = (CacheKey.BATCH_PROGRESS, "b3")
    manager.subscribe(only_observed, lambda _data: None)
    heard: list[Key] = []
    manager.on_invalidate(heard.append)

    assert manager.invalidate(CacheKey.BATCH_PROGRESS) == [b1, b2, only_observed]
    assert heard == [b1, b2, only_observed]
    assert manager.get(b1) is None
    assert manager.get(b2) is None
    assert manager.get(user_b1) == "data"
    assert manager.get(CacheKey.TASKS) == "data"

    assert manager.invalidate((CacheKey.USER_PROGRESS, "u1")) == [user_b1]
    assert manager.invalidate((CacheKey.USER_PROGRESS, "u2")) == []
    entry = manager.peek(user_b1)
    assert entry is not None
    assert entry.is_invalidated
    assert entry.is_stale
    assert manager.stats().invalidations == 4


def test_invalidating_several_keys_at_once_tells_a_batched_listener_once() -> None:
    manager = DataRefreshManager()
    b1, b2 = (CacheKey.BATCH_PROGRESS, "b1"), (CacheKey.BATCH_PROGRESS, "b2")
    for key in (b1, b2, CacheKey.TASKS, CacheKey.BATCHES):
        manager.set(key, "data")
    told: list[Any] = []
    manager.subscribe(b1, told.append)
    batches: list[list[Key]] = []
    single: list[Key] = []
    manager.on_invalidate_keys(batches.append)
    manager.on_invalidate(single.append)

    # b1 is under two of the prefixes: marked, told and listed twice, as two calls would.
    marked = manager.invalidate_keys([CacheKey.BATCH_PROGRESS, CacheKey.TASKS, b1])

    assert marked == [b1, b2, CacheKey.TASKS, b1]
    assert batches == [marked]
    assert single == marked
    assert told == [INVALIDATED, INVALIDATED]
    assert manager.get(CacheKey.BATCHES) == "data"
    assert manager.stats().invalidations == 4
    assert all(manager.get(key) is None for key in (b1, b2, CacheKey.TASKS))


def test_invalidating_several_keys_with_one_that_is_not_a_key_marks_none() -> None:
    manager = DataRefreshManager()
    manager.set(CacheKey.TASKS, "data")
    heard: list[Key] = []
    manager.on_invalidate(heard.append)

    with pytest.raises(TypeError):
        manager.invalidate_keys([CacheKey.TASKS, ([],)])

    assert manager.get(CacheKey.TASKS) == "data"
    assert heard == []


def test_invalidation_listener_unsubscribes_and_a_raising_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = DataRefreshManager()
    manager.set(KEY, 1)
    heard: list[Key] = []

    def broken(_key: Key) -> None:
        raise RuntimeError("listener bug")

    manager.on_invalidate(broken)
    stop = manager.on_invalidate(heard.append)
    with caplog.at_level(logging.ERROR, logger="gamify_client"):
        manager.invalidate(KEY)
    assert heard == [KEY]
    assert "invalidation listener for tasks raised" in caplog.text
    stop()
    stop()
    manager.invalidate(KEY)
    assert heard == [KEY]


# Single flight


def test_100_threads_share_one_fetch() -> None:
    manager = DataRefreshManager()
    release = threading.Event()
    calls: list[int] = []

    def fetch() -> str:
        calls.append(1)
        assert release.wait(DEADLINE)
        return "value"

    with ThreadPoolExecutor(100) as pool:
        futures = [pool.submit(manager.refresh, KEY, fetch) for _ in range(100)]
        wait_until(lambda: manager.stats().deduplicated_fetches == 99)
        release.set()
        results = [future.result(DEADLINE) for future in futures]
    assert len(calls) == 1
    assert results == ["value"] * 100
    stats = manager.stats()
    assert (stats.fetches, stats.deduplicated_fetches) == (1, 99)


async def test_100_tasks_share_one_fetch() -> None:
    manager = DataRefreshManager()
    release = asyncio.Event()
    calls: list[int] = []

    async def fetch() -> str:
        calls.append(1)
        await release.wait()
        return "value"

    tasks = [asyncio.create_task(manager.refresh_async(KEY, fetch)) for _ in range(100)]
    await async_wait_until(lambda: manager.stats().deduplicated_fetches == 99)
    release.set()
    assert await asyncio.gather(*tasks) == ["value"] * 100
    assert len(calls) == 1
    assert manager.get(KEY) == "value"


async def test_sync_callers_join_an_async_fetch() -> None:
    manager = DataRefreshManager()
    release = asyncio.Event()
    calls: list[str] = []

    async def fetch() -> str:
        calls.append("async")
        await release.wait()
        return "value"

    def sync_fetch() -> str:
        calls.append("sync")
        return "sync value"

    leader = asyncio.create_task(manager.refresh_async(KEY, fetch))
    await async_wait_until(lambda: is_fetching(manager, KEY))
    with ThreadPoolExecutor(10) as pool:
        joined = [
            asyncio.wrap_future(pool.submit(manager.refresh, KEY, sync_fetch)) for _ in range(10)
        ]
        await async_wait_until(lambda: manager.stats().deduplicated_fetches == 10)
        release.set()
        assert await leader == "value"
        assert await asyncio.gather(*joined) == ["value"] * 10
    assert calls == ["async"]


async def test_async_callers_join_a_sync_fetch_without_blocking_the_loop() -> None:
    manager = DataRefreshManager()
    release = threading.Event()
    calls: list[str] = []

    def fetch() -> str:
        calls.append("sync")
        assert release.wait(DEADLINE)
        return "value"

    async def async_fetch() -> str:
        calls.append("async")
        return "async value"

    leader = asyncio.get_running_loop().run_in_executor(None, manager.refresh, KEY, fetch)
    await async_wait_until(lambda: is_fetching(manager, KEY))
    joined = [asyncio.create_task(manager.refresh_async(KEY, async_fetch)) for _ in range(10)]
    # The loop keeps running while they wait: this poll is itself proof of that.
    await async_wait_until(lambda: manager.stats().deduplicated_fetches == 10)
    assert not any(task.done() for task in joined)
    release.set()
    assert await leader == "value"
    assert await asyncio.gather(*joined) == ["value"] * 10
    assert calls == ["sync"]


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    manager = DataRefreshManager()
    release = asyncio.Event()

    async def fetch() -> str:
        await release.wait()
        return "value"

    first = asyncio.create_task(manager.refresh_async(KEY, fetch))
    second = asyncio.create_task(manager.refresh_async(KEY, fetch))
    await async_wait_until(lambda: manager.stats().deduplicated_fetches == 1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    assert await second == "value"
    assert manager.get(KEY) == "value"


async def test_a_sync_refresh_inside_the_loop_running_its_fetch_raises() -> None:
    manager = DataRefreshManager()
    release = asyncio.Event()

    async def fetch() -> str:
        await release.wait()
        return "value"

    leader = asyncio.create_task(manager.refresh_async(KEY, fetch))
    await async_wait_until(lambda: is_fetching(manager, KEY))
    with pytest.raises(RuntimeError, match="refresh_async"):
        manager.refresh(KEY, lambda: "blocked")
    release.set()
    assert await leader == "value"


# Generations: nothing older overwrites anything newer


def test_an_invalidation_during_a_fetch_refetches_for_every_caller() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    release = threading.Event()
    answers = iter(["before the write", "after the write"])
    calls: list[int] = []

    def fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            assert release.wait(DEADLINE)
        return next(answers)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(manager.refresh, KEY, fetch) for _ in range(4)]
        wait_until(lambda: manager.stats().deduplicated_fetches == 3)
        assert manager.invalidate(KEY) == [KEY]
        release.set()
        results = [future.result(DEADLINE) for future in futures]
    assert results == ["after the write"] * 4
    assert len(calls) == 2
    # The subscriber hears the invalidation, then the data that follows it.
    assert seen == [INVALIDATED, "after the write"]
    assert manager.get(KEY) == "after the write"
    entry = manager.peek(KEY)
    assert entry is not None
    assert not entry.is_invalidated
    assert manager.stats().refetches == 1


async def test_an_invalidation_during_an_async_fetch_refetches() -> None:
    manager = DataRefreshManager()
    release = asyncio.Event()
    answers = iter(["before the write", "after the write"])
    calls: list[int] = []

    async def fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            await release.wait()
        return next(answers)

    tasks = [asyncio.create_task(manager.refresh_async(KEY, fetch)) for _ in range(3)]
    await async_wait_until(lambda: manager.stats().deduplicated_fetches == 2)
    manager.invalidate(KEY)
    release.set()
    assert await asyncio.gather(*tasks) == ["after the write"] * 3
    assert len(calls) == 2
    assert manager.get(KEY) == "after the write"


def test_a_late_response_never_overwrites_a_newer_set() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    release = threading.Event()

    def fetch() -> str:
        assert release.wait(DEADLINE)
        return "stale response"

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(manager.refresh, KEY, fetch) for _ in range(2)]
        wait_until(lambda: manager.stats().deduplicated_fetches == 1)
        manager.set(KEY, "newer")
        release.set()
        results = [future.result(DEADLINE) for future in futures]
    assert results == ["newer", "newer"]
    assert manager.get(KEY) == "newer"
    assert seen == ["newer"]


def test_an_update_during_a_fetch_wins_over_its_response() -> None:
    manager = DataRefreshManager()
    manager.set(KEY, 1)
    release = threading.Event()

    def fetch() -> int:
        assert release.wait(DEADLINE)
        return 1

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(manager.refresh, KEY, fetch)
        wait_until(lambda: is_fetching(manager, KEY))
        manager.update(KEY, lambda current: current + 10)
        release.set()
        assert future.result(DEADLINE) == 11
    assert manager.get(KEY) == 11


def test_a_key_invalidated_on_every_fetch_gives_up_after_three_refetches() -> None:
    manager = DataRefreshManager()
    calls = itertools.count(1)

    def fetch() -> int:
        call = next(calls)
        manager.invalidate(KEY)
        return call

    assert manager.refresh(KEY, fetch) == 4
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.data is None
    assert entry.is_invalidated
    assert not entry.fetching
    assert manager.stats().refetches == 3


# Failures


def test_a_failed_fetch_raises_in_every_caller_and_keeps_the_data() -> None:
    manager = DataRefreshManager()
    manager.set(KEY, "kept")
    release = threading.Event()

    def fetch() -> str:
        assert release.wait(DEADLINE)
        raise ValueError("backend down")

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(manager.refresh, KEY, fetch) for _ in range(3)]
        wait_until(lambda: manager.stats().deduplicated_fetches == 2)
        release.set()
        for future in futures:
            with pytest.raises(ValueError, match="backend down"):
                future.result(DEADLINE)
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.data == "kept"
    assert not entry.fetching
    assert manager.refresh(KEY, lambda: "again") == "again"


async def test_a_failed_async_fetch_raises_and_the_key_is_not_wedged() -> None:
    manager = DataRefreshManager()

    async def failing() -> str:
        raise ValueError("backend down")

    async def working() -> str:
        return "again"

    with pytest.raises(ValueError, match="backend down"):
        await manager.refresh_async(KEY, failing)
    assert await manager.refresh_async(KEY, working) == "again"


async def test_a_cancelled_fetch_releases_its_waiters() -> None:
    manager = DataRefreshManager()

    async def cancelled() -> str:
        raise asyncio.CancelledError

    async def working() -> str:
        return "again"

    with pytest.raises(RuntimeError, match="was stopped"):
        await asyncio.wait_for(manager.refresh_async(KEY, cancelled), DEADLINE)
    assert await manager.refresh_async(KEY, working) == "again"


# Garbage collection and size


def test_unobserved_keys_are_collected_after_gc_time() -> None:
    clock = FakeClock()
    manager = DataRefreshManager(gc_time=60.0, clock=clock)
    manager.set(CacheKey.TASKS, "unobserved")
    unsubscribe = manager.subscribe(CacheKey.BATCHES, lambda _data: None)
    manager.set(CacheKey.BATCHES, "observed")
    clock.advance(59.0)
    assert manager.collect_garbage() == 0
    clock.advance(1.0)
    assert manager.collect_garbage() == 1
    assert manager.peek(CacheKey.TASKS) is None
    assert manager.peek(CacheKey.BATCHES) is not None

    unsubscribe()
    clock.advance(60.0)
    # Swept lazily by an ordinary call, with no explicit collection.
    manager.set(CacheKey.DASHBOARD, "other")
    assert manager.peek(CacheKey.BATCHES) is None
    assert manager.stats().entries == 1


@pytest.mark.parametrize("fails", [False, True], ids=["fetch succeeds", "fetch fails"])
def test_an_entry_whose_last_observer_left_mid_fetch_is_collected(fails: bool) -> None:
    clock = FakeClock()
    manager = DataRefreshManager(gc_time=60.0, clock=clock)
    unsubscribe = manager.subscribe(KEY, lambda _data: None)
    release = threading.Event()

    def fetch() -> str:
        assert release.wait(DEADLINE)
        if fails:
            raise ValueError("backend down")
        return "value"

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(manager.refresh, KEY, fetch)
        wait_until(lambda: is_fetching(manager, KEY))
        unsubscribe()
        clock.advance(120.0)
        assert manager.collect_garbage() == 0
        release.set()
        if fails:
            with pytest.raises(ValueError, match="backend down"):
                future.result(DEADLINE)
        else:
            assert future.result(DEADLINE) == "value"
    clock.advance(59.0)
    assert manager.collect_garbage() == 0
    clock.advance(1.0)
    assert manager.collect_garbage() == 1
    assert manager.peek(KEY) is None
    assert manager.stats().entries == 0


def test_maxsize_drops_the_longest_idle_entry_first() -> None:
    clock = FakeClock()
    manager = DataRefreshManager(maxsize=2, clock=clock)
    manager.subscribe(CacheKey.TASKS, lambda _data: None)
    manager.set(CacheKey.BATCHES, 1)
    clock.advance(1.0)
    manager.set(CacheKey.DASHBOARD, 2)
    manager.set(CacheKey.USER_PROFILE, 3)
    assert manager.peek(CacheKey.TASKS) is not None
    assert manager.peek(CacheKey.BATCHES) is None
    assert manager.get(CacheKey.USER_PROFILE) == 3


def test_clear_forgets_the_data_and_keeps_the_observers() -> None:
    manager = DataRefreshManager()
    seen: list[Any] = []
    manager.subscribe(KEY, seen.append)
    manager.set(KEY, 1)
    manager.set(CacheKey.BATCHES, 2)
    manager.get(KEY)
    manager.clear()
    assert manager.peek(CacheKey.BATCHES) is None
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.data is None
    assert entry.is_invalidated
    assert manager.stats() == CacheStats(
        hits=0,
        misses=0,
        fetches=0,
        deduplicated_fetches=0,
        invalidations=0,
        entries=1,
        observers=1,
        refetches=0,
    )
    manager.set(KEY, 3)
    assert seen == [1, 3]


def test_stats_count_every_operation() -> None:
    manager = DataRefreshManager()
    manager.subscribe(KEY, lambda _data: None)
    manager.get(KEY)
    manager.refresh(KEY, lambda: "value")
    manager.refresh(KEY, lambda: "value")
    manager.get(KEY)
    manager.get(KEY)
    manager.refresh(CacheKey.BATCHES, lambda: [])
    manager.invalidate(KEY)
    assert manager.stats() == CacheStats(
        hits=2,
        misses=1,
        fetches=3,
        deduplicated_fetches=0,
        invalidations=1,
        entries=2,
        observers=1,
        refetches=0,
    )


# Stress


class Recorder:
    """A subscriber that remembers the last value it was given."""

    def __init__(self) -> None:
        self.last: Any = None
        self.received = False
        self.initial: Any = None

    def __call__(self, data: Any) -> None:
        # Yield between being called and recording, as a slow callback would, so that a
        # delivery racing another one would be caught recording out of order.
        time.sleep(0)
        if data is INVALIDATED:
            # An invalidation leaves the data as it was.
            return
        self.last = data
        self.received = True


@pytest.fixture
def fine_thread_switching() -> Iterator[None]:
    # Switch threads far more often than the default 5 ms, so operations really interleave.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("fine_thread_switching")
def test_stress_mixed_operations_from_8_threads() -> None:
    threads_count, rounds, operations_per_round = 8, 200, 50
    manager = DataRefreshManager()
    keys: list[Key] = [
        CacheKey.TASKS,
        CacheKey.BATCHES,
        (CacheKey.BATCH_PROGRESS, "b1"),
        (CacheKey.BATCH_PROGRESS, "b2"),
        (CacheKey.USER_PROGRESS, "u1", "b1"),
    ]
    prefixes: list[Key] = [*keys, CacheKey.BATCH_PROGRESS, CacheKey.USER_PROGRESS]
    values = itertools.count()
    subscriptions: list[list[tuple[Key, Recorder, Callable[[], None]]]] = [
        [] for _ in range(threads_count)
    ]
    counted = [{"refreshes": 0, "gets": 0, "invalidated": 0} for _ in range(threads_count)]
    errors: list[BaseException] = []
    lost: list[str] = []

    def check_notifications() -> None:
        # Runs while every thread waits at the barrier, so nothing changes meanwhile.
        for mine in subscriptions:
            for key, recorder, _ in mine:
                entry = manager.peek(key)
                assert entry is not None
                seen = recorder.last if recorder.received else recorder.initial
                if seen != entry.data:
                    lost.append(f"{key}: saw {seen!r}, stored {entry.data!r}")

    checkpoint = threading.Barrier(threads_count, action=check_notifications, timeout=60.0)

    def fetch() -> int:
        # Give up the GIL as real I/O would, so that other threads overlap the fetch.
        time.sleep(0)
        return next(values)

    def work(index: int) -> None:
        rng = random.Random(index)
        mine, count = subscriptions[index], counted[index]
        try:
            for _ in range(rounds):
                for _ in range(operations_per_round):
                    key = rng.choice(keys)
                    operation = rng.randrange(6)
                    if operation == 0 and len(mine) < 5:
                        recorder = Recorder()
                        unsubscribe = manager.subscribe(key, recorder)
                        entry = manager.peek(key)
                        recorder.initial = None if entry is None else entry.data
                        mine.append((key, recorder, unsubscribe))
                    elif operation == 1 and mine:
                        mine.pop(rng.randrange(len(mine)))[2]()
                    elif operation == 2:
                        manager.refresh(key, fetch)
                        count["refreshes"] += 1
                    elif operation == 3:
                        count["invalidated"] += len(manager.invalidate(rng.choice(prefixes)))
                    elif operation == 4:
                        manager.set(key, next(values))
                    else:
                        manager.get(key)
                        count["gets"] += 1
                checkpoint.wait()
        except BaseException as error:
            errors.append(error)
            checkpoint.abort()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert lost == []

    stats = manager.stats()
    assert stats.fetches + stats.deduplicated_fetches == sum(c["refreshes"] for c in counted)
    assert stats.hits + stats.misses == sum(c["gets"] for c in counted)
    assert stats.invalidations == sum(c["invalidated"] for c in counted)
    assert stats.observers == sum(len(mine) for mine in subscriptions)
    assert stats.entries == len(keys)
    assert stats.refetches <= 3 * stats.fetches
    assert not any(entry.fetching for entry in map(manager.peek, keys) if entry is not None)


# Subscribers hear invalidations; the key's state changes by transitions


def test_a_subscriber_hears_an_invalidation_as_such_and_can_refetch() -> None:
    manager = DataRefreshManager()
    manager.set(KEY, "old")
    heard: list[Any] = []

    def seed_style(data: Any) -> None:
        heard.append(data)
        if data is INVALIDATED:
            manager.refresh(KEY, lambda: "new")

    manager.subscribe(KEY, seed_style)
    manager.invalidate(CacheKey.TASKS)

    assert heard == [INVALIDATED, "new"]
    assert manager.get(KEY) == "new"


def test_each_key_has_a_status_and_a_fetch_status() -> None:
    manager = DataRefreshManager()
    release = threading.Event()

    def slow() -> str:
        assert release.wait(DEADLINE)
        return "data"

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(manager.refresh, KEY, slow)
        wait_until(lambda: (entry := manager.peek(KEY)) is not None and entry.fetching)
        entry = manager.peek(KEY)
        assert entry is not None
        assert (entry.status, entry.fetch_status) == ("pending", "fetching")
        release.set()
        assert future.result(DEADLINE) == "data"
    entry = manager.peek(KEY)
    assert entry is not None
    assert (entry.status, entry.fetch_status, entry.error) == ("success", "idle", None)

    failure = ValueError("down")

    def broken() -> str:
        raise failure

    with pytest.raises(ValueError, match="down"):
        manager.refresh(KEY, broken)
    entry = manager.peek(KEY)
    assert entry is not None
    # The older data stays, and the state says the last fetch failed.
    assert (entry.status, entry.data, entry.error) == ("error", "data", failure)

    manager.pause(KEY)
    entry = manager.peek(KEY)
    assert entry is not None
    assert entry.fetch_status == "paused"
    manager.refresh(KEY, lambda: "again")
    entry = manager.peek(KEY)
    assert entry is not None
    assert (entry.status, entry.fetch_status) == ("success", "idle")


def test_invalidating_a_family_looks_only_at_that_family() -> None:
    manager = DataRefreshManager(maxsize=30_000)
    for index in range(10_000):
        manager.set((CacheKey.USER_PROGRESS, f"u{index}", "b1"), index)
    manager.set((CacheKey.BATCH_PROGRESS, "b1"), "report")

    invalidated = manager.invalidate(CacheKey.BATCH_PROGRESS)

    assert invalidated == [(CacheKey.BATCH_PROGRESS, "b1")]
    assert len(manager.invalidate((CacheKey.USER_PROGRESS, "u7"))) == 1
    assert len(manager.invalidate(CacheKey.USER_PROGRESS)) == 10_000
    assert manager.active_keys(CacheKey.USER_PROGRESS) == []
