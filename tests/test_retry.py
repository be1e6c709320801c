"""The retry rules: what is retried, how often, after how long; never a duplicated write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from gamify_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncGamifyClient,
    BadRequestError,
    ClientConfig,
    GamifyClient,
    InternalServerError,
    RateLimitError,
)
from gamify_client._retry import RetryPolicy, parse_retry_after

from .conftest import BASE_URL

TASKS_URL = f"{BASE_URL}/api/task/all"
CREATE_URL = f"{BASE_URL}/api/task/create"
DELETE_URL = f"{BASE_URL}/api/task/delete/{'a' * 24}"
TASK = {"_id": "a" * 24, "name": "Write a parser", "points": 100}
CREATE_FIELDS: dict[str, Any] = {
    "name": "n",
    "description": "d",
    "details": "x",
    "category": "c" * 24,
    "difficulty": "Easy",
}


class Recorder:
    """Stands in for the client's sleep so that tests see every backoff without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def sync_client(config: ClientConfig, recorder: Recorder, **kw: Any) -> GamifyClient:
    client = GamifyClient(config=config, **kw)
    client._sleep = recorder
    return client


def run_both(config: ClientConfig, call: Callable[[Any], Any]) -> list[Any]:
    """``call`` with the sync client, then awaited with the async one; both results."""
    with sync_client(config, Recorder()) as client:
        sync_result = call(client)

    async def run_async() -> Any:
        async with AsyncGamifyClient(config=config) as client:
            client._sleep = Recorder().asleep
            return await call(client)

    return [sync_result, asyncio.run(run_async())]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_get_is_retried_on_transient_statuses(config: ClientConfig, status: int) -> None:
    with respx.mock:
        route = respx.get(TASKS_URL).mock(
            side_effect=[
                httpx.Response(status, json={"message": "busy"}),
                httpx.Response(200, json=[TASK]),
            ]
            * 2
        )
        results = run_both(config, lambda client: client.tasks.list())
    assert route.call_count == 4
    assert [r[0].name for r in results] == ["Write a parser", "Write a parser"]


def test_get_gives_up_after_max_retries_and_reports_them(config: ClientConfig) -> None:
    with respx.mock:
        route = respx.get(TASKS_URL).mock(
            return_value=httpx.Response(503, json={"message": "down"})
        )
        client = sync_client(config.replace(max_retries=3), Recorder())
        with pytest.raises(InternalServerError) as caught:
            client.tasks.list()
    assert route.call_count == 4
    assert caught.value.retries == 3
    assert caught.value.status_code == 503
    assert caught.value.message == "down"


async def test_async_get_gives_up_after_max_retries(config: ClientConfig) -> None:
    recorder = Recorder()
    with respx.mock:
        route = respx.get(TASKS_URL).mock(
            return_value=httpx.Response(504, json={"message": "slow"})
        )
        async with AsyncGamifyClient(config=config.replace(max_retries=2)) as client:
            client._sleep = recorder.asleep
            with pytest.raises(InternalServerError) as caught:
                await client.tasks.list()
    assert route.call_count == 3
    assert caught.value.retries == 2
    assert len(recorder.waits) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_4xx_are_never_retried(config: ClientConfig, status: int) -> None:
    with respx.mock:
        route = respx.get(TASKS_URL).mock(
            return_value=httpx.Response(status, json={"message": "no"})
        )
        client = sync_client(config, Recorder())
        with pytest.raises(APIStatusError) as caught:
            client.tasks.list()
    assert route.call_count == 1
    assert getattr(caught.value, "status_code", None) == status


def test_500_on_get_is_not_retried(config: ClientConfig) -> None:
    with respx.mock:
        route = respx.get(TASKS_URL).mock(return_value=httpx.Response(500, json={"message": "bug"}))
        with pytest.raises(InternalServerError):
            sync_client(config, Recorder()).tasks.list()
    assert route.call_count == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_post_that_reached_the_server_is_never_retried(config: ClientConfig, status: int) -> None:
    # The real service writes the task and then answers 500 (CONTRACT.md, defect 1).
    with respx.mock:
        route = respx.post(CREATE_URL).mock(
            return_value=httpx.Response(status, json={"message": "Failed to create task"})
        )
        client = sync_client(config, Recorder())
        with pytest.raises(APIStatusError) as caught:
            client.tasks.create(**CREATE_FIELDS)
    assert route.call_count == 1
    assert getattr(caught.value, "status_code", None) == status
    assert getattr(caught.value, "retries", None) == 0


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout("read"), httpx.ReadError("reset"), httpx.RemoteProtocolError("eof")]
)
def test_post_is_not_retried_when_the_request_may_have_arrived(
    config: ClientConfig, error: Exception
) -> None:
    with respx.mock:
        route = respx.post(CREATE_URL).mock(side_effect=error)
        with pytest.raises(APIConnectionError) as caught:
            sync_client(config, Recorder()).tasks.create(**CREATE_FIELDS)
    assert route.call_count == 1
    assert caught.value.request_sent is True


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
def test_post_is_retried_when_it_never_left(config: ClientConfig, error: Exception) -> None:
    created = {"success": True, "task": TASK, "message": "Task created"}
    with respx.mock:
        route = respx.post(CREATE_URL).mock(
            side_effect=[error, httpx.Response(201, json=created)] * 2
        )
        results = run_both(config, lambda client: client.tasks.create(**CREATE_FIELDS))
    assert [r.data.id for r in results] == [TASK["_id"], TASK["_id"]]
    assert route.call_count == 4


