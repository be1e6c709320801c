"""The async client over aiohttp (``http_backend="aiohttp"``), against the reference backend on
a real loopback socket: the same scenarios as over httpx's transport, then the failures that
depend on the transport (what was sent, timeouts, retries, closing, the pool of copies).

The scenarios of other modules are imported here, so they run once more with this module's
fixtures: ``make`` and ``make_api`` build aiohttp clients of a served backend, and every
other async client made without an ``http_client`` picks aiohttp from the environment.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import socketserver
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import aiohttp
import httpx
import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from gamify_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncGamifyClient,
    ClientClosedError,
    ClientConfig,
    ConfigError,
    GamifyError,
    InternalServerError,
    MissingExtraError,
    ResponseValidationError,
)
from gamify_client._aiohttp import AiohttpTransport, classified
from gamify_client.config import HTTP_BACKENDS
from gamify_client.realtime import WRITES
from gamify_client.testing import DemoData, GamifyBackend

from ._api_support import Api, ApiFactory
from .test_api_categories import (
    test_backend_category_lifecycle,
    test_backend_delete_cascades_to_tasks_batches_and_progress,
    test_backend_delete_of_a_missing_category_deletes_nothing,
)
from .test_api_categories import (
    test_backend_fixed_auth as test_categories_backend_fixed_auth,
)
from .test_api_tasks import (
    test_backend_anonymous_complete_without_a_user_changes_nothing,
    test_backend_casts_fields_as_mongoose_does,
    test_backend_create_checks_category_and_batch,
    test_backend_file_upload_is_stored_and_served,
    test_backend_task_lifecycle,
)
from .test_api_tasks import (
    test_backend_fixed_auth as test_tasks_backend_fixed_auth,
)
from .test_client_backend import Both, test_every_route, test_file_upload_submission
from .test_hardening import test_the_timeout_bounds_the_whole_call, trickle_url
from .test_push import (
    base_url,
    seed,
    test_an_async_client_falls_back_to_polling_and_refuses_bad_tokens,
    test_an_async_listener_applies_writes_and_resumes_after_a_drop,
)

__all__ = [
    "base_url",
    "seed",
    "test_an_async_client_falls_back_to_polling_and_refuses_bad_tokens",
    "test_an_async_listener_applies_writes_and_resumes_after_a_drop",
    "test_backend_anonymous_complete_without_a_user_changes_nothing",
    "test_backend_casts_fields_as_mongoose_does",
    "test_backend_category_lifecycle",
    "test_backend_create_checks_category_and_batch",
    "test_backend_delete_cascades_to_tasks_batches_and_progress",
    "test_backend_delete_of_a_missing_category_deletes_nothing",
    "test_backend_file_upload_is_stored_and_served",
    "test_backend_task_lifecycle",
    "test_categories_backend_fixed_auth",
    "test_every_route",
    "test_file_upload_submission",
    "test_tasks_backend_fixed_auth",
    "test_the_timeout_bounds_the_whole_call",
    "trickle_url",
]


@pytest.fixture(autouse=True)
def _aiohttp_by_default(_no_gamify_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """An async client made without ``config`` or ``http_client`` here sends through aiohttp."""
    monkeypatch.setenv("GAMIFY_HTTP_BACKEND", "aiohttp")


@pytest.fixture
def config() -> ClientConfig:
    """The suite's test settings (see ``tests/conftest.py``), sending through aiohttp."""
    return _settings("http://gamify.test")


def _settings(url: str, **changes: Any) -> ClientConfig:
    return ClientConfig(
        base_url=url,
        task_completion_delay=0,
        retry_backoff=0,
        retry_backoff_max=0,
        http_backend="aiohttp",
    ).replace(**changes)


class _Servers:
    """Serves each backend a test asks for once, on a loopback socket, until the test ends."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._urls: dict[int, str] = {}

    def url(self, backend: GamifyBackend) -> str:
        if id(backend) not in self._urls:
            self._urls[id(backend)] = self._stack.enter_context(backend.serve())
        return self._urls[id(backend)]


@pytest.fixture
def servers() -> Iterator[_Servers]:
    with ExitStack() as stack:
        yield _Servers(stack)


@pytest.fixture
def make_api(servers: _Servers) -> Iterator[ApiFactory]:
    """The API tests' factory (see ``tests/_api_support.py``), for aiohttp clients of a served
    backend."""
    loop = asyncio.new_event_loop()
    made: list[Api] = []

    def make(
        *, backend: GamifyBackend | None = None, token: str | None = None, max_retries: int = 0
    ) -> Api:
        if backend is None:
            raise TypeError("over aiohttp the API tests need a backend (respx sees no aiohttp)")
        config = _settings(servers.url(backend), max_retries=max_retries)
        made.append(Api(AsyncGamifyClient(config=config, token=token), loop))
        return made[-1]

    yield make
    for api in made:
        api.close()
    loop.close()


@pytest.fixture
def make(backend: GamifyBackend, servers: _Servers) -> Iterator[Callable[[], Both]]:
    """The client-backend scenario's factory, for aiohttp clients of a served backend."""
    loop = asyncio.new_event_loop()
    made: list[AsyncGamifyClient] = []

    def factory() -> Both:
        made.append(AsyncGamifyClient(config=_settings(servers.url(backend), max_retries=0)))
        return Both(made[-1], loop)

    yield factory
    for client in made:
        loop.run_until_complete(client.close())
    loop.close()


