"""The reference backend over a real loopback socket (``backend.serve()``)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from gamify_client.testing import DemoData, GamifyBackend, ServerLimits

from ._api_support import bearer_for

THREADS = 8
SUBMISSIONS_PER_THREAD = 50
POINTS = 10


@pytest.fixture
def base_url(backend: GamifyBackend) -> Iterator[str]:
    with backend.serve() as url:
        yield url


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


def create_tasks(backend: GamifyBackend, demo: DemoData, count: int) -> list[str]:
    """Make ``count`` tasks in the demo batch, in-process (fast), worth POINTS each."""
    ids = []
    with httpx.Client(transport=backend.transport(), base_url="http://setup") as setup:
        for number in range(count):
            response = setup.post(
                "/api/task/create",
                json={
                    "name": f"Load {number}",
                    "description": "d",
                    "details": "d",
                    "category": demo.category_ids[0],
                    "difficulty": "Easy",
                    "batch": demo.batch_id,
                    "points": POINTS,
                },
                headers=bearer_for(backend, demo.admin.id),
            )
            ids.append(response.json()["task"]["_id"])
    backend.requests.clear()
    return ids


def test_serve_yields_a_loopback_url_that_answers(base_url: str, api: httpx.Client) -> None:
    assert base_url.startswith("http://127.0.0.1:")
    response = api.get("/")
    assert (response.status_code, response.text) == (200, "API is working!")
    assert response.headers["x-powered-by"] == "Express"


def test_representative_routes_over_the_socket(demo: DemoData, api: httpx.Client) -> None:
    login = api.post(
        "/api/user/login",
        json={
            "email": demo.users[0].email,
            "password": demo.users[0].password,
            "designation": "user",
            "adminId": demo.admin_id,
        },
    ).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert len(api.get("/api/task/all").json()) == 4
    submitted = api.post(
        f"/api/task/{demo.task_ids[0]}/submit",
        json={"userId": demo.users[0].id, "submissionType": "Link", "value": "v"},
        headers=headers,
    )
    assert submitted.status_code == 201
    assert submitted.json()["realTimeData"]["currentStreak"] == 1
    multipart = api.post(
        f"/api/task/{demo.task_ids[1]}/submit",
        data={"userId": demo.users[0].id},
        files={"file": ("notes.txt", b"hello")},
        headers=headers,
    )
    assert multipart.json()["submission"]["submissionType"] == "File Upload"
    dashboard = api.get("/api/batch-progress/dashboard/me", headers=headers).json()["dashboard"]
    assert dashboard["overallStats"]["userTotalXP"] == 250
    assert dashboard["overallStats"]["totalCompletedTasks"] == 2
    batches = api.get("/api/batches", headers=headers).json()
    assert [batch["_id"] for batch in batches] == [demo.batch_id]


def test_errors_keep_the_server_serving(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    bad_token = api.get(
        "/api/batch-progress/dashboard/me", headers={"Authorization": "Bearer nope"}
    )
    assert bad_token.status_code == 403
    assert api.get("/").status_code == 200
    missing_field = api.post(
        "/api/task/create", json={"name": "x"}, headers=bearer_for(backend, demo.admin.id)
    )
    assert (missing_field.status_code, missing_field.json()) == (
        400,
        {"message": "Missing required fields."},
    )
    assert api.get("/").status_code == 200
    unknown = api.get("/api/task/0123456789abcdef01234567")
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Task not found"})
    assert api.get("/").status_code == 200
    malformed = api.post(
        "/api/batch-progress/submit-task",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (malformed.status_code, malformed.json()) == (
        400,
        {"message": "Malformed request body"},
    )
    assert api.get("/").status_code == 200
    assert api.get("/api/task/bad-id").status_code == 404
    assert api.get("/nowhere").status_code == 404
    assert api.get("/").status_code == 200


def test_cors_preflight_over_the_socket(api: httpx.Client) -> None:
    response = api.options(
        "/api/batches",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert response.headers["access-control-allow-credentials"] == "true"


def test_concurrent_submissions_leave_xp_and_progress_exact(
    backend: GamifyBackend, demo: DemoData, base_url: str
) -> None:
    total = THREADS * SUBMISSIONS_PER_THREAD
    task_ids = create_tasks(backend, demo, total)
    user = demo.users[0]
    shares = [task_ids[n::THREADS] for n in range(THREADS)]
    token = bearer_for(backend, user.id)

    def submit_share(share: list[str]) -> list[dict[str, Any]]:
        answers = []
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for task_id in share:
                response = client.post(
                    f"/api/task/{task_id}/submit",
                    json={"userId": user.id, "submissionType": "Text Entry", "value": "done"},
                    headers=token,
                )
                assert response.status_code == 201, response.text
                answers.append(response.json()["realTimeData"])
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [answer for share in pool.map(submit_share, shares) for answer in share]

    assert len(answers) == total
    # Every submission saw its own, distinct step of the XP total: none was lost or doubled.
    assert sorted(answer["newTotalXP"] for answer in answers) == [
        POINTS * step for step in range(1, total + 1)
    ]
    with httpx.Client(base_url=base_url) as api:
        assert api.get(f"/api/user/{user.id}").json()["xps"] == POINTS * total
        progress = api.get(
            f"/api/batch-progress/user/{user.id}/{demo.batch_id}",
            headers={"Authorization": f"Bearer {backend.token_for(user.id)}"},
        ).json()["progress"]
    metrics = progress["progressMetrics"]
    assert metrics["totalTasks"] == total + 4
    assert metrics["completedTasks"] == total
    assert metrics["totalPointsEarned"] == POINTS * total
    assert metrics["completionPercentage"] == round(100 * total / (total + 4))
    completed = {e["taskId"]["_id"] for e in progress["taskProgress"] if e["status"] == "completed"}
    assert completed == set(task_ids)
    assert backend.requests.count("POST") == total


def test_faults_apply_over_the_socket(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(503, retry_after=1)
    unavailable = api.get("/")
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "1")
    backend.faults.add(malformed=True)
    with pytest.raises(json.JSONDecodeError):
        json.loads(api.get("/api/task/all").content)
    backend.faults.add(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/api/task/all")
    backend.faults.add(refuse=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/api/task/all")
    assert api.get("/").status_code == 200
    statuses = [entry.status for entry in backend.requests]
    assert statuses == [503, 200, None, None, 200]


def test_drop_after_processing_over_the_socket(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.faults.add(drop=True, process=True, route="/api/task/")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(
            f"/api/task/{demo.task_ids[0]}/submit",
            json={"userId": demo.users[0].id, "submissionType": "Link", "value": "v"},
            headers=bearer_for(backend, demo.users[0].id),
        )
    assert api.get(f"/api/user/{demo.users[0].id}").json()["xps"] == 100


async def test_latency_over_the_socket_does_not_stall_other_requests(
    backend: GamifyBackend, base_url: str
) -> None:
    backend.faults.add(latency=1, route="/api/task/all")
    async with httpx.AsyncClient(base_url=base_url) as client:
        slow = asyncio.create_task(client.get("/api/task/all"))
        fast = asyncio.create_task(client.get("/"))
        done, _ = await asyncio.wait({slow, fast}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {fast}
        assert (await slow).status_code == 200


def test_server_stops_on_exit(backend: GamifyBackend) -> None:
    with backend.serve() as url, httpx.Client(base_url=url) as client:
        assert client.get("/").status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=url) as client:
        client.get("/")


# Limits: a client that holds connections without using them cannot take the server down.


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (EOF or a reset)."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _connect(base_url: str) -> socket.socket:
    url = httpx.URL(base_url)
    return socket.create_connection((url.host, url.port), timeout=5)


@pytest.fixture(params=["httptools", "h11"])
def http_protocol(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's HTTP protocol: httptools where it is installed, and h11, as on a machine
    without it (its import then fails)."""
    if request.param == "h11":
        monkeypatch.setitem(sys.modules, "uvicorn.protocols.http.httptools_impl", None)
    return str(request.param)


