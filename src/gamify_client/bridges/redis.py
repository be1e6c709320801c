"""The Redis event bridge: every process that talks to one backend sees every process's writes.

A bridge attached to a client publishes each write the client makes (after its rule was
applied here) as one JSON message (see ``_messages``) on a Redis pub/sub channel, and applies
the messages of the other processes on that channel to its client: the same patches,
invalidations and event, never published again and never applied twice. The channel defaults
to one per backend (``gamify:events:<host>:<port><path>``), so every client of a deployment
meets there.

When Redis goes away the bridge keeps the client working: its writes wait in a bounded outbox,
the listener reconnects with backoff, and after a reconnect every active key is invalidated,
since messages may have been missed meanwhile. Needs the ``redis`` extra.

>>> bridge = client.attach_bridge("redis://localhost:6379/0")
>>> ...
>>> bridge.close()
"""

from __future__ import annotations

import asyncio
import os
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, cast

import httpx
import redis
import redis.asyncio as redis_asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._logging import logger
from .._loops import running_loop
from ..config import ConfigError
from ..keys import Key
from ..realtime import AppliedMutation, WriteLink
from ..refresh import DataRefreshManager
from ._lifetime import LoopLink, ThreadLink, wait_set
from ._messages import MutationMessage, new_message_id
from ._remote import Backoff, RemoteApplier

if TYPE_CHECKING:
    from ..client import AsyncGamifyClient, GamifyClient

__all__ = [
    "REDIS_URL_VARIABLE",
    "AsyncRedisBridge",
    "BridgeState",
    "BridgeStats",
    "RedisBridge",
    "default_channel",
]

REDIS_URL_VARIABLE = "GAMIFY_REDIS_URL"

# Redis errors and the socket errors under them both mean "the connection is gone".
_CONNECTION_ERRORS = (redis.RedisError, OSError)

# The listening connection speaks RESP2: there a message is a plain reply, where RESP3 makes
# it a push notification that redis-py logs (formatting the whole message) on its way.
_SUBSCRIBER_PROTOCOL = 2

_ClientT = TypeVar("_ClientT", bound="GamifyClient | AsyncGamifyClient")


