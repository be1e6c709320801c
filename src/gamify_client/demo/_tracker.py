"""How long a write takes to show in every view it affects, timed from the views' callbacks.

A write is announced with :meth:`UpdateTracker.begin` and the views it must reach, each with
a test of its data (and, for a write whose effect goes through stages, what the view must
show first), and the events it must cause. The clock starts when the write's answer arrives
(:meth:`~UpdateTracker.write_responded`, from the HTTP client's response hook; in a scene of
several writes, the latest answer before the views settled) and a view counts as updated at
the first callback whose data passes its last test, after the others passed in order.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..events import Event
from ._session import View


@dataclass(frozen=True, slots=True)
class Sight:
    """Something a view must show: a test of its data and, unless None, whether the data
    must be marked optimistic (True) or be the server's (False)."""

    shows: Callable[[Any], bool]
    optimistic: bool | None = None

    def seen_in(self, data: Any, optimistic: bool) -> bool:
        """Whether a callback with ``data`` (marked ``optimistic`` or not) shows it."""
        return (self.optimistic is None or self.optimistic == optimistic) and self.shows(data)


@dataclass(frozen=True, slots=True)
class Expectation:
    """A view a write must reach, and how to tell from the view's data that it shows it.

    ``optimistic`` says whether the data must be marked optimistic (None: either), and
    ``first`` what the view must show before, in this order, each in a callback of its own
    (a prediction, then the server's data)."""

    view: View
    shows: Callable[[Any], bool]
    optimistic: bool | None = None
    first: tuple[Sight, ...] = ()

    @property
    def sights(self) -> tuple[Sight, ...]:
        """Everything the view must show, in order; the last one is the write's effect."""
        return (*self.first, Sight(self.shows, self.optimistic))


@dataclass(frozen=True, slots=True)
class EventExpectation:
    """An event a write must cause on the shared bus, and how to tell it by its payload."""

    event: Event
    shows: Callable[[Any], bool]

    @property
    def name(self) -> str:
        """The event's name, as the outcome lists it."""
        return self.event.value

    def seen_in(self, event: Event | str, payload: Any) -> bool:
        """Whether ``event`` with ``payload`` is this one."""
        return event == self.event and self.shows(payload)


def format_ms(seconds: float) -> str:
    """``0.0031`` as ``"3.1 ms"``."""
    return f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    """What became of one write: the views it affects, those that showed it, and the time
    from its answer until the last of them did (None unless all did); the events it must
    cause, and those seen. ``error`` says why the write, or telling what it should show,
    failed."""

    label: str
    affected: tuple[str, ...]
    updated: tuple[str, ...]
    latency: float | None
    error: str | None = None
    events: tuple[str, ...] = ()
    events_seen: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """The write succeeded, every view it affects showed it and every event it must
        cause came."""
        return (
            self.error is None
            and len(self.updated) == len(self.affected)
            and len(self.events_seen) == len(self.events)
        )

    def line(self) -> str:
        """``"task created → 7/7 views updated in 3.1 ms"`` (``", optimisticConflict seen"``
        after it when the write must cause that event), or what was missed."""
        if self.error is not None:
            return f"{self.label} → {self.error}"
        reached = f"{self.label} → {len(self.updated)}/{len(self.affected)} views updated"
        if not self.complete:
            missed = [name for name in self.affected if name not in self.updated]
            missed += [name for name in self.events if name not in self.events_seen]
            return f"{reached}; missed: {', '.join(missed)}"
        if self.latency is not None:
            reached = f"{reached} in {format_ms(self.latency)}"
        return f"{reached}, {', '.join(self.events)} seen" if self.events else reached


@dataclass
class _Pending:
    label: str
    expectations: Sequence[Expectation]
    events: Sequence[EventExpectation]
    # The latest answer so far, and the one that was latest when the last view got there.
    response_at: float | None = None
    timed_from: float | None = None
    # How many of each expectation's sights its view showed so far, by expectation.
    progress: dict[int, int] = field(default_factory=dict)
    seen: dict[View, float] = field(default_factory=dict)
    events_seen: set[int] = field(default_factory=set)