@pytest.mark.usefixtures("http_protocol")
def test_sockets_that_never_send_a_byte_are_closed(backend: GamifyBackend) -> None:
    with backend.serve(limits=ServerLimits(request_head_timeout=0.5)) as url:
        sockets = [_connect(url) for _ in range(20)]
        try:
            started = time.monotonic()
            assert all(_closed_by_server(sock, within=5) for sock in sockets)
            assert time.monotonic() - started < 3
            assert httpx.get(f"{url}/", timeout=5).text == "API is working!"
        finally:
            for sock in sockets:
                sock.close()


@pytest.mark.usefixtures("http_protocol")
def test_a_header_trickle_is_cut(backend: GamifyBackend) -> None:
    with backend.serve(limits=ServerLimits(request_head_timeout=0.5)) as url:
        sock = _connect(url)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            cut = False
            while time.monotonic() - started < 5 and not cut:
                try:
                    sock.sendall(b"X")
                except OSError:
                    cut = True
                    break
                cut = _closed_by_server(sock, within=0.1)
            assert cut
            assert time.monotonic() - started < 3
        finally:
            sock.close()


@pytest.mark.usefixtures("http_protocol")
def test_connections_beyond_the_cap_are_closed_at_once(backend: GamifyBackend) -> None:
    with backend.serve(limits=ServerLimits(max_connections=5)) as url:
        sockets = [_connect(url) for _ in range(8)]
        try:
            # The server closes the three beyond the cap as it accepts them; the five under it
            # stay open (each is given a moment to show it is not closed).
            closed = [_closed_by_server(sock, within=0.5) for sock in sockets]
            assert closed.count(True) == 3
            for sock in sockets:
                sock.close()
            # Once it has seen those closes, the server takes new connections again.
            deadline = time.monotonic() + 5
            while True:
                try:
                    response = httpx.get(f"{url}/", timeout=5)
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    continue
                break
            assert response.status_code == 200
        finally:
            for sock in sockets:
                sock.close()


def test_a_body_that_trickles_in_gets_408(backend: GamifyBackend) -> None:
    with backend.serve(limits=ServerLimits(body_timeout=0.5)) as url:
        sock = _connect(url)
        try:
            sock.sendall(
                b"POST /api/task/create HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            sock.settimeout(5)
            assert sock.recv(1024).startswith(b"HTTP/1.1 408")
        finally:
            sock.close()


def test_an_oversized_body_gets_413_without_being_read_whole(
    backend: GamifyBackend, base_url: str
) -> None:
    body = b'{"name": "' + b"x" * (200 * 1024) + b'"}'
    response = httpx.post(
        f"{base_url}/api/task/create",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert (response.status_code, response.json()) == (413, {"message": "Request body too large"})


def test_the_server_runs_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed here (the server extra)")
    from gamify_client.testing._server import serve_app

    loops: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        loops.append(type(asyncio.get_running_loop()).__module__)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve_app(app) as url:
        assert httpx.get(url, timeout=10).text == "ok"
    assert loops and loops[0].startswith("uvloop")