@pytest.fixture
def served(backend: GamifyBackend, servers: _Servers) -> str:
    """The URL of ``backend`` served on a loopback socket."""
    return servers.url(backend)


@pytest.fixture
async def admin(
    backend: GamifyBackend, demo: DemoData, served: str
) -> AsyncIterator[AsyncGamifyClient]:
    """The demo admin's aiohttp client of the served backend, retrying twice."""
    config = _settings(served, token=backend.token_for(demo.admin.id), max_retries=2)
    async with AsyncGamifyClient(config=config) as client:
        yield client


def _recorded_sleeps(client: AsyncGamifyClient) -> list[float]:
    """Replaces the client's backoff sleep; the list gets every wait it asked for."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client._sleep = record
    return waits


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Choosing the transport.


async def test_the_argument_the_setting_and_the_environment_choose_aiohttp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = [
        AsyncGamifyClient(http_backend="aiohttp"),
        AsyncGamifyClient(config=ClientConfig(http_backend="aiohttp")),
        AsyncGamifyClient(),  # GAMIFY_HTTP_BACKEND=aiohttp, set for this module
    ]
    monkeypatch.setenv("GAMIFY_HTTP_BACKEND", " HTTPX ")
    default = AsyncGamifyClient()
    for client in chosen:
        assert isinstance(client._http._transport, AiohttpTransport)
        assert client.config.http_backend == "aiohttp"
    assert default.config.http_backend == "httpx"
    assert type(default._http._transport) is httpx.AsyncHTTPTransport
    for client in [*chosen, default]:
        await client.close()


def test_an_unknown_backend_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="http_backend must be one of httpx, aiohttp"):
        ClientConfig(http_backend="curl")  # type: ignore[arg-type]
    monkeypatch.setenv("GAMIFY_HTTP_BACKEND", "requests")
    with pytest.raises(ConfigError, match="'requests'"):
        ClientConfig.from_env()


@given(st.text(max_size=20))
def test_any_environment_value_gives_a_backend_or_a_config_error(raw: str) -> None:
    name = raw.strip().lower() or "httpx"
    if name in HTTP_BACKENDS:
        assert ClientConfig.from_env({"GAMIFY_HTTP_BACKEND": raw}).http_backend == name
    else:
        with pytest.raises(ConfigError, match="http_backend must be one of"):
            ClientConfig.from_env({"GAMIFY_HTTP_BACKEND": raw})


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'gamify-client\[aiohttp\]'") as e:
        AsyncGamifyClient(http_backend="aiohttp")
    assert isinstance(e.value, ImportError) and isinstance(e.value, GamifyError)


async def test_a_given_http_client_wins_over_the_setting(
    backend: GamifyBackend, demo: DemoData
) -> None:
    in_process = httpx.AsyncClient(transport=backend.transport())
    async with AsyncGamifyClient(
        base_url="http://gamify.test", http_backend="aiohttp", http_client=in_process
    ) as client:
        assert client._http is in_process
        assert len(await client.tasks.list()) == len(demo.task_ids)
    assert not in_process.is_closed
    await in_process.aclose()


# Many calls in flight, copies and closing.


async def test_many_calls_in_flight_each_get_their_own_answer(
    admin: AsyncGamifyClient, demo: DemoData
) -> None:
    ids = list(demo.task_ids) * 8
    tasks = await asyncio.gather(*(admin.tasks.get(task_id) for task_id in ids))
    assert [task.id for task in tasks] == ids


async def test_copies_share_the_pool_and_closing_a_copy_keeps_it_open(
    admin: AsyncGamifyClient, backend: GamifyBackend, demo: DemoData
) -> None:
    learner = admin.with_options(token=backend.token_for(demo.users[0].id), timeout=5.0)
    assert learner._http is admin._http
    assert learner.user_id == demo.users[0].id
    await learner.close()
    assert not admin._http.is_closed
    assert len(await admin.tasks.list()) == len(demo.task_ids)
    with pytest.raises(ClientClosedError):
        await learner.tasks.list()


async def test_close_closes_the_aiohttp_session(served: str) -> None:
    client = AsyncGamifyClient(base_url=served, http_backend="aiohttp")
    await client.tasks.list()
    session = client._http._transport.client  # type: ignore[attr-defined]
    assert isinstance(session, aiohttp.ClientSession) and not session.closed
    await client.close()
    assert session.closed and client._http.is_closed
    with pytest.raises(ClientClosedError):
        await client.tasks.list()


# Failures: typed, classified as on httpx's transport, retried by the same rules.


async def test_a_refused_connection_was_not_sent_and_a_write_is_retried(demo: DemoData) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with AsyncGamifyClient(config=_settings(url, max_retries=2)) as client:
        waits = _recorded_sleeps(client)
        with pytest.raises(APIConnectionError) as caught:
            await client.categories.create(name="c", batch=demo.batch_id)
    assert caught.value.request_sent is False
    assert caught.value.retries == 2 and len(waits) == 2
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_dropped_answer_may_have_been_applied_so_a_write_is_sent_once(
    admin: AsyncGamifyClient, backend: GamifyBackend, demo: DemoData
) -> None:
    rule = backend.faults.add(drop=True, process=True, method="POST", route="/api/categories")
    with pytest.raises(APIConnectionError) as caught:
        await admin.categories.create(name="kept once", batch=demo.batch_id)
    assert caught.value.request_sent is True
    assert rule.hits == 1
    names = [category.name for category in await admin.categories.list()]
    assert names.count("kept once") == 1


async def test_transient_statuses_on_a_read_are_retried(
    admin: AsyncGamifyClient, backend: GamifyBackend, demo: DemoData
) -> None:
    waits = _recorded_sleeps(admin)
    rules = [backend.faults.add(status, route="/api/task/all") for status in (429, 502)]
    assert len(await admin.tasks.list()) == len(demo.task_ids)
    assert [rule.hits for rule in rules] == [1, 1]
    assert len(waits) == 2


async def test_a_read_gives_up_after_max_retries(
    admin: AsyncGamifyClient, backend: GamifyBackend
) -> None:
    _recorded_sleeps(admin)
    rule = backend.faults.add(504, times=None, route="/api/task/all", body={"message": "slow"})
    with pytest.raises(InternalServerError) as caught:
        await admin.tasks.list()
    assert (rule.hits, caught.value.retries, caught.value.message) == (3, 2, "slow")


async def test_retry_after_is_honoured(admin: AsyncGamifyClient, backend: GamifyBackend) -> None:
    waits = _recorded_sleeps(admin)
    backend.faults.add(503, retry_after=2, route="/api/task/all")
    await admin.tasks.list()
    assert waits == [2.0]


async def test_a_delete_whose_answer_was_lost_then_finds_nothing_has_succeeded(
    admin: AsyncGamifyClient,
    backend: GamifyBackend,
    demo: DemoData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(WRITES["tasks.delete"], "repeatable", True)
    backend.faults.add(drop=True, process=True, method="DELETE")
    result = await admin.tasks.delete(demo.task_ids[0])
    assert result.data is None and result.message is not None
    assert demo.task_ids[0] not in [task.id for task in await admin.tasks.list()]


async def test_a_slow_answer_is_a_timeout_that_may_have_been_applied(
    admin: AsyncGamifyClient, backend: GamifyBackend
) -> None:
    backend.faults.add(latency=5.0, route="/api/task/all")
    impatient = admin.with_options(timeout=0.3, max_retries=0)
    with pytest.raises(APITimeoutError) as caught:
        await impatient.tasks.list()
    assert caught.value.request_sent is True


async def test_a_malformed_body_is_a_validation_error(
    admin: AsyncGamifyClient, backend: GamifyBackend
) -> None:
    backend.faults.add(malformed=True, route="/api/task/all")
    with pytest.raises(ResponseValidationError):
        await admin.tasks.list()


class _RawAnswer(socketserver.BaseRequestHandler):
    """Reads one request (kept in ``received``) and writes ``answer`` back as it is, then
    hangs up."""

    answer = b""
    received: list[bytes] = []

    def handle(self) -> None:
        self.received.append(self.request.recv(65536))
        self.request.sendall(self.answer)


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], str]]:
    """``raw_server(answer)`` gives the URL of a server that writes ``answer`` to any request."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RawAnswer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(answer: bytes) -> str:
        _RawAnswer.answer = answer
        _RawAnswer.received = []
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n[]", APIConnectionError),
        (b"NOT HTTP AT ALL\r\n\r\n", APIConnectionError),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
            b"Content-Length: 8\r\n\r\nnot gzip",
            ResponseValidationError,
        ),
        (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n"
            b"<h1>oops</h1>",
            InternalServerError,
        ),
    ],
    ids=["cut-short", "not-http", "bad-gzip", "html-502"],
)
async def test_a_broken_answer_is_a_typed_error(
    raw_server: Callable[[bytes], str], answer: bytes, error: type[GamifyError]
) -> None:
    async with AsyncGamifyClient(config=_settings(raw_server(answer), max_retries=0)) as client:
        with pytest.raises(error) as caught:
            await client.tasks.list()
    if isinstance(caught.value, APIConnectionError):
        assert caught.value.request_sent is True


