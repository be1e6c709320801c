"""Server push for the reference backend: ``GET /api/events`` as Server-Sent Events.

Every write a route answers with success becomes one event. ``event:`` is the SDK's event name
(``taskCompleted``), ``id:`` increases (``<epoch>-<n>``, the epoch telling one run of the backend
from another), and ``data:`` is the write in the SDK's wire format (``bridges._messages``): the
write's name, the ids of its request, the keys the client's rule invalidates, ``realTimeData``
and the whole answer, from which a client applies the same rule as the writer.

Each listener gets only the events about data its token may read (CONTRACT.md's read rules):
a write about a user (a submission, progress, points) reaches that user, the staff over them
(the admin and mentor of their batches, their admin) and superadmins; a write about a batch
(create, edit, enrol, remove, a message) reaches its members, admin and mentor; a write to the
task lists or categories reaches everyone; anything else only its writer and superadmins. The
audience is fixed when the write happens, so a replay never shows an event the listener could
not have seen then.

The server, not the request, says where a write came from: its ``origin`` is an id derived from
the token that made it (a keyed hash, useless to anyone else), and the stream's first event
(``event: hello``) tells the listener the origin of its own token, so its client can skip the
stream's copies of its own writes. No request header can set or forge it.

A client that reconnects sends ``Last-Event-ID`` and gets the events it missed from a bounded
history; one whose id is older than the history, or from another run, gets a ``reset`` event
instead (refetch everything). Over a socket (``backend.serve()``) the answer stays open and
streams events as they happen, with a comment line every ``heartbeat`` seconds; reached
in-process, the route answers the events after ``Last-Event-ID`` and ends, and the client
reconnects. The real service has no such route: it answers 404, and the SDK then polls.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from ..bridges._messages import EVENTS_PATH, MalformedMessage, message_for_write
from ..realtime import Write
from ..resources import ALL_WRITES
from ._express import BackendResponse, decoded_json, json_response
from ._store import Collection, DocumentStore

if TYPE_CHECKING:
    from ._routing import Context, Route

logger = logging.getLogger("gamify_client.testing")

__all__ = [
    "EVENTS_PATH",
    "HELLO_EVENT",
    "RESET_EVENT",
    "WRITE_MUTATIONS",
    "EventStream",
    "EventStreamStats",
    "LiveStreams",
    "Viewer",
    "events_route",
]

RESET_EVENT = "reset"
"""The event that tells a client it missed events the history no longer holds."""

HELLO_EVENT = "hello"
"""A stream's first event: ``{"origin": ...}``, the origin of the listener's own writes."""

_RETRY_MILLISECONDS = 1000
_CUT_TIMEOUT = 1.0
_VIEWERS_KEPT = 10_000
_PUBLIC_FAMILIES = ("tasks.", "categories.")
"""Writes to data every account may read (the task lists, the categories), unless they are
about one user (a submission)."""

Audience = frozenset[str] | None
"""The user ids that may see an event; None: everyone."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads a stream: the token's user and role, and the origin of that token's writes."""

    user_id: str
    designation: str
    origin: str

    def may_see(self, audience: Audience) -> bool:
        """Whether an event for ``audience`` is this viewer's to see."""
        return audience is None or self.designation == "superadmin" or self.user_id in audience


