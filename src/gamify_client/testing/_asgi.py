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

from ._events_stream import LiveStreams
from ._exchange import ExchangeRunner

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BackendASGIApp:
    """Serves a :class:`GamifyBackend` over ASGI, with its faults applied."""

    def __init__(self, runner: ExchangeRunner, live_streams: LiveStreams | None = None) -> None:
        self._runner = runner
        self._live_streams = live_streams

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
        body = await _read_body(receive)
        headers = _headers(scope)
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
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
        if not any(key == b"content-length" for key, _ in raw_headers):
            raw_headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})


async def _run_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


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
        # Wait until the server has seen the close, so it does not answer in our place.
        await receive()
        return
    await send(
        {"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"1")]}
    )
