"""Live queries: what a thousand of them cost, and how fast a write reaches them.

- ``focus_requests_1000_queries_10_keys``: requests sent when the window regains focus with
  1000 stale queries on 10 batch-progress keys (target 10: one per key).
- ``scheduler_threads_1000_queries``: threads added by a client with 1000 polling queries
  (target at most 1).
- ``leak_kib_10000_queries``: memory still allocated (tracemalloc) after opening and closing
  10,000 queries (target under 256 KiB).
- ``query_data_read_ratio``: reading ``query.data`` over reading an attribute of a plain
  object, measured in the same run (target at most 2).
- ``mutation_to_observers_ms``: median time from ``tasks.submit`` returning until all 100
  dashboard queries of the user hold the new XP (target under 1 ms: the patch from
  ``realTimeData`` needs no request).
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
import timeit
import tracemalloc
from typing import Any

import httpx

from gamify_client import ClientConfig, GamifyClient
from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.timers import Scheduler

BASE_URL = "http://bench.test"
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


def data_read_ratio() -> float:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    with GamifyClient(config=CONFIG, http_client=httpx.Client(transport=transport)) as client:
        query = client.use_tasks_data()
        query.wait_for(timeout=30)
        plain = _Plain(query.data)
        names = {"query": query, "plain": plain}
        ours = min(timeit.repeat("query.data", globals=names, number=200_000, repeat=7))
        baseline = min(timeit.repeat("plain.data", globals=names, number=200_000, repeat=7))
        return ours / baseline


def _more_tasks(admin: GamifyClient, demo: DemoData, count: int) -> list[str]:
    ids = []
    for number in range(count):
        result = admin.tasks.create(
            name=f"Bench task {number}",
            description="Bench",
            details="Bench",
            category=demo.category_ids[0],
            difficulty="Easy",
            batch=demo.batch_id,
        )
        assert result.data is not None
        ids.append(str(result.data.id))
    return ids


def mutation_to_observers_ms() -> float:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        admin = _client(backend, demo.admin.id)
        user_id = demo.users[0].id
        task_ids = list(demo.task_ids) + _more_tasks(admin, demo, 16)
        user = _client(backend, user_id)
        queries = [user.use_dashboard_data() for _ in range(100)]
        _wait(lambda: all(query.data is not None for query in queries))
        samples = []
        for task_id in task_ids:
            result = user.tasks.submit(
                task_id, user_id=user_id, submission_type="Text Entry", value="done"
            )
            returned = time.perf_counter()
            xp = result.real_time.new_total_xp if result.real_time else None
            while not all(
                query.data is not None and query.data.overall_stats.user_total_xp == xp
                for query in queries
            ):
                if time.perf_counter() - returned > 30:
                    raise TimeoutError("the observers never got the new XP")
            samples.append((time.perf_counter() - returned) * 1000)
        user.close()
        admin.close()
        return statistics.median(samples)


def main() -> None:
    print(f"focus_requests_1000_queries_10_keys: {focus_requests()}")
    print(f"scheduler_threads_1000_queries: {scheduler_threads()}")
    print(f"leak_kib_10000_queries: {leak_kib():.1f}")
    print(f"query_data_read_ratio: {data_read_ratio():.3f}")
    print(f"mutation_to_observers_ms: {mutation_to_observers_ms():.4f}")


if __name__ == "__main__":
    main()
