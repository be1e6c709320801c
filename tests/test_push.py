"""Server push: the backend's ``GET /api/events`` (testing/_events_stream.py) and the client
that applies it (push.py): each write reaches the other clients once, a dropped stream resumes
from ``Last-Event-ID`` without missing anything, and a backend without the route leaves the
client polling."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx_sse
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamify_client import (
    AsyncGamifyClient,
    AuthenticationError,
    CacheKey,
    ClientConfig,
    Event,
    GamifyClient,
    PermissionDeniedError,
)
from gamify_client.bridges._messages import MutationMessage
from gamify_client.keys import Key, format_key
from gamify_client.push import (
    AsyncPushListener,
    ListenMode,
    PushListener,
    _Event,
    _EventParser,
)
from gamify_client.realtime import WRITES, AppliedMutation
from gamify_client.testing import GamifyBackend
from gamify_client.testing._events_stream import RESET_EVENT
from gamify_client.testing._seed import DemoData

from ._multiprocess import dashboard_workers, wait_until, wait_until_async

NO_ROUTE_PAGE = b"<!DOCTYPE html><html><body><pre>Cannot GET /api/events</pre></body></html>"


@pytest.fixture
def seed(backend: GamifyBackend) -> DemoData:
    return backend.seed_demo()


@pytest.fixture
def base_url(backend: GamifyBackend, seed: DemoData) -> Iterator[str]:
    with backend.serve() as url:
        yield url


class Peer:
    """One client with its own cache and events, as another process would hold it."""

    def __init__(self, backend: GamifyBackend, config: ClientConfig, user_id: str) -> None:
        self.client = GamifyClient(config=config.replace(token=backend.token_for(user_id)))
        self.events: list[tuple[str, Any]] = []
        self.client.events.subscribe_all(
            lambda event, payload: self.events.append((event, payload))
        )
        self.local: list[AppliedMutation] = []
        self.client._realtime.subscribe(self.local.append)

    def completed(self) -> list[str]:
        return [payload.task_id for event, payload in self.events if event == Event.TASK_COMPLETED]

    def submit(self, task_id: str, user_id: str) -> None:
        self.client.tasks.submit(task_id, user_id=user_id, submission_type="Text Entry", value="x")


@pytest.fixture
def peers(backend: GamifyBackend, base_url: str, config: ClientConfig) -> Iterator[Any]:
    made: list[Peer] = []

    def make(user_id: str) -> Peer:
        peer = Peer(backend, config.replace(base_url=base_url), user_id)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.client._close_links()
        peer.client.close()


def auth(backend: GamifyBackend, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.token_for(user_id)}"}


# The route


def test_the_event_stream_checks_the_token_like_other_protected_routes(
    backend: GamifyBackend, seed: DemoData, base_url: str
) -> None:
    url = f"{base_url}/api/events"
    with httpx.Client(timeout=5) as http:
        assert http.get(url).status_code == 401
        assert http.get(url, headers={"Authorization": "Bearer nope"}).status_code == 403
        cookie = {"Cookie": f"authToken={backend.token_for(seed.users[0].id)}"}
        with http.stream("GET", url, headers=cookie) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")


def test_each_write_is_one_event_with_increasing_ids_keys_and_real_time_data(
    backend: GamifyBackend, seed: DemoData, base_url: str, peers: Any
) -> None:
    user = seed.users[0].id
    writer = peers(user)
    with (
        httpx.Client(timeout=5) as http,
        httpx_sse.connect_sse(
            http, "GET", f"{base_url}/api/events", headers=auth(backend, user)
        ) as source,
    ):
        events = (event for event in source.iter_sse() if event.data and event.event != "hello")
        writer.submit(seed.task_ids[0], user)
        writer.submit(seed.task_ids[1], user)
        first, second = next(events), next(events)

    assert [first.event, second.event] == ["taskCompleted", "taskCompleted"]
    numbers = [int(event.id.rpartition("-")[2]) for event in (first, second)]
    assert numbers[1] == numbers[0] + 1
    data = first.json()
    applied = writer.local[0]
    assert data["mutation"] == "tasks.submit"
    assert data["request"] == {"task_id": seed.task_ids[0], "user_id": user}
    assert data["keys"] == [format_key(key) for key in applied.keys]
    assert data["realTimeData"] == applied.result.body["realTimeData"]
    assert data["id"] == first.id


def test_last_event_id_replays_what_was_missed_and_a_lost_one_gets_a_reset(
    config: ClientConfig,
) -> None:
    with GamifyBackend(event_history=3) as backend:
        data = backend.seed_demo()
        user = data.users[0].id
        start = backend.event_stream.last_event_id
        with (
            backend.serve() as url,
            GamifyClient(
                config=config.replace(base_url=url, token=backend.token_for(data.admin.id))
            ) as writer,
            httpx.Client(timeout=5) as http,
        ):
            writer.tasks.submit(data.task_ids[0], user_id=user, submission_type="Link", value="x")

            def first_event(last_event_id: str) -> httpx_sse.ServerSentEvent:
                headers = {**auth(backend, user), "Last-Event-ID": last_event_id}
                with httpx_sse.connect_sse(
                    http, "GET", f"{url}/api/events", headers=headers
                ) as source:
                    return next(
                        event
                        for event in source.iter_sse()
                        if event.data and event.event != "hello"
                    )

            replayed = first_event(start)
            assert replayed.event == "taskCompleted"
            assert replayed.json()["request"]["task_id"] == data.task_ids[0]
            for task_id in data.task_ids[1:]:
                writer.tasks.submit(task_id, user_id=user, submission_type="Link", value="x")
            assert first_event(start).event == RESET_EVENT
            assert first_event("another-run-7").event == RESET_EVENT
            stats = backend.event_stream.stats()
    assert stats.resumed == 3
    assert stats.resets == 2


def test_in_process_the_route_answers_the_backlog_and_ends(
    backend: GamifyBackend, seed: DemoData, config: ClientConfig
) -> None:
    user = seed.users[0].id
    start = backend.event_stream.last_event_id
    with httpx.Client(transport=backend.transport(), base_url="http://gamify.test") as http:
        http.post(
            f"/api/task/{seed.task_ids[0]}/submit",
            json={"userId": user, "submissionType": "Link", "value": "x"},
            headers={**auth(backend, user), "X-Gamify-Origin": "forged"},
        )
        assert http.get("/api/events").status_code == 401
        response = http.get("/api/events", headers={**auth(backend, user), "Last-Event-ID": start})

    frames = [frame for frame in response.text.split("\n\n") if frame.startswith("id:")]
    assert len(frames) == 1
    data = json.loads(frames[0].split("data: ", 1)[1])
    assert data["mutation"] == "tasks.submit"
    [hello] = [frame for frame in response.text.split("\n\n") if frame.startswith("event: hello")]
    # The origin is the server's name for the writer's token, never a request header's word.
    assert data["origin"] == json.loads(hello.split("data: ", 1)[1])["origin"] != "forged"


def _events_seen(backend: GamifyBackend, user_id: str, since: str) -> list[str]:
    """The writes a replay after ``since`` shows ``user_id``, by name."""
    with httpx.Client(transport=backend.transport(), base_url="http://gamify.test") as http:
        response = http.get(
            "/api/events", headers={**auth(backend, user_id), "Last-Event-ID": since}
        )
    assert response.status_code == 200
    frames = [frame for frame in response.text.split("\n\n") if frame.startswith("id:")]
    return [json.loads(frame.split("data: ", 1)[1])["mutation"] for frame in frames]


def test_each_listener_gets_only_the_writes_it_may_read(
    backend: GamifyBackend, seed: DemoData, peers: Any
) -> None:
    start = backend.event_stream.last_event_id
    learner, classmate = seed.users[0].id, seed.users[1].id
    peers(learner).submit(seed.task_ids[0], learner)
    peers(seed.admin.id).client.tasks.edit(seed.task_ids[1], details="public to all")

    # Another learner of the same batch may not read the first one's progress or XP ...
    assert _events_seen(backend, classmate, start) == ["tasks.edit"]
    # ... the learner, the batch's staff and the superadmin may.
    for reader in (learner, seed.admin.id, seed.mentor.id, seed.superadmin.id):
        assert _events_seen(backend, reader, start) == ["tasks.submit", "tasks.edit"]


def test_a_batch_write_reaches_its_members_and_staff_only(
    backend: GamifyBackend, seed: DemoData, peers: Any
) -> None:
    registered = backend.handle(
        "POST",
        "/api/user/register",
        "",
        {"content-type": "application/json"},
        json.dumps(
            {"name": "Other Admin", "email": "other@x.io", "password": "pw", "designation": "admin"}
        ).encode(),
    )
    assert registered.status == 201
    other_admin = json.loads(registered.body)["userId"]
    start = backend.event_stream.last_event_id

    peers(seed.admin.id).client.batches.edit(seed.batch_id, name="Renamed cohort")

    for member in (seed.users[0].id, seed.users[2].id, seed.mentor.id, seed.superadmin.id):
        assert _events_seen(backend, member, start) == ["batches.edit"]
    assert _events_seen(backend, other_admin, start) == []


def test_a_live_stream_skips_what_its_reader_may_not_see(
    backend: GamifyBackend, seed: DemoData, base_url: str, peers: Any
) -> None:
    learner, classmate = seed.users[0].id, seed.users[1].id
    with (
        httpx.Client(timeout=5) as http,
        httpx_sse.connect_sse(
            http, "GET", f"{base_url}/api/events", headers=auth(backend, classmate)
        ) as source,
    ):
        events = (event for event in source.iter_sse() if event.event != "hello" and event.data)
        peers(learner).submit(seed.task_ids[0], learner)
        peers(seed.admin.id).client.tasks.edit(seed.task_ids[1], details="public to all")
        first = next(events)
    assert first.json()["mutation"] == "tasks.edit"


def test_no_request_header_can_make_a_listener_skip_a_write(
    backend: GamifyBackend, seed: DemoData, peers: Any
) -> None:
    learner = seed.users[0].id
    reader = peers(seed.admin.id)
    listener = reader.client.listen()
    assert listener.wait_connected(5)
    wait_until(lambda: listener._core.server_origin is not None, what="the hello")
    attacker = peers(learner)
    attacker.client.with_options(default_headers={"X-Gamify-Origin": listener.origin}).tasks.submit(
        seed.task_ids[0], user_id=learner, submission_type="Link", value="x"
    )

    wait_until(lambda: listener.stats().applied == 1, what="the write")
    assert listener.stats().own == 0


def test_one_404_after_the_stream_worked_does_not_switch_to_polling(
    backend: GamifyBackend, seed: DemoData, peers: Any
) -> None:
    learner = seed.users[0].id
    reader = peers(learner)
    listener = reader.client.listen()
    assert listener.wait_connected(5)
    refusal = backend.faults.add(404, route="/api/events", times=1, body=NO_ROUTE_PAGE)
    backend.event_stream.drop_connections()
    wait_until(lambda: refusal.hits == 1, what="the 404")
    wait_until(lambda: listener.stats().reconnects == 1, what="the reconnect")
    assert listener.mode is ListenMode.PUSH

    peers(seed.admin.id).submit(seed.task_ids[0], learner)
    wait_until(lambda: reader.completed() == [seed.task_ids[0]], what="the pushed write")


def test_open_streams_do_not_block_other_requests(
    backend: GamifyBackend, seed: DemoData, base_url: str, peers: Any
) -> None:
    listeners = [peers(seed.users[index].id).client.listen() for index in range(3)]
    assert all(listener.wait_connected(5) for listener in listeners)
    with GamifyClient(config=ClientConfig(base_url=base_url, timeout=5, max_retries=0)) as other:
        assert len(other.tasks.list()) == len(seed.task_ids)
    assert backend.event_stream.stats().open_streams == 3


# The listener


def test_listen_applies_another_clients_write_with_the_same_keys_and_event(
    backend: GamifyBackend, seed: DemoData, peers: Any
) -> None:
    user = seed.users[0].id
    writer, reader = peers(seed.admin.id), peers(user)
    key = (CacheKey.DASHBOARD, user)
    reader.client.refresh_manager.refresh(key, reader.client.progress.dashboard)
    invalidated: list[Key] = []
    reader.client.refresh_manager.on_invalidate(invalidated.append)
    listener = reader.client.listen()
    assert listener.mode is ListenMode.PUSH and listener.connected

    writer.submit(seed.task_ids[0], user)
    [applied] = writer.local

    wait_until(lambda: reader.completed() == [seed.task_ids[0]], what="the pushed write")
    cached = reader.client.refresh_manager.peek(key)
    assert cached is not None
    assert cached.data.overall_stats.user_total_xp == applied.result.real_time.new_total_xp
    assert invalidated == [key]
    assert reader.events == [e for e in writer.events if e[0] == Event.TASK_COMPLETED]
    assert listener.stats().applied == 1
    assert listener.last_event_id == backend.event_stream.last_event_id


def test_a_listening_client_skips_the_streams_copy_of_its_own_writes(
    seed: DemoData, peers: Any
) -> None:
    user = seed.users[0].id
    writer = peers(user)
    listener = writer.client.listen()
    assert listener.wait_connected(5)
    assert "X-Gamify-Origin" not in writer.client.config.default_headers

    writer.submit(seed.task_ids[0], user)

    wait_until(lambda: listener.stats().own == 1, what="the stream's copy")
    assert listener.stats().applied == 0
    assert writer.completed() == [seed.task_ids[0]]
    listener.close()


def test_listen_returns_the_running_listener_until_it_is_closed(seed: DemoData, peers: Any) -> None:
    client = peers(seed.users[0].id).client
    first = client.listen()
    assert client.listen() is first
    first.close()
    second = client.listen()
    assert second is not first
    second.close()


def test_a_dropped_stream_resumes_from_last_event_id_and_misses_nothing(
    backend: GamifyBackend, seed: DemoData, peers: Any
) -> None:
    user = seed.users[0].id
    writer, reader = peers(seed.admin.id), peers(user)
    listener = reader.client.listen()
    writer.submit(seed.task_ids[0], user)
    wait_until(lambda: len(reader.completed()) == 1, what="the first write")
    # The stream breaks, and attempts to reopen it fail until the writes are done.
    refusals = backend.faults.add(503, route="/api/events", times=None)

    assert backend.event_stream.drop_connections() == 1
    wait_until(lambda: refusals.hits >= 1, what="a failed reconnect")
    for task_id in seed.task_ids[1:]:
        writer.submit(task_id, user)
    backend.faults.clear()

    wait_until(lambda: len(reader.completed()) == len(seed.task_ids), what="every write")
    assert reader.completed() == list(seed.task_ids)
    stats = listener.stats()
    assert stats.reconnects == 1 and stats.duplicates == 0 and stats.resets == 0
    server = backend.event_stream.stats()
    assert server.resumed == 1
    assert server.replayed == len(seed.task_ids) - 1


def test_a_reset_invalidates_every_active_key(config: ClientConfig) -> None:
    with GamifyBackend(event_history=1) as backend:
        data = backend.seed_demo()
        user = data.users[0].id
        with backend.serve() as url:
            reader = GamifyClient(
                config=config.replace(base_url=url, token=backend.token_for(user))
            )
            writer = GamifyClient(
                config=config.replace(base_url=url, token=backend.token_for(data.admin.id))
            )
            with reader, writer:
                query = reader.use_dashboard_data(refetch_interval=3600)
                query.wait_for(timeout=5)
                listener = reader.listen()
                refusals = backend.faults.add(503, route="/api/events", times=None)
                backend.event_stream.drop_connections()
                wait_until(lambda: refusals.hits >= 1, what="a failed reconnect")
                for task_id in data.task_ids[:2]:
                    result = writer.tasks.submit(
                        task_id, user_id=user, submission_type="Link", value="x"
                    )
                backend.faults.clear()
                assert result.real_time is not None
                total_xp = result.real_time.new_total_xp

                wait_until(lambda: listener.stats().resets == 1, what="the reset")
                query.wait_for(lambda q: q.data.overall_stats.user_total_xp == total_xp, timeout=5)
                assert listener.stats().applied == 0
                listener.close()


def test_without_a_push_route_listen_falls_back_to_polling_and_says_so_once(
    backend: GamifyBackend,
    seed: DemoData,
    peers: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend.faults.add(404, route="/api/events", times=None, body=NO_ROUTE_PAGE)
    client = peers(seed.users[0].id).client

    with caplog.at_level(logging.WARNING, logger="gamify_client"):
        listener = client.listen()

    assert listener.mode is ListenMode.POLLING
    assert not listener.connected
    assert caplog.text.count("has no event stream") == 1
    assert backend.requests.count("GET", "/api/events") == 1
    assert client.listen() is listener


def test_listen_raises_the_typed_error_when_the_token_is_refused(
    seed: DemoData, base_url: str, config: ClientConfig
) -> None:
    with GamifyClient(config=config.replace(base_url=base_url)) as anonymous:
        with pytest.raises(AuthenticationError):
            anonymous.listen()
        anonymous.token = "not-a-token"
        with pytest.raises(PermissionDeniedError):
            anonymous.listen()


def test_close_ends_the_listener_thread(seed: DemoData, peers: Any) -> None:
    listener = peers(seed.users[0].id).client.listen()
    thread = listener._thread
    assert isinstance(listener, PushListener) and thread is not None and thread.is_alive()
    listener.close()
    listener.close()
    assert not thread.is_alive() and listener.closed


def test_closing_the_clients_links_closes_its_listener(seed: DemoData, peers: Any) -> None:
    client = peers(seed.users[0].id).client
    listener = client.listen()
    client._close_links()
    assert listener.closed


# The asyncio listener


async def test_an_async_listener_applies_writes_and_resumes_after_a_drop(
    backend: GamifyBackend, seed: DemoData, base_url: str, config: ClientConfig
) -> None:
    user = seed.users[0].id
    async with (
        AsyncGamifyClient(
            config=config.replace(base_url=base_url, token=backend.token_for(user))
        ) as reader,
        AsyncGamifyClient(
            config=config.replace(base_url=base_url, token=backend.token_for(seed.admin.id))
        ) as writer,
    ):
        completed: list[str] = []
        reader.events.subscribe(Event.TASK_COMPLETED, lambda p: completed.append(p.task_id))
        key = (CacheKey.DASHBOARD, user)
        await reader.refresh_manager.refresh_async(key, reader.progress.dashboard)
        listener = await reader.listen()
        assert listener.mode is ListenMode.PUSH

        async def submit(task_id: str) -> int | None:
            result = await writer.tasks.submit(
                task_id, user_id=user, submission_type="Link", value="x"
            )
            assert result.real_time is not None
            return result.real_time.new_total_xp

        await submit(seed.task_ids[0])
        await wait_until_async(lambda: completed == [seed.task_ids[0]], what="the first write")
        backend.faults.add(503, route="/api/events", times=1)
        backend.event_stream.drop_connections()
        total_xp = await submit(seed.task_ids[1])

        await wait_until_async(lambda: completed == list(seed.task_ids[:2]), what="the resume")
        cached = reader.refresh_manager.peek(key)
        assert cached is not None and cached.data.overall_stats.user_total_xp == total_xp
        # The cut stream may have delivered the second write before it closed; the
        # reconnect then follows the write instead of preceding it.
        await wait_until_async(lambda: listener.stats().reconnects == 1, what="the reconnect")
        await listener.close()
        assert listener.closed


async def test_an_async_client_falls_back_to_polling_and_refuses_bad_tokens(
    backend: GamifyBackend, seed: DemoData, base_url: str, config: ClientConfig
) -> None:
    async with AsyncGamifyClient(config=config.replace(base_url=base_url)) as client:
        with pytest.raises(AuthenticationError):
            await client.listen()
        client.token = backend.token_for(seed.users[0].id)
        backend.faults.add(404, route="/api/events", body=NO_ROUTE_PAGE)
        listener = await client.listen()
        assert listener.mode is ListenMode.POLLING
        await listener.close()


# Separate processes


@pytest.mark.parametrize("count", [2, 5])
def test_a_submit_in_one_process_reaches_every_other_through_push(
    count: int, backend: GamifyBackend, seed: DemoData, base_url: str
) -> None:
    user = seed.users[0].id
    with dashboard_workers(
        count, base_url=base_url, token=backend.token_for(user), user_id=user, link="push"
    ) as workers:
        workers.commands[workers.names[0]].put(("submit", seed.task_ids[0]))

        def everyone_updated(got: list[tuple[str, str, Any]]) -> bool:
            updated = {name for name, xp in workers.of_kind("dashboard") if xp == 100}
            return updated == set(workers.names)

        workers.expect(everyone_updated, "every dashboard to show the new XP")
        stats = workers.stop()

    events = workers.of_kind("event")
    assert sorted(name for name, _ in events) == sorted(workers.names)
    assert stats[workers.names[0]]["applied"] == 0
    assert all(stats[name] == {"applied": 1, "duplicates": 0} for name in workers.names[1:])


# Reading the stream


_NEWLINES = st.sampled_from(["\n", "\r", "\r\n"])
_LINE_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=12
)


@given(
    st.lists(
        st.tuples(_LINE_TEXT, st.lists(_LINE_TEXT, min_size=1, max_size=3), st.none() | _LINE_TEXT),
        max_size=5,
    ),
    _NEWLINES,
    st.booleans(),
    st.data(),
)
def test_events_are_read_whatever_the_line_ends_and_the_chunks(
    events: list[tuple[str, list[str], str | None]],
    newline: str,
    comments: bool,
    data: st.DataObject,
) -> None:
    lines: list[str] = []
    expected: list[_Event] = []
    last_id = ""
    for name, data_lines, event_id in events:
        if comments:
            lines.append(": keep-alive")
        lines.append(f"event: {name}")
        if event_id is not None:
            lines.append(f"id: {event_id}")
            last_id = event_id
        lines.extend(f"data: {line}" for line in data_lines)
        lines.append("retry: 10")
        lines.append("")
        expected.append(_Event(name or "message", "\n".join(data_lines).encode(), last_id))
    stream = "".join(line + newline for line in lines).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    ends = [*cuts, len(stream)]
    chunks = [stream[start:end] for start, end in zip([0, *cuts], ends, strict=True)]

    parser = _EventParser()
    read = [event for chunk in chunks if chunk for event in parser.feed(chunk)]

    assert read == expected


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class _ScriptedStream:
    """An event stream that carries, in 7-byte chunks so that CRLFs fall across them: a
    comment, the hello, a malformed event, then a user's real write as another process's.
    Served once; later connections get an empty stream."""

    def __init__(self, backend: GamifyBackend, config: ClientConfig) -> None:
        seed = backend.seed_demo()
        user = seed.users[0].id
        self.config = config.replace(token=backend.token_for(user))
        self.task_id = seed.task_ids[0]
        written: list[AppliedMutation] = []
        http = httpx.Client(transport=backend.transport())
        with GamifyClient(config=self.config, http_client=http) as writer:
            writer.on_mutation(written.append)
            writer.tasks.submit(self.task_id, user_id=user, submission_type="Text Entry", value="x")
        message = MutationMessage.from_applied(written[0], origin="another-process").encode()
        self._answers = [
            b': keep-alive\r\n\r\nevent: hello\r\ndata: {"origin": "mine"}\r\n\r\n'
            b"id: 1\r\nevent: taskCompleted\r\ndata: {not json\r\n\r\n"
            b"id: 2\r\nevent: taskCompleted\r\ndata: " + message + b"\r\n\r\n"
        ]
        self.completed: list[str] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        body = self._answers.pop() if self._answers else b""
        chunks = [body[start : start + 7] for start in range(0, len(body), 7)]
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=_Chunks(chunks))

    def listen_with(self, client: GamifyClient | AsyncGamifyClient) -> None:
        client.events.subscribe(
            Event.TASK_COMPLETED, lambda payload: self.completed.append(payload.task_id)
        )

    def check(self, listener: PushListener | AsyncPushListener, log: str) -> None:
        assert listener.stats().applied == 1
        assert listener.stats().malformed == 1
        assert "skipped a malformed message" in log
        assert self.completed == [self.task_id]
        assert listener.origin == "mine"
        assert listener.last_event_id == "2"


def test_a_listener_reads_split_crlf_frames_and_skips_a_malformed_event(
    backend: GamifyBackend, config: ClientConfig, caplog: pytest.LogCaptureFixture
) -> None:
    stream = _ScriptedStream(backend, config)
    http = httpx.Client(transport=backend.transport())
    with GamifyClient(config=stream.config, http_client=http) as reader:
        stream.listen_with(reader)
        listener = PushListener(
            reader, http_client=httpx.Client(transport=stream.transport())
        ).start()
        wait_until(lambda: listener.stats().applied == 1, what="the well-formed write")
        listener.close()
    stream.check(listener, caplog.text)


async def test_an_async_listener_reads_split_crlf_frames_and_skips_a_malformed_event(
    backend: GamifyBackend, config: ClientConfig, caplog: pytest.LogCaptureFixture
) -> None:
    stream = _ScriptedStream(backend, config)
    http = httpx.AsyncClient(transport=backend.transport())
    async with AsyncGamifyClient(config=stream.config, http_client=http) as reader:
        stream.listen_with(reader)
        listener = await AsyncPushListener(
            reader, http_client=httpx.AsyncClient(transport=stream.transport())
        ).start()
        await wait_until_async(lambda: listener.stats().applied == 1, what="the write")
        await listener.close()
    stream.check(listener, caplog.text)


def test_an_event_from_the_clients_token_is_decoded_once_while_a_write_is_in_flight(
    backend: GamifyBackend, config: ClientConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = backend.seed_demo()
    user = seed.users[0].id
    user_config = config.replace(token=backend.token_for(user))
    written: list[AppliedMutation] = []
    http = httpx.Client(transport=backend.transport())
    with GamifyClient(config=user_config, http_client=http) as client:
        client.on_mutation(written.append)
        client.tasks.submit(seed.task_ids[0], user_id=user, submission_type="Text Entry", value="x")
    # The same token's write, made by another process: its body is not one this client got.
    other = MutationMessage.from_applied(written[0], origin="the-token").to_wire()
    other["body"] = {**other["body"], "message": "made elsewhere"}
    event = _Event("taskCompleted", json.dumps(other).encode(), "7")
    decoded: list[bytes | str] = []
    decode = MutationMessage.decode
    monkeypatch.setattr(
        MutationMessage, "decode", staticmethod(lambda raw: decoded.append(raw) or decode(raw))
    )
    reader_http = httpx.Client(transport=backend.transport())
    with GamifyClient(config=user_config, http_client=reader_http) as reader:
        listener = PushListener(reader)
        core = listener._core
        core.server_origin = "the-token"
        with reader._realtime.sending(WRITES["tasks.submit"]):
            assert core.own_pending(event)
            assert core.own_pending(event)
        assert not core.own_pending(event)
        core.handle(event)
        listener.close()

    assert decoded == [event.data]
    assert listener.stats().applied == 1
    assert listener.last_event_id == "7"