def test_patch_is_not_retried_on_503(config: ClientConfig) -> None:
    url = f"{BASE_URL}/api/user/{'b' * 24}/points"
    with respx.mock:
        route = respx.patch(url).mock(return_value=httpx.Response(503, json={"message": "x"}))
        with pytest.raises(InternalServerError):
            sync_client(config, Recorder()).users.update_points("b" * 24, xps=5)
    assert route.call_count == 1


def test_put_and_delete_are_retried(config: ClientConfig) -> None:
    start_url = f"{BASE_URL}/api/task/start/{'a' * 24}"
    with respx.mock:
        start = respx.put(start_url).mock(
            side_effect=[httpx.Response(502), httpx.Response(200, json=TASK)]
        )
        delete = respx.delete(DELETE_URL).mock(
            side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=TASK)]
        )
        client = sync_client(config, Recorder())
        assert client.tasks.start("a" * 24).data.id == "a" * 24
        assert client.tasks.delete("a" * 24).data.id == "a" * 24
    assert start.call_count == 2
    assert delete.call_count == 2


def test_get_timeout_is_retried_then_raised_as_timeout(config: ClientConfig) -> None:
    with respx.mock:
        route = respx.get(TASKS_URL).mock(side_effect=httpx.ReadTimeout("too slow"))
        with pytest.raises(APITimeoutError) as caught:
            sync_client(config.replace(max_retries=1), Recorder()).tasks.list()
    assert route.call_count == 2
    assert caught.value.retries == 1
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert "timed out" in caught.value.message


def test_retry_after_seconds_is_honoured(config: ClientConfig) -> None:
    recorder = Recorder()
    with respx.mock:
        respx.get(TASKS_URL).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
                httpx.Response(200, json=[TASK]),
            ]
        )
        sync_client(config, recorder).tasks.list()
    assert recorder.waits == [7.0]


def test_retry_after_beyond_the_cap_falls_back_to_backoff(config: ClientConfig) -> None:
    recorder = Recorder()
    settings = config.replace(retry_backoff=0.25, retry_backoff_max=1.0)
    with respx.mock:
        respx.get(TASKS_URL).mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "3600"}),
                httpx.Response(200, json=[TASK]),
            ]
        )
        sync_client(settings, recorder).tasks.list()
    assert len(recorder.waits) == 1
    assert 0 <= recorder.waits[0] <= 0.25


async def test_async_retry_after_is_honoured(config: ClientConfig) -> None:
    recorder = Recorder()
    with respx.mock:
        respx.get(TASKS_URL).mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "2"}),
                httpx.Response(200, json=[TASK]),
            ]
        )
        async with AsyncGamifyClient(config=config) as client:
            client._sleep = recorder.asleep
            await client.tasks.list()
    assert recorder.waits == [2.0]


def test_rate_limit_error_exposes_retry_after(config: ClientConfig) -> None:
    with respx.mock:
        respx.get(TASKS_URL).mock(
            return_value=httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "x"})
        )
        with pytest.raises(RateLimitError) as caught:
            sync_client(config.replace(max_retries=0), Recorder()).tasks.list()
    assert caught.value.retry_after == 1.0
    assert caught.value.retries == 0


def test_max_retries_zero_makes_one_attempt(config: ClientConfig) -> None:
    with respx.mock:
        route = respx.get(TASKS_URL).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(APIConnectionError) as caught:
            sync_client(config.replace(max_retries=0), Recorder()).tasks.list()
    assert route.call_count == 1
    assert caught.value.request_sent is False


def test_bad_request_is_raised_at_once(config: ClientConfig) -> None:
    url = f"{BASE_URL}/api/task/{'a' * 24}/submit"
    body = {"message": "Task already submitted", "submission": {"_id": "c" * 24}}
    with respx.mock:
        route = respx.post(url).mock(return_value=httpx.Response(400, json=body))
        with pytest.raises(BadRequestError) as caught:
            sync_client(config, Recorder()).tasks.submit(
                "a" * 24, user_id="b" * 24, submission_type="Link", value="x"
            )
    assert route.call_count == 1
    assert caught.value.body == body


class TestBackoff:
    """The policy on its own: full jitter below a doubling ceiling."""

    def test_full_jitter_stays_under_the_doubling_ceiling(self) -> None:
        policy = RetryPolicy(max_retries=5, backoff=0.5, backoff_max=4.0, retry_after_max=60)
        for retry_number, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
            delays = [policy.delay(retry_number, None) for _ in range(200)]
            assert all(0 <= d <= ceiling for d in delays)
            assert max(delays) > ceiling / 2

    def test_retry_after_http_date(self) -> None:
        headers = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"})
        assert parse_retry_after(headers, now=1445412480.0) == pytest.approx(10.0)

    def test_retry_after_garbage_is_ignored(self) -> None:
        assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
        assert parse_retry_after(httpx.Headers()) is None

    def test_only_sdk_errors_are_retried(self) -> None:
        policy = RetryPolicy(max_retries=5, backoff=0.5, backoff_max=4.0, retry_after_max=60)
        assert policy.should_retry("GET", ValueError("boom")) is False
