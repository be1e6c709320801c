"""Cross-process propagation: how long a write in one process takes to reach another's cache.

Process A submits tasks against a served reference backend; process B (spawned) holds the same
user's dashboard and reports the moment its cache holds each patched value. Both read the
system-wide monotonic clock.

- ``redis_propagation_ms``: p50 from just before A sends the write until B holds the patched
  dashboard, through the Redis bridge (target: under 5 ms on loopback). Skipped, with a line
  saying so, when ``redis-server`` is not installed.
- ``sse_propagation_ms``: the same clock, through server push. Both include A's round trip, so
  the two figures compare.
"""

from __future__ import annotations

import multiprocessing
import queue
import statistics
import time
from typing import Any

from tests._redis_server import RedisServer, redis_server_binary

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.testing import GamifyBackend
from gamify_client.testing._seed import DemoData

SAMPLES = 40
WARMUP = 3
DEADLINE = 30.0


def _subscriber(
    base_url: str, token: str, user_id: str, redis_url: str | None, reports: Any, stop: Any
) -> None:
    """Process B: the user's dashboard in the cache, each change reported with its time."""
    config = ClientConfig(base_url=base_url, token=token, task_completion_delay=0)
    with GamifyClient(config=config) as client:
        link: Any = client.attach_bridge(redis_url) if redis_url else client.listen()
        link.wait_connected(DEADLINE)
        key = (CacheKey.DASHBOARD, user_id)
        client.refresh_manager.refresh(key, client.progress.dashboard)
        client.refresh_manager.subscribe(
            key,
            lambda data: reports.put((data.overall_stats.user_total_xp, time.monotonic())),
            invalidations=False,
        )
        reports.put(("ready", time.monotonic()))
        stop.get(timeout=DEADLINE * 4)
        link.close()


def _create_tasks(client: GamifyClient, seed: DemoData, count: int) -> list[str]:
    return [
        client.tasks.create(
            name=f"bench task {index}",
            description="propagation",
            details="submit me",
            category=seed.category_ids[0],
            difficulty="Easy",
            batch=seed.batch_id,
            points=10,
        ).data.id
        for index in range(count)
    ]


def _propagation_ms(
    backend: GamifyBackend,
    base_url: str,
    seed: DemoData,
    task_ids: list[str],
    redis_url: str | None,
) -> list[float]:
    """One run of A and B; the delays of every sample after the warm-up, in milliseconds."""
    user = seed.users[0].id
    context = multiprocessing.get_context("spawn")
    reports, stop = context.Queue(), context.Queue()
    token = backend.token_for(user)
    process = context.Process(
        target=_subscriber, args=(base_url, token, user, redis_url, reports, stop), daemon=True
    )
    process.start()
    config = ClientConfig(base_url=base_url, token=token, task_completion_delay=0)
    delays: list[float] = []
    with GamifyClient(config=config) as writer:
        bridge = writer.attach_bridge(redis_url) if redis_url else None
        try:
            ready = reports.get(timeout=DEADLINE)
            assert ready[0] == "ready", ready
            for task_id in task_ids:
                # The clock starts just before the write is sent, for Redis and SSE alike.
                sent = time.monotonic()
                result = writer.tasks.submit(
                    task_id, user_id=user, submission_type="Text Entry", value="done"
                )
                assert result.real_time is not None
                expected = result.real_time.new_total_xp
                while True:
                    xp, held_at = reports.get(timeout=DEADLINE)
                    if xp == expected:
                        break
                delays.append((held_at - sent) * 1000)
        finally:
            if bridge is not None:
                bridge.close()
            stop.put(None)
            process.join(timeout=DEADLINE)
    return delays[WARMUP:]


def _p(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]


def main() -> None:
    with GamifyBackend() as backend:
        seed = backend.seed_demo()
        with backend.serve() as base_url:
            admin = ClientConfig(base_url=base_url, token=backend.token_for(seed.admin.id))
            with GamifyClient(config=admin) as client:
                task_ids = _create_tasks(client, seed, 2 * (SAMPLES + WARMUP))
            redis_tasks, sse_tasks = task_ids[: SAMPLES + WARMUP], task_ids[SAMPLES + WARMUP :]
            if redis_server_binary() is None:
                print("redis_propagation_ms: skipped (redis-server is not installed)")
            else:
                with RedisServer() as server:
                    delays = _propagation_ms(backend, base_url, seed, redis_tasks, server.url)
                print(f"redis_propagation_ms: {statistics.median(delays):.3f}")
                print(f"redis_propagation_p95_ms: {_p(delays, 0.95):.3f}")
            try:
                delays = _propagation_ms(backend, base_url, seed, sse_tasks, None)
            except queue.Empty:
                print("sse_propagation_ms: failed (process B never held the data)")
                return
            print(f"sse_propagation_ms: {statistics.median(delays):.3f}")
            print(f"sse_propagation_p95_ms: {_p(delays, 0.95):.3f}")


if __name__ == "__main__":
    main()
