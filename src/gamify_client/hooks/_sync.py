"""The blocking flavour: a registry whose timers run on the client's scheduler thread and whose
background fetches run on its few fetch workers, and :class:`Query`, whose waits block the
calling thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

from .._call import Call
from ..keys import format_key
from ..timers import Scheduler
from ._observer import QueryObserver
from ._registry import ClientParts, QueryRegistry
from ._shared_key import Cancellable, SharedKey

__all__ = ["Query", "SyncQueryRegistry"]

T = TypeVar("T")

_condition_lock = threading.Lock()


class SyncQueryRegistry(QueryRegistry):
    """Timers on the client's scheduler thread, background fetches on its fetch workers."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        send: Callable[[Call[Any]], Any],
        **parts: Unpack[ClientParts],
    ) -> None:
        super().__init__(clock=scheduler.clock, **parts)
        self.scheduler = scheduler
        self.send = send

    def call_soon(self, fn: Callable[[], None]) -> None:
        fn()

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        self.scheduler.call_soon_threadsafe(fn)

    def at_home(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        # Whatever thread calls is home: a key's new data goes straight to its queries.
        return fn

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable:
        return self.scheduler.call_later(delay, fn)

    def _listen(self) -> None:
        # A collected query's release is handed to the thread, which must therefore be running.
        self.scheduler.start()
        super()._listen()

    def start_fetch(self, shared: SharedKey) -> Cancellable:
        # On the fetch workers, never on the timer thread: a slow key must not hold the others.
        return self.scheduler.submit(partial(self._run_queued, shared))

    def _run_queued(self, shared: SharedKey) -> None:
        if shared.claim():
            with shared.background_failure_logged():
                self._refresh(shared)

    def fetch(self, shared: SharedKey) -> Any:
        """Fetch the key now (joining a fetch in flight) and return its data."""
        shared.begin()
        return self._refresh(shared)

    def _refresh(self, shared: SharedKey) -> Any:
        with shared.fetch_outcome():
            return self.manager.refresh(shared.key, shared.fetch)


class Query(QueryObserver[T]):
    """A live query of the blocking client (see :class:`QueryOptions` for its options).

    >>> with client.use_dashboard_data() as dashboard:
    ...     dashboard.wait_for(timeout=5)
    ...     print(dashboard.data.overall_stats.user_total_xp)
    """

    __slots__ = ("_condition",)

    _registry: SyncQueryRegistry
    _condition: threading.Condition | None
    _waiting: int

    def refresh(self) -> T:
        """Fetch now (joining a fetch of the key in flight) and return the (selected) data.
        Raises the fetch's typed error, which ``error`` keeps too."""
        self._check_open()
        return self._select(self._registry.fetch(self._shared))

    def wait_for(
        self, predicate: Callable[[Self], bool] | None = None, timeout: float | None = 10.0
    ) -> Self:
        """Block until the query has data (or ``predicate(query)`` holds) and return it.

        Without a predicate, raises the query's error when its fetch failed and there is no
        data. Raises TimeoutError after ``timeout`` seconds (None: no limit), and RuntimeError
        on the scheduler thread, which must stay free to fetch.
        """
        if self._registry.scheduler.is_current_thread():
            raise RuntimeError("wait_for would block the scheduler thread that runs the fetch")
        deadline = None if timeout is None else time.monotonic() + timeout
        with _condition_lock:
            # Made on first use, under a lock, so that two first waiters share one condition.
            condition = self._condition
            if condition is None:
                condition = self._condition = threading.Condition()
        with condition:
            # Counted before the first look at the query, so a change made after that look
            # always wakes this waiter.
            self._waiting += 1
            try:
                while not self._ready(predicate):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(
                            f"the query on {format_key(self.key)} was not ready after {timeout} s"
                        )
                    condition.wait(remaining)
            finally:
                self._waiting -= 1
        return self

    def _init_waiting(self) -> None:
        self._condition = None
        self._waiting = 0

    def _wake(self) -> None:
        # Nobody waits almost always: skip the condition's lock then.
        condition = self._condition
        if condition is not None and self._waiting:
            with condition:
                condition.notify_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
