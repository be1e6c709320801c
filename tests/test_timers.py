"""The scheduler: one thread for every timer of a client, callbacks at their time."""

from __future__ import annotations

import threading

import pytest

from gamify_client.timers import Scheduler


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_calls_run_in_due_order_with_an_injected_clock() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock=clock, threaded=False)
    ran: list[str] = []
    scheduler.call_later(2, lambda: ran.append("two"))
    scheduler.call_later(1, lambda: ran.append("one"))
    scheduler.call_later(3, lambda: ran.append("three"))
    assert scheduler.run_due() == 0
    clock.now += 2
    assert scheduler.run_due() == 2
    assert ran == ["one", "two"]
    assert scheduler.pending() == 1


def test_a_cancelled_call_never_runs() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock=clock, threaded=False)
    ran: list[int] = []
    handle = scheduler.call_later(1, lambda: ran.append(1))
    handle.cancel()
    handle.cancel()
    clock.now += 5
    assert scheduler.run_due() == 0
    assert ran == []


def test_a_raising_callback_is_logged_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    scheduler.call_later(0, boom)
    scheduler.call_later(0, done.set)
    assert done.wait(5)
    assert "scheduled callback raised" in caplog.text
    scheduler.close()


def test_one_thread_serves_every_timer() -> None:
    scheduler = Scheduler()
    before = threading.active_count()
    hits = threading.Semaphore(0)
    for _ in range(200):
        scheduler.call_later(0.001, hits.release)
    for _ in range(200):
        assert hits.acquire(timeout=5)
    assert threading.active_count() - before == 1
    scheduler.close()
    assert scheduler.thread is not None
    assert not scheduler.thread.is_alive()


def test_nothing_runs_after_close() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock=clock, threaded=False)
    ran: list[int] = []
    scheduler.call_later(1, lambda: ran.append(1))
    scheduler.close()
    handle = scheduler.call_later(0, lambda: ran.append(2))
    clock.now += 10
    assert scheduler.run_due() == 0
    assert handle.cancelled
    assert ran == []
