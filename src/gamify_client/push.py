"""Server push: the client side of ``GET /api/events`` (Server-Sent Events).

``client.listen()`` opens the backend's event stream and applies every write it announces as
the Redis bridge does (the same patches, invalidations and event; never twice; never the
client's own writes). The backend sends each listener only the writes its token may read, and
says where each write came from: the stream's first event (``hello``) gives the origin of the
listener's own token; an event carrying it whose answer is one this client received itself is
skipped (another process with the same token still gets its writes). When the stream breaks it
reconnects with backoff and resumes with ``Last-Event-ID``, so nothing is missed while the
backend still holds the events; when it does not, the backend sends a ``reset`` and every active
key is invalidated. A backend that never
offered the route (the real service answers 404 to the first attempt) leaves the client
polling: the listener logs it once, stops, and its :attr:`~PushListener.mode` says
``"polling"``; a 404 after the stream once worked is a passing failure, retried. Needs the
``push`` extra (``httpx-sse``).

>>> listener = client.listen()
>>> listener.mode
'push'
>>> listener.close()
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, Self, TypeVar

import httpx
import httpx_sse

from ._core import BaseClient
from ._logging import logger, safe_url
from ._parsing import status_error
from .bridges._lifetime import LoopLink, ThreadLink, wait_set
from .bridges._messages import EVENTS_PATH, MalformedMessage, MutationMessage, new_message_id
from .bridges._remote import Backoff, RemoteApplier
from .errors import APIStatusError
from .realtime import AppliedMutation

if TYPE_CHECKING:
    from .client import AsyncGamifyClient, GamifyClient

__all__ = [
    "EVENTS_PATH",
    "OWN_WRITE_GRACE",
    "AsyncPushListener",
    "ListenMode",
    "PushListener",
    "PushStats",
]

_RESET_EVENT = "reset"
_HELLO_EVENT = "hello"
OWN_WRITE_GRACE = 0.5
"""Seconds an event from the client's own token waits while the client has a write in
flight (its answer may be what the event copies); after that it is taken as a write of
another process that shares the token."""
_GRACE_STEP = 0.005
# What a broken or refused stream raises; anything else is a bug, logged with its traceback.
_STREAM_ERRORS = (httpx.HTTPError, httpx_sse.SSEError, OSError, ValueError)
_AUTH_STATUSES = frozenset({401, 403})

_ClientT = TypeVar("_ClientT", bound="GamifyClient | AsyncGamifyClient")
_HttpT = TypeVar("_HttpT", bound="httpx.Client | httpx.AsyncClient")


class ListenMode(StrEnum):
    """How a client learns about other clients' writes."""

    PUSH = "push"
    """From the backend's event stream."""
    POLLING = "polling"
    """The backend has no event stream: live queries refresh on their intervals."""


@dataclass(frozen=True, slots=True)
class PushStats:
    """What a listener did so far: connections (``reconnects``: after the first), events
    applied, skipped as its own or as already seen, malformed, and resets received."""

    connects: int
    reconnects: int
    applied: int
    own: int
    duplicates: int
    malformed: int
    resets: int


@dataclass(frozen=True, slots=True)
class _Event:
    """One server-sent event: its type, its data (the bytes as they came: the JSON reader
    takes bytes) and the id of the stream's last event so far ("" before the first)."""

    event: str
    data: bytes
    id: str


