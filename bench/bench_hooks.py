"""Live queries: what a thousand of them cost, and how fast a write reaches them.

- ``focus_requests_1000_queries_10_keys``: requests sent when the window regains focus with
  1000 stale queries on 10 batch-progress keys (target 10: one per key).
- ``scheduler_threads_1000_queries``: threads added by a client with 1000 polling queries
  (target at most 1).
- ``leak_kib_10000_queries``: memory still allocated (tracemalloc) after opening and closing
  10,000 queries (target under 256 KiB).
- ``query_data_read_ratio``: reading ``query.data`` over reading an attribute of a plain
  object, measured in interleaved rounds (target at most 2), with its A/A control
  ``query_data_read_ratio_aa`` (see ``bench/_interleave.py``).
"""

from __future__ import annotations

import gc
import threading
import time
import timeit
import tracemalloc
from typing import Any

import httpx

from bench._interleave import Ratio, measure_ratio
from gamify_client import ClientConfig, GamifyClient
from gamify_client.testing import GamifyBackend
from gamify_client.timers import Scheduler

BASE_URL = "http://bench.test"
READS = 100_000
REPEATS = 3
ROUNDS = 9
CONFIG = ClientConfig(base_url=BASE_URL, task_completion_delay=0, max_retries=0)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _client(backend: GamifyBackend, user_id: str, **options: Any) -> GamifyClient:
    return GamifyClient(
        config=CONFIG,
        token=backend.token_for(user_id),
        http_client=httpx.Client(transport=backend.transport()),
        **options,
    )


def _wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bench waited too long")
        time.sleep(0.001)


def focus_requests() -> int:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        clock = _Clock()
        admin = _client(backend, demo.admin.id, scheduler=Scheduler(clock=clock, threaded=False))
        batch_ids = [demo.batch_id] + [
            str(
                admin.batches.create(
                    name=f"Cohort {number}", description="Bench", mentor=demo.mentor.id
                ).data.id
            )
            for number in range(9)
        ]
        queries = [admin.use_batch_progress_data(batch_ids[i % 10]) for i in range(1000)]
        admin.scheduler.run_due()
        admin.set_focused(False)
        clock.now += 3600
        backend.requests.clear()
        admin.set_focused(True)
        admin.scheduler.run_due()
        sent = len(backend.requests)
        assert all(query.error is None for query in queries)
        admin.close()
        return sent


def scheduler_threads() -> int:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        before = threading.active_count()
        client = _client(backend, demo.admin.id)
        queries = [
            client.use_batch_progress_data(demo.batch_id, refetch_interval=1 + i / 1000)
            for i in range(1000)
        ]
        _wait(lambda: all(query.data is not None for query in queries))
        added = threading.active_count() - before
        client.close()
        return added


def leak_kib() -> float:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    client = GamifyClient(config=CONFIG, http_client=httpx.Client(transport=transport))

    def open_and_close(count: int) -> None:
        for _ in range(count):
            client.use_tasks_data().close()

    open_and_close(100)
    _wait(lambda: client.scheduler.pending() == 0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    open_and_close(10_000)
    _wait(lambda: client.scheduler.pending() == 0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    client.close()
    return retained / 1024


class _Plain:
    def __init__(self, data: object) -> None:
        self.data = data


def data_read_ratio() -> Ratio:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    with GamifyClient(config=CONFIG, http_client=httpx.Client(transport=transport)) as client:
        query = client.use_tasks_data()
        query.wait_for(timeout=30)
        plain = _Plain(query.data)
        names = {"query": query, "plain": plain}
        ours = timeit.Timer("query.data", globals=names)
        baseline = timeit.Timer("plain.data", globals=names)
        return measure_ratio(
            "query_data_read_ratio",
            lambda: min(ours.repeat(number=READS, repeat=REPEATS)),
            lambda: min(baseline.repeat(number=READS, repeat=REPEATS)),
            ROUNDS,
        )


def main() -> None:
    print(f"focus_requests_1000_queries_10_keys: {focus_requests()}")
    print(f"scheduler_threads_1000_queries: {scheduler_threads()}")
    print(f"leak_kib_10000_queries: {leak_kib():.1f}")
    print(data_read_ratio().lines())


if __name__ == "__main__":
    main()
