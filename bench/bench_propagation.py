"""Cross-process propagation: how long a write in one process takes to reach the caches of 1, 5
and 20 other processes, and what applying it costs each of them.

Each run serves a freshly seeded reference backend. The writer (this process) submits tasks;
every subscriber (a process of its own) holds the same user's dashboard and reports the moment
its cache holds each patched value. All of them read the system-wide monotonic clock
(``CLOCK_MONOTONIC`` on Linux), so their times compare.

- ``redis_propagation_{1,5,20}_p50_ms`` / ``_p95_ms``: from just before the writer sends the
  write until the LAST subscriber holds the patched dashboard, through the Redis bridge, over
  SAMPLES writes (target for 20 subscribers: p50 at most 5 ms). ``skipped`` when
  ``redis-server`` is not installed. Each subscriber takes the time in its cache's callback and
  sends it over a pipe of its own, from that thread: a queue would hand every report to a
  feeder thread, a wake-up per report that takes CPU from the subscribers still applying.
- ``sse_propagation_{1,5,20}_p50_ms`` / ``_p95_ms``: the same clock, through server push
  (``client.listen()``); the served backend pushes to every stream itself.
- ``{redis,sse}_propagation_{1,5,20}_write_p50_ms``: the writer's own round trip in the same
  run, the floor of the figures above (the backend is served from this process).
- ``remote_apply_cpu_us``: the CPU time (``time.process_time``, every thread of the process)
  a subscriber spends per write another process made, measured over CPU_MESSAGES messages
  published on its Redis channel at a steady pace, with live queries on the dashboard and
  the user's batch progress that the writes patch (target at most 50). The invalidations a
  write schedules wait ``task_completion_delay`` (an hour here), so the refetches they start
  are not counted: they are a round trip to the server, not the cost of applying.
- ``remote_receive_floor_cpu_us``: the control of the line above, printed beside it: the same
  subscriber (a client with the same live queries open), the same messages at the same pace,
  the same CPU clock, but no bridge: a thread reads the messages off its own Redis subscription
  as the bridge does (``read_response`` on the subscribed RESP2 connection) and applies
  nothing. It is what receiving alone costs on this machine, the floor under
  ``remote_apply_cpu_us``.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import multiprocessing.connection
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, cast

import redis
from tests._redis_server import RedisServer, redis_server_binary

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.bridges._messages import MutationMessage, new_message_id
from gamify_client.bridges.redis import default_channel
from gamify_client.testing import GamifyBackend
from gamify_client.testing._seed import DemoData

SUBSCRIBERS = (1, 5, 20)
SAMPLES = 30
WARMUP = 3
DEADLINE = 60.0
CPU_MESSAGES = 1000
CPU_PACE_S = 0.002
_READY = "ready"


def _context() -> BaseContext:
    """Subscribers fork from a server process that imported the SDK once, so that starting
    twenty of them takes seconds, not a minute of imports."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gamify_client", "redis", "httpx_sse"])
    return context


def _link(client: GamifyClient, redis_url: str | None) -> Any:
    """The client's link to the other processes: the Redis bridge, or server push."""
    link: Any = client.attach_bridge(redis_url) if redis_url else client.listen()
    if not link.wait_connected(DEADLINE):
        raise RuntimeError("the link did not connect")
    return link


def _subscriber(
    index: int, base_url: str, token: str, redis_url: str | None, report: Connection, stop: Any
) -> None:
    """A subscriber: its user's dashboard in the cache, each change sent with its time."""
    config = ClientConfig(base_url=base_url, token=token, task_completion_delay=0)
    with GamifyClient(config=config) as client:
        link = _link(client, redis_url)
        key = (CacheKey.DASHBOARD, client.user_id)
        client.refresh_manager.refresh(key, client.progress.dashboard)
        client.refresh_manager.subscribe(
            key,
            lambda data: report.send((index, data.overall_stats.user_total_xp, time.monotonic())),
            invalidations=False,
        )
        report.send((index, _READY, time.monotonic()))
        stop.get(timeout=DEADLINE * 10)
        link.close()


def _cpu_subscriber(
    base_url: str,
    token: str,
    batch_id: str,
    redis_url: str,
    first_xp: int,
    last_xp: int,
    apply: bool,
    reports: Any,
    stop: Any,
) -> None:
    """A subscriber that reports the CPU time it spent from the write that brought
    ``first_xp`` to the one that brought ``last_xp``: applying them through its bridge, or,
    when ``apply`` is False, only reading them off a subscription of its own."""
    config = ClientConfig(base_url=base_url, token=token, task_completion_delay=3600)
    with GamifyClient(config=config) as client:
        link: Any
        if apply:
            link = _link(client, redis_url)
        else:
            link = _RawReader(redis_url, default_channel(base_url), last_xp - first_xp, reports)
        dashboard = client.use_dashboard_data()
        progress = client.use_user_progress_data(str(client.user_id), batch_id)
        dashboard.wait_for(timeout=DEADLINE)
        progress.wait_for(timeout=DEADLINE)
        started: list[float] = []

        def on_change(query: Any) -> None:
            xp = query.data.overall_stats.user_total_xp if query.data is not None else None
            if xp == first_xp:
                started.append(time.process_time())
            elif xp == last_xp and started:
                reports.put(("cpu", time.process_time() - started[0]))

        if apply:
            dashboard.subscribe(on_change)
        reports.put((_READY, 0.0))
        stop.get(timeout=DEADLINE * 10)
        link.close()


