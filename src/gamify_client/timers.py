"""One timer thread per client for everything that runs later: delayed refetches after a
write, periodic refreshes of live queries, throttled focus refetches; and, for the async
client, one timer task per event loop.

TanStack Query gives each observer its own ``setInterval``; a Python process with a
thousand live queries must not get a thousand threads, so every timer of a client shares one
daemon thread (:class:`Scheduler`, started on first use) or one task on the running loop
(:class:`AsyncScheduler`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

from ._logging import logger
from ._loops import running_loop

__all__ = ["AsyncScheduler", "Scheduler", "TimerHandle"]

# Cancelled calls stay in the heap until their time comes, unless they pile up: past this many,
# and when they outnumber the live ones, the heap is rebuilt without them. Queries that are
# opened and closed in a loop would otherwise keep every cancelled poll until it falls due.
_COMPACT_AFTER = 64


@dataclass(slots=True)
class TimerHandle:
    """A scheduled call; :meth:`cancel` makes sure it never runs (if it has not started)."""

    due: float
    sequence: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    owner: _TimerQueue | None = field(default=None, compare=False, repr=False)

    def cancel(self) -> None:
        """Drop the call. Safe to call more than once, or after it ran."""
        if self.owner is not None:
            self.owner.cancel(self)
        else:
            self.cancelled = True


class _TimerQueue:
    """The due-ordered calls of one scheduler, with their own lock. ``on_cancel`` runs after
    each cancellation, outside the lock."""

    def __init__(self, on_cancel: Callable[[], None] | None = None) -> None:
        self.lock = threading.Lock()
        self._on_cancel = on_cancel
        # (due, sequence, handle): the heap compares the numbers in C, never a handle, since
        # sequences are unique; comparing handles was most of the cost of queueing 10,000 calls.
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._sequence = itertools.count()
        self._cancelled_in_heap = 0

    def push(self, due: float, callback: Callable[[], object]) -> tuple[TimerHandle, bool]:
        """Queue a call (under ``lock``); also says whether it is now the first one due."""
        sequence = next(self._sequence)
        handle = TimerHandle(due, sequence, callback, owner=self)
        heapq.heappush(self._heap, (due, sequence, handle))
        return handle, self._heap[0][2] is handle

    def cancel(self, handle: TimerHandle) -> None:
        with self.lock:
            if handle.cancelled:
                return
            handle.cancelled = True
            if handle.owner is None:
                return
            handle.owner = None
            self._cancelled_in_heap += 1
            dead = self._cancelled_in_heap
            if dead > _COMPACT_AFTER and dead * 2 > len(self._heap):
                self._heap = [live for live in self._heap if not live[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled_in_heap = 0
        if self._on_cancel is not None:
            self._on_cancel()

    def pop_due(self, now: float) -> TimerHandle | None:
        """The first live call due at ``now``, taken off the queue (under ``lock``)."""
        head = self.first_live()
        if head is None or head.due > now:
            return None
        heapq.heappop(self._heap)
        head.owner = None
        return head

    def first_live(self) -> TimerHandle | None:
        """The next live call, dropping the cancelled ones in front of it (under ``lock``)."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
            self._cancelled_in_heap = max(0, self._cancelled_in_heap - 1)
        return self._heap[0][2] if self._heap else None

    def live(self) -> int:
        """How many calls are waiting, cancelled ones not counted (under ``lock``)."""
        return sum(1 for _, _, handle in self._heap if not handle.cancelled)

    def cancel_all(self) -> None:
        """Cancel every waiting call (under ``lock``)."""
        for _, _, handle in self._heap:
            handle.cancelled = True
            handle.owner = None
        self._heap.clear()
        self._cancelled_in_heap = 0


