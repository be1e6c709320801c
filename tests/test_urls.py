"""Both clients parse each distinct request URL once (``_urls.parsed_url``), whatever
``httpx`` client sends their calls, and still send each call to its own URL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import respx

from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client._urls import parsed_url

BASE_URL = "http://urls.test"


def _parses(calls: int, send: Callable[[], object]) -> tuple[int, int]:
    before = parsed_url.cache_info()
    for _ in range(calls):
        send()
    after = parsed_url.cache_info()
    return after.hits - before.hits, after.misses - before.misses


@respx.mock
def test_the_blocking_client_parses_a_url_once_even_on_a_client_of_your_own() -> None:
    route = respx.get(f"{BASE_URL}/api/task/all").respond(json=[])
    other = respx.get(f"{BASE_URL}/api/categories/all").respond(json=[])
    with GamifyClient(config=ClientConfig(base_url=BASE_URL), http_client=httpx.Client()) as client:
        client.tasks.list()  # the first parse
        assert _parses(3, client.tasks.list) == (3, 0)
        client.categories.list()
    assert route.call_count == 4 and other.call_count == 1


@respx.mock
def test_the_async_client_parses_a_url_once() -> None:
    route = respx.get(f"{BASE_URL}/api/task/all").respond(json=[])

    async def main() -> tuple[int, int]:
        async with AsyncGamifyClient(config=ClientConfig(base_url=BASE_URL)) as client:
            await client.tasks.list()
            before = parsed_url.cache_info()
            for _ in range(3):
                await client.tasks.list()
            after = parsed_url.cache_info()
            return after.hits - before.hits, after.misses - before.misses

    assert asyncio.run(main()) == (3, 0)
    assert route.call_count == 4
