"""The backend as a plain ASGI application, for uvicorn or any ASGI server.

A dropped connection is a close of the socket with no response at all. Under uvicorn the
app reaches the connection's transport through its ``send`` callable; under a server
where it cannot, it starts a response and never finishes it, which the client also sees
as the server going away. ``GET /api/events``, once the route accepted it, stays open and
streams events (``_events_stream.LiveStreams``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._bodies import body_limit
from ._events_stream import LiveStreams
from ._exchange import ExchangeRunner

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BackendASGIApp:
    """Serves a :class:`GamifyBackend` over ASGI, with its faults applied. A request body
    must arrive within ``body_timeout`` seconds (408 otherwise): a client that trickles one
    cannot hold the server."""

    def __init__(
        self,
        runner: ExchangeRunner,
        live_streams: LiveStreams | None = None,
        *,
        body_timeout: float = 30.0,
    ) -> None:
        self._runner = runner
        self._live_streams = live_streams
        self.body_timeout = body_timeout

    def close_streams(self) -> None:
        """End the open event streams and refuse new ones, so that the server can stop."""
        if self._live_streams is not None:
            self._live_streams.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        body = b""
        # A request that declares no body (most reads) has none to wait for: no timer to arm.
        if _declares_body(headers):
            try:
                async with asyncio.timeout(self.body_timeout):
                    body = await _read_body(receive, body_limit(headers.get("content-type", "")))
            except TimeoutError:
                await _send_whole(send, 408, b'{"message":"Request body timed out"}')
                return
        ticket = self._runner.begin(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")
        )
        if ticket.latency:
            await asyncio.sleep(ticket.latency)
        outcome = self._runner.finish(ticket, headers, body)
        if outcome.response is None:
            await _drop_connection(receive, send)
            return
        status, pairs, content = outcome.response
        if status == 200 and self._live_streams is not None and self._live_streams.handles(scope):
            await self._live_streams.serve(headers, outcome.response, receive, send)
            return
        await send(
            {"type": "http.response.start", "status": status, "headers": _raw(pairs, content)}
        )
        await send({"type": "http.response.body", "body": content})


async def _send_whole(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _run_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The request body, read no further than one byte over ``limit`` (the parser then
    refuses it: nobody makes the server hold more than a body's limit)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)[: limit + 1]


def _declares_body(headers: dict[str, str]) -> bool:
    """The request says a body follows: a chunked one, or a length other than 0."""
    return "transfer-encoding" in headers or headers.get("content-length", "0").strip() != "0"


_RawHeaders = tuple[tuple[bytes, bytes], ...]
_RAW_HEADERS: dict[tuple[tuple[tuple[str, str], ...], int], _RawHeaders] = {}
"""The answers' header lists as ASGI wants them (names in lower case, bytes), by their text and
the body's length: most answers repeat one of a few lists (a polled read the same one every
time), so each is encoded once. Cleared when it reaches :data:`_RAW_HEADERS_LIMIT` lists."""
_RAW_HEADERS_LIMIT = 1024


def _raw(pairs: list[tuple[str, str]], content: bytes) -> _RawHeaders:
    """The answer's headers for ASGI, with a ``Content-Length`` when the answer has none (a
    tuple: the same one goes to every answer that has these headers)."""
    key = (tuple(pairs), len(content))
    raw = _RAW_HEADERS.get(key)
    if raw is None:
        encoded = [(name.lower().encode("latin-1"), v.encode("latin-1")) for name, v in pairs]
        if not any(name == b"content-length" for name, _ in encoded):
            encoded.append((b"content-length", b"%d" % len(content)))
        raw = tuple(encoded)
        if len(_RAW_HEADERS) >= _RAW_HEADERS_LIMIT:
            _RAW_HEADERS.clear()
        _RAW_HEADERS[key] = raw
    return raw


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_key, raw_value in scope.get("headers", []):
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        separator = "; " if key == "cookie" else ", "
        headers[key] = f"{headers[key]}{separator}{value}" if key in headers else value
    return headers


async def _drop_connection(receive: Receive, send: Send) -> None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if isinstance(transport, asyncio.BaseTransport):
        transport.close()
        # Wait until the server has seen the close, so it does not answer in our place (a
        # request body nobody read may come first).
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    await send(
        {"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"1")]}
    )
