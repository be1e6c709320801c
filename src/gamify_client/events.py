"""Events: what happened, announced to whoever listens."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Future as ConcurrentFuture
from enum import StrEnum
from functools import partial
from typing import Any, cast

import blinker

from ._loops import running_loop

__all__ = ["AnyEventListener", "Event", "EventManager", "Listener"]

logger = logging.getLogger("gamify_client")


class Event(StrEnum):
    """The seed's event names, as the real frontend emits them, and the SDK's own: the end of
    an optimistic update (see :mod:`gamify_client.optimistic`) and the outbox's three
    (``mutation*``: a write was queued on disk, then applied or failed for good)."""

    TASK_COMPLETED = "taskCompleted"
    TASK_CREATED = "taskCreated"
    TASK_ASSIGNED = "taskAssigned"
    BATCH_CREATED = "batchCreated"
    BATCH_ENROLLED = "batchEnrolled"
    PROGRESS_UPDATE = "progressUpdate"
    USER_UPDATE = "userUpdate"
    DATA_REFRESH = "dataRefresh"
    OPTIMISTIC_ROLLBACK = "optimisticRollback"
    """A write failed for good and its predicted change was taken back."""
    OPTIMISTIC_CONFLICT = "optimisticConflict"
    """Fetched data contradicted a pending predicted change, which was dropped."""
    MUTATION_QUEUED = "mutationQueued"
    MUTATION_APPLIED = "mutationApplied"
    MUTATION_FAILED = "mutationFailed"


Listener = Callable[[Any], object]
"""A listener of one event: gets the payload. A coroutine function is run as a task."""

AnyEventListener = Callable[[Event, Any], object]
"""A listener of every event: gets the event and the payload."""


class _OrderedIds(dict[Any, None]):
    """The id set blinker keeps its receivers in, ordered by connection."""

    def add(self, item: Any) -> None:
        self[item] = None

    def discard(self, item: Any) -> None:
        self.pop(item, None)


class _OrderedSignal(blinker.Signal):
    """A blinker signal that calls its receivers in the order they were connected."""

    # blinker's documented hook for ordered dispatch; it only adds, discards, copies and iterates
    # the ids, which a dict does in insertion order.
    set_class = _OrderedIds  # type: ignore[assignment]


class EventManager:
    """One blinker signal per :class:`Event`, with the seed's verbs.

    Listeners are held strongly (a lambda works) and run in subscription order, in the thread
    that emits. A listener that raises is logged (logger ``gamify_client``, with the event name)
    and the others still run. A coroutine-function listener runs as a task on the emitter's
    running loop; emitted from a thread with no running loop, it is handed to the loop that was
    running when it subscribed, if that loop still runs, and otherwise run to completion with
    ``asyncio.run`` before ``emit`` returns. Tasks are kept referenced until they finish and
    their errors are logged.
    """

    def __init__(self) -> None:
        # Keyed by str: an Event member hashes and compares like its value, so "taskCompleted"
        # finds the same signal without a conversion on every emit.
        self._signals: dict[str, blinker.Signal] = {
            event: _OrderedSignal(doc=f"Emitted on {event.value}.") for event in Event
        }
        self._running: set[asyncio.Future[Any] | ConcurrentFuture[Any]] = set()

    def subscribe(self, event: Event | str, listener: Listener) -> Callable[[], None]:
        """Call ``listener(payload)`` on each ``event``; returns an idempotent unsubscribe.
        Raises ValueError for an unknown event name."""
        member = _event(event)
        signal = self._signals[member]
        receiver = self._receiver(member, listener)
        signal.connect(receiver, weak=False)
        # blinker ignores a receiver that is not connected, so a second call does nothing; the
        # partial keeps the receiver alive, so its id cannot be reused by another one.
        return partial(signal.disconnect, receiver)

    def subscribe_all(self, listener: AnyEventListener) -> Callable[[], None]:
        """Call ``listener(event, payload)`` on every event; returns an idempotent unsubscribe."""
        connected = [
            (self._signals[event], self._receiver(event, partial(listener, event)))
            for event in Event
        ]
        for signal, receiver in connected:
            signal.connect(receiver, weak=False)

        def unsubscribe() -> None:
            for signal, receiver in connected:
                signal.disconnect(receiver)

        return unsubscribe

    def emit(self, event: Event | str, data: Any = None) -> None:
        """Call every listener of ``event`` with ``data``. Raises ValueError for an unknown
        event name; never raises what a listener raises."""
        try:
            signal = self._signals[event]
        except KeyError:
            raise ValueError(_unknown(event)) from None
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("event %s", event)
        # Every write emits: an event nobody listens to costs one look at its receivers.
        if signal.receivers:
            signal.send(self, payload=data)

    def listener_count(self, event: Event | str) -> int:
        """How many listeners ``event`` has, ``subscribe_all`` ones included."""
        return len(self._signals[_event(event)].receivers)

    def emit_task_completed(self, data: Any = None) -> None:
        """Emit :attr:`Event.TASK_COMPLETED`."""
        self.emit(Event.TASK_COMPLETED, data)

    def emit_task_created(self, data: Any = None) -> None:
        """Emit :attr:`Event.TASK_CREATED`."""
        self.emit(Event.TASK_CREATED, data)

    def emit_task_assigned(self, data: Any = None) -> None:
        """Emit :attr:`Event.TASK_ASSIGNED`."""
        self.emit(Event.TASK_ASSIGNED, data)

    def emit_batch_created(self, data: Any = None) -> None:
        """Emit :attr:`Event.BATCH_CREATED`."""
        self.emit(Event.BATCH_CREATED, data)

    def emit_batch_enrolled(self, data: Any = None) -> None:
        """Emit :attr:`Event.BATCH_ENROLLED`."""
        self.emit(Event.BATCH_ENROLLED, data)

    def emit_progress_update(self, data: Any = None) -> None:
        """Emit :attr:`Event.PROGRESS_UPDATE`."""
        self.emit(Event.PROGRESS_UPDATE, data)

    def emit_user_update(self, data: Any = None) -> None:
        """Emit :attr:`Event.USER_UPDATE`."""
        self.emit(Event.USER_UPDATE, data)

    def emit_data_refresh(self, data: Any = None) -> None:
        """Emit :attr:`Event.DATA_REFRESH`."""
        self.emit(Event.DATA_REFRESH, data)

    def emit_optimistic_rollback(self, data: Any = None) -> None:
        """Emit :attr:`Event.OPTIMISTIC_ROLLBACK`."""
        self.emit(Event.OPTIMISTIC_ROLLBACK, data)

    def emit_optimistic_conflict(self, data: Any = None) -> None:
        """Emit :attr:`Event.OPTIMISTIC_CONFLICT`."""
        self.emit(Event.OPTIMISTIC_CONFLICT, data)

    def emit_mutation_queued(self, data: Any = None) -> None:
        """Emit :attr:`Event.MUTATION_QUEUED`."""
        self.emit(Event.MUTATION_QUEUED, data)

    def emit_mutation_applied(self, data: Any = None) -> None:
        """Emit :attr:`Event.MUTATION_APPLIED`."""
        self.emit(Event.MUTATION_APPLIED, data)

    def emit_mutation_failed(self, data: Any = None) -> None:
        """Emit :attr:`Event.MUTATION_FAILED`."""
        self.emit(Event.MUTATION_FAILED, data)

    def _receiver(self, event: Event, listener: Listener) -> Callable[..., None]:
        """The blinker receiver that calls ``listener`` with the payload, never raising."""
        if inspect.iscoroutinefunction(listener):
            home = running_loop()

            def receive_async(sender: object, payload: Any = None) -> None:
                self._start(event, listener, payload, home)

            return receive_async

        def receive(sender: object, payload: Any = None) -> None:
            try:
                listener(payload)
            except Exception:
                logger.exception("listener %r of event %s raised", listener, event.value)

        return receive

    def _start(
        self,
        event: Event,
        listener: Listener,
        payload: Any,
        home: asyncio.AbstractEventLoop | None,
    ) -> None:
        try:
            coroutine = cast(Coroutine[Any, Any, object], listener(payload))
        except Exception:
            logger.exception("listener %r of event %s raised", listener, event.value)
            return
        running: asyncio.Future[Any] | ConcurrentFuture[Any]
        loop = running_loop()
        if loop is not None:
            running = loop.create_task(coroutine)
        elif home is not None and home.is_running():
            running = asyncio.run_coroutine_threadsafe(coroutine, home)
        else:
            try:
                asyncio.run(coroutine)
            except Exception:
                logger.exception("listener %r of event %s raised", listener, event.value)
            return
        self._running.add(running)
        running.add_done_callback(partial(self._finished, event, listener))

    def _finished(
        self, event: Event, listener: Listener, running: asyncio.Future[Any] | ConcurrentFuture[Any]
    ) -> None:
        self._running.discard(running)
        if running.cancelled():
            return
        error = running.exception()
        if error is not None:
            logger.error("listener %r of event %s raised", listener, event.value, exc_info=error)


def _event(event: Event | str) -> Event:
    try:
        return Event(event)
    except ValueError:
        raise ValueError(_unknown(event)) from None


def _unknown(event: object) -> str:
    return f"unknown event {event!r}; the events are: {', '.join(member.value for member in Event)}"
