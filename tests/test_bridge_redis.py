"""The Redis bridge (bridges/redis.py) and its wire format (bridges/_messages.py), against a
real ``redis-server``: writes reach other clients and other processes with the same patch,
keys and event, once each; nothing is published twice; a malformed message is skipped; a
Redis outage is survived."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from gamify_client import (
    AsyncGamifyClient,
    CacheKey,
    ClientConfig,
    ConfigError,
    Event,
    GamifyClient,
)
from gamify_client.bridges._messages import (
    MalformedMessage,
    MutationMessage,
    result_from_body,
)
from gamify_client.bridges._remote import Backoff, SeenIds
from gamify_client.bridges.redis import (
    AsyncRedisBridge,
    BridgeState,
    RedisBridge,
    default_channel,
)
from gamify_client.keys import Key, format_key
from gamify_client.models import Dashboard
from gamify_client.realtime import WRITES, AppliedMutation
from gamify_client.refresh import INVALIDATED
from gamify_client.testing import GamifyBackend
from gamify_client.testing._events_stream import WRITE_MUTATIONS
from gamify_client.testing._seed import DemoData

from ._multiprocess import dashboard_workers, wait_until, wait_until_async
from ._redis_server import RedisServer, redis_server_binary

BASE = "http://gamify.test"

needs_redis = pytest.mark.skipif(
    redis_server_binary() is None,
    reason="redis-server is not installed (apt-get install redis-server)",
)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server


@pytest.fixture
def seed(backend: GamifyBackend) -> DemoData:
    return backend.seed_demo()


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    """A channel of the test's own, so that tests sharing the server never meet."""
    return f"gamify:test:{request.node.name}"


class Process:
    """One client as a separate process would hold it: its own cache, events and bridge."""

    def __init__(self, backend: GamifyBackend, config: ClientConfig, user_id: str) -> None:
        self.client = GamifyClient(
            config=config.replace(token=backend.token_for(user_id)),
            http_client=httpx.Client(transport=backend.transport()),
        )
        self.events: list[tuple[str, Any]] = []
        self.client.events.subscribe_all(
            lambda event, payload: self.events.append((event, payload))
        )
        self.invalidated: list[Key] = []
        self.client.refresh_manager.on_invalidate(self.invalidated.append)
        self.local: list[AppliedMutation] = []
        self.client._realtime.subscribe(self.local.append)
        self.remote_keys: list[list[Key]] = []
        apply = self.client._realtime.after_mutation

        def recording(*args: Any, **kwargs: Any) -> list[Key]:
            keys = apply(*args, **kwargs)
            if kwargs.get("remote"):
                self.remote_keys.append(keys)
            return keys

        self.client._realtime.after_mutation = recording  # type: ignore[method-assign]
        self.bridge: RedisBridge | None = None

    def attach(self, url: str, channel: str, **options: Any) -> RedisBridge:
        self.bridge = RedisBridge(self.client, url=url, channel=channel, **options).start()
        assert self.bridge.wait_connected(10)
        return self.bridge

    def watch_dashboard(self, user_id: str) -> list[Dashboard]:
        """Cache the user's dashboard and record each change of it."""
        key = (CacheKey.DASHBOARD, user_id)
        self.client.refresh_manager.refresh(key, self.client.progress.dashboard)
        changes: list[Dashboard] = []

        def record(data: Any) -> None:
            if data is not INVALIDATED:
                changes.append(data)

        self.client.refresh_manager.subscribe(key, record)
        return changes

    def completed(self) -> list[str]:
        return [payload.task_id for event, payload in self.events if event == Event.TASK_COMPLETED]

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.close()
        self.client.close()


@pytest.fixture
def processes(backend: GamifyBackend, config: ClientConfig) -> Iterator[list[Process]]:
    made: list[Process] = []
    yield made
    for process in made:
        process.close()


def spawn(
    processes: list[Process], backend: GamifyBackend, config: ClientConfig, user_id: str
) -> Process:
    process = Process(backend, config.replace(base_url=BASE), user_id)
    processes.append(process)
    return process


LinkedPair = Callable[..., tuple[Process, Process, RedisBridge]]


