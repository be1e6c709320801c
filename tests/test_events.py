"""EventManager: the seed's verbs on blinker signals, ordering, isolation and async listeners."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from gamify_client.events import Event, EventManager

DEADLINE = 10.0


async def async_wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.001)


def test_a_listener_gets_the_payload_by_member_or_by_name() -> None:
    events = EventManager()
    received: list[Any] = []
    events.subscribe(Event.TASK_COMPLETED, received.append)
    events.subscribe("taskCompleted", received.append)
    events.emit("taskCompleted", {"taskId": "t1"})
    events.emit(Event.TASK_CREATED, "not listened to")
    assert received == [{"taskId": "t1"}, {"taskId": "t1"}]


@pytest.mark.parametrize("event", list(Event))
def test_each_event_has_its_emit_method(event: Event) -> None:
    events = EventManager()
    received: list[tuple[Event, Any]] = []
    events.subscribe_all(lambda emitted, payload: received.append((emitted, payload)))
    getattr(events, f"emit_{event.name.lower()}")({"n": 1})
    getattr(events, f"emit_{event.name.lower()}")()
    assert received == [(event, {"n": 1}), (event, None)]


def test_an_event_is_logged_at_debug_level_whether_or_not_anybody_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = EventManager()
    received: list[Any] = []
    with caplog.at_level(logging.INFO, logger="gamify_client"):
        events.emit(Event.TASK_COMPLETED, 1)
    assert "event taskCompleted" not in caplog.text
    with caplog.at_level(logging.DEBUG, logger="gamify_client"):
        events.emit(Event.TASK_COMPLETED, 2)
        unsubscribe = events.subscribe(Event.TASK_COMPLETED, received.append)
        events.emit(Event.TASK_COMPLETED, 3)
        unsubscribe()
        events.emit(Event.TASK_COMPLETED, 4)
    assert caplog.text.count("event taskCompleted") == 3
    assert received == [3]


def test_an_unknown_event_name_is_a_clear_value_error() -> None:
    events = EventManager()
    with pytest.raises(ValueError, match=r"unknown event 'taskDone'.*taskCompleted"):
        events.emit("taskDone")
    with pytest.raises(ValueError, match="unknown event"):
        events.subscribe("taskDone", print)
    with pytest.raises(ValueError, match="unknown event"):
        events.listener_count("TASK_COMPLETED")


def test_a_lambda_listener_is_held_strongly() -> None:
    events = EventManager()
    received: list[Any] = []
    events.subscribe(Event.USER_UPDATE, lambda payload: received.append(payload))
    gc.collect()
    events.emit_user_update("still here")
    assert received == ["still here"]


def test_a_raising_listener_is_logged_with_the_event_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = EventManager()
    received: list[Any] = []

    def broken(_payload: Any) -> None:
        raise RuntimeError("listener bug")

    events.subscribe(Event.BATCH_ENROLLED, broken)
    events.subscribe(Event.BATCH_ENROLLED, received.append)
    with caplog.at_level(logging.ERROR, logger="gamify_client"):
        events.emit_batch_enrolled(1)
        events.emit_batch_enrolled(2)
    assert received == [1, 2]
    assert "of event batchEnrolled raised" in caplog.text
    assert "listener bug" in caplog.text


def test_listeners_run_in_subscription_order() -> None:
    events = EventManager()
    order: list[str] = []
    for index in range(20):
        events.subscribe(
            Event.PROGRESS_UPDATE, lambda _p, index=index: order.append(f"one {index}")
        )
        if index == 10:
            events.subscribe_all(lambda _event, _p: order.append("all"))
    events.emit_progress_update()
    assert order == [f"one {index}" for index in range(11)] + ["all"] + [
        f"one {index}" for index in range(11, 20)
    ]


def test_unsubscribe_is_idempotent() -> None:
    events = EventManager()
    received: list[Any] = []
    unsubscribe = events.subscribe(Event.DATA_REFRESH, received.append)
    other = events.subscribe(Event.DATA_REFRESH, lambda _payload: None)
    assert events.listener_count(Event.DATA_REFRESH) == 2
    unsubscribe()
    unsubscribe()
    assert events.listener_count("dataRefresh") == 1
    events.emit_data_refresh("after")
    assert received == []
    other()
    assert events.listener_count(Event.DATA_REFRESH) == 0


def test_subscribe_all_hears_every_event_until_unsubscribed() -> None:
    events = EventManager()
    received: list[tuple[Event, Any]] = []
    unsubscribe = events.subscribe_all(lambda event, payload: received.append((event, payload)))
    for event in Event:
        events.emit(event.value, event.name)
    assert received == [(event, event.name) for event in Event]
    assert all(events.listener_count(event) == 1 for event in Event)
    unsubscribe()
    unsubscribe()
    events.emit_task_assigned()
    assert len(received) == len(Event)
    assert all(events.listener_count(event) == 0 for event in Event)


async def test_an_async_listener_runs_as_a_task_on_the_running_loop() -> None:
    events = EventManager()
    received: list[Any] = []
    done = asyncio.Event()

    async def listener(payload: Any) -> None:
        await asyncio.sleep(0)
        received.append(payload)
        done.set()

    events.subscribe(Event.TASK_COMPLETED, listener)
    events.emit_task_completed("payload")
    assert received == []
    await asyncio.wait_for(done.wait(), DEADLINE)
    assert received == ["payload"]


async def test_an_async_subscribe_all_listener_gets_the_event_too() -> None:
    events = EventManager()
    received: list[tuple[Event, Any]] = []

    async def listener(event: Event, payload: Any) -> None:
        received.append((event, payload))

    events.subscribe_all(listener)
    events.emit_batch_created("payload")
    await async_wait_until(lambda: bool(received))
    assert received == [(Event.BATCH_CREATED, "payload")]


async def test_a_raising_async_listener_is_logged_with_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = EventManager()

    async def broken(_payload: Any) -> None:
        raise RuntimeError("async listener bug")

    events.subscribe(Event.TASK_CREATED, broken)
    with caplog.at_level(logging.ERROR, logger="gamify_client"):
        events.emit_task_created()
        await async_wait_until(lambda: "async listener bug" in caplog.text)
    assert "of event taskCreated raised" in caplog.text


async def test_an_async_listener_emitted_from_a_thread_runs_on_its_own_loop() -> None:
    events = EventManager()
    ran_on: list[int] = []

    async def listener(_payload: Any) -> None:
        ran_on.append(threading.get_ident())

    events.subscribe(Event.USER_UPDATE, listener)
    await asyncio.to_thread(events.emit_user_update)
    await async_wait_until(lambda: bool(ran_on))
    assert ran_on == [threading.get_ident()]


def test_an_async_listener_with_no_loop_running_completes_before_emit_returns() -> None:
    events = EventManager()
    received: list[Any] = []

    async def listener(payload: Any) -> None:
        await asyncio.sleep(0)
        received.append(payload)

    events.subscribe(Event.PROGRESS_UPDATE, listener)
    events.emit_progress_update("payload")
    assert received == ["payload"]
