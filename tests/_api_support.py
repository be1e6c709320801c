"""What the per-area API tests share: one test body for the sync and the async client, against
respx (the real service's payloads) or against the reference backend."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from gamify_client import APIStatusError, AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.testing import DEMO_PASSWORD, GamifyBackend

BASE_URL = "http://gamify.test"


class Api:
    """One client, sync or async, called the same way: ``api(lambda c: c.tasks.list())``
    returns the result, awaiting it on a private loop for the async client."""

    def __init__(
        self, client: GamifyClient | AsyncGamifyClient, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        self.client = client
        self._loop = loop

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        outcome = call(self.client)
        if self._loop is None:
            return outcome
        assert inspect.iscoroutine(outcome), "the async client must return a coroutine"
        return self._loop.run_until_complete(outcome)

    def close(self) -> None:
        if isinstance(self.client, GamifyClient):
            self.client.close()
        elif self._loop is not None:
            self._loop.run_until_complete(self.client.close())


ApiFactory = Callable[..., Api]


@pytest.fixture(params=["sync", "async"])
def make_api(request: pytest.FixtureRequest) -> Iterator[ApiFactory]:
    """Builds clients of the parametrised flavour: ``make_api()`` for respx, ``make_api(
    backend=b, token=t)`` in-process against a reference backend. All are closed after the
    test."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[Api] = []

    def make(
        *, backend: GamifyBackend | None = None, token: str | None = None, max_retries: int = 0
    ) -> Api:
        config = ClientConfig(
            base_url=BASE_URL, max_retries=max_retries, task_completion_delay=0, retry_backoff=0
        )
        client: GamifyClient | AsyncGamifyClient
        if loop is None:
            http = httpx.Client(transport=backend.transport()) if backend else None
            client = GamifyClient(config=config, token=token, http_client=http)
        else:
            ahttp = httpx.AsyncClient(transport=backend.transport()) if backend else None
            client = AsyncGamifyClient(config=config, token=token, http_client=ahttp)
        made.append(Api(client, loop))
        return made[-1]

    yield make
    for api in made:
        api.close()
    if loop is not None:
        loop.close()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as mock:
        yield mock


def last_request(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    return route.calls.last.request


def sent_json(route: respx.Route) -> Any:
    request = last_request(route)
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


def error_body(error: APIStatusError) -> dict[str, Any]:
    """The JSON body an error kept, as a dict."""
    assert isinstance(error.body, dict)
    return error.body


def express_page(status_text: str) -> str:
    """Express's HTML error page around ``status_text``."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
        f"</head>\n<body>\n<pre>{status_text}</pre>\n</body>\n</html>\n"
    )


def seeded_admin_headers(api: httpx.Client) -> dict[str, str]:
    """The Bearer header of the demo data's admin (``GamifyBackend.seed_demo``): staff may
    create tasks and categories and act for a learner on the fixed backend."""
    response = api.post(
        "/api/user/login",
        json={"email": "admin@demo.gamify", "password": DEMO_PASSWORD, "designation": "admin"},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def bearer_for(backend: GamifyBackend, user_id: str) -> dict[str, str]:
    """The Bearer header of ``user_id`` on ``backend`` (no login request needed)."""
    return {"Authorization": f"Bearer {backend.token_for(user_id)}"}
