"""The retry rules: what is retried, how often, after how long; never a duplicated write."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from pathlib import Path
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
    GamifyError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from gamify_client._retry import RetryPolicy, parse_retry_after
from gamify_client.realtime import WRITES
from gamify_client.resources import ALL_WRITES
from gamify_client.resources.tasks import list_tasks, start_task
from gamify_client.resources.users import login_user

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
    # A restriction is a toggle: sent twice, it undoes itself.
    url = f"{BASE_URL}/api/user/restrict-user/{'b' * 24}"
    with respx.mock:
        route = respx.patch(url).mock(return_value=httpx.Response(503, json={"message": "x"}))
        with pytest.raises(InternalServerError):
            sync_client(config, Recorder()).users.restrict_user("b" * 24)
    assert route.call_count == 1


def test_task_start_is_not_repeated_after_it_may_have_arrived(config: ClientConfig) -> None:
    # PUT /api/task/start/:id counts every call: the method says nothing about a repeat.
    start_url = f"{BASE_URL}/api/task/start/{'a' * 24}"
    for failure in (httpx.Response(502), httpx.ReadTimeout("slow")):
        with respx.mock:
            start = respx.put(start_url).mock(side_effect=[failure, httpx.Response(200, json=TASK)])
            with pytest.raises(GamifyError):
                sync_client(config, Recorder()).tasks.start("a" * 24)
        assert start.call_count == 1


def test_a_write_that_never_left_is_retried_whatever_its_kind(config: ClientConfig) -> None:
    start_url = f"{BASE_URL}/api/task/start/{'a' * 24}"
    with respx.mock:
        start = respx.put(start_url).mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=TASK)]
        )
        assert sync_client(config, Recorder()).tasks.start("a" * 24).data.id == "a" * 24
    assert start.call_count == 2


def test_a_repeatable_write_is_retried_like_a_read(
    config: ClientConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WRITES["tasks.delete"], "repeatable", True)
    with respx.mock:
        delete = respx.delete(DELETE_URL).mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json=TASK)]
        )
        assert sync_client(config, Recorder()).tasks.delete("a" * 24).data.id == "a" * 24
    assert delete.call_count == 2


def test_a_write_not_marked_repeatable_is_sent_once(
    config: ClientConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WRITES["tasks.delete"], "repeatable", False)
    with respx.mock:
        delete = respx.delete(DELETE_URL).mock(
            side_effect=[httpx.ReadTimeout("lost"), httpx.Response(200, json=TASK)]
        )
        with pytest.raises(APITimeoutError):
            sync_client(config, Recorder()).tasks.delete("a" * 24)
    assert delete.call_count == 1


def test_the_decision_follows_the_calls_write_not_its_method() -> None:
    policy = RetryPolicy(max_retries=2, backoff=0.5, backoff_max=8.0, retry_after_max=60.0)
    lost = APITimeoutError(request_sent=True)
    never_sent = APIConnectionError(request_sent=False)
    read = list_tasks()
    start = start_task("a" * 24)
    assert policy.should_retry(read, lost)
    assert not policy.should_retry(start, lost)
    assert policy.should_retry(start, never_sent)
    login = login_user(email="a@b.c", password="pw", designation="admin")
    assert login.mutation is None
    assert not policy.should_retry(login, lost)
    assert policy.should_retry(login, never_sent)


@pytest.mark.parametrize("lost", [httpx.ReadTimeout("lost"), httpx.Response(502)])
def test_a_delete_whose_answer_was_lost_then_finds_nothing_has_succeeded(
    config: ClientConfig, monkeypatch: pytest.MonkeyPatch, lost: Any
) -> None:
    monkeypatch.setattr(WRITES["tasks.delete"], "repeatable", True)
    gone = httpx.Response(404, json={"message": "Task not found"})

    async def run_async() -> Any:
        async with AsyncGamifyClient(config=config) as client:
            client._sleep = Recorder().asleep
            return await client.tasks.delete("a" * 24)

    with respx.mock:
        delete = respx.delete(DELETE_URL).mock(side_effect=[lost, gone, lost, gone])
        results = [sync_client(config, Recorder()).tasks.delete("a" * 24), asyncio.run(run_async())]
    assert delete.call_count == 4
    for result in results:
        assert result.data is None
        assert result.message is not None


def test_a_delete_that_finds_nothing_at_once_is_not_found(config: ClientConfig) -> None:
    with respx.mock:
        respx.delete(DELETE_URL).mock(
            return_value=httpx.Response(404, json={"message": "Task not found"})
        )
        with pytest.raises(NotFoundError):
            sync_client(config, Recorder()).tasks.delete("a" * 24)


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
        assert policy.should_retry(list_tasks(), ValueError("boom")) is False


def test_the_docs_list_every_write_with_its_retry_class() -> None:
    tool = Path(__file__).resolve().parent.parent / "docs" / "_ext" / "retry_table.py"
    spec = importlib.util.spec_from_file_location("retry_table", tool)
    assert spec is not None and spec.loader is not None
    retry_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(retry_table)
    documented = retry_table.section(retry_table.PAGE.read_text())
    assert documented == retry_table.table(), "run: python docs/_ext/retry_table.py --write"
    for name, write in ALL_WRITES.items():
        assert f"| `{name}` |" in documented
        assert retry_table.retry_class(write) in documented
