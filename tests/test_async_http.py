"""The async client's own pool (``_async_http``): each distinct URL string is parsed once, and
a request built from a kept parse is the request httpx builds from the string."""

from __future__ import annotations

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from gamify_client import AsyncGamifyClient, GamifyError
from gamify_client._async_http import PARSED_URLS_KEPT, PoolClient
from gamify_client._urls import parsed_url

BASE_URL = "http://gamify.test"


def _built(client: httpx.AsyncClient, url: str) -> httpx.Request | type[Exception]:
    try:
        return client.build_request("GET", url, headers={"Authorization": "Bearer a.b.c"})
    except Exception as exc:
        return type(exc)


@given(st.text(max_size=40))
def test_a_request_is_the_one_httpx_builds_from_the_string(path: str) -> None:
    url = f"{BASE_URL}/api/task/{path}"
    ours, plain = PoolClient(), httpx.AsyncClient()
    for _ in range(2):  # the second time from the kept parse
        built, expected = _built(ours, url), _built(plain, url)
        if isinstance(expected, httpx.Request):
            assert isinstance(built, httpx.Request)
            assert (built.url, built.headers.raw) == (expected.url, expected.headers.raw)
        else:
            assert built is expected


def test_a_url_seen_again_is_not_parsed_again() -> None:
    client = PoolClient()
    url = f"{BASE_URL}/api/task/seen-again"
    client.build_request("GET", url)
    before = parsed_url.cache_info()
    for _ in range(3):
        client.build_request("GET", url)
    after = parsed_url.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
    assert after.maxsize == PARSED_URLS_KEPT


async def test_the_client_sends_a_url_it_parsed_before_to_the_same_route() -> None:
    with respx.mock:
        route = respx.get(f"{BASE_URL}/api/task/all").mock(
            return_value=httpx.Response(200, json=[])
        )
        async with AsyncGamifyClient(base_url=BASE_URL) as client:
            for _ in range(3):
                assert await client.tasks.list() == []
    assert route.call_count == 3
    assert all(call.request.url == f"{BASE_URL}/api/task/all" for call in route.calls)


async def test_a_url_httpx_refuses_is_a_typed_error_every_time() -> None:
    async with AsyncGamifyClient(base_url=BASE_URL, max_retries=0) as client:
        for _ in range(2):
            with pytest.raises(GamifyError):
                await client.tasks.get("a\x00b")