class _EventParser:
    """Server-sent events out of a stream's bytes, as the format reads them: a line ends with
    CR, LF or CRLF (even one split between two chunks), a line starting with ``:`` is a
    comment, ``name: value`` sets a field, a blank line ends the event. ``data`` lines are
    joined with LF; an ``id`` holding NUL is ignored; the other fields too.

    It works on whole chunks of bytes: the server writes an event per chunk, and reading it
    line by line as text (``httpx_sse``) cost more than decoding the message it carries."""

    __slots__ = ("_after_cr", "_data", "_event", "_fields", "_id", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        self._after_cr = False
        self._event = ""
        self._data: list[bytes] = []
        self._id = ""
        self._fields = False

    def feed(self, chunk: bytes) -> list[_Event]:
        """The events that ``chunk`` completes."""
        if self._after_cr:
            # The LF of a CRLF whose CR ended the previous chunk.
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = (self._pending + chunk).split(b"\n") if self._pending else chunk.split(b"\n")
        self._pending = lines.pop()
        events: list[_Event] = []
        for line in lines:
            if line:
                self._field(line)
            elif self._fields:
                events.append(_Event(self._event or "message", b"\n".join(self._data), self._id))
                self._event, self._data, self._fields = "", [], False
        return events

    def _field(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        else:
            # A comment (no name) or a field this listener does not use (``retry``).
            return
        self._fields = True


class _Verdict(StrEnum):
    STREAM = "stream"
    NO_PUSH = "no_push"
    AUTH_FAILED = "auth_failed"
    RETRY = "retry"


class _PushCore:
    """What both listeners decide, without I/O: the request, what an answer means, what
    each event does, and how long to wait before reconnecting."""

    def __init__(
        self,
        client: BaseClient,
        *,
        path: str,
        backoff: float,
        backoff_max: float,
        seen_capacity: int,
    ) -> None:
        self._client = client
        self.url = client.base_url + path
        self.shown_url = safe_url(self.url)
        self.applier = RemoteApplier(
            client,
            client.refresh_manager,
            origin=new_message_id(),
            where=f"the event stream {self.shown_url}",
            seen_capacity=seen_capacity,
            is_own=self._is_own,
        )
        self.server_origin: str | None = None
        self._last_decoded: tuple[_Event, MutationMessage | None] | None = None
        self._own_writes: OrderedDict[str, None] = OrderedDict()
        self._own_capacity = seen_capacity
        self._stop_recording = client.on_mutation(self._remember)
        self.backoff = Backoff(backoff, backoff_max)
        self.mode = ListenMode.PUSH
        self.connected = False
        self.closed = False
        self.last_event_id: str | None = None
        self.auth_error: APIStatusError | None = None
        self._lock = threading.Lock()
        self._connects = 0
        self._resets = 0

    @property
    def origin(self) -> str:
        return self.server_origin or self.applier.origin

    def stop(self) -> None:
        """Stop recording the client's writes (the listener is closing)."""
        self.closed = True
        self._stop_recording()

    def _remember(self, applied: AppliedMutation) -> None:
        """Record a write this client made, to know the stream's copy of it."""
        fingerprint = _fingerprint(applied.mutation, applied.result.body)
        with self._lock:
            self._own_writes[fingerprint] = None
            if len(self._own_writes) > self._own_capacity:
                self._own_writes.popitem(last=False)

    def _is_own(self, message: MutationMessage) -> bool:
        # A process that shares its token with others but wrote nothing waiting to be matched
        # (a dashboard on a second screen) skips the fingerprint: hashing the whole body
        # cost as much as applying the write.
        if (
            self.server_origin is None
            or message.origin != self.server_origin
            or not self._own_writes
        ):
            return False
        fingerprint = _fingerprint(message.mutation, message.body)
        with self._lock:
            return self._own_writes.pop(fingerprint, False) is None

    def own_pending(self, event: _Event) -> bool:
        """Whether ``event`` comes from this client's token, is not a write the client
        finished, and the client has a write in flight: the stream can be faster than the
        answer. The listener then waits for that write (up to :data:`OWN_WRITE_GRACE`)
        before applying the event."""
        if (
            self.server_origin is None
            or event.event in (_HELLO_EVENT, _RESET_EVENT)
            or self._client.writes_in_flight == 0
        ):
            return False
        message = self._decoded(event)
        if message is None or message.origin != self.server_origin:
            return False
        fingerprint = _fingerprint(message.mutation, message.body)
        with self._lock:
            return fingerprint not in self._own_writes

    def _decoded(self, event: _Event) -> MutationMessage | None:
        """The message ``event`` carries (None when malformed), decoded once however often
        :meth:`own_pending` asks and :meth:`handle` applies it."""
        last = self._last_decoded
        if last is not None and last[0] is event:
            return last[1]
        try:
            message: MutationMessage | None = MutationMessage.decode(event.data)
        except MalformedMessage:
            message = None
        self._last_decoded = (event, message)
        return message

    def answer_timeout(self, timeout: float | None) -> float:
        """How long to wait for the first answer: ``timeout``, by default the client's."""
        return self._client.config.timeout if timeout is None else timeout

    def request_headers(self) -> dict[str, str]:
        headers = self._client.auth_headers
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def judge(self, response: httpx.Response) -> _Verdict:
        """What the answer to a connection attempt means."""
        media_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if response.status_code == 200 and media_type == "text/event-stream":
            with self._lock:
                self._connects += 1
                self.connected = True
            logger.debug(
                "event stream %s open (Last-Event-ID %s)", self.shown_url, self.last_event_id
            )
            return _Verdict.STREAM
        if response.status_code in (200, 404, 405):
            with self._lock:
                ever_connected = self._connects > 0
            if ever_connected:
                # The stream worked before: a proxy or a restart in the way, not a backend
                # without push. Keep trying.
                logger.info(
                    "the event stream %s answered HTTP %d; retrying",
                    self.shown_url,
                    response.status_code,
                )
                return _Verdict.RETRY
            self.mode = ListenMode.POLLING
            logger.warning(
                "%s has no event stream (HTTP %d, %s); live queries keep polling",
                self.shown_url,
                response.status_code,
                media_type or "no content type",
            )
            return _Verdict.NO_PUSH
        if response.status_code in _AUTH_STATUSES:
            return _Verdict.AUTH_FAILED
        logger.info("the event stream %s answered HTTP %d", self.shown_url, response.status_code)
        return _Verdict.RETRY

    def refused(self, response: httpx.Response, verdict: _Verdict) -> float | None:
        """The stream did not open: the wait before the next attempt, or None to stop.
        A refused token is kept in :attr:`auth_error` (the body must have been read)."""
        if verdict is _Verdict.NO_PUSH:
            return None
        error: APIStatusError | None = None
        if verdict is _Verdict.AUTH_FAILED:
            error = self.auth_error = status_error(response)
            logger.error("the event stream %s refused the token: %s", self.shown_url, error)
        return self._reconnect_delay(error)

    def handle(self, event: _Event) -> None:
        """Apply one event; nothing it does stops the listener."""
        if event.id:
            self.last_event_id = event.id
        self.backoff.reset()
        if event.event == _HELLO_EVENT:
            self._hello(event.data)
        elif event.event == _RESET_EVENT:
            with self._lock:
                self._resets += 1
            try:
                self.applier.resync("the event stream was reset")
            except Exception:
                logger.exception("invalidating after a reset of %s failed", self.shown_url)
        elif event.data:
            decoded, self._last_decoded = self._last_decoded, None
            if decoded is not None and decoded[0] is event and decoded[1] is not None:
                self.applier.receive_message(decoded[1])
            else:
                self.applier.receive(event.data)

    def _hello(self, data: bytes) -> None:
        """The server names the origin of this client's own writes."""
        try:
            origin = json.loads(data).get("origin")
        except (ValueError, AttributeError):
            origin = None
        if isinstance(origin, str) and origin:
            self.server_origin = origin
        else:
            logger.warning("the event stream %s sent a hello without an origin", self.shown_url)

    def ended(self, error: BaseException | None) -> float | None:
        """The stream ended, or broke with ``error``: the wait before reconnecting, or None
        once the listener is closed. An error no stream should raise is logged in full."""
        if error is not None and not isinstance(error, _STREAM_ERRORS):
            logger.error("the listener of %s failed; it reconnects", self.shown_url, exc_info=error)
        return self._reconnect_delay(error)

    def _reconnect_delay(self, error: BaseException | None) -> float | None:
        was_connected, self.connected = self.connected, False
        if self.closed:
            return None
        if error is None:
            logger.info("the event stream %s ended; reconnecting", self.shown_url)
        elif was_connected:
            logger.warning("lost the event stream %s (%s); reconnecting", self.shown_url, error)
        else:
            logger.debug("connecting to the event stream %s failed: %s", self.shown_url, error)
        return self.backoff.next_delay()

    def stats(self) -> PushStats:
        remote = self.applier.stats()
        with self._lock:
            return PushStats(
                connects=self._connects,
                reconnects=max(0, self._connects - 1),
                applied=remote.applied,
                own=remote.own,
                duplicates=remote.duplicates,
                malformed=remote.malformed,
                resets=self._resets,
            )


def _fingerprint(mutation: str, body: object) -> str:
    canonical = json.dumps([mutation, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "replace")).hexdigest()


class _ListenerBase(ABC, Generic[_ClientT, _HttpT]):
    """The settings and read-only state both listeners share; each listener makes its own
    HTTP client in :meth:`_new_http` and what it waits on in :meth:`_open`."""

    def __init__(
        self,
        client: _ClientT,
        *,
        path: str = EVENTS_PATH,
        http_client: _HttpT | None = None,
        backoff: float = 0.1,
        backoff_max: float = 10.0,
        read_timeout: float = 60.0,
        seen_capacity: int = 10_000,
    ) -> None:
        self._core = _PushCore(
            client,
            path=path,
            backoff=backoff,
            backoff_max=backoff_max,
            seen_capacity=seen_capacity,
        )
        self._owns_http = http_client is None
        self._http = http_client or self._new_http(
            httpx.Timeout(client.config.timeout, read=read_timeout)
        )
        self._open()

    @abstractmethod
    def _new_http(self, timeout: httpx.Timeout) -> _HttpT:
        """The listener's own HTTP client, when it was given none."""

    @abstractmethod
    def _open(self) -> None:
        """Make what the listener waits on."""

    @property
    def mode(self) -> ListenMode:
        """``"push"`` while the listener runs, ``"polling"`` once the backend proved to have
        no event stream."""
        return self._core.mode

    @property
    def connected(self) -> bool:
        """Whether the stream is open right now."""
        return self._core.connected

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._core.closed

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event received: where a reconnect resumes."""
        return self._core.last_event_id

    @property
    def origin(self) -> str:
        """The origin the backend gives this client's writes (from the stream's ``hello``;
        a random id that matches nothing before it came)."""
        return self._core.origin

    def stats(self) -> PushStats:
        """What the listener did so far."""
        return self._core.stats()


class PushListener(_ListenerBase["GamifyClient", httpx.Client], ThreadLink):
    """The listener of a blocking :class:`~gamify_client.GamifyClient`: one thread reads
    the stream and applies its events (the cache's subscribers are called there).

    ``http_client`` is the ``httpx.Client`` to stream with (by default its own, with the
    client's timeout for connecting and ``read_timeout`` between two reads: the backend
    sends a comment line every 15 s). Reconnects wait ``backoff`` seconds, doubling up to
    ``backoff_max``.
    """

    def _new_http(self, timeout: httpx.Timeout) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def _open(self) -> None:
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._answered = threading.Event()
        self._connected = threading.Event()
        self._response: httpx.Response | None = None
        self._response_lock = threading.Lock()

    def start(self, timeout: float | None = None) -> Self:
        """Start the thread and wait for the backend's first answer (up to ``timeout``
        seconds, by default the client's timeout). Raises the typed error when the backend
        refuses the token (401, 403). Idempotent."""
        if self._thread is not None:
            return self
        if self._closing.is_set():
            raise RuntimeError("this listener was closed")
        self._thread = threading.Thread(target=self._run, name="gamify-push", daemon=True)
        self._thread.start()
        self._answered.wait(self._core.answer_timeout(timeout))
        if (error := self._core.auth_error) is not None:
            self.close()
            raise error
        return self

    def close(self) -> None:
        """Stop listening. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._core.stop()
        with self._response_lock:
            response = self._response
        if response is not None:
            _interrupt(response)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._owns_http:
            self._http.close()

    def _run(self) -> None:
        while not self._closing.is_set():
            delay = self._connect_once()
            self._connected.clear()
            self._answered.set()
            if delay is None:
                return
            self._closing.wait(delay)

    def _connect_once(self) -> float | None:
        """One connection: the wait before the next, or None to stop."""
        core = self._core
        try:
            with httpx_sse.connect_sse(
                self._http, "GET", core.url, headers=core.request_headers()
            ) as source:
                response = source.response
                verdict = core.judge(response)
                if verdict is _Verdict.AUTH_FAILED:
                    response.read()
                if verdict is not _Verdict.STREAM:
                    return core.refused(response, verdict)
                with self._response_lock:
                    # close() reads the response under this lock after flagging: either it
                    # interrupts this read, or this thread sees the flag.
                    if self._closing.is_set():
                        return None
                    self._response = response
                self._connected.set()
                self._answered.set()
                parser = _EventParser()
                for chunk in response.iter_bytes():
                    for event in parser.feed(chunk):
                        if core.own_pending(event):
                            grace = time.monotonic() + OWN_WRITE_GRACE
                            while core.own_pending(event) and time.monotonic() < grace:
                                self._closing.wait(_GRACE_STEP)
                        core.handle(event)
            return core.ended(None)
        except Exception as err:
            return core.ended(err)
        finally:
            with self._response_lock:
                self._response = None


def _interrupt(response: httpx.Response) -> None:
    """Wake the thread blocked reading ``response``: shut its socket down (closing it alone
    does not wake a blocked read), or close the response where there is no socket."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return
    with suppress(Exception):
        response.close()


class AsyncPushListener(_ListenerBase["AsyncGamifyClient", httpx.AsyncClient], LoopLink):
    """The listener of an :class:`~gamify_client.AsyncGamifyClient`: a task on the running
    loop, where the events are applied. The same options as :class:`PushListener`."""

    def _new_http(self, timeout: httpx.Timeout) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout)

    def _open(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._answered = asyncio.Event()
        self._connected = asyncio.Event()

    async def start(self, timeout: float | None = None) -> Self:  # noqa: ASYNC109
        """Start the task and wait for the backend's first answer (up to ``timeout``
        seconds, by default the client's timeout). Raises the typed error when the backend
        refuses the token (401, 403). Idempotent."""
        if self._task is not None:
            return self
        if self._core.closed:
            raise RuntimeError("this listener was closed")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gamify-push")
        await wait_set(self._answered, self._core.answer_timeout(timeout))
        if (error := self._core.auth_error) is not None:
            await self.close()
            raise error
        return self

    async def close(self) -> None:
        """Stop listening. Idempotent."""
        if self._core.closed:
            return
        self._core.stop()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._owns_http:
            await self._http.aclose()

    async def _run(self) -> None:
        while True:
            delay = await self._connect_once()
            self._connected.clear()
            self._answered.set()
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def _connect_once(self) -> float | None:
        core = self._core
        try:
            async with httpx_sse.aconnect_sse(
                self._http, "GET", core.url, headers=core.request_headers()
            ) as source:
                response = source.response
                verdict = core.judge(response)
                if verdict is _Verdict.AUTH_FAILED:
                    await response.aread()
                if verdict is not _Verdict.STREAM:
                    return core.refused(response, verdict)
                self._connected.set()
                self._answered.set()
                parser = _EventParser()
                async for chunk in response.aiter_bytes():
                    for event in parser.feed(chunk):
                        if core.own_pending(event):
                            grace = time.monotonic() + OWN_WRITE_GRACE
                            # The client's own answer is handled by another task of this loop.
                            while core.own_pending(event) and time.monotonic() < grace:  # noqa: ASYNC110
                                await asyncio.sleep(_GRACE_STEP)
                        core.handle(event)
            return core.ended(None)
        except Exception as err:
            return core.ended(err)