class _RawReader:
    """The floor under applying: reads the messages off a Redis subscription of its own, as
    the bridge's listener does (RESP2, straight off the connection, the idle wait as the
    socket's timeout), and applies nothing. Reports the CPU time from the first message to
    the ``count``-th after it."""

    def __init__(self, redis_url: str, channel: str, count: int, reports: Any) -> None:
        self._redis = redis.Redis.from_url(redis_url, protocol=2, socket_timeout=1.0)
        # redis-py leaves ``pubsub`` unannotated.
        self._pubsub = cast(Callable[[], redis.client.PubSub], self._redis.pubsub)()
        self._pubsub.subscribe(channel)
        confirmed = False
        while not confirmed:
            reply = self._pubsub.get_message(timeout=DEADLINE)
            if reply is None:
                raise TimeoutError("Redis did not confirm the subscription")
            confirmed = reply["type"] == "subscribe"
        self._thread = threading.Thread(target=self._read, args=(count, reports), daemon=True)
        self._thread.start()

    def _read(self, count: int, reports: Any) -> None:
        connection = self._pubsub.connection
        assert connection is not None
        received = 0
        started = 0.0
        with suppress(redis.ConnectionError):
            while received <= count:
                try:
                    reply = connection.read_response(disconnect_on_error=False)
                except redis.TimeoutError:
                    continue
                if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
                    received += 1
                    if received == 1:
                        started = time.process_time()
            reports.put(("cpu", time.process_time() - started))

    def close(self) -> None:
        self._thread.join(timeout=DEADLINE)
        self._pubsub.close()
        self._redis.close()


@contextmanager
def _processes(
    target: Callable[..., None], arguments: list[tuple[Any, ...]], stop: Any
) -> Iterator[None]:
    """Run one process per argument tuple; they end when told to stop."""
    context = _context()
    processes = [context.Process(target=target, args=args, daemon=True) for args in arguments]
    for process in processes:
        process.start()
    try:
        yield
    finally:
        for _ in processes:
            stop.put(None)
        for process in processes:
            process.join(timeout=DEADLINE)


def _create_tasks(admin: GamifyClient, seed: DemoData, count: int) -> list[str]:
    """``count`` new tasks in the demo batch, for the user to submit one per write."""
    fields: dict[str, Any] = {
        "description": "propagation",
        "details": "submit me",
        "category": seed.category_ids[0],
        "difficulty": "Easy",
        "batch": seed.batch_id,
        "points": 10,
    }
    return [
        str(admin.tasks.create(name=f"bench task {index}", **fields).data.id)
        for index in range(count)
    ]


@contextmanager
def _served_backend() -> Iterator[tuple[GamifyBackend, DemoData, str]]:
    """A freshly seeded backend served on loopback: every run starts from the same data."""
    with GamifyBackend() as backend:
        seed = backend.seed_demo()
        with backend.serve() as base_url:
            yield backend, seed, base_url


@dataclass(frozen=True)
class Run:
    """One run's samples after the warm-up, in milliseconds: until the last subscriber held
    each write, and the write's own round trip (the floor of the first, since a link carries
    a write once it was applied where it was made)."""

    delays_ms: list[float]
    writes_ms: list[float]


def _propagation(count: int, redis_url: str | None) -> Run:
    """One run with ``count`` subscribers."""
    with _served_backend() as (backend, seed, base_url):
        admin = ClientConfig(base_url=base_url, token=backend.token_for(seed.admin.id))
        with GamifyClient(config=admin) as client:
            task_ids = _create_tasks(client, seed, SAMPLES + WARMUP)
        user = seed.users[0].id
        token = backend.token_for(user)
        context = _context()
        pipes = [context.Pipe(duplex=False) for _ in range(count)]
        reports = [reader for reader, _ in pipes]
        stop = context.Queue()
        arguments = [
            (index, base_url, token, redis_url, writer, stop)
            for index, (_, writer) in enumerate(pipes)
        ]
        config = ClientConfig(base_url=base_url, token=token, task_completion_delay=0)
        delays: list[float] = []
        writes: list[float] = []
        with (
            _processes(_subscriber, arguments, stop),
            GamifyClient(config=config) as writer,
        ):
            bridge = writer.attach_bridge(redis_url) if redis_url else None
            ready = {_received(report, DEADLINE * 2)[0] for report in reports}
            assert ready == set(range(count)), ready
            for task_id in task_ids:
                # The clock starts just before the write is sent, for Redis and SSE alike.
                sent = time.monotonic()
                result = writer.tasks.submit(
                    task_id, user_id=user, submission_type="Text Entry", value="done"
                )
                writes.append(time.monotonic() - sent)
                assert result.real_time is not None
                delays.append(_last_arrival(reports, result.real_time.new_total_xp) - sent)
            if bridge is not None:
                bridge.close()
    return Run(
        delays_ms=[delay * 1000 for delay in delays[WARMUP:]],
        writes_ms=[write * 1000 for write in writes[WARMUP:]],
    )


