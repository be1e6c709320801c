"""Running one scenario with either client: the sync client's calls as they are, the async
client's on a private loop, so that a test written once covers both flavours."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.testing import GamifyBackend

Client = GamifyClient | AsyncGamifyClient
Handler = Callable[[httpx.Request], httpx.Response | None]


class Harness:
    """Makes clients of one flavour against the backend, each behind a transport that may
    answer a request itself (``intercept``) before the backend does, and runs their calls:
    the async client's on a private loop, so that one scenario serves both flavours."""

    def __init__(self, flavour: str, backend: GamifyBackend, config: ClientConfig) -> None:
        self.flavour = flavour
        self.backend = backend
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.clients: list[Client] = []
        self.intercept: Handler = lambda request: None

    def client(self, user_id: str, **options: Any) -> Client:
        inner = self.backend.transport()

        def handle(request: httpx.Request) -> httpx.Response:
            answer = self.intercept(request)
            return answer if answer is not None else inner.handle_request(request)

        transport = httpx.MockTransport(handle)
        config = self.config.replace(token=self.backend.token_for(user_id))
        client: Client
        if self.flavour == "sync":
            client = GamifyClient(
                config=config, http_client=httpx.Client(transport=transport), **options
            )
        else:
            client = AsyncGamifyClient(
                config=config, http_client=httpx.AsyncClient(transport=transport), **options
            )
        self.clients.append(client)
        return client

    def run(self, fn: Callable[[], Any]) -> Any:
        """``fn()``, awaited if it gives an awaitable (inside the loop, for the async flavour,
        so that live queries find it running)."""
        if self.flavour == "sync":
            return fn()

        async def go() -> Any:
            result = fn()
            return await result if inspect.isawaitable(result) else result

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        for client in self.clients:
            self.run(client.close)
        self.loop.close()


FLAVOURS = ["sync", "async"]


def open_harness(
    request: pytest.FixtureRequest, backend: GamifyBackend, config: ClientConfig
) -> Iterator[Harness]:
    """The body of a ``harness`` fixture parametrized over :data:`FLAVOURS`."""
    harness = Harness(str(request.param), backend, config)
    yield harness
    harness.close()
