"""Server push for the reference backend: ``GET /api/events`` as Server-Sent Events.

Every write a route answers with success becomes one event. ``event:`` is the SDK's event name
(``taskCompleted``), ``id:`` increases (``<epoch>-<n>``, the epoch telling one run of the backend
from another), and ``data:`` is the write in the SDK's wire format (``bridges._messages``): the
write's name, the ids of its request, the keys the client's rule invalidates, ``realTimeData``
and the whole answer, from which a client applies the same rule as the writer. A write made with
the ``X-Gamify-Origin`` header carries it as ``origin``, so its writer can skip it.

A client that reconnects sends ``Last-Event-ID`` and gets the events it missed from a bounded
history; one whose id is older than the history, or from another run, gets a ``reset`` event
instead (refetch everything). Over a socket (``backend.serve()``) the answer stays open and
streams events as they happen, with a comment line every ``heartbeat`` seconds; reached
in-process, the route answers the events after ``Last-Event-ID`` and ends, and the client
reconnects. The real service has no such route: it answers 404, and the SDK then polls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..bridges._messages import EVENTS_PATH, ORIGIN_HEADER, MalformedMessage, message_for_write
from ..realtime import Write
from ..resources import ALL_WRITES
from ._express import BackendResponse, json_response

if TYPE_CHECKING:
    from ._routing import Context, Route

logger = logging.getLogger("gamify_client.testing")

__all__ = [
    "EVENTS_PATH",
    "RESET_EVENT",
    "WRITE_MUTATIONS",
    "EventStream",
    "EventStreamStats",
    "LiveStreams",
    "events_route",
]

RESET_EVENT = "reset"
"""The event that tells a client it missed events the history no longer holds."""

_RETRY_MILLISECONDS = 1000
_CUT_TIMEOUT = 1.0
_ORIGIN = ORIGIN_HEADER.lower()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _writes_by_route() -> dict[tuple[str, str], Write[Any]]:
    return {(write.method, write.route): write for write in ALL_WRITES.values()}


_WRITES = _writes_by_route()
"""Each write route of the backend, by method and Express path: the client's description of
it, which names the write and says where its request carries the ids."""

WRITE_MUTATIONS = frozenset(ALL_WRITES)
"""The client's names of the writes that become events."""


class _PushedEvent:
    """One write in the history; rendered once, on first read."""

    __slots__ = ("_rendered", "body", "event_id", "mutation", "origin", "request", "seq")

    def __init__(
        self,
        seq: int,
        event_id: str,
        mutation: str,
        request: dict[str, Any],
        body: bytes,
        origin: str | None,
    ) -> None:
        self.seq = seq
        self.event_id = event_id
        self.mutation = mutation
        self.request = request
        self.body = body
        self.origin = origin
        self._rendered: bytes | None = None

    def render(self) -> bytes:
        if self._rendered is None:
            self._rendered = self._render()
        return self._rendered

    def _render(self) -> bytes:
        try:
            message = message_for_write(
                self.mutation,
                self.request,
                json.loads(self.body),
                message_id=self.event_id,
                origin=self.origin,
            )
        except (MalformedMessage, ValueError):
            # A write nobody can read still changed something: have the clients refetch.
            return _frame(self.event_id, RESET_EVENT, "{}")
        return _frame(self.event_id, message.event, message.encode().decode())