class _Job:
    """A call handed to the fetch workers; cancelling it before a worker takes it drops it."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Workers:
    """A small bounded set of daemon threads that run background fetches, so that one slow or
    retrying fetch never holds the timers or the other keys' fetches. Threads start as work
    arrives, up to ``size``, and wait for more once started."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._full = False
        self._closed = False

    def submit(self, callback: Callable[[], object]) -> _Job:
        job = _Job(callback)
        if self._full and not self._closed:
            # Every thread is there: no decision to make, so no lock to take.
            self._jobs.put(job)
            return job
        with self._lock:
            if self._closed:
                job.cancelled = True
                return job
            if self._idle == 0 and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
                self._full = len(self._threads) == self._size
            else:
                self._idle -= 1
        self._jobs.put(job)
        return job

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._closed:
                return
            if not job.cancelled:
                _invoke(job.callback)
            if self._full:
                continue
            with self._lock:
                if self._closed:
                    return
                self._idle += 1

    @property
    def threads(self) -> int:
        with self._lock:
            return len(self._threads)

    def close(self, timeout: float) -> None:
        """Drop the waiting jobs and let each thread end when its current fetch does (the
        client's deadline bounds it); waits up to ``timeout`` seconds in all."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


def _invoke(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:
        logger.exception("a scheduled callback raised; the scheduler goes on")


class Scheduler:
    """Runs callbacks at their due time on a single daemon thread.

    ``clock`` is the time source (``time.monotonic``); a test that injects its own clock
    drives the scheduler with :meth:`run_due` instead of the thread (``threaded=False``).
    A callback that raises is logged and never stops the thread. Background fetches go to
    :meth:`submit`: up to ``fetch_workers`` threads beside the timer thread, started as
    needed, so that slow keys are fetched side by side.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        threaded: bool = True,
        name: str = "gamify-scheduler",
        fetch_workers: int = 8,
    ) -> None:
        if fetch_workers < 1:
            raise ValueError("fetch_workers must be at least 1")
        self._clock = clock
        self._threaded = threaded
        self._name = name
        self._workers = _Workers(fetch_workers, f"{name}-fetch")
        self._timers = _TimerQueue()
        # The thread sleeps on this queue: a put wakes it. SimpleQueue.put takes no lock that
        # Python code holds, so call_soon_threadsafe is safe even from a weakref callback.
        self._inbox: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def clock(self) -> Callable[[], float]:
        """The time source the due times are measured on."""
        return self._clock

    @property
    def threaded(self) -> bool:
        """Whether a thread runs the calls (False: :meth:`run_due` does)."""
        return self._threaded

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now."""
        due = self._clock() + max(0.0, delay)
        with self._timers.lock:
            if self._closed:
                return TimerHandle(due, -1, callback, cancelled=True)
            handle, first = self._timers.push(due, callback)
            self._start_thread()
        if first and self._threaded:
            self._inbox.put(None)
        return handle

    def submit(self, callback: Callable[[], object]) -> _Job | TimerHandle:
        """Run ``callback`` (a background fetch) on one of the fetch workers as soon as one is
        free; without a thread (``threaded=False``) it runs at the next :meth:`run_due`.
        The handle's ``cancel`` drops it if it has not started."""
        if not self._threaded:
            return self.call_later(0, callback)
        return self._workers.submit(callback)

    @property
    def fetch_threads(self) -> int:
        """How many fetch worker threads have started."""
        return self._workers.threads

    def start(self) -> None:
        """Start the thread now rather than at the first :meth:`call_later` (so that what
        :meth:`call_soon_threadsafe` hands over runs). No-op when not threaded or closed."""
        with self._timers.lock:
            if not self._closed:
                self._start_thread()

    def _start_thread(self) -> None:
        if self._threaded and self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the scheduler's thread as soon as it is free (or at the next
        :meth:`run_due`). Takes no lock, so it may be called from ``__del__`` or a weakref
        callback; dropped once the scheduler is closed."""
        self._inbox.put(callback)

    def pending(self) -> int:
        """How many calls are waiting (cancelled ones not counted)."""
        with self._timers.lock:
            return self._timers.live()

    def run_due(self) -> int:
        """Run what :meth:`call_soon_threadsafe` queued, then every call that is due now, in
        due order; returns how many ran."""
        ran = self._run_inbox()
        while True:
            with self._timers.lock:
                handle = None if self._closed else self._timers.pop_due(self._clock())
            if handle is None:
                return ran
            _invoke(handle.callback)
            ran += 1

    def close(self) -> None:
        """Cancel everything and stop the thread. Idempotent."""
        with self._timers.lock:
            self._closed = True
            self._timers.cancel_all()
            thread = self._thread
        self._inbox.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._workers.close(timeout=5)

    @property
    def thread(self) -> threading.Thread | None:
        """The timer thread, once started."""
        return self._thread

    def is_current_thread(self) -> bool:
        """Whether the caller runs on the timer thread (where blocking would stall it)."""
        return self._thread is not None and self._thread is threading.current_thread()

    def _run_inbox(self) -> int:
        ran = 0
        while True:
            try:
                callback = self._inbox.get_nowait()
            except queue.Empty:
                return ran
            if callback is not None and not self._closed:
                _invoke(callback)
                ran += 1

    def _run(self) -> None:
        while True:
            self._run_inbox()
            with self._timers.lock:
                if self._closed:
                    return
                handle = self._timers.pop_due(self._clock())
                head = self._timers.first_live() if handle is None else None
            if handle is not None:
                _invoke(handle.callback)
                continue
            timeout = None if head is None else max(0.0, head.due - self._clock())
            with suppress(queue.Empty):
                callback = self._inbox.get(timeout=timeout)
                if callback is not None and not self._closed:
                    _invoke(callback)


class AsyncScheduler:
    """Runs callbacks at their due time from one task on the event loop that uses it.

    The task starts with the first :meth:`call_later` on a running loop and ends when no call is
    left, so an idle client holds no task. Call it from the loop's thread. ``clock`` is the time
    source (``time.monotonic``, the loop's own); with ``autorun=False`` no task is started and a
    test drives the calls with :meth:`run_due`. A callback that raises is logged.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, autorun: bool = True
    ) -> None:
        self._clock = clock
        self._autorun = autorun
        self._timers = _TimerQueue(on_cancel=self._recheck)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False

    @property
    def clock(self) -> Callable[[], float]:
        """The time source the due times are measured on."""
        return self._clock

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task running the calls, while there is one."""
        return self._task

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now. Raises RuntimeError when the
        scheduler already serves another loop that is still running."""
        due = self._clock() + max(0.0, delay)
        if self._closed:
            return TimerHandle(due, -1, callback, cancelled=True)
        if self._autorun:
            self._bind(asyncio.get_running_loop())
        with self._timers.lock:
            handle, first = self._timers.push(due, callback)
        if self._autorun:
            self._ensure_task(first)
        return handle

    def pending(self) -> int:
        """How many calls are waiting (cancelled ones not counted)."""
        with self._timers.lock:
            return self._timers.live()

    def run_due(self) -> int:
        """Run every call that is due now, in due order; returns how many ran."""
        ran = 0
        while True:
            with self._timers.lock:
                handle = None if self._closed else self._timers.pop_due(self._clock())
            if handle is None:
                return ran
            _invoke(handle.callback)
            ran += 1

    def close(self) -> None:
        """Cancel everything and end the task. Idempotent."""
        self._closed = True
        with self._timers.lock:
            self._timers.cancel_all()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def _recheck(self) -> None:
        # A cancelled call may leave nothing to wait for: the task looks again, and ends.
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        if running_loop() is loop:
            wake.set()
        else:
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        if self._loop is not None and self._loop.is_running():
            raise RuntimeError("this AsyncScheduler already serves another running event loop")
        # The previous loop is gone, and its calls with it.
        with self._timers.lock:
            self._timers.cancel_all()
        self._loop, self._task, self._wake = loop, None, asyncio.Event()

    def _ensure_task(self, first: bool) -> None:
        if self._task is None or self._task.done():
            assert self._loop is not None
            self._task = self._loop.create_task(self._drive(), name="gamify-scheduler")
        elif first and self._wake is not None:
            self._wake.set()

    async def _drive(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            self.run_due()
            with self._timers.lock:
                head = self._timers.first_live()
            if head is None or self._closed:
                self._task = None
                return
            wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, head.due - self._clock())):
                    await wake.wait()
