"""Fault injection and request recording, through the in-process transport (sync and async)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gamify_client.testing import DemoData, GamifyBackend

from ._api_support import bearer_for

BASE = "http://gamify.test"


def task_payload(demo: DemoData, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "d",
        "details": "d",
        "category": demo.category_ids[0],
        "difficulty": "Easy",
        "batch": demo.batch_id,
    }


def task_names(api: httpx.Client) -> list[str]:
    return [task["name"] for task in api.get("/api/task/all").json()]


def test_status_fault_applies_once_then_service_recovers(
    backend: GamifyBackend, api: httpx.Client
) -> None:
    rule = backend.faults.add(503)
    failed = api.get("/")
    assert failed.status_code == 503
    assert failed.json() == {"message": "Service Unavailable"}
    assert api.get("/").status_code == 200
    assert rule.hits == 1
    assert len(backend.faults) == 0


def test_fault_matches_route_prefix_and_method(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(502, times=2, route="/api/task", method="get")
    assert api.get("/").status_code == 200
    staff = bearer_for(backend, demo.admin.id)
    created = api.post("/api/task/create", json=task_payload(demo, "x"), headers=staff)
    assert created.status_code == 201
    assert api.get("/api/task/all").status_code == 502
    assert api.get(f"/api/task/{demo.task_ids[0]}").status_code == 502
    assert api.get("/api/task/all").status_code == 200


def test_fault_matches_regex_route(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(500, times=None, route=re.compile(r"/submit$"))
    assert api.get("/api/task/all").status_code == 200
    for task_id in demo.task_ids[:2]:
        response = api.post(
            f"/api/task/{task_id}/submit",
            json={"userId": demo.users[0].id, "submissionType": "Link", "value": "v"},
            headers=bearer_for(backend, demo.users[0].id),
        )
        assert response.status_code == 500
    assert len(backend.faults.rules) == 1
    backend.faults.clear()
    assert backend.faults.rules == []


def test_retry_after_and_custom_bodies(backend: GamifyBackend, api: httpx.Client) -> None:
    backend.faults.add(429, retry_after=2, body={"message": "slow down"})
    limited = api.get("/")
    assert limited.headers["retry-after"] == "2"
    assert limited.json() == {"message": "slow down"}
    backend.faults.add(502, body=b"<html>bad gateway</html>")
    assert api.get("/").content == b"<html>bad gateway</html>"


def test_drop_closes_without_response_and_without_writing(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(drop=True, route="/api/task/create")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(
            "/api/task/create",
            json=task_payload(demo, "Dropped"),
            headers=bearer_for(backend, demo.admin.id),
        )
    assert "Dropped" not in task_names(api)
    assert backend.requests[0].status is None


def test_drop_after_processing_keeps_the_write(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(drop=True, process=True, route="/api/task/create")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(
            "/api/task/create",
            json=task_payload(demo, "Written"),
            headers=bearer_for(backend, demo.admin.id),
        )
    assert task_names(api).count("Written") == 1


def test_status_after_processing_keeps_the_write(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(500, process=True, method="POST")
    kept = api.post(
        "/api/task/create",
        json=task_payload(demo, "Kept"),
        headers=bearer_for(backend, demo.admin.id),
    )
    assert kept.status_code == 500
    assert task_names(api).count("Kept") == 1


def test_refuse_raises_connect_error(backend: GamifyBackend, api: httpx.Client) -> None:
    backend.faults.add(refuse=True)
    with pytest.raises(httpx.ConnectError):
        api.get("/")
    assert api.get("/").status_code == 200


def test_malformed_body_is_truncated_json(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(malformed=True, route="/api/task/all")
    response = api.get("/api/task/all")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert len(api.get("/api/task/all").json()) == 4


def test_latency_in_a_sync_client_still_answers(backend: GamifyBackend, api: httpx.Client) -> None:
    rule = backend.faults.add(latency=0.01)
    assert api.get("/").status_code == 200
    assert rule.hits == 1


async def test_latency_does_not_block_the_event_loop(backend: GamifyBackend) -> None:
    backend.faults.add(latency=30, route="/api/task/all")
    async with httpx.AsyncClient(transport=backend.transport(), base_url=BASE) as client:
        slow = asyncio.create_task(client.get("/api/task/all"))
        fast = asyncio.create_task(client.get("/"))
        done, _ = await asyncio.wait({slow, fast}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {fast}
        assert fast.result().status_code == 200
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow


async def test_async_client_gets_async_drop_and_status(backend: GamifyBackend) -> None:
    backend.faults.add(drop=True)
    backend.faults.add(504)
    async with httpx.AsyncClient(transport=backend.transport(), base_url=BASE) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/")
        assert (await client.get("/")).status_code == 504
        assert (await client.get("/")).status_code == 200


async def test_async_client_submits(backend: GamifyBackend, demo: DemoData) -> None:
    async with httpx.AsyncClient(transport=backend.transport(), base_url=BASE) as client:
        response = await client.post(
            f"/api/task/{demo.task_ids[0]}/submit",
            json={"userId": demo.users[0].id, "submissionType": "Link", "value": "v"},
            headers=bearer_for(backend, demo.users[0].id),
        )
    assert response.json()["realTimeData"]["newTotalXP"] == 100


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"status": 500, "drop": True},
        {"drop": True, "refuse": True},
        {"latency": 0.1, "process": True},
        {"latency": 0.1, "retry_after": 1},
        {"status": 500, "times": 0},
        {"latency": -1},
    ],
)
def test_contradictory_or_empty_faults_are_refused(
    backend: GamifyBackend, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        backend.faults.add(**options)


def test_requests_are_recorded(backend: GamifyBackend, demo: DemoData, api: httpx.Client) -> None:
    backend.faults.add(503, route="/api/task/all")
    api.get("/api/task/all")
    api.get(
        "/api/task/submissions",
        params={"taskId": demo.task_ids[0], "userId": demo.users[0].id},
        headers=bearer_for(backend, demo.users[0].id),
    )
    api.get("/api/nothing")
    log = backend.requests.snapshot()
    assert [(entry.method, entry.path, entry.status) for entry in log] == [
        ("GET", "/api/task/all", 503),
        ("GET", "/api/task/submissions", 200),
        ("GET", "/api/nothing", 404),
    ]
    assert [entry.faulted for entry in log] == [True, False, False]
    assert log[1].query == f"taskId={demo.task_ids[0]}&userId={demo.users[0].id}"
    assert log[0].time.tzinfo is not None
    assert backend.requests.count("get", "/api/task/all") == 1
    assert backend.requests.count() == 3
    backend.requests.clear()
    assert len(backend.requests) == 0


def test_recorded_time_comes_from_the_clock() -> None:
    moment = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    with (
        GamifyBackend(clock=lambda: moment) as backend,
        httpx.Client(transport=backend.transport(), base_url=BASE) as api,
    ):
        api.get("/")
        assert backend.requests[0].time == moment


def test_naive_clock_is_refused() -> None:
    with (
        GamifyBackend(clock=datetime.now) as backend,
        httpx.Client(transport=backend.transport(), base_url=BASE) as api,
        pytest.raises(ValueError, match="aware"),
    ):
        api.get("/")
