"""One timer thread per client for everything that runs later: delayed refetches after a
write, periodic refreshes of live queries, throttled focus refetches.

TanStack Query gives each observer its own ``setInterval``; a Python process with a
thousand live queries must not get a thousand threads, so every timer of a client shares one
daemon thread, started on first use.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._logging import logger

__all__ = ["Scheduler", "TimerHandle"]


@dataclass(order=True, slots=True)
class TimerHandle:
    """A scheduled call; :meth:`cancel` makes sure it never runs (if it has not started)."""

    due: float
    sequence: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Drop the call. Safe to call more than once, or after it ran."""
        self.cancelled = True


class Scheduler:
    """Runs callbacks at their due time on a single daemon thread.

    ``clock`` is the time source (``time.monotonic``); a test that injects its own clock
    drives the scheduler with :meth:`run_due` instead of the thread (``threaded=False``).
    A callback that raises is logged and never stops the thread.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        threaded: bool = True,
        name: str = "gamify-scheduler",
    ) -> None:
        self._clock = clock
        self._threaded = threaded
        self._name = name
        self._heap: list[TimerHandle] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now."""
        handle = TimerHandle(self._clock() + max(0.0, delay), next(self._sequence), callback)
        with self._condition:
            if self._closed:
                handle.cancelled = True
                return handle
            heapq.heappush(self._heap, handle)
            if self._threaded and self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify()
        return handle

    def pending(self) -> int:
        """How many calls are waiting (cancelled ones included until their time comes)."""
        with self._condition:
            return sum(1 for handle in self._heap if not handle.cancelled)

    def run_due(self) -> int:
        """Run every call that is due now, in due order; returns how many ran."""
        ran = 0
        while True:
            with self._condition:
                handle = self._pop_due()
            if handle is None:
                return ran
            self._invoke(handle)
            ran += 1

    def close(self) -> None:
        """Cancel everything and stop the thread. Idempotent."""
        with self._condition:
            self._closed = True
            for handle in self._heap:
                handle.cancelled = True
            self._heap.clear()
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    @property
    def thread(self) -> threading.Thread | None:
        """The timer thread, once started."""
        return self._thread

    def _pop_due(self) -> TimerHandle | None:
        while self._heap:
            head = self._heap[0]
            if head.cancelled:
                heapq.heappop(self._heap)
                continue
            if head.due <= self._clock():
                return heapq.heappop(self._heap)
            return None
        return None

    def _invoke(self, handle: TimerHandle) -> None:
        try:
            handle.callback()
        except Exception:
            logger.exception("a scheduled callback raised; the scheduler goes on")

    def _run(self) -> None:
        while True:
            with self._condition:
                if self._closed:
                    return
                handle = self._pop_due()
                if handle is None:
                    timeout = self._heap[0].due - self._clock() if self._heap else None
                    self._condition.wait(timeout)
                    continue
            self._invoke(handle)