@pytest.fixture
def linked_pair(request: pytest.FixtureRequest, processes: list[Process]) -> LinkedPair:
    """Makes a writer and a reader of the first user, each with a bridge on the test's
    channel; the reader's bridge takes the keyword options given."""
    url = request.getfixturevalue("redis_server").url
    channel = request.getfixturevalue("channel")
    backend = request.getfixturevalue("backend")
    config = request.getfixturevalue("config")
    user = request.getfixturevalue("seed").users[0].id

    def make(**reader_options: Any) -> tuple[Process, Process, RedisBridge]:
        writer = spawn(processes, backend, config, user)
        reader = spawn(processes, backend, config, user)
        writer.attach(url, channel)
        return writer, reader, reader.attach(url, channel, **reader_options)

    return make


def submit(process: Process, task_id: str, user_id: str) -> None:
    process.client.tasks.submit(task_id, user_id=user_id, submission_type="Text Entry", value="x")


# The wire format


def test_every_write_with_a_rule_travels_and_the_backend_announces_it() -> None:
    assert set(WRITES) == set(WRITE_MUTATIONS)


def test_a_message_round_trips_and_rebuilds_the_writers_result(
    processes: list[Process], backend: GamifyBackend, config: ClientConfig, seed: DemoData
) -> None:
    user = seed.users[0].id
    writer = spawn(processes, backend, config, user)
    submit(writer, seed.task_ids[0], user)
    [applied] = writer.local

    message = MutationMessage.decode(MutationMessage.from_applied(applied, origin="me").encode())

    assert message.mutation == "tasks.submit"
    assert message.event == "taskCompleted"
    assert message.keys == tuple(format_key(key) for key in applied.keys)
    assert message.real_time == applied.result.body["realTimeData"]
    rebuilt = message.result()
    assert rebuilt.data == applied.result.data
    assert rebuilt.real_time == applied.result.real_time


_GOOD_FIELDS: dict[str, Any] = {
    "v": 1,
    "id": "x",
    "mutation": "tasks.submit",
    "event": "e",
    "request": {},
}


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (json.dumps({**_GOOD_FIELDS, "v": 2}).encode(), "unsupported version 2"),
        (json.dumps({**_GOOD_FIELDS, "id": None}).encode(), "no id"),
        (json.dumps({**_GOOD_FIELDS, "id": ""}).encode(), "no id"),
        (json.dumps({**_GOOD_FIELDS, "mutation": "tasks.explode"}).encode(), "explode"),
        (json.dumps({**_GOOD_FIELDS, "mutation": 3}).encode(), "unknown mutation 3"),
        (json.dumps({**_GOOD_FIELDS, "event": 5}).encode(), "no event"),
        (json.dumps({**_GOOD_FIELDS, "origin": 5}).encode(), "origin"),
        (json.dumps({**_GOOD_FIELDS, "request": []}).encode(), "request"),
        (json.dumps({**_GOOD_FIELDS, "keys": [1]}).encode(), "keys"),
        (json.dumps({**_GOOD_FIELDS, "keys": "tasks"}).encode(), "keys"),
    ],
)
def test_malformed_messages_are_refused_with_their_fault(raw: bytes, fault: str) -> None:
    with pytest.raises(MalformedMessage, match=fault):
        MutationMessage.decode(raw)


def test_a_message_needs_only_its_required_fields() -> None:
    message = MutationMessage.decode(json.dumps({**_GOOD_FIELDS, "extra": [1]}).encode())

    assert (message.origin, message.keys, message.real_time, message.body) == (
        None,
        (),
        None,
        None,
    )
    assert message.request == {} and message.mutation == "tasks.submit"
    with pytest.raises(MalformedMessage, match=r"tasks\.submit answer"):
        message.result()


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.text(min_size=1, max_size=8),
                "origin": st.none() | st.text(max_size=8),
                "request": st.dictionaries(st.text(max_size=5), st.integers() | st.text()),
                "event": st.text(max_size=8),
                "keys": st.lists(st.text(max_size=8), max_size=4),
                "realTimeData": st.none() | st.dictionaries(st.text(max_size=5), st.integers()),
            }
        ),
        max_size=5,
    )
)
def test_what_a_message_carries_survives_the_wire(fields: list[dict[str, Any]]) -> None:
    for each in fields:
        sent = MutationMessage(
            id=each["id"],
            origin=each["origin"],
            mutation="tasks.start",
            request=each["request"],
            event=each["event"],
            keys=tuple(each["keys"]),
            real_time=each["realTimeData"],
            body={"anything": each["keys"]},
        )
        assert MutationMessage.decode(sent.encode()) == sent
        # Byte for byte what the standard library writes: readers that are not this SDK.
        compact = json.dumps(sent.to_wire(), separators=(",", ":"), ensure_ascii=False)
        assert sent.encode() == compact.encode()