def request_token(headers: Mapping[str, str]) -> str | None:
    """The token a request carries, read as the guards read it (the ``authToken`` cookie
    first, then the ``Authorization`` header's second word)."""
    for pair in headers.get("cookie", "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == "authToken" and value:
            return unquote(value)
    words = headers.get("authorization", "").split(" ")
    return words[1] if len(words) > 1 and words[1] else None


def _ids(*values: object) -> set[str]:
    return {value for value in values if isinstance(value, str) and value}


def _ref(value: object) -> object:
    return value.get("_id") if isinstance(value, Mapping) else value


def _batch_doc(store: DocumentStore, batch_id: str, body: Any) -> Mapping[str, Any] | None:
    """The batch as stored, or as the answer shows it (a deleted one)."""
    found = store.peek(Collection.BATCHES, batch_id)
    if found is not None:
        return found
    for candidate in (body.get("batch"), body) if isinstance(body, Mapping) else ():
        if isinstance(candidate, Mapping) and _ref(candidate) == batch_id:
            return candidate
    return None


def _batch_staff(batch: Mapping[str, Any]) -> set[str]:
    return _ids(_ref(batch.get("admin")), _ref(batch.get("mentor")))


def _batch_members(batch: Mapping[str, Any]) -> set[str]:
    users = batch.get("users")
    return _ids(*(_ref(user) for user in users)) if isinstance(users, list) else set()


def _staff_over(store: DocumentStore, user_id: str) -> set[str]:
    """The admin a user belongs to, and the admin and mentor of each batch the user has
    progress in (enrolment makes it): found through the user's own documents, so the cost
    follows that user, not every batch the backend holds."""
    user = store.peek(Collection.USERS, user_id)
    staff = _ids(user.get("parentId")) if user is not None else set()
    for batch_id in store.distinct(Collection.PROGRESS, "batchId", userId=user_id):
        batch = store.peek(Collection.BATCHES, str(batch_id))
        if batch is not None:
            staff |= _batch_staff(batch)
    return staff


def write_audience(
    write: Write[Any],
    request: Mapping[str, Any],
    store: DocumentStore,
    writer: str | None,
    body: Any,
) -> Audience:
    """Who may see the event of ``write`` (see the module's docstring)."""
    real_time = body.get("realTimeData") if isinstance(body, Mapping) else None
    real_time = real_time if isinstance(real_time, Mapping) else {}
    users = _ids(
        *(value for name, value in request.items() if name.endswith("user_id")),
        real_time.get("userId"),
    )
    batches = _ids(request.get("batch_id"), real_time.get("batchId"))
    if write.name.startswith("batches.") and isinstance(body, Mapping):
        # A batch write answers with the batch (bare or as ``batch``): a new one has no id yet
        # in the request.
        batches |= _ids(_ref(body), _ref(body.get("batch")))
    if not users and write.name.startswith(_PUBLIC_FAMILIES):
        return None
    audience = _ids(writer) | users
    for user_id in users:
        audience |= _staff_over(store, user_id)
    for batch_id in batches:
        batch = _batch_doc(store, batch_id, body)
        if batch is None:
            continue
        audience |= _batch_staff(batch)
        if not users:
            audience |= _batch_members(batch)
    return frozenset(audience)


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

    __slots__ = (
        "_rendered",
        "audience",
        "body",
        "event_id",
        "mutation",
        "origin",
        "request",
        "seq",
    )

    def __init__(
        self,
        seq: int,
        event_id: str,
        mutation: str,
        request: dict[str, Any],
        body: bytes,
        origin: str | None,
        audience: Audience,
    ) -> None:
        self.seq = seq
        self.event_id = event_id
        self.mutation = mutation
        self.request = request
        self.body = body
        self.origin = origin
        self.audience = audience
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
    """Where one reader stands: the last event sent, and whether it must be reset first;
    ``viewer`` is who reads (only the events they may see are sent)."""

    position: int
    reset: bool
    viewer: Viewer | None = None
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
        self._origin_key = secrets.token_bytes(32)
        # A client sends the same token with each of its writes: its hash is made once.
        self._origin_of_token = functools.lru_cache(maxsize=_VIEWERS_KEPT)(self._hashed_origin)
        self._viewers: OrderedDict[str, Viewer] = OrderedDict()
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

    def origin_of(self, token: str | None) -> str | None:
        """The origin of the writes made with ``token``: a keyed hash of it, which tells
        nothing about the token and cannot be forged without this stream's key."""
        if not token:
            return None
        origin: str = self._origin_of_token(token)
        return origin

    def _hashed_origin(self, token: str) -> str:
        digest = hmac.new(self._origin_key, token.encode("utf-8", "replace"), hashlib.sha256)
        return digest.hexdigest()[:32]

    def register_viewer(self, user_id: str, designation: str, token: str) -> Viewer:
        """The viewer of a stream the route accepted for ``token``; the live stream finds it
        again by the token's origin."""
        origin = self.origin_of(token)
        assert origin is not None
        viewer = Viewer(user_id, designation, origin)
        with self._lock:
            self._viewers[origin] = viewer
            self._viewers.move_to_end(origin)
            while len(self._viewers) > _VIEWERS_KEPT:
                self._viewers.popitem(last=False)
        return viewer

    def viewer_for(self, headers: Mapping[str, str]) -> Viewer | None:
        """The viewer the route registered for the token of ``headers``, if any."""
        origin = self.origin_of(request_token(headers))
        with self._lock:
            return self._viewers.get(origin) if origin is not None else None

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
            writer = context.claims.user_id if context.claims is not None else None
            audience = write_audience(
                write, request, context.store, writer, decoded_json(response.body)
            )
            origin = self.origin_of(request_token(headers))
            self.publish(mutation, request, response.body, origin, audience=audience)
        except Exception:
            logger.exception("publishing %s to the event stream failed", mutation)

    def publish(
        self,
        mutation: str,
        request: dict[str, Any],
        body: bytes,
        origin: str | None = None,
        *,
        audience: Audience = frozenset(),
    ) -> str:
        """Append one write (the client's name for it, its request ids, the JSON answer) and
        wake every open stream; returns the event's id. Only superadmins and the user ids in
        ``audience`` (everyone when it is None) will see it."""
        with self._lock:
            self._head += 1
            event = _PushedEvent(
                self._head, self._event_id(self._head), mutation, request, body, origin, audience
            )
            self._history.append(event)
            watchers = tuple(self._watchers)
        for watcher in watchers:
            watcher.wake()
        return event.event_id

    def backlog(self, last_event_id: str | None, viewer: Viewer) -> bytes:
        """The start of a stream and the events after ``last_event_id`` that ``viewer`` may
        see (a reset if they are gone): the body of an answer that ends, which the route sends
        when it cannot stream."""
        with self._lock:
            cursor = self._cursor(last_event_id, viewer)
        return self.opening(cursor) + self.read(cursor)

    def opening(self, cursor: _Cursor) -> bytes:
        """The first lines of a stream: the reconnect delay, the id the reader stands at (so
        that even a reader that gets no event can resume from there) and the ``hello`` event
        with the origin of the reader's own writes."""
        origin = cursor.viewer.origin if cursor.viewer is not None else None
        hello = json.dumps({"origin": origin})
        return (
            f"retry: {_RETRY_MILLISECONDS}\nid: {self._event_id(cursor.position)}\n\n"
            f"event: {HELLO_EVENT}\ndata: {hello}\n\n"
        ).encode()

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

    def attach(self, watcher: _Watcher, last_event_id: str | None, viewer: Viewer) -> _Cursor:
        """Register an open stream (woken on each write) and say where it starts."""
        with self._lock:
            self._watchers.add(watcher)
            self._streams_opened += 1
            cursor = self._cursor(last_event_id, viewer)
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
            viewer = cursor.viewer
            events = [
                event
                for event in self._history
                if event.seq > cursor.position
                and viewer is not None
                and viewer.may_see(event.audience)
            ]
            cursor.position = self._head
        return b"".join(event.render() for event in events)

    def _cursor(self, last_event_id: str | None, viewer: Viewer) -> _Cursor:
        """Under the lock: where a reader that saw ``last_event_id`` starts."""
        if last_event_id is None or not last_event_id.strip():
            return _Cursor(self._head, reset=False, viewer=viewer)
        epoch, _, number = last_event_id.strip().partition("-")
        if epoch != self.epoch or not number.isdigit() or int(number) > self._head:
            return _Cursor(self._head, reset=True, viewer=viewer)
        return _Cursor(int(number), reset=False, viewer=viewer)

    def _event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"


def events_route(ctx: Context) -> BackendResponse:
    """``GET /api/events``: the events after ``Last-Event-ID``, then the end of the answer
    (over a socket the ASGI app keeps it open instead, see :class:`LiveStreams`)."""
    stream = ctx.state.event_stream
    claims, token = ctx.verified_claims(), request_token(ctx.headers)
    if token is None:
        return json_response(401, {"message": "No token provided"})
    viewer = stream.register_viewer(claims.user_id, claims.designation, token)
    body = stream.backlog(ctx.headers.get("last-event-id"), viewer)
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
        viewer = self._stream.viewer_for(request_headers)
        if viewer is None:
            await _send_whole(send, json_response(403, {"message": "Invalid token"}))
            return
        watcher = _Watcher(loop)
        with self._lock:
            closed = self._closed
            if not closed:
                self._watchers.add(watcher)
        if closed:
            await _send_whole(send, json_response(503, {"message": "The server is stopping."}))
            return
        cursor = self._stream.attach(watcher, request_headers.get("last-event-id"), viewer)
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