def _frame(event_id: str, event: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()


@dataclass
class _Cursor:
    """Where one reader stands: the last event sent, and whether it must be reset first."""

    position: int
    reset: bool
    live: bool = False


@dataclass(frozen=True, slots=True)
class EventStreamStats:
    """What the stream did: writes published, and for the live streams (over a socket):
    streams opened (``resumed``: with a ``Last-Event-ID``), events sent again from the
    history, resets sent, streams dropped and streams open now."""

    published: int
    streams_opened: int
    resumed: int
    replayed: int
    resets: int
    dropped: int
    open_streams: int


class _Watcher:
    """One open stream, woken from any thread when something happens to it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.wake_event = asyncio.Event()
        self.dropped = False
        self.disconnected = False

    def wake(self) -> None:
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.wake_event.set)

    def drop(self) -> None:
        self.dropped = True
        self.wake()


class EventStream:
    """The backend's writes as numbered events, with the ``capacity`` newest kept for resume.

    Thread-safe: writes are recorded from any thread (the in-process transport, the server's
    loop), and open streams are woken on their own loop.
    """

    def __init__(self, capacity: int = 1000, heartbeat: float = 15.0) -> None:
        if capacity < 1:
            raise ValueError("the event history needs a capacity of at least 1")
        self.epoch = secrets.token_hex(4)
        self.heartbeat = heartbeat
        self._lock = threading.Lock()
        self._history: deque[_PushedEvent] = deque(maxlen=capacity)
        self._head = 0
        self._watchers: set[_Watcher] = set()
        self._streams_opened = 0
        self._resumed = 0
        self._replayed = 0
        self._resets = 0
        self._dropped = 0

    @property
    def last_event_id(self) -> str:
        """The id of the newest event (``<epoch>-0`` before the first)."""
        with self._lock:
            return self._event_id(self._head)

    def record_write(
        self,
        route: Route,
        context: Context,
        headers: Mapping[str, str],
        response: BackendResponse,
    ) -> None:
        """Publish the write ``route`` answered with ``response``, if it is a successful write.
        Never raises: it runs inside the request's transaction."""
        write = _WRITES.get((route.method, route.pattern))
        if write is None or not 200 <= response.status < 300:
            return
        mutation = write.name
        try:
            request = write.request_ids(context.params, context.fields)
            self.publish(mutation, request, response.body, headers.get(_ORIGIN))
        except Exception:
            logger.exception("publishing %s to the event stream failed", mutation)

    def publish(
        self, mutation: str, request: dict[str, Any], body: bytes, origin: str | None = None
    ) -> str:
        """Append one write (the client's name for it, its request ids, the JSON answer) and
        wake every open stream; returns the event's id."""
        with self._lock:
            self._head += 1
            event = _PushedEvent(
                self._head, self._event_id(self._head), mutation, request, body, origin
            )
            self._history.append(event)
            watchers = tuple(self._watchers)
        for watcher in watchers:
            watcher.wake()
        return event.event_id

    def backlog(self, last_event_id: str | None) -> bytes:
        """The start of a stream and the events after ``last_event_id`` (a reset if they are
        gone): the body of an answer that ends, which the route sends when it cannot stream."""
        with self._lock:
            cursor = self._cursor(last_event_id)
        return self.opening(cursor) + self.read(cursor)

    def opening(self, cursor: _Cursor) -> bytes:
        """The first lines of a stream: the reconnect delay, and the id the reader stands at,
        so that even a reader that gets no event can resume from there."""
        return f"retry: {_RETRY_MILLISECONDS}\nid: {self._event_id(cursor.position)}\n\n".encode()

    def drop_connections(self) -> int:
        """Cut every open stream without ending it properly, as a failing network does;
        returns how many were open. The clients reconnect and resume."""
        with self._lock:
            watchers = tuple(self._watchers)
            self._dropped += len(watchers)
        for watcher in watchers:
            watcher.drop()
        return len(watchers)

    def stats(self) -> EventStreamStats:
        """What the stream did so far."""
        with self._lock:
            return EventStreamStats(
                published=self._head,
                streams_opened=self._streams_opened,
                resumed=self._resumed,
                replayed=self._replayed,
                resets=self._resets,
                dropped=self._dropped,
                open_streams=len(self._watchers),
            )

    def attach(self, watcher: _Watcher, last_event_id: str | None) -> _Cursor:
        """Register an open stream (woken on each write) and say where it starts."""
        with self._lock:
            self._watchers.add(watcher)
            self._streams_opened += 1
            cursor = self._cursor(last_event_id)
            cursor.live = True
            if last_event_id:
                self._resumed += 1
                if not cursor.reset:
                    self._replayed += self._head - cursor.position
            return cursor

    def detach(self, watcher: _Watcher) -> None:
        """Forget a stream that ended."""
        with self._lock:
            self._watchers.discard(watcher)

    def read(self, cursor: _Cursor) -> bytes:
        """Render what the reader at ``cursor`` has not seen, and move it to the newest."""
        with self._lock:
            oldest = self._history[0].seq if self._history else self._head + 1
            if cursor.position < oldest - 1:
                cursor.reset = True
            if cursor.reset:
                cursor.reset = False
                self._resets += cursor.live
                cursor.position = self._head
                return _frame(self._event_id(self._head), RESET_EVENT, "{}")
            events = [event for event in self._history if event.seq > cursor.position]
            cursor.position = self._head
        return b"".join(event.render() for event in events)

    def _cursor(self, last_event_id: str | None) -> _Cursor:
        """Under the lock: where a reader that saw ``last_event_id`` starts."""
        if last_event_id is None or not last_event_id.strip():
            return _Cursor(self._head, reset=False)
        epoch, _, number = last_event_id.strip().partition("-")
        if epoch != self.epoch or not number.isdigit() or int(number) > self._head:
            return _Cursor(self._head, reset=True)
        return _Cursor(int(number), reset=False)

    def _event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"


def events_route(ctx: Context) -> BackendResponse:
    """``GET /api/events``: the events after ``Last-Event-ID``, then the end of the answer
    (over a socket the ASGI app keeps it open instead, see :class:`LiveStreams`)."""
    body = ctx.state.event_stream.backlog(ctx.headers.get("last-event-id"))
    return BackendResponse(
        200,
        [
            ("X-Powered-By", "Express"),
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
        ],
        body,
    )


class LiveStreams:
    """The open event streams of one ASGI app: each one live until the client goes, the
    stream is dropped, or :meth:`close` ends them all (the server is stopping)."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._closed = False
        self._watchers: set[_Watcher] = set()
        self._lock = threading.Lock()

    @staticmethod
    def handles(scope: Scope) -> bool:
        """Whether the request is for the event stream."""
        path: str = scope.get("path", "")
        return scope.get("method") == "GET" and path.rstrip("/") == EVENTS_PATH

    def close(self) -> None:
        """End every open stream properly and refuse new ones (503)."""
        with self._lock:
            self._closed = True
            watchers = tuple(self._watchers)
        for watcher in watchers:
            watcher.wake()

    async def serve(
        self,
        request_headers: Mapping[str, str],
        response: BackendResponse,
        receive: Receive,
        send: Send,
    ) -> None:
        """Stream events for a request the route accepted with ``response``."""
        loop = asyncio.get_running_loop()
        watcher = _Watcher(loop)
        with self._lock:
            closed = self._closed
            if not closed:
                self._watchers.add(watcher)
        if closed:
            await _send_whole(send, json_response(503, {"message": "The server is stopping."}))
            return
        cursor = self._stream.attach(watcher, request_headers.get("last-event-id"))
        listening = loop.create_task(_until_disconnected(receive, watcher))
        try:
            if await self._stream_events(watcher, cursor, response, send) == "cut":
                # Wait until the server has seen the close, so that it does not finish the
                # answer in our place.
                with suppress(TimeoutError):
                    async with asyncio.timeout(_CUT_TIMEOUT):
                        await asyncio.shield(listening)
        except OSError:
            # The client went away while we were writing to it.
            pass
        finally:
            self._stream.detach(watcher)
            with self._lock:
                self._watchers.discard(watcher)
            listening.cancel()

    async def _stream_events(
        self, watcher: _Watcher, cursor: _Cursor, response: BackendResponse, send: Send
    ) -> Literal["cut", "ended"]:
        """Send events until the stream ends; says whether it was cut or ended properly."""
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers
            if name.lower() != "content-length"
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first = self._stream.opening(cursor) + self._stream.read(cursor)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        while True:
            watcher.wake_event.clear()
            chunk = self._stream.read(cursor)
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                continue
            if watcher.dropped:
                _cut(send)
                return "cut"
            if self._closed:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return "ended"
            if watcher.disconnected:
                return "ended"
            try:
                async with asyncio.timeout(self._stream.heartbeat):
                    await watcher.wake_event.wait()
            except TimeoutError:
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})


async def _until_disconnected(receive: Receive, watcher: _Watcher) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    watcher.disconnected = True
    watcher.wake_event.set()


def _cut(send: Send) -> None:
    """Close the connection under an unfinished answer (uvicorn's transport, found through
    its ``send``); elsewhere, returning unfinished makes the server close it."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if isinstance(transport, asyncio.BaseTransport):
        transport.close()


async def _send_whole(send: Send, response: BackendResponse) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
