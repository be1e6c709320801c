"""The lifetime both kinds of link share, the Redis bridge and the push listener: ``with``
starts and closes one, and ``wait_connected`` waits for its connection.

:class:`ThreadLink` is the face of a link run by a background thread, :class:`LoopLink` of one
run by tasks on an event loop; each link supplies ``start``, ``close`` and the event it sets
while connected.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from contextlib import suppress
from types import TracebackType
from typing import Self

__all__ = ["LoopLink", "ThreadLink", "wait_set"]


async def wait_set(event: asyncio.Event, timeout: float | None) -> bool:  # noqa: ASYNC109
    """Wait until ``event`` is set; False after ``timeout`` seconds (None: no limit)."""
    with suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
            return True
    return False


class ThreadLink(ABC):
    """A link run by a background thread."""

    _connected: threading.Event

    @abstractmethod
    def start(self) -> Self:
        """Start the link's thread."""

    @abstractmethod
    def close(self) -> None:
        """Stop the link's thread and close its connections."""

    def wait_connected(self, timeout: float | None = 10.0) -> bool:
        """Block until the link is connected; False after ``timeout`` seconds."""
        return self._connected.wait(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class LoopLink(ABC):
    """A link run by tasks on the running event loop."""

    _connected: asyncio.Event

    @abstractmethod
    async def start(self) -> Self:
        """Start the link's tasks."""

    @abstractmethod
    async def close(self) -> None:
        """Stop the link's tasks and close its connections."""

    async def aclose(self) -> None:
        """The same as :meth:`close`."""
        await self.close()

    async def wait_connected(self, timeout: float | None = 10.0) -> bool:  # noqa: ASYNC109
        """Wait until the link is connected; False after ``timeout`` seconds."""
        return await wait_set(self._connected, timeout)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
