"""Trust nothing from the wire: the reference backend refuses bodies it could not send back,
the SDK turns every failure into a typed error, bounds each call by its timeout, keeps its
secrets out of every message, and reads what the real service sends after deletes; a fuzz
test throws generated requests at every route."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamify_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncGamifyClient,
    ClientConfig,
    GamifyClient,
    GamifyError,
    ResponseValidationError,
)
from gamify_client.models import Batch, Category, Dashboard, Task
from gamify_client.testing import KNOWN_DEFECTS, DemoData, GamifyBackend
from gamify_client.testing._bodies import (
    JSON_LIMIT,
    MAX_JSON_DEPTH,
    MULTIPART_LIMIT,
    BodyTooLargeError,
    parse_body,
)
from gamify_client.testing._routes import ROUTES

from .conftest import BASE_URL

JSON = {"Content-Type": "application/json"}


def _strict_json(body: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(body, parse_constant=refuse)


def _auth(backend: GamifyBackend, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.token_for(user_id)}"}


def _client(backend: GamifyBackend, user_id: str | None = None, **kw: Any) -> GamifyClient:
    token = backend.token_for(user_id) if user_id is not None else None
    return GamifyClient(
        base_url="http://gamify.test",
        token=token,
        http_client=httpx.Client(transport=backend.transport()),
        **kw,
    )


# The body parser: what the backend stores it must be able to send back.


@pytest.mark.parametrize(
    "body",
    [
        b'{"xps": NaN}',
        b'{"xps": Infinity}',
        b'{"xps": -Infinity}',
        b'{"xps": 1e400}',
        b'{"xps": ' + b"9" * 5000 + b"}",
        b'{"name": "\\ud800"}',
        b'{"name": "caf\xe9"}',
        b'{"a": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}",
        b"[" * 100_000,
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity",
        "overflow",
        "huge-int",
        "lone-surrogate",
        "latin-1",
        "too-deep",
        "very-deep",
    ],
)
def test_a_body_the_backend_could_not_send_back_is_refused(
    backend: GamifyBackend, demo: DemoData, body: bytes
) -> None:
    user = demo.users[0].id
    path = f"/api/user/{user}/points"
    response = backend.handle("PATCH", path, "", {**JSON, **_auth(backend, user)}, body)
    assert (response.status, _strict_json(response.body)) == (
        400,
        {"message": "Malformed request body"},
    )
    profile = backend.handle("GET", f"/api/user/{user}", "", {}, b"")
    assert profile.status == 200
    assert _strict_json(profile.body)["xps"] == 0


def test_the_real_service_answers_a_malformed_body_with_its_html_page() -> None:
    with GamifyBackend(defects=["validation_500"]) as backend:
        response = backend.handle("POST", "/api/task/create", "", JSON, b'{"points": NaN}')
        too_large = backend.handle("POST", "/api/task/create", "", JSON, b"[" + b" " * JSON_LIMIT)
    assert response.status == 400 and b"<pre>Bad Request</pre>" in response.body
    assert too_large.status == 413 and b"request entity too large" in too_large.body


def test_bodies_are_limited_by_their_type(backend: GamifyBackend) -> None:
    response = backend.handle("POST", "/api/task/create", "", JSON, b"[" + b" " * JSON_LIMIT)
    assert (response.status, _strict_json(response.body)) == (
        413,
        {"message": "Request body too large"},
    )
    boundary = "b0undary"
    upload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n{'x' * (1024 * 1024)}\r\n--{boundary}--\r\n"
    ).encode()
    parsed = parse_body(f"multipart/form-data; boundary={boundary}", upload)
    assert len(parsed.files[0].content) == 1024 * 1024
    with pytest.raises(BodyTooLargeError):
        parse_body(f"multipart/form-data; boundary={boundary}", b" " * (MULTIPART_LIMIT + 1))


def test_large_integers_are_read_as_javascript_reads_them(backend: GamifyBackend) -> None:
    parsed = parse_body("application/json", b'{"small": 42, "large": 12345678901234567890}')
    assert parsed.fields == {"small": 42, "large": 1.2345678901234567e19}


# Every failure a caller can see is a GamifyError.


def test_a_deeply_nested_answer_is_a_validation_error(config: ClientConfig) -> None:
    with respx.mock:
        respx.get(f"{BASE_URL}/api/task/all").mock(
            return_value=httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
        )
        with pytest.raises(ResponseValidationError):
            GamifyClient(config=config).tasks.list()


def test_a_bad_content_encoding_is_a_typed_error(config: ClientConfig) -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            stream=httpx.ByteStream(b"this is not gzip"),
        )

    async def run_async() -> None:
        async with AsyncGamifyClient(config=config) as client:
            await client.tasks.list()

    with respx.mock:
        respx.get(f"{BASE_URL}/api/task/all").mock(side_effect=garbled)
        with pytest.raises(GamifyError):
            GamifyClient(config=config).tasks.list()
        with pytest.raises(GamifyError):
            asyncio.run(run_async())


@pytest.mark.parametrize(
    "failure",
    [
        httpx.TooManyRedirects("loop"),
        httpx.DecodingError("bad"),
        httpx.StreamConsumed(),
        httpx.LocalProtocolError("bad header"),
        httpx.UnsupportedProtocol("ftp"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_no_httpx_exception_escapes(config: ClientConfig, failure: Exception) -> None:
    with respx.mock:
        respx.get(f"{BASE_URL}/api/task/all").mock(side_effect=failure)
        with pytest.raises(GamifyError):
            GamifyClient(config=config.replace(max_retries=0)).tasks.list()


def test_a_url_httpx_refuses_is_a_typed_error(config: ClientConfig) -> None:
    with pytest.raises(GamifyError):
        GamifyClient(config=config).tasks.get("a\x00b")


# One deadline per call, however slowly the server answers.


class _TrickleHandler(socketserver.BaseRequestHandler):
    """Answers every request with a JSON array, one byte every 0.5 s."""

    answering = threading.Event()

    def handle(self) -> None:
        self.request.recv(65536)
        _TrickleHandler.answering.set()
        body = b"[" + b" " * 60 + b"]"
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            self.request.sendall(head.encode())
            for byte in body:
                self.request.sendall(bytes([byte]))
                time.sleep(0.5)
        except OSError:
            pass


@pytest.fixture
def trickle_url() -> Iterator[str]:
    _TrickleHandler.answering.clear()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TrickleHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_timeout_bounds_the_whole_call(trickle_url: str) -> None:
    async def run_async() -> None:
        async with AsyncGamifyClient(base_url=trickle_url, timeout=1.0, max_retries=0) as client:
            await client.tasks.list()

    with GamifyClient(base_url=trickle_url, timeout=1.0, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.tasks.list()
        assert time.monotonic() - started < 2.0
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        asyncio.run(run_async())
    assert time.monotonic() - started < 2.0


def test_a_background_fetch_never_outlives_close(trickle_url: str) -> None:
    client = GamifyClient(base_url=trickle_url, timeout=30.0, max_retries=2)
    query = client.use_tasks_data(refetch_interval=None)
    # The fetch is now reading the trickle on the scheduler thread.
    assert _TrickleHandler.answering.wait(5)
    thread = client.scheduler.thread
    assert thread is not None and thread.is_alive()
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 2.0
    assert not thread.is_alive()
    assert query.data is None


# No secret in any repr, str, message or log line.


def test_no_secret_shows_anywhere(
    backend: GamifyBackend, demo: DemoData, caplog: pytest.LogCaptureFixture
) -> None:
    token = backend.token_for(demo.admin.id)
    password = "s3cr3t-basic-pass"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    shown: list[object] = []
    with caplog.at_level(logging.DEBUG, logger="gamify_client"):
        config = ClientConfig(
            base_url=f"http://alice:{password}@127.0.0.1:{closed_port}",
            token=token,
            max_retries=2,
            retry_backoff=0,
            retry_backoff_max=0,
            default_headers={"Authorization": f"Bearer {token}"},
        )
        with GamifyClient(config=config) as unreachable:
            shown += [unreachable, unreachable.config]
            with pytest.raises(APIConnectionError) as caught:
                unreachable.tasks.list()
            shown += [caught.value, caught.value.message, caught.value.args]
        with _client(backend) as client:
            login = client.login(
                email=demo.admin.email, password=demo.admin.password, designation="admin"
            )
            shown += [login, client, client.config, client.tasks.list()[0]]
    texts = [repr(item) for item in shown] + [str(item) for item in shown]
    texts += [record.getMessage() for record in caplog.records]
    assert any("redacted" in text for text in texts)
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("request GET http://[redacted]@") for message in messages)
    assert any(message.startswith("retrying after") for message in messages)
    for text in texts:
        for secret in (token, login.token, password, demo.admin.password):
            assert secret not in text


# What the real service sends after deletes.


def test_models_take_null_references_everywhere_the_service_leaves_them() -> None:
    batch = Batch.model_validate(
        {"_id": "b" * 24, "users": [None, "u" * 24], "tasks": [None], "admin": None}
    )
    assert batch.users == [None, "u" * 24] and batch.tasks == [None]
    task = Task.model_validate({"_id": "t" * 24, "assignedTo": [None], "category": None})
    assert task.assigned_to == [None]
    assert Category.model_validate({"_id": "c" * 24, "tasks": [None, "t" * 24]}).tasks[0] is None
    dashboard = Dashboard.model_validate(
        {
            "batchProgress": [
                {
                    "userId": None,
                    "batchId": None,
                    "taskProgress": [{"taskId": None, "submissionId": None}],
                    "activityLog": [{"action": "task_completed", "taskId": None}],
                }
            ],
            "recentSubmissions": [{"_id": "s" * 24, "taskId": None, "userId": None}],
        }
    )
    assert dashboard.batch_progress[0].task_progress[0].task_id is None


def test_reads_parse_after_deletes_on_the_real_service() -> None:
    with GamifyBackend(defects=["no_cascade"]) as backend:
        demo = backend.seed_demo()
        learner = demo.users[0].id
        with _client(backend, learner) as user, _client(backend, demo.admin.id) as admin:
            user.tasks.submit(
                demo.task_ids[0], user_id=learner, submission_type="Text Entry", value="x"
            )
            admin.tasks.delete(demo.task_ids[0])
            dashboard = user.progress.dashboard()
            assert any(
                entry.task_id is None
                for progress in dashboard.batch_progress
                for entry in progress.task_progress
            )
            user.progress.user(learner, demo.batch_id)
            admin.progress.batch(demo.batch_id)
            admin.batches.list()
            admin.batches.get(demo.batch_id)


# Fuzz: generated bodies, ids and headers at every route.

_FIELDS = [
    "userId",
    "taskId",
    "batchId",
    "batch",
    "category",
    "name",
    "description",
    "details",
    "difficulty",
    "points",
    "xps",
    "email",
    "password",
    "designation",
    "rating",
    "content",
    "assignedTo",
    "tasks",
    "users",
    "mentor",
    "admin",
    "grade",
    "submissionType",
    "value",
    "answers",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _requests(draw: st.DrawFn, ids: list[str], tokens: list[str]) -> tuple[Any, ...]:
    route = draw(st.sampled_from(ROUTES))
    id_text = (
        st.sampled_from(ids) | st.text(max_size=30) | st.from_regex(r"[0-9a-f]{24}", fullmatch=True)
    )
    path = route.pattern
    for name in [part[1:] for part in path.split("/") if part.startswith(":")]:
        path = path.replace(f":{name}", quote(draw(id_text), safe="") or "x", 1)
    headers: dict[str, str] = {}
    token = draw(st.sampled_from(["", *tokens, "garbage.token.here"]))
    if token:
        headers["authorization"] = f"Bearer {token}"
    headers["content-type"] = draw(
        st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x", ""])
    )
    extra = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
    for name in draw(
        st.lists(
            st.sampled_from(["cookie", "last-event-id", "origin", "x-gamify-origin"]), max_size=2
        )
    ):
        headers[name] = draw(extra)
    fields = draw(st.dictionaries(st.sampled_from(_FIELDS), _json_values | id_text, max_size=6))
    raw = draw(st.binary(max_size=60))
    body = draw(
        st.sampled_from(
            [
                json.dumps(fields, allow_nan=True).encode("utf-8", "surrogatepass"),
                raw,
                b"",
            ]
        )
    )
    query = "&".join(
        f"{k}={quote(str(v))}"
        for k, v in draw(
            st.dictionaries(
                st.sampled_from(["taskId", "userId", "batchId", "limit"]), id_text, max_size=2
            )
        ).items()
    )
    return route.method, path, query, headers, body


def _is_route_failure(response: Any) -> bool:
    """A 500 as the contract documents it: a route's ``{message, error}`` (or ``{error}``),
    or Express's HTML page for a handler that throws outside its try."""
    if (response.header("content-type") or "").startswith("text/html"):
        return b"<pre>" in response.body
    body = _strict_json(response.body)
    return isinstance(body, dict) and ("message" in body or "error" in body)