_REQUEST_INFO = aiohttp.RequestInfo(
    yarl.URL("http://gamify.test/"),
    "GET",
    CIMultiDictProxy(CIMultiDict()),
    yarl.URL("http://gamify.test/"),
)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("pool"), httpx.ConnectTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.InvalidURL("ftp://x"), httpx.UnsupportedProtocol),
        (aiohttp.ClientResponseError(_REQUEST_INFO, (), status=400), httpx.RemoteProtocolError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_aiohttp_failures_are_classified_by_what_was_sent(
    failure: Exception, expected: type[httpx.TransportError]
) -> None:
    request = httpx.Request("POST", "http://gamify.test/api/task/create")
    wrapped = httpx.ConnectTimeout("as httpx-aiohttp maps it")
    wrapped.__cause__ = failure
    for seen in (failure, wrapped):
        mapped = classified(seen, request)
        assert type(mapped) is expected
        assert mapped.request is request
    assert classified(ValueError("not aiohttp"), request) is None


@pytest.mark.parametrize("http_backend", ["httpx", "aiohttp"])
async def test_a_cookie_an_answer_sets_is_never_sent_back(
    raw_server: Callable[[bytes], str], http_backend: str
) -> None:
    # The real service reads an authToken cookie before the header: a kept one would win
    # over the client's own token.
    url = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: authToken=stale\r\n"
        b"Connection: close\r\nContent-Length: 2\r\n\r\n[]"
    )
    # A host name: aiohttp keeps no cookie of an IP address whatever the jar.
    config = _settings(
        url.replace("127.0.0.1", "localhost"), http_backend=http_backend, token="a.b.c"
    )
    async with AsyncGamifyClient(config=config) as client:
        assert await client.tasks.list() == []
        assert await client.tasks.list() == []
    assert len(_RawAnswer.received) == 2
    for request in _RawAnswer.received:
        assert b"authorization: Bearer a.b.c" in request.lower().replace(b"bearer", b"Bearer")
        assert b"cookie" not in request.lower()


