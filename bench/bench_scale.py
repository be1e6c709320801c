"""Live queries at scale: what creating, closing and invalidating many of them costs, how many
keys one client keeps polling, and whether unchanged answers call anybody.

- ``invalidate_family_10000_keys_ms``: invalidating a key family with 10,000 live queries on
  10,000 distinct keys of it, on the caller's thread (target at most 50).
- ``create_close_10000_queries_one_key_ms``: opening 10,000 queries on one cached key, then
  closing them (target at most 500).
- ``polls_per_s_100_keys_20ms_rtt``: polls a client makes per second with 100 keys polled every
  second against a server that answers in 20 ms (target at least 95 of the 100 wanted).
- ``unchanged_polls_callbacks``: callbacks over 20 polls of a dashboard whose answers differ
  only in the server's ``lastUpdated`` (target 0).
- ``mutation_to_100_observers_us``: median time, inside ``tasks.submit``, from its answer being
  parsed to the last of 100 dashboard queries holding the new XP: the write's rule (its patches
  from ``realTimeData``) and every observer's update and callback (target at most 100).
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from typing import Any

import httpx

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.resources import tasks as task_resource
from gamify_client.testing import GamifyBackend
from gamify_client.timers import Scheduler

BASE_URL = "http://bench.test"
CONFIG = ClientConfig(base_url=BASE_URL, task_completion_delay=0, max_retries=0)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _manual_client(transport: httpx.BaseTransport, clock: _Clock, **options: Any) -> GamifyClient:
    return GamifyClient(
        config=CONFIG,
        http_client=httpx.Client(transport=transport),
        scheduler=Scheduler(clock=clock, threaded=False),
        **options,
    )


def _empty_list() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"progress": {}}))


def invalidate_family_ms(keys: int = 10_000, rounds: int = 5) -> float:
    """The median over ``rounds`` invalidations of the family, each once every key has data."""
    # The client's own threads, as a user has them; the refetches an invalidation starts are
    # held at the server until its clock has stopped, so they do not compete for the GIL.
    hold = [threading.Event()]
    hold[0].set()

    def answer(request: httpx.Request) -> httpx.Response:
        hold[0].wait(30)
        return httpx.Response(200, json={"progress": {}})

    client = GamifyClient(
        config=CONFIG, http_client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    queries = [
        client.use_user_progress_data(f"u{index}", "b1", refetch_interval=None)
        for index in range(keys)
    ]
    samples = []
    for _ in range(rounds):
        # ``fetching`` calls nobody back when it changes, so it is polled.
        deadline = time.monotonic() + 120
        while any(query.fetching or query.data is None for query in queries):
            if time.monotonic() > deadline:
                raise TimeoutError("the refetches did not end")
            time.sleep(0.01)
        hold[0] = threading.Event()
        gc.collect()
        started = time.perf_counter()
        invalidated = client.refresh_manager.invalidate(CacheKey.USER_PROGRESS)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(invalidated) == keys
        hold[0].set()
    for query in queries:
        query.close()
    client.close()
    return statistics.median(samples)


def create_close_one_key_ms(count: int = 10_000) -> float:
    clock = _Clock()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    client = _manual_client(transport, clock)
    first = client.use_tasks_data()
    client.scheduler.run_due()
    gc.collect()
    started = time.perf_counter()
    queries = [client.use_tasks_data() for _ in range(count)]
    for query in queries:
        query.close()
    elapsed = (time.perf_counter() - started) * 1000
    first.close()
    client.close()
    return elapsed


def polls_per_s(keys: int = 100, rtt: float = 0.02, seconds: float = 5.0) -> float:
    counted = [0]
    lock = threading.Lock()
    started = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        # A server 20 ms away: the client's worker waits as it would on a socket.
        time.sleep(rtt)
        if started[0]:
            with lock:
                counted[0] += 1
        return httpx.Response(200, json={"progress": {}})

    client = GamifyClient(
        config=CONFIG, http_client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    queries = [
        client.use_user_progress_data(f"u{index}", "b1", refetch_interval=1.0, stale_time=1.0)
        for index in range(keys)
    ]
    for query in queries:
        query.wait_for(timeout=30)
    started[0] = time.monotonic()
    time.sleep(seconds)
    with lock:
        polls = counted[0]
    client.close()
    return polls / seconds


def unchanged_poll_callbacks(polls: int = 20) -> int:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        clock = _Clock()
        client = GamifyClient(
            config=CONFIG,
            token=backend.token_for(demo.users[0].id),
            http_client=httpx.Client(transport=backend.transport()),
            scheduler=Scheduler(clock=clock, threaded=False),
        )
        dashboard = client.use_dashboard_data(refetch_interval=1.0)
        client.scheduler.run_due()
        calls: list[Any] = []
        dashboard.subscribe(calls.append)
        for _ in range(polls):
            clock.now += 1.0
            client.scheduler.run_due()
        client.close()
        return len(calls)


def mutation_to_observers_us(observers: int = 100) -> float:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        admin = GamifyClient(
            config=CONFIG,
            token=backend.token_for(demo.admin.id),
            http_client=httpx.Client(transport=backend.transport()),
        )
        task_ids = list(demo.task_ids)
        for number in range(16):
            created = admin.tasks.create(
                name=f"Bench task {number}",
                description="Bench",
                details="Bench",
                category=demo.category_ids[0],
                difficulty="Easy",
                batch=demo.batch_id,
            )
            task_ids.append(str(created.data.id))
        user_id = demo.users[0].id
        user = GamifyClient(
            config=CONFIG.replace(task_completion_delay=3600),
            token=backend.token_for(user_id),
            http_client=httpx.Client(transport=backend.transport()),
        )
        # The clock starts when the submit's answer is parsed, inside the write.
        parse = task_resource.SUBMIT.parse
        parsed_at = [0.0]

        def stamped(response: httpx.Response) -> Any:
            result = parse(response)
            parsed_at[0] = time.perf_counter()
            return result

        task_resource.SUBMIT.parse = stamped
        queries = [user.use_dashboard_data(refetch_interval=None) for _ in range(observers)]
        for query in queries:
            query.wait_for(timeout=30)
        samples = []
        for task_id in task_ids:
            last = [0.0]
            xp_before = queries[0].data.overall_stats.user_total_xp  # type: ignore[union-attr]

            def seen(query: Any, before: int = xp_before, last: list[float] = last) -> None:
                if query.data.overall_stats.user_total_xp != before:
                    last[0] = time.perf_counter()

            unsubscribes = [query.subscribe(seen) for query in queries]
            user.tasks.submit(task_id, user_id=user_id, submission_type="Text Entry", value="x")
            assert all(
                query.data.overall_stats.user_total_xp != xp_before  # type: ignore[union-attr]
                for query in queries
            )
            samples.append((last[0] - parsed_at[0]) * 1e6)
            for unsubscribe in unsubscribes:
                unsubscribe()
        task_resource.SUBMIT.parse = parse
        user.close()
        admin.close()
        return statistics.median(samples)


def main() -> None:
    print(f"invalidate_family_10000_keys_ms: {invalidate_family_ms():.2f}")
    print(f"create_close_10000_queries_one_key_ms: {create_close_one_key_ms():.1f}")
    print(f"polls_per_s_100_keys_20ms_rtt: {polls_per_s():.1f}")
    print(f"unchanged_polls_callbacks: {unchanged_poll_callbacks()}")
    print(f"mutation_to_100_observers_us: {mutation_to_observers_us():.1f}")


if __name__ == "__main__":
    main()
