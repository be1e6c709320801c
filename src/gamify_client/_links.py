"""``attach_bridge`` and ``listen``: how a client joins the other processes of its deployment.

The client imports no bridge code: the Redis bridge and the push listener live in modules that
need optional extras, and are imported only when these methods are first called (with an
install hint when the extra is missing). Each link attaches through the client's public hooks
(:meth:`~gamify_client.GamifyClient.on_mutation`, ``apply_remote_write``, ``auth_headers``),
as a link made by hand would; these methods only remember it, to close it with the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import httpx

if TYPE_CHECKING:
    from .bridges.redis import AsyncRedisBridge, RedisBridge
    from .client import AsyncGamifyClient, GamifyClient
    from .push import AsyncPushListener, PushListener

__all__ = ["EVENTS_PATH", "AsyncLinksMixin", "LinksMixin"]

EVENTS_PATH = "/api/events"
"""The backend's server-push route (the reference backend has it; the real service does not)."""


@contextmanager
def _needs_extra(extra: str) -> Iterator[None]:
    """Turn a failed import inside the block into one that says which extra to install."""
    try:
        yield
    except ImportError as err:
        raise ImportError(
            f"this needs the {extra} extra: pip install 'gamify-client[{extra}]' ({err})"
        ) from err


class LinksMixin:
    """The links of :class:`~gamify_client.GamifyClient` to other processes."""

    _push_listener: PushListener | None = None
    _attached_bridges: tuple[RedisBridge, ...] = ()

    def _close_links(self) -> None:
        """Close the bridges attached with :meth:`attach_bridge` and the push listener."""
        for bridge in self._attached_bridges:
            bridge.close()
        self._attached_bridges = ()
        if self._push_listener is not None:
            self._push_listener.close()

    def attach_bridge(
        self, bridge: RedisBridge | str | None = None, *, channel: str | None = None
    ) -> RedisBridge:
        """Publish this client's writes to every process on a Redis channel and apply theirs
        here. ``bridge`` is a :class:`~gamify_client.bridges.redis.RedisBridge` made for
        this client, a Redis URL, or None for ``GAMIFY_REDIS_URL``; ``channel`` overrides
        the default one of the backend. Returns the started bridge: close it when done."""
        with _needs_extra("redis"):
            from .bridges.redis import RedisBridge
        attached = RedisBridge._made_for(cast("GamifyClient", self), bridge, channel)
        self._attached_bridges = (*self._attached_bridges, attached)
        return attached.start()

    def listen(
        self,
        *,
        path: str = EVENTS_PATH,
        http_client: httpx.Client | None = None,
        timeout: float | None = None,
    ) -> PushListener:
        """Apply the writes the backend pushes (``GET /api/events``), from a background
        thread. Returns the running listener (the same one while it is open) once the backend
        answered (``timeout``: by default the client's); its ``mode`` is ``"polling"`` when the
        backend has no event stream. Raises the typed error when the token is refused."""
        with _needs_extra("push"):
            from .push import PushListener
        current = self._push_listener
        if current is not None and not current.closed:
            return current
        listener = PushListener(cast("GamifyClient", self), path=path, http_client=http_client)
        self._push_listener = listener
        return listener.start(timeout)


class AsyncLinksMixin:
    """The links of :class:`~gamify_client.AsyncGamifyClient` to other processes."""

    _push_listener: AsyncPushListener | None = None
    _attached_bridges: tuple[AsyncRedisBridge, ...] = ()

    async def _close_links(self) -> None:
        """Close the bridges attached with :meth:`attach_bridge` and the push listener."""
        for bridge in self._attached_bridges:
            await bridge.close()
        self._attached_bridges = ()
        if self._push_listener is not None:
            await self._push_listener.close()

    async def attach_bridge(
        self, bridge: AsyncRedisBridge | str | None = None, *, channel: str | None = None
    ) -> AsyncRedisBridge:
        """Publish this client's writes to every process on a Redis channel and apply theirs
        here, from tasks on the running loop. ``bridge`` is an
        :class:`~gamify_client.bridges.redis.AsyncRedisBridge` made for this client, a Redis
        URL, or None for ``GAMIFY_REDIS_URL``. Returns the started bridge: close it when done."""
        with _needs_extra("redis"):
            from .bridges.redis import AsyncRedisBridge
        attached = AsyncRedisBridge._made_for(cast("AsyncGamifyClient", self), bridge, channel)
        self._attached_bridges = (*self._attached_bridges, attached)
        return await attached.start()

    async def listen(
        self,
        *,
        path: str = EVENTS_PATH,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AsyncPushListener:
        """Apply the writes the backend pushes (``GET /api/events``), from a task on the
        running loop. Returns the running listener (the same one while it is open) once the
        backend answered; its ``mode`` is ``"polling"`` when the backend has no event stream.
        Raises the typed error when the token is refused."""
        with _needs_extra("push"):
            from .push import AsyncPushListener
        current = self._push_listener
        if current is not None and not current.closed:
            return current
        listener = AsyncPushListener(
            cast("AsyncGamifyClient", self), path=path, http_client=http_client
        )
        self._push_listener = listener
        return await listener.start(timeout)