async def test_a_gzip_answer_is_decoded(raw_server: Callable[[bytes], str]) -> None:
    body = gzip.compress(b"[]")
    url = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    async with AsyncGamifyClient(config=_settings(url, max_retries=0)) as client:
        assert await client.tasks.list() == []


# The transport reads answers whole and keeps a connection per call in flight.


async def test_the_transport_hands_over_an_answer_read_whole(served: str, demo: DemoData) -> None:
    transport = AiohttpTransport()
    request = httpx.Request("GET", f"{served}/api/task/{demo.task_ids[0]}")
    response = await transport.handle_async_request(request)
    assert response.is_stream_consumed and response.is_closed
    assert response.json()["_id"] == demo.task_ids[0]
    assert response.request is request and response.http_version == "HTTP/1.1"
    await transport.aclose()


class _AllAtOnce(socketserver.BaseRequestHandler):
    """Answers only once ``barrier.parties`` requests are in at the same time; a request
    that waited too long for the others gets no answer."""

    barrier = threading.Barrier(16)

    def handle(self) -> None:
        self.request.recv(65536)
        try:
            self.barrier.wait(timeout=10)
        except threading.BrokenBarrierError:
            return
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
        )


class _AllAtOnceServer(socketserver.ThreadingTCPServer):
    # socketserver listens with a backlog of 5: 64 connections made at once would overflow
    # it on a busy machine, and a dropped SYN is only sent again a second or more later.
    request_queue_size = 128
    daemon_threads = True


@pytest.mark.parametrize("in_flight", [16, 64])
async def test_calls_in_flight_each_get_a_connection_at_once(in_flight: int) -> None:
    _AllAtOnce.barrier = threading.Barrier(in_flight)
    server = _AllAtOnceServer(("127.0.0.1", 0), _AllAtOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        async with AsyncGamifyClient(config=_settings(url, max_retries=0)) as client:
            answers = await asyncio.gather(*(client.tasks.list() for _ in range(in_flight)))
        assert answers == [[]] * in_flight
    finally:
        server.shutdown()
        server.server_close()