def default_channel(base_url: str) -> str:
    """The channel of one deployment: every client of ``base_url`` meets there."""
    url = httpx.URL(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"gamify:events:{url.host}:{port}{url.path.rstrip('/')}"


def _redis_url(url: str | None) -> str:
    found = url or os.environ.get(REDIS_URL_VARIABLE)
    if not found:
        raise ConfigError(f"give the bridge a Redis URL, or set {REDIS_URL_VARIABLE}")
    return found


class BridgeState(StrEnum):
    """Where a bridge's listener stands."""

    IDLE = "idle"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class BridgeStats:
    """What a bridge did so far. ``dropped`` counts writes that waited in a full outbox and
    were never published; ``reconnects`` counts subscriptions after the first."""

    published: int
    publish_failures: int
    dropped: int
    applied: int
    own: int
    duplicates: int
    malformed: int
    reconnects: int


class _BridgeCore:
    """What both bridges decide, without I/O: the messages, the outbox, the state."""

    def __init__(
        self,
        link: WriteLink,
        manager: DataRefreshManager,
        *,
        channel: str,
        seen_capacity: int,
        outbox_capacity: int,
        backoff: float,
        backoff_max: float,
    ) -> None:
        if outbox_capacity < 1:
            raise ValueError("outbox_capacity must be at least 1")
        self.origin = new_message_id()
        self.channel = channel
        self.applier = RemoteApplier(
            link,
            manager,
            origin=self.origin,
            where=f"Redis channel {channel}",
            seen_capacity=seen_capacity,
        )
        self.reconnect_backoff = Backoff(backoff, backoff_max)
        self.publish_backoff = Backoff(backoff, backoff_max)
        self.state = BridgeState.IDLE
        self._lock = threading.Lock()
        self._outbox: deque[bytes] = deque()
        self._outbox_capacity = outbox_capacity
        self._ever_connected = False
        self._published = 0
        self._publish_failures = 0
        self._dropped = 0
        self._reconnects = 0

    def enqueue(self, applied: AppliedMutation) -> None:
        """Queue the message of a local write; the oldest waiting one goes when it is full."""
        payload = MutationMessage.from_applied(applied, origin=self.origin).encode()
        with self._lock:
            if len(self._outbox) >= self._outbox_capacity:
                self._outbox.popleft()
                self._dropped += 1
                logger.warning("the Redis outbox of %s is full: dropped its oldest", self.channel)
            self._outbox.append(payload)

    def next_outgoing(self) -> bytes | None:
        """The message to publish next, left in the outbox until :meth:`published`."""
        with self._lock:
            return self._outbox[0] if self._outbox else None

    def published(self, payload: bytes) -> None:
        with self._lock:
            if self._outbox and self._outbox[0] is payload:
                self._outbox.popleft()
            self._published += 1
        self.publish_backoff.reset()

    def publish_failed(self, error: BaseException) -> None:
        with self._lock:
            self._publish_failures += 1
            waiting = len(self._outbox)
        logger.warning(
            "publishing to Redis channel %s failed (%s); %d write(s) wait to be published",
            self.channel,
            error,
            waiting,
        )

    def subscribed(self) -> list[Key]:
        """The subscription is confirmed: after a reconnect, invalidate every active key."""
        with self._lock:
            if self.state is BridgeState.CLOSED:
                return []
            reconnect = self._ever_connected
            self._ever_connected = True
            self.state = BridgeState.CONNECTED
            if reconnect:
                self._reconnects += 1
        self.reconnect_backoff.reset()
        if not reconnect:
            logger.debug("subscribed to Redis channel %s", self.channel)
            return []
        return self.applier.resync(f"reconnected to Redis channel {self.channel}")

    def lost(self, error: BaseException) -> float:
        """The connection failed; returns how long to wait before the next attempt."""
        with self._lock:
            if self.state is BridgeState.CLOSED:
                return 0.0
            was_connected = self.state is BridgeState.CONNECTED
            first_failure = not self._ever_connected and self.state is BridgeState.IDLE
            self.state = BridgeState.RECONNECTING
        if was_connected or first_failure:
            logger.warning("lost Redis channel %s (%s); reconnecting", self.channel, error)
        elif not isinstance(error, _CONNECTION_ERRORS):
            logger.error("the Redis listener of %s failed", self.channel, exc_info=error)
        return self.reconnect_backoff.next_delay()

    def received(self, reply: Any) -> None:
        """Apply a reply read off the subscribed connection when it is a message; the other
        replies (the answers to health-check pings) carry no write."""
        if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
            self.applier.receive(reply[2])

    def close(self) -> None:
        with self._lock:
            self.state = BridgeState.CLOSED

    def stats(self) -> BridgeStats:
        remote = self.applier.stats()
        with self._lock:
            return BridgeStats(
                published=self._published,
                publish_failures=self._publish_failures,
                dropped=self._dropped,
                applied=remote.applied,
                own=remote.own,
                duplicates=remote.duplicates,
                malformed=remote.malformed,
                reconnects=self._reconnects,
            )


class _BridgeBase(ABC, Generic[_ClientT]):
    """The settings and read-only state both bridges share; each bridge opens its own
    connections in :meth:`_open`."""

    def __init__(
        self,
        client: _ClientT,
        *,
        url: str | None = None,
        channel: str | None = None,
        seen_capacity: int = 10_000,
        outbox_capacity: int = 1_000,
        backoff: float = 0.05,
        backoff_max: float = 5.0,
        connect_timeout: float = 2.0,
        idle_timeout: float = 1.0,
        health_check_interval: float = 30.0,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        self.client = client
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._core = _BridgeCore(
            client,
            client.refresh_manager,
            channel=channel or default_channel(client.base_url),
            seen_capacity=seen_capacity,
            outbox_capacity=outbox_capacity,
            backoff=backoff,
            backoff_max=backoff_max,
        )
        self._open(
            _redis_url(url),
            {
                "socket_connect_timeout": connect_timeout,
                "socket_keepalive": True,
                "health_check_interval": health_check_interval,
            },
        )

    @abstractmethod
    def _open(self, redis_url: str, options: dict[str, Any]) -> None:
        """Make the publishing and the listening connection (``options`` go to both) and
        whatever the bridge waits on."""

    @classmethod
    def _made_for(cls, client: _ClientT, bridge: Self | str | None, channel: str | None) -> Self:
        """``bridge`` when it is a bridge of ``client``, else a new one to the Redis URL
        ``bridge`` (None: ``GAMIFY_REDIS_URL``)."""
        if bridge is None or isinstance(bridge, str):
            return cls(client, url=bridge, channel=channel)
        if bridge.client is not client:
            raise ValueError("the bridge was made for another client")
        return bridge

    @property
    def origin(self) -> str:
        """This bridge's id, carried by every message it publishes."""
        return self._core.origin

    @property
    def channel(self) -> str:
        """The Redis channel the bridge publishes on and listens to."""
        return self._core.channel

    @property
    def state(self) -> BridgeState:
        """Where the listener stands."""
        return self._core.state

    @property
    def connected(self) -> bool:
        """Whether the listener is subscribed right now."""
        return self._core.state is BridgeState.CONNECTED

    def stats(self) -> BridgeStats:
        """What the bridge did so far."""
        return self._core.stats()


class RedisBridge(_BridgeBase["GamifyClient"], ThreadLink):
    """The bridge of a blocking :class:`~gamify_client.GamifyClient`: a listener thread and a
    publisher thread.

    ``url`` falls back to ``GAMIFY_REDIS_URL``; ``channel`` to :func:`default_channel`.
    Writes are queued by the thread that made them and published by the publisher thread, so
    a slow or frozen Redis never holds a write up (a publish gives up after
    ``connect_timeout`` seconds and is tried again later); received writes are applied on the
    listener thread, where the cache's subscribers are then called. Start it with
    :meth:`start` (or ``with``, or ``client.attach_bridge``); :meth:`close` stops it.
    """

    def _open(self, redis_url: str, options: dict[str, Any]) -> None:
        # One quick retry lets a publish pass over a pooled connection that a Redis restart
        # broke; the listener never retries inside redis-py, so that it sees every reconnect.
        self._publisher = redis.Redis.from_url(
            redis_url,
            retry=Retry(NoBackoff(), 1),
            socket_timeout=self._connect_timeout,
            **options,
        )
        # The listening socket's own timeout is the idle wait: a read with a timeout of its
        # own would set the socket's timeout and put it back around every message.
        self._subscriber = redis.Redis.from_url(
            redis_url,
            retry=Retry(NoBackoff(), 0),
            protocol=_SUBSCRIBER_PROTOCOL,
            socket_timeout=self._idle_timeout,
            **options,
        )
        self._thread: threading.Thread | None = None
        self._publisher_thread: threading.Thread | None = None
        self._outgoing = threading.Event()
        self._closing = threading.Event()
        self._attempted = threading.Event()
        self._connected = threading.Event()
        self._publish_lock = threading.Lock()
        self._pubsub_lock = threading.Lock()
        self._pubsub: redis.client.PubSub | None = None
        self._stop_publishing: Callable[[], None] | None = None

    def start(self, timeout: float = 5.0) -> Self:
        """Start publishing and listening; wait up to ``timeout`` seconds for the first
        subscription attempt (which may fail: the bridge then keeps trying). Idempotent."""
        if self._thread is not None:
            return self
        if self._closing.is_set():
            raise RuntimeError("this bridge was closed")
        self._stop_publishing = self.client.on_mutation(self._on_local_write)
        self._thread = threading.Thread(
            target=self._listen, name="gamify-redis-bridge", daemon=True
        )
        self._publisher_thread = threading.Thread(
            target=self._publish_forever, name="gamify-redis-publisher", daemon=True
        )
        self._thread.start()
        self._publisher_thread.start()
        self._attempted.wait(timeout)
        return self

    def close(self) -> None:
        """Stop listening and publishing and close the connections. Writes still waiting in
        the outbox are dropped. Idempotent."""
        self._closing.set()
        if self._stop_publishing is not None:
            self._stop_publishing()
        self._core.close()
        with self._pubsub_lock:
            pubsub = self._pubsub
        if pubsub is not None and pubsub.connection is not None:
            # Closing the socket wakes the listener out of its blocking read at once.
            with suppress(Exception):
                pubsub.connection.disconnect()
        self._outgoing.set()
        for thread in (self._thread, self._publisher_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        self._publisher.close()
        self._subscriber.close()

    def _on_local_write(self, applied: AppliedMutation) -> None:
        # Runs in the writer's thread: queue and return at once.
        self._core.enqueue(applied)
        self._outgoing.set()

    def _publish_forever(self) -> None:
        while not self._closing.is_set():
            self._outgoing.wait(self._idle_timeout)
            self._outgoing.clear()
            if self._closing.is_set():
                return
            if self._core.state is BridgeState.CONNECTED and not self._flush():
                self._closing.wait(self._core.publish_backoff.next_delay())

    def _flush(self) -> bool:
        """Publish the outbox; False when a publish failed (the rest waits)."""
        with self._publish_lock:
            while (payload := self._core.next_outgoing()) is not None:
                if self._closing.is_set():
                    return True
                try:
                    self._publisher.publish(self._core.channel, payload)
                except _CONNECTION_ERRORS as err:
                    self._core.publish_failed(err)
                    return False
                self._core.published(payload)
        return True

    def _listen(self) -> None:
        while not self._closing.is_set():
            # redis-py leaves ``pubsub`` unannotated.
            new_pubsub = cast(Callable[[], redis.client.PubSub], self._subscriber.pubsub)
            pubsub = new_pubsub()
            with self._pubsub_lock:
                self._pubsub = pubsub
            delay = 0.0
            try:
                self._subscribe(pubsub)
                self._core.subscribed()
                self._connected.set()
                self._attempted.set()
                self._outgoing.set()
                self._receive(pubsub)
            except Exception as err:
                self._connected.clear()
                if not self._closing.is_set():
                    delay = self._core.lost(err)
            finally:
                with self._pubsub_lock:
                    self._pubsub = None
                with suppress(Exception):
                    pubsub.close()
                self._attempted.set()
            self._closing.wait(delay)

    def _subscribe(self, pubsub: redis.client.PubSub) -> None:
        pubsub.subscribe(self._core.channel)
        timeout = self._connect_timeout
        while True:
            reply = pubsub.get_message(timeout=timeout)
            if reply is None:
                raise redis.TimeoutError("Redis did not confirm the subscription")
            if reply["type"] == "subscribe":
                return

    def _receive(self, pubsub: redis.client.PubSub) -> None:
        # Straight off the connection: ``get_message`` polls the socket, retries and wraps
        # every message on its way, which cost more than applying the write. A read that
        # waits ``idle_timeout`` (the socket's timeout) in vain sends the health-check ping
        # when one is due; replies already buffered are read without touching the socket.
        connection = pubsub.connection
        if connection is None:
            raise redis.ConnectionError("the subscription has no connection")
        received, read = self._core.received, connection.read_response
        while not self._closing.is_set():
            try:
                reply = read(disconnect_on_error=False)
            except redis.TimeoutError:
                pubsub.check_health()
                continue
            received(reply)


class AsyncRedisBridge(_BridgeBase["AsyncGamifyClient"], LoopLink):
    """The bridge of an :class:`~gamify_client.AsyncGamifyClient`: a listener task and a
    publisher task on the running loop, with ``redis.asyncio``. The same options as
    :class:`RedisBridge`; received writes are applied on the loop."""

    def _open(self, redis_url: str, options: dict[str, Any]) -> None:
        self._publisher = redis_asyncio.Redis.from_url(
            redis_url,
            retry=AsyncRetry(NoBackoff(), 1),
            socket_timeout=self._connect_timeout,
            **options,
        )
        self._subscriber = redis_asyncio.Redis.from_url(
            redis_url, retry=AsyncRetry(NoBackoff(), 0), protocol=_SUBSCRIBER_PROTOCOL, **options
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._attempted = asyncio.Event()
        self._connected = asyncio.Event()
        self._outgoing = asyncio.Event()
        self._stop_publishing: Callable[[], None] | None = None
        self._closed = False

    async def start(self, timeout: float = 5.0) -> Self:  # noqa: ASYNC109
        """Start the listener and publisher tasks on the running loop; wait up to
        ``timeout`` seconds for the first subscription attempt. Idempotent."""
        if self._tasks:
            return self
        if self._closed:
            raise RuntimeError("this bridge was closed")
        loop = self._loop = asyncio.get_running_loop()
        self._stop_publishing = self.client.on_mutation(self._on_local_write)
        self._tasks = [
            loop.create_task(self._listen(), name="gamify-redis-bridge"),
            loop.create_task(self._publish_forever(), name="gamify-redis-publisher"),
        ]
        await wait_set(self._attempted, timeout)
        return self

    async def close(self) -> None:
        """Stop both tasks and close the connections. Idempotent."""
        self._closed = True
        if self._stop_publishing is not None:
            self._stop_publishing()
        self._core.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self._publisher.aclose()
        await self._subscriber.aclose()

    def _on_local_write(self, applied: AppliedMutation) -> None:
        self._core.enqueue(applied)
        loop = self._loop
        if loop is None:
            return
        if running_loop() is loop:
            self._outgoing.set()
        else:
            loop.call_soon_threadsafe(self._outgoing.set)

    async def _publish_forever(self) -> None:
        while True:
            await self._outgoing.wait()
            self._outgoing.clear()
            while (payload := self._core.next_outgoing()) is not None:
                try:
                    await self._publisher.publish(self._core.channel, payload)
                except _CONNECTION_ERRORS as err:
                    self._core.publish_failed(err)
                    await asyncio.sleep(self._core.publish_backoff.next_delay())
                    self._outgoing.set()
                    break
                self._core.published(payload)

    async def _listen(self) -> None:
        while True:
            pubsub = self._subscriber.pubsub()
            delay = 0.0
            try:
                await self._subscribe(pubsub)
                self._core.subscribed()
                self._connected.set()
                self._attempted.set()
                self._outgoing.set()
                await self._receive(pubsub)
            except Exception as err:
                self._connected.clear()
                delay = self._core.lost(err)
            finally:
                close_pubsub = cast(Callable[[], Awaitable[None]], pubsub.aclose)
                with suppress(Exception):
                    await close_pubsub()
                self._attempted.set()
            await asyncio.sleep(delay)

    async def _subscribe(self, pubsub: redis_asyncio.client.PubSub) -> None:
        await pubsub.subscribe(self._core.channel)
        async with asyncio.timeout(self._connect_timeout):
            while True:
                reply = await pubsub.get_message(timeout=self._connect_timeout)
                if reply is not None and reply["type"] == "subscribe":
                    return

    async def _receive(self, pubsub: redis_asyncio.client.PubSub) -> None:
        # As the blocking bridge reads: straight off the connection (None after a read that
        # waited ``idle_timeout`` in vain).
        connection = pubsub.connection
        if connection is None:
            raise redis.ConnectionError("the subscription has no connection")
        while True:
            reply = await connection.read_response(
                disconnect_on_error=False, timeout=self._idle_timeout
            )
            if reply is None:
                await pubsub.check_health()
                continue
            self._core.received(reply)
