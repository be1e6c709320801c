"""The backend as an ``httpx.MockTransport``, for ``httpx.Client`` and ``httpx.AsyncClient``.

The sync path waits injected latency with ``time.sleep``, the async path with
``asyncio.sleep``, so an async client's event loop keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from ._exchange import ExchangeRunner, Outcome, Ticket


class BackendTransport(httpx.MockTransport):
    """Serves requests from a :class:`GamifyBackend` in-process, with its faults applied."""

    def __init__(self, runner: ExchangeRunner) -> None:
        self._runner = runner
        super().__init__(self._serve)

    def _begin(self, request: httpx.Request) -> Ticket:
        return self._runner.begin(
            request.method, request.url.path, request.url.query.decode("ascii")
        )

    def _end(self, request: httpx.Request, ticket: Ticket) -> httpx.Response:
        outcome: Outcome = self._runner.finish(ticket, dict(request.headers), request.content)
        if outcome.failure == "refuse":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if outcome.response is None:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        status, headers, body = outcome.response
        return httpx.Response(status, headers=headers, content=body, request=request)

    def _serve(self, request: httpx.Request) -> httpx.Response:
        ticket = self._begin(request)
        if ticket.latency:
            time.sleep(ticket.latency)
        return self._end(request, ticket)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` for a sync client."""
        request.read()
        return self._serve(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` for an async client, sleeping without blocking the loop."""
        await request.aread()
        ticket = self._begin(request)
        if ticket.latency:
            await asyncio.sleep(ticket.latency)
        return self._end(request, ticket)
