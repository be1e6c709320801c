"""The asyncio flavour: a registry whose background fetches are tasks and whose timers are one
task on the event loop, and :class:`AsyncQuery`, whose waits are awaited and whose changes can
be iterated (:meth:`AsyncQuery.updates`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, Unpack

from .._call import Call
from .._logging import logger
from .._loops import running_loop
from ..timers import AsyncScheduler
from ._observer import QueryObserver
from ._registry import ClientParts, QueryRegistry
from ._shared_key import Cancellable, SharedKey

__all__ = ["AsyncQuery", "AsyncQueryRegistry", "running_loop"]

T = TypeVar("T")
AQ = TypeVar("AQ", bound="AsyncQuery[Any]")


BACKGROUND_FETCHES = 16
"""How many background fetches an async client's queries run at once on one loop."""


class AsyncQueryRegistry(QueryRegistry):
    """Background fetches as tasks and timers as one task, on one event loop.

    Changes that arrive from other threads (a sync client sharing the manager, a focus event
    from a UI thread) are handed to the loop in arrival order, so an async query only ever
    changes on its loop.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        scheduler: AsyncScheduler,
        send: Callable[[Call[Any]], Awaitable[Any]],
        **parts: Unpack[ClientParts],
    ) -> None:
        super().__init__(clock=scheduler.clock, **parts)
        self.loop = loop
        self.scheduler = scheduler
        self.send = send
        self._tasks: set[asyncio.Task[None]] = set()
        # Background fetches run side by side, but no more than this many at once.
        self._fetch_slots = asyncio.Semaphore(BACKGROUND_FETCHES)
        self._handoff_lock = threading.Lock()
        self._handed_off = 0

    def call_soon(self, fn: Callable[[], None]) -> None:
        with self._handoff_lock:
            # Inline only when nothing handed off earlier is still waiting: order is kept.
            inline = self._handed_off == 0 and running_loop() is self.loop
            if not inline:
                self._handed_off += 1
        if inline:
            fn()
            return
        try:
            self.loop.call_soon_threadsafe(self._run_handed_off, fn)
        except RuntimeError:
            # The loop is closed: nothing else will ever run there.
            with self._handoff_lock:
                self._handed_off -= 1
            fn()

    def _run_handed_off(self, fn: Callable[[], None]) -> None:
        with self._handoff_lock:
            self._handed_off -= 1
        fn()

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:
            logger.debug("a query was collected after its event loop closed")

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable:
        return self.scheduler.call_later(delay, fn)

    def start_fetch(self, shared: SharedKey) -> Cancellable:
        task = self.loop.create_task(self._run_queued(shared))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_queued(self, shared: SharedKey) -> None:
        async with self._fetch_slots:
            if shared.claim():
                with shared.background_failure_logged():
                    await self._refresh(shared)

    async def fetch(self, shared: SharedKey) -> Any:
        """Fetch the key now (joining a fetch in flight) and return its data."""
        shared.begin()
        return await self._refresh(shared)

    async def _refresh(self, shared: SharedKey) -> Any:
        with shared.fetch_outcome():
            return await self.manager.refresh_async(shared.key, shared.fetch)

    def close(self) -> None:
        super().close()
        for task in tuple(self._tasks):
            task.cancel()


class AsyncQuery(QueryObserver[T]):
    """A live query of the asyncio client; it lives on the loop it was created on.

    >>> async with aclient.use_tasks_data() as tasks:
    ...     async for _ in tasks.updates():
    ...         print(len(tasks.data or []))
    """

    __slots__ = ("_loop",)

    _registry: AsyncQueryRegistry
    _loop: asyncio.AbstractEventLoop
    _waiting: list[asyncio.Future[None]]

    async def refresh(self) -> T:
        """Fetch now (joining a fetch of the key in flight) and return the (selected) data.
        Raises the fetch's typed error, which ``error`` keeps too."""
        self._check_open()
        return self._select(await self._registry.fetch(self._shared))

    async def wait_for(
        self,
        predicate: Callable[[Self], bool] | None = None,
        # The sync signature, mirrored; the wait runs under asyncio.timeout.
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> Self:
        """Wait until the query has data (or ``predicate(query)`` holds) and return it.

        Without a predicate, raises the query's error when its fetch failed and there is no
        data. Raises TimeoutError after ``timeout`` seconds (None: no limit).
        """
        async with asyncio.timeout(timeout):
            while not self._ready(predicate):
                await self._next_change()
        return self

    def updates(self) -> AsyncIterator[Self]:
        """Yield the query once per change after this call; ends when the query closes.

        A slow consumer is never handed the same change twice and loses none: changes that
        happen while it is busy are coalesced into one yield showing the latest state.
        """
        return _Updates(self)

    def _init_waiting(self) -> None:
        self._loop = self._registry.loop
        self._waiting = []

    async def _next_change(self) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiting.append(future)
        try:
            await future
        finally:
            self._waiting.remove(future)

    def _wake(self) -> None:
        if not self._waiting:
            return
        if running_loop() is self._loop:
            self._release_waiters()
        else:
            try:
                self._loop.call_soon_threadsafe(self._release_waiters)
            except RuntimeError:
                logger.debug("a query changed after its event loop closed")

    def _release_waiters(self) -> None:
        for future in self._waiting:
            if not future.done():
                future.set_result(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Updates(Generic[AQ]):
    """The iterator behind :meth:`AsyncQuery.updates`: it remembers the last version yielded."""

    def __init__(self, query: AQ) -> None:
        self._query = query
        self._seen = query._version

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AQ:
        query = self._query
        while query._version == self._seen:
            if query._closed:
                raise StopAsyncIteration
            await query._next_change()
        if query._closed:
            raise StopAsyncIteration
        self._seen = query._version
        return query