class UpdateTracker:
    """Times one write at a time; thread-safe (callbacks come from every client's thread)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        # The answer to the latest write, kept after finish() for the refetches that follow.
        self._last_response: float | None = None

    def begin(self, label: str, expectations: Sequence[Expectation | EventExpectation]) -> None:
        """A write is about to be sent; these views must show it, these events must come."""
        views = tuple(e for e in expectations if isinstance(e, Expectation))
        events = tuple(e for e in expectations if isinstance(e, EventExpectation))
        with self._lock:
            self._pending = _Pending(label, views, events)
            self._last_response = None

    def write_responded(self) -> None:
        """The answer to a write arrived. In a scene of several writes (a rival's, then a
        replayed one), the views' time counts from the latest answer before the last of
        them showed what it must."""
        now = self._clock()
        with self._lock:
            if self._pending is not None:
                self._pending.response_at = self._last_response = now

    def view_changed(self, view: View, data: Any, optimistic: bool = False) -> float | None:
        """A view's callback ran with ``data`` (``optimistic``: marked so); returns the
        seconds since the latest write's answer (None before the first write)."""
        now = self._clock()
        with self._lock:
            pending = self._pending
            if pending is not None:
                for index, expectation in enumerate(pending.expectations):
                    if expectation.view is view and view not in pending.seen:
                        self._advance(pending, index, expectation, data, optimistic, now)
            return None if self._last_response is None else now - self._last_response

    @staticmethod
    def _advance(
        pending: _Pending,
        index: int,
        expectation: Expectation,
        data: Any,
        optimistic: bool,
        now: float,
    ) -> None:
        """Under the lock: one callback passes at most the expectation's next sight."""
        sights = expectation.sights
        reached = pending.progress.get(index, 0)
        if sights[reached].seen_in(data, optimistic):
            pending.progress[index] = reached = reached + 1
            if reached == len(sights):
                pending.seen[expectation.view] = now
                pending.timed_from = pending.response_at

    def event_emitted(self, event: Event | str, payload: Any) -> None:
        """An event of the shared bus (a ``subscribe_all`` listener)."""
        with self._lock:
            pending = self._pending
            if pending is None:
                return
            for index, expected in enumerate(pending.events):
                if expected.seen_in(event, payload):
                    pending.events_seen.add(index)

    def reset(self) -> None:
        """Forget the latest write: changes from now on are timed from nothing."""
        with self._lock:
            self._pending = self._last_response = None

    def _seen_by(self, view: View, _query: object) -> bool:
        with self._lock:
            return self._pending is not None and view in self._pending.seen

    def wait(self, timeout: float) -> None:
        """Block until every view of the current write showed it, or ``timeout`` seconds."""
        with self._lock:
            pending = self._pending
        if pending is None:
            return
        deadline = time.monotonic() + timeout
        for expectation in pending.expectations:
            with suppress(TimeoutError):
                expectation.view.query.wait_for(
                    partial(self._seen_by, expectation.view),
                    timeout=max(0.0, deadline - time.monotonic()),
                )

    def finish(self, error: str | None = None) -> MutationOutcome:
        """End the current write and say what became of it (``error``: it failed)."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("finish() without begin()")
        affected = tuple(expectation.view.name for expectation in pending.expectations)
        updated = tuple(
            expectation.view.name
            for expectation in pending.expectations
            if expectation.view in pending.seen
        )
        events = tuple(expected.name for expected in pending.events)
        seen = tuple(
            expected.name
            for index, expected in enumerate(pending.events)
            if index in pending.events_seen
        )
        outcome = MutationOutcome(pending.label, affected, updated, None, error, events, seen)
        start = pending.timed_from if pending.seen else pending.response_at
        if not outcome.complete or start is None:
            return outcome
        latency = max(pending.seen.values(), default=start) - start
        return dataclasses.replace(outcome, latency=latency)
