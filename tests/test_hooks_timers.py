"""What live queries need from the timers: cancelled calls that do not pile up, a lock-free
hand-off to the timer thread, and one timer task per event loop for the async client."""

from __future__ import annotations

import asyncio
import threading
import weakref

import pytest

from gamify_client.timers import AsyncScheduler, Scheduler
from tests.test_hooks import FakeClock


class Callback:
    """A callable whose lifetime a test can watch."""

    def __init__(self, ran: list[int], value: int) -> None:
        self.ran = ran
        self.value = value

    def __call__(self) -> None:
        self.ran.append(self.value)


def test_cancelled_calls_do_not_pile_up() -> None:
    scheduler = Scheduler(clock=FakeClock(), threaded=False)
    ran: list[int] = []
    callbacks = [Callback(ran, value) for value in range(1000)]
    refs = [weakref.ref(callback) for callback in callbacks]
    handles = [scheduler.call_later(60, callback) for callback in callbacks]
    del callbacks
    for handle in handles[:-1]:
        handle.cancel()
    del handles[:-1]
    kept = sum(ref() is not None for ref in refs)
    # The heap is rebuilt once cancelled calls outnumber live ones, so few are still held.
    assert kept < 100
    assert scheduler.pending() == 1


def test_call_soon_threadsafe_runs_on_the_timer_thread() -> None:
    scheduler = Scheduler()
    scheduler.call_later(3600, lambda: None)
    where: list[bool] = []
    done = threading.Event()

    def record() -> None:
        where.append(scheduler.is_current_thread())
        done.set()

    scheduler.call_soon_threadsafe(record)
    assert done.wait(10)
    assert where == [True]
    assert not scheduler.is_current_thread()
    scheduler.close()


def test_call_soon_threadsafe_waits_for_run_due_when_driven_by_hand() -> None:
    scheduler = Scheduler(clock=FakeClock(), threaded=False)
    ran: list[int] = []
    scheduler.call_soon_threadsafe(lambda: ran.append(1))
    assert ran == []
    assert scheduler.run_due() == 1
    assert ran == [1]
    scheduler.close()
    scheduler.call_soon_threadsafe(lambda: ran.append(2))
    assert scheduler.run_due() == 0
    assert ran == [1]


def test_the_scheduler_exposes_its_clock() -> None:
    clock = FakeClock()
    assert Scheduler(clock=clock, threaded=False).clock is clock
    assert AsyncScheduler(clock=clock, autorun=False).clock is clock
    assert not Scheduler(clock=clock, threaded=False).threaded


async def test_async_calls_run_in_due_order_from_one_task() -> None:
    scheduler = AsyncScheduler()
    ran: list[str] = []
    done = asyncio.Event()
    scheduler.call_later(0.02, lambda: ran.append("late"))
    scheduler.call_later(0.01, lambda: ran.append("early"))
    scheduler.call_later(0.03, done.set)
    task = scheduler.task
    assert task is not None
    assert scheduler.pending() == 3
    await asyncio.wait_for(done.wait(), timeout=10)
    assert ran == ["early", "late"]
    assert scheduler.task in (task, None)
    await asyncio.wait_for(task, timeout=10)
    assert scheduler.task is None


async def test_the_async_task_ends_when_its_calls_are_cancelled() -> None:
    scheduler = AsyncScheduler()
    handle = scheduler.call_later(3600, lambda: None)
    task = scheduler.task
    assert task is not None
    handle.cancel()
    await asyncio.wait_for(task, timeout=10)
    assert scheduler.task is None
    assert scheduler.pending() == 0


async def test_an_async_callback_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = AsyncScheduler()
    done = asyncio.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    scheduler.call_later(0, boom)
    scheduler.call_later(0, done.set)
    await asyncio.wait_for(done.wait(), timeout=10)
    assert "scheduled callback raised" in caplog.text
    scheduler.close()


async def test_close_cancels_the_async_task_and_later_calls() -> None:
    scheduler = AsyncScheduler()
    ran: list[int] = []
    scheduler.call_later(3600, lambda: ran.append(1))
    task = scheduler.task
    assert task is not None
    scheduler.close()
    with pytest.raises(asyncio.CancelledError):
        await task
    handle = scheduler.call_later(0, lambda: ran.append(2))
    assert handle.cancelled
    assert scheduler.task is None
    assert ran == []


def test_a_hand_driven_async_scheduler_needs_no_loop() -> None:
    clock = FakeClock()
    scheduler = AsyncScheduler(clock=clock, autorun=False)
    ran: list[int] = []
    scheduler.call_later(5, lambda: ran.append(5))
    scheduler.call_later(1, lambda: ran.append(1))
    assert scheduler.task is None
    clock.advance(1)
    assert scheduler.run_due() == 1
    clock.advance(4)
    assert scheduler.run_due() == 1
    assert ran == [1, 5]


async def test_an_async_scheduler_serves_one_running_loop_at_a_time() -> None:
    scheduler = AsyncScheduler()
    scheduler.call_later(3600, lambda: None)

    async def from_another_loop() -> None:
        scheduler.call_later(0, lambda: None)

    with pytest.raises(RuntimeError, match="another running event loop"):
        await asyncio.to_thread(asyncio.run, from_another_loop())
    scheduler.close()


def test_an_async_scheduler_moves_to_a_new_loop_once_the_old_one_closed() -> None:
    scheduler = AsyncScheduler()
    ran: list[str] = []

    async def use(name: str) -> None:
        done = asyncio.Event()
        scheduler.call_later(0, lambda: ran.append(name))
        scheduler.call_later(0, done.set)
        await done.wait()

    asyncio.run(use("first"))
    asyncio.run(use("second"))
    assert ran == ["first", "second"]