def _received(report: Connection, timeout: float) -> Any:
    """The next report on one subscriber's pipe; TimeoutError after ``timeout`` seconds."""
    if not report.poll(timeout):
        raise TimeoutError("a subscriber sent nothing")
    return report.recv()


def _last_arrival(reports: list[Connection], expected: object) -> float:
    """When the last subscriber (one pipe each) reported holding ``expected``."""
    held: dict[int, float] = {}
    while len(held) < len(reports):
        ready = multiprocessing.connection.wait(reports, timeout=DEADLINE)
        if not ready:
            raise TimeoutError(f"{len(reports) - len(held)} subscriber(s) never held {expected}")
        for report in ready:
            index, xp, held_at = cast(Connection, report).recv()
            if xp == expected:
                held[index] = held_at
    return max(held.values())


def _captured_message(client: GamifyClient, seed: DemoData) -> dict[str, Any]:
    """The wire form of one real submission by the client, as its bridge would publish it."""
    captured: list[MutationMessage] = []
    stop_listening = client.on_mutation(
        lambda applied: captured.append(MutationMessage.from_applied(applied, origin="bench"))
    )
    client.tasks.submit(
        seed.task_ids[0], user_id=str(client.user_id), submission_type="Text Entry", value="x"
    )
    stop_listening()
    return captured[0].to_wire()


def _with_xp(message: dict[str, Any], xp: int) -> bytes:
    """``message`` under a fresh id, announcing ``xp`` as the user's new total."""
    body = dict(message["body"])
    body["realTimeData"] = dict(body["realTimeData"], newTotalXP=xp)
    wire = dict(message, id=new_message_id(), body=body, realTimeData=body["realTimeData"])
    return json.dumps(wire, separators=(",", ":")).encode()


def remote_cpu_us(redis_url: str, *, apply: bool) -> float:
    """CPU microseconds a subscriber spends per remote write, applying it or (``apply``
    False) only reading it off Redis (see the module's docstring)."""
    with _served_backend() as (backend, seed, base_url):
        token = backend.token_for(seed.users[0].id)
        config = ClientConfig(base_url=base_url, token=token, task_completion_delay=0)
        with GamifyClient(config=config) as writer:
            message = _captured_message(writer, seed)
        first_xp = int(message["body"]["realTimeData"]["newTotalXP"]) + 1
        last_xp = first_xp + CPU_MESSAGES
        payloads = [_with_xp(message, xp) for xp in range(first_xp, last_xp + 1)]
        context = _context()
        reports, stop = context.Queue(), context.Queue()
        arguments = [
            (base_url, token, seed.batch_id, redis_url, first_xp, last_xp, apply, reports, stop)
        ]
        publisher = redis.Redis.from_url(redis_url)
        with _processes(_cpu_subscriber, arguments, stop):
            assert reports.get(timeout=DEADLINE * 2)[0] == _READY
            start = time.monotonic()
            for number, payload in enumerate(payloads):
                # A steady pace, as writes come in a deployment: each one wakes the listener.
                pause = start + number * CPU_PACE_S - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                publisher.publish(default_channel(base_url), payload)
            kind, cpu_seconds = reports.get(timeout=DEADLINE)
            assert kind == "cpu"
        publisher.close()
    return float(cpu_seconds) / CPU_MESSAGES * 1e6


def _p(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]


def _print_run(kind: str, count: int, run: Run) -> None:
    name = f"{kind}_propagation_{count}"
    print(f"{name}_p50_ms: {statistics.median(run.delays_ms):.3f}")
    print(f"{name}_p95_ms: {_p(run.delays_ms, 0.95):.3f}")
    print(f"{name}_write_p50_ms: {statistics.median(run.writes_ms):.3f}")


def main() -> None:
    if redis_server_binary() is None:
        for count, suffix in itertools.product(SUBSCRIBERS, ("p50", "p95", "write_p50")):
            print(f"redis_propagation_{count}_{suffix}_ms: skipped (redis-server is not installed)")
        for name in ("remote_apply_cpu_us", "remote_receive_floor_cpu_us"):
            print(f"{name}: skipped (redis-server is not installed)")
    else:
        with RedisServer() as server:
            for count in SUBSCRIBERS:
                _print_run("redis", count, _propagation(count, server.url))
            print(f"remote_apply_cpu_us: {remote_cpu_us(server.url, apply=True):.1f}")
            floor = remote_cpu_us(server.url, apply=False)
            print(f"remote_receive_floor_cpu_us: {floor:.1f}")
    for count in SUBSCRIBERS:
        _print_run("sse", count, _propagation(count, None))


if __name__ == "__main__":
    main()