@pytest.mark.parametrize("defects", ["none", "all"])
def test_fuzzed_requests_never_break_the_backend_or_the_sdk(defects: str) -> None:
    with GamifyBackend(defects=KNOWN_DEFECTS if defects == "all" else ()) as backend:
        demo = backend.seed_demo()
        ids = [demo.batch_id, *demo.task_ids, demo.admin.id, demo.users[0].id, demo.mentor.id]
        admin, learner, superadmin = (
            backend.token_for(user)
            for user in (demo.admin.id, demo.users[0].id, demo.superadmin.id)
        )
        tokens = [admin, admin, learner, learner, superadmin]
        failures: list[str] = []

        @settings(
            max_examples=800,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(_requests(ids, tokens))
        def send(request: tuple[Any, ...]) -> None:
            method, path, query, headers, body = request
            response = backend.handle(method, path, query, headers, body)
            if (response.header("content-type") or "").startswith("application/json"):
                _strict_json(response.body)
            if response.status >= 500 and (defects == "none" or not _is_route_failure(response)):
                failures.append(f"{method} {path} -> {response.status} {response.body[:200]!r}")

        send()
        assert failures == []
        assert backend.handle("GET", "/", "", {}, b"").status == 200
        backend.defects.clear()
        with (
            _client(backend, demo.admin.id) as admin_client,
            _client(backend, demo.users[0].id) as user_client,
        ):
            admin_client.tasks.list()
            admin_client.batches.list()
            user_client.progress.dashboard()
