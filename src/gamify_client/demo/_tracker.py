"""How long a write takes to show in every view it affects, timed from the views' callbacks.

A write is announced with :meth:`UpdateTracker.begin` and the views it must reach, each with
a test of its data. The clock starts when the write's answer arrives
(:meth:`~UpdateTracker.write_responded`, from the HTTP client's response hook) and a view
counts as updated at the first callback whose data passes its test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ._session import View


@dataclass(frozen=True, slots=True)
class Expectation:
    """A view a write must reach, and how to tell from the view's data that it shows it."""

    view: View
    shows: Callable[[Any], bool]


def format_ms(seconds: float) -> str:
    """``0.0031`` as ``"3.1 ms"``."""
    return f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    """What became of one write: the views it affects, those that showed it, and the time
    from its answer until the last of them did (None unless all did). ``error`` says why
    the write, or telling what it should show, failed."""

    label: str
    affected: tuple[str, ...]
    updated: tuple[str, ...]
    latency: float | None
    error: str | None = None

    @property
    def complete(self) -> bool:
        """The write succeeded and every view it affects showed it."""
        return self.error is None and len(self.updated) == len(self.affected)

    def line(self) -> str:
        """``"task created → 7/7 views updated in 3.1 ms"``, or what was missed."""
        if self.error is not None:
            return f"{self.label} → {self.error}"
        reached = f"{self.label} → {len(self.updated)}/{len(self.affected)} views updated"
        if not self.complete:
            missed = [name for name in self.affected if name not in self.updated]
            return f"{reached}; missed: {', '.join(missed)}"
        return reached if self.latency is None else f"{reached} in {format_ms(self.latency)}"


@dataclass
class _Pending:
    label: str
    expectations: Sequence[Expectation]
    response_at: float | None = None
    seen: dict[View, float] = field(default_factory=dict)


class UpdateTracker:
    """Times one write at a time; thread-safe (callbacks come from every client's thread)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        # The answer to the latest write, kept after finish() for the refetches that follow.
        self._last_response: float | None = None

    def begin(self, label: str, expectations: Sequence[Expectation]) -> None:
        """A write is about to be sent; these views must show it."""
        with self._lock:
            self._pending = _Pending(label, tuple(expectations))
            self._last_response = None

    def write_responded(self) -> None:
        """The answer to a write arrived (the first one after :meth:`begin` counts)."""
        now = self._clock()
        with self._lock:
            if self._pending is not None and self._pending.response_at is None:
                self._pending.response_at = self._last_response = now

    def view_changed(self, view: View, data: Any) -> float | None:
        """A view's callback ran with ``data``; returns the seconds since the latest write's
        answer (None before the first write)."""
        now = self._clock()
        with self._lock:
            pending = self._pending
            if pending is not None:
                for expectation in pending.expectations:
                    if (
                        expectation.view is view
                        and view not in pending.seen
                        and expectation.shows(data)
                    ):
                        pending.seen[view] = now
            return None if self._last_response is None else now - self._last_response

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
        latency = None
        if error is None and len(updated) == len(affected) and pending.response_at is not None:
            latency = max(pending.seen.values(), default=pending.response_at) - pending.response_at
        return MutationOutcome(pending.label, affected, updated, latency, error)