@given(st.lists(st.sampled_from("abcdefgh"), max_size=60), st.integers(1, 5))
def test_seen_ids_remember_exactly_the_newest_ones(ids: list[str], capacity: int) -> None:
    seen = SeenIds(capacity)
    remembered: list[str] = []
    for message_id in ids:
        fresh = seen.add(message_id)
        assert fresh == (message_id not in remembered)
        if fresh:
            remembered = [*remembered, message_id][-capacity:]
        assert len(seen) == len(remembered)


def test_a_body_the_writes_parser_rejects_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        result_from_body("tasks.submit", {"success": True, "submission": "not a submission"})


def test_backoff_doubles_within_its_jittered_bounds_and_resets() -> None:
    backoff = Backoff(0.1, 0.5, random_fraction=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    backoff.reset()
    low = Backoff(0.1, 0.5, random_fraction=lambda: 0.0)
    assert low.next_delay() == pytest.approx(0.05)


def test_the_default_channel_is_one_per_deployment() -> None:
    assert default_channel("http://localhost:3001") == "gamify:events:localhost:3001"
    assert default_channel("https://api.example.com/") == "gamify:events:api.example.com:443"
    assert default_channel("http://10.0.0.2/gamify") == "gamify:events:10.0.0.2:80/gamify"


def test_a_bridge_needs_a_url(monkeypatch: pytest.MonkeyPatch, config: ClientConfig) -> None:
    with GamifyClient(config=config) as client, pytest.raises(ConfigError, match="REDIS_URL"):
        RedisBridge(client)


# One process's writes, another's cache


@needs_redis
def test_a_write_patches_another_processs_cache_with_the_same_keys_and_event(
    redis_server: RedisServer,
    channel: str,
    processes: list[Process],
    backend: GamifyBackend,
    config: ClientConfig,
    seed: DemoData,
) -> None:
    user = seed.users[0].id
    writer = spawn(processes, backend, config, seed.admin.id)
    reader = spawn(processes, backend, config, user)
    changes = reader.watch_dashboard(user)
    writer.attach(redis_server.url, channel)
    reader.attach(redis_server.url, channel)
    requests_before = len(backend.requests)

    submit(writer, seed.task_ids[0], user)
    [applied] = writer.local

    wait_until(lambda: reader.completed() == [seed.task_ids[0]], what="the reader's event")
    assert changes[-1].overall_stats.user_total_xp == applied.result.real_time.new_total_xp
    # The patch came over Redis: the reader made no request for it.
    assert len(backend.requests) == requests_before + 1
    assert reader.remote_keys == [list(applied.keys)]
    assert reader.invalidated == [(CacheKey.DASHBOARD, user)]
    assert reader.events == [e for e in writer.events if e[0] == Event.TASK_COMPLETED]
    assert reader.local == []


@needs_redis
def test_attach_bridge_takes_a_url_the_environment_or_a_bridge(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    processes: list[Process],
    backend: GamifyBackend,
    config: ClientConfig,
    seed: DemoData,
) -> None:
    first = spawn(processes, backend, config, seed.admin.id).client
    second = spawn(processes, backend, config, seed.admin.id).client
    monkeypatch.setenv("GAMIFY_REDIS_URL", redis_server.url)

    from_env = first.attach_bridge(channel="gamify:test:attach")
    made = RedisBridge(second, url=redis_server.url, channel="gamify:test:attach")
    try:
        assert second.attach_bridge(made) is made
        assert from_env.wait_connected(10) and made.wait_connected(10)
        assert from_env.channel == made.channel == "gamify:test:attach"
        with pytest.raises(ValueError, match="another client"):
            first.attach_bridge(made)
    finally:
        first._close_links()
        second._close_links()
    assert from_env.state is made.state is BridgeState.CLOSED


@needs_redis
def test_no_write_is_published_again_by_its_receivers(
    redis_server: RedisServer,
    channel: str,
    processes: list[Process],
    backend: GamifyBackend,
    config: ClientConfig,
    seed: DemoData,
) -> None:
    user = seed.users[0].id
    writer, *readers = (spawn(processes, backend, config, user) for _ in range(3))
    bridges = [process.attach(redis_server.url, channel) for process in (writer, *readers)]
    raw = redis_server.client().pubsub()
    raw.subscribe(channel)
    assert raw.get_message(timeout=5)["type"] == "subscribe"

    submit(writer, seed.task_ids[0], user)
    wait_until(lambda: all(b.stats().applied == 1 for b in bridges[1:]), what="both readers")
    # Anything a receiver published would reach Redis before this marker.
    redis_server.client().publish(channel, b"marker")

    seen: list[bytes] = []
    while not seen or seen[-1] != b"marker":
        message = raw.get_message(timeout=5)
        assert message is not None
        if message["type"] == "message":
            seen.append(message["data"])
    raw.close()
    assert len(seen) == 2
    assert [b.stats().published for b in bridges] == [1, 0, 0]
    assert bridges[0].stats().own == 1
    assert all(process.completed() == [seed.task_ids[0]] for process in readers)


@needs_redis
def test_a_message_is_applied_once_and_malformed_ones_are_skipped(
    redis_server: RedisServer,
    channel: str,
    processes: list[Process],
    backend: GamifyBackend,
    config: ClientConfig,
    seed: DemoData,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = seed.users[0].id
    writer = spawn(processes, backend, config, user)
    reader = spawn(processes, backend, config, user)
    bridge = reader.attach(redis_server.url, channel)
    submit(writer, seed.task_ids[0], user)
    message = MutationMessage.from_applied(writer.local[0], origin="another-process").encode()
    publisher = redis_server.client()

    for raw in (b"not json", b'{"v": 1}', message, message, b"\xff\xfe", message):
        publisher.publish(channel, raw)
    wait_until(lambda: bridge.stats().duplicates == 2, what="the duplicates")

    assert bridge.stats().applied == 1
    assert bridge.stats().malformed == 3
    assert reader.completed() == [seed.task_ids[0]]
    assert caplog.text.count("skipped a malformed message") == 3
    # The listener lives on.
    second = spawn(processes, backend, config, user)
    second.attach(redis_server.url, channel)
    submit(second, seed.task_ids[1], user)
    wait_until(lambda: bridge.stats().applied == 2, what="a later write")


@needs_redis
def test_a_failed_publish_waits_in_the_outbox_and_keeps_its_order(
    redis_server: RedisServer,
    channel: str,
    processes: list[Process],
    backend: GamifyBackend,
    config: ClientConfig,
    seed: DemoData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = seed.users[0].id
    writer = spawn(processes, backend, config, user)
    reader = spawn(processes, backend, config, user)
    bridge = writer.attach(redis_server.url, channel)
    reader.attach(redis_server.url, channel)
    publish = bridge._publisher.publish
    failures = iter([redis.ConnectionError("the network blinked")])

    def publish_once_failing(name: str, payload: bytes) -> Any:
        for failure in failures:
            raise failure
        return publish(name, payload)

    monkeypatch.setattr(bridge._publisher, "publish", publish_once_failing)

    submit(writer, seed.task_ids[0], user)
    # Published by the bridge's own thread, never the writer's.
    wait_until(lambda: bridge.stats().publish_failures == 1, what="the failed publish")
    submit(writer, seed.task_ids[1], user)

    wait_until(lambda: len(reader.completed()) == 2, what="both writes")
    assert reader.completed() == list(seed.task_ids[:2])
    # The publisher counts a message once Redis answered it, which can be after the reader,
    # fed by the same answer, applied it.
    wait_until(lambda: bridge.stats().published == 2, what="the second publish counted")
    assert bridge.stats().publish_failures == 1


@needs_redis
def test_close_stops_the_listener(linked_pair: LinkedPair, seed: DemoData) -> None:
    user = seed.users[0].id
    writer, reader, bridge = linked_pair()
    listener = bridge._thread
    assert listener is not None and listener.is_alive()

    bridge.close()
    bridge.close()

    assert not listener.is_alive()
    assert bridge.state is BridgeState.CLOSED
    submit(writer, seed.task_ids[0], user)
    assert reader.remote_keys == [] and reader.completed() == []


@needs_redis
def test_an_idle_listener_pings_redis_and_still_hears_the_next_write(
    linked_pair: LinkedPair, redis_server: RedisServer, seed: DemoData
) -> None:
    writer, reader, bridge = linked_pair(idle_timeout=0.05, health_check_interval=0.05)
    admin = redis_server.client()

    def listener_pinged() -> bool:
        return any(
            client.get("sub") == "1" and client.get("cmd") == "ping"
            for client in admin.client_list()
        )

    wait_until(listener_pinged, what="a health-check ping from the idle listener")
    submit(writer, seed.task_ids[0], seed.users[0].id)
    wait_until(lambda: reader.completed() == [seed.task_ids[0]], what="the write")
    assert bridge.stats().malformed == 0
    assert bridge.connected
    admin.close()


def test_only_message_replies_are_applied(config: ClientConfig) -> None:
    from gamify_client.bridges.redis import _BridgeCore

    received: list[bytes] = []
    client = GamifyClient(config=config.replace(base_url=BASE))
    core = _BridgeCore(
        client,
        client.refresh_manager,
        channel="c",
        seen_capacity=10,
        outbox_capacity=10,
        backoff=0.05,
        backoff_max=1.0,
    )
    core.applier.receive = received.append  # type: ignore[method-assign]

    for reply in (
        [b"pong", b"redis-py-health-check"],
        [b"subscribe", b"c", 1],
        [b"message", b"c", b"payload"],
        b"OK",
        None,
    ):
        core.received(reply)

    assert received == [b"payload"]
    client.close()


@needs_redis
def test_redis_killed_and_restarted_the_bridges_reconnect_and_nothing_is_lost(
    processes: list[Process], backend: GamifyBackend, config: ClientConfig, seed: DemoData
) -> None:
    user = seed.users[0].id
    with RedisServer() as server:
        writer = spawn(processes, backend, config, seed.admin.id)
        reader = spawn(processes, backend, config, user)
        query = reader.client.use_dashboard_data(refetch_interval=3600)
        query.wait_for(timeout=10)
        writer_bridge = writer.attach(server.url, "gamify:test:outage", backoff=0.02)
        reader_bridge = reader.attach(server.url, "gamify:test:outage", backoff=0.02)

        submit(writer, seed.task_ids[0], user)
        wait_until(lambda: reader.completed() == [seed.task_ids[0]], what="the first write")

        server.kill()
        wait_until(lambda: not reader_bridge.connected, what="the reader to see the outage")
        submit(writer, seed.task_ids[1], user)
        server.start()

        wait_until(
            lambda: reader_bridge.stats().reconnects == 1 and writer_bridge.stats().reconnects == 1,
            what="both bridges to reconnect",
        )
        submit(writer, seed.task_ids[2], user)
        truth = reader.client.progress.dashboard()
        wait_until(
            lambda: (
                query.data is not None
                and query.data.overall_stats.user_total_xp == truth.overall_stats.user_total_xp
                and seed.task_ids[2] in reader.completed()
            ),
            what="the reader to catch up",
        )
        query.close()

    completed = reader.completed()
    # Every write reached the reader, none twice; the one made during the outage came with the
    # refetch after the reconnect, and its event too when the outbox got there first.
    assert completed.count(seed.task_ids[0]) == 1
    assert completed.count(seed.task_ids[1]) <= 1
    assert completed.count(seed.task_ids[2]) == 1
    assert reader_bridge.stats().duplicates == 0
    assert (CacheKey.DASHBOARD, user) in reader.invalidated
    assert writer_bridge.stats().dropped == 0


# The asyncio bridge


@needs_redis
async def test_async_bridges_carry_writes_both_ways(
    redis_server: RedisServer,
    channel: str,
    backend: GamifyBackend,
    config: ClientConfig,
    seed: DemoData,
) -> None:
    user = seed.users[0].id

    def client(user_id: str) -> AsyncGamifyClient:
        return AsyncGamifyClient(
            config=config.replace(base_url=BASE, token=backend.token_for(user_id)),
            http_client=httpx.AsyncClient(transport=backend.transport()),
        )

    async with client(user) as reader, client(seed.admin.id) as writer:
        key = (CacheKey.DASHBOARD, user)
        await reader.refresh_manager.refresh_async(key, reader.progress.dashboard)
        completed: list[str] = []
        reader.events.subscribe(Event.TASK_COMPLETED, lambda p: completed.append(p.task_id))
        reader_bridge = await reader.attach_bridge(redis_server.url, channel=channel)
        writer_bridge = await AsyncRedisBridge(
            writer, url=redis_server.url, channel=channel
        ).start()
        try:
            assert await reader_bridge.wait_connected(10)
            assert await writer_bridge.wait_connected(10)
            result = await writer.tasks.submit(
                seed.task_ids[0], user_id=user, submission_type="Text Entry", value="x"
            )
            await wait_until_async(lambda: completed == [seed.task_ids[0]], what="the write")
            cached = reader.refresh_manager.peek(key)
            assert cached is not None
            assert cached.data.overall_stats.user_total_xp == result.real_time.new_total_xp
            assert writer_bridge.stats().own == 1
            assert reader_bridge.stats().published == 0
        finally:
            await reader_bridge.close()
            await writer_bridge.close()
    assert reader_bridge.state is BridgeState.CLOSED


@needs_redis
async def test_an_async_bridge_reconnects_after_an_outage_and_refetches(
    backend: GamifyBackend, config: ClientConfig, seed: DemoData
) -> None:
    user = seed.users[0].id
    with RedisServer() as server:
        async with AsyncGamifyClient(
            config=config.replace(base_url=BASE, token=backend.token_for(user)),
            http_client=httpx.AsyncClient(transport=backend.transport()),
        ) as reader:
            invalidated: list[Key] = []
            reader.refresh_manager.on_invalidate(invalidated.append)
            query = reader.use_dashboard_data(refetch_interval=3600)
            await query.wait_for(timeout=10)
            bridge = await reader.attach_bridge(server.url, channel="gamify:test:async-outage")
            try:
                server.kill()
                await wait_until_async(lambda: not bridge.connected, what="the outage")
                server.start()
                await wait_until_async(lambda: bridge.stats().reconnects == 1, what="a reconnect")
                assert (CacheKey.DASHBOARD, user) in invalidated
            finally:
                query.close()
                await bridge.close()


# Separate processes


@needs_redis
@pytest.mark.parametrize("count", [2, 5])
def test_a_submit_in_one_process_updates_the_dashboards_of_all_others(
    count: int, redis_server: RedisServer, backend: GamifyBackend, seed: DemoData
) -> None:
    user = seed.users[0].id
    with (
        backend.serve() as base_url,
        dashboard_workers(
            count,
            base_url=base_url,
            token=backend.token_for(user),
            user_id=user,
            link="redis",
            redis_url=redis_server.url,
        ) as workers,
    ):
        assert {xp for _, xp in workers.of_kind("ready")} == {0}
        workers.commands[workers.names[0]].put(("submit", seed.task_ids[0]))

        def everyone_updated(got: list[tuple[str, str, Any]]) -> bool:
            updated = {name for name, xp in workers.of_kind("dashboard") if xp == 100}
            return updated == set(workers.names)

        workers.expect(everyone_updated, "every dashboard to show the new XP")
        stats = workers.stop()

    events = workers.of_kind("event")
    assert sorted(name for name, _ in events) == sorted(workers.names)
    assert {task for _, task in events} == {seed.task_ids[0]}
    assert stats[workers.names[0]]["applied"] == 0
    assert all(stats[name] == {"applied": 1, "duplicates": 0} for name in workers.names[1:])


def test_messages_and_json_agree() -> None:
    wire = json.loads(
        MutationMessage(
            id="1",
            origin=None,
            mutation="tasks.start",
            request={},
            event="progressUpdate",
            keys=("tasks",),
            real_time=None,
            body={},
        ).encode()
    )
    assert wire == {
        "v": 1,
        "id": "1",
        "origin": None,
        "mutation": "tasks.start",
        "request": {},
        "event": "progressUpdate",
        "keys": ["tasks"],
        "realTimeData": None,
        "body": {},
    }


@needs_redis
@pytest.mark.timeout(60)
def test_a_write_returns_within_its_timeout_while_redis_is_frozen(
    backend: GamifyBackend, seed: DemoData, config: ClientConfig
) -> None:
    with RedisServer() as server:
        client = GamifyClient(
            config=config.replace(token=backend.token_for(seed.admin.id), timeout=2.0),
            http_client=httpx.Client(transport=backend.transport()),
        )
        bridge = RedisBridge(client, url=server.url, channel="gamify:test:frozen")
        with client, bridge:
            assert bridge.wait_connected(5)
            server.freeze()
            try:
                start = time.perf_counter()
                for details in ("while Redis is frozen", "and again"):
                    client.tasks.edit(seed.task_ids[0], details=details)
                took = time.perf_counter() - start
            finally:
                server.thaw()
            wait_until(lambda: bridge.stats().published == 2, what="the queued writes")
    assert took < 0.5
