"""An invalidation reaching 1,000 live queries on one key over a real loopback server.

``invalidate_fanout_1000_ms``: from ``refresh_manager.invalidate(CacheKey.TASKS)`` until all
1,000 queries of the key hold the refetched list (the backend changed in between, so the new
data is recognisable). ``fanout_round_trip_ms``: one ``client.tasks.list()`` on the same server
in the same run, the baseline: the target is at most one round trip + 5 ms, since the 1,000
queries share a single refetch.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.testing import GamifyBackend

QUERIES = 1000
ROUNDS = 15


def _add_task_behind_the_client(
    backend: GamifyBackend, token: str, body: dict[str, object]
) -> None:
    # Written through the backend's own handler, so no client-side rule patches or
    # invalidates anything: only the explicit invalidation below makes the queries refetch.
    response = backend.handle(
        "POST",
        "/api/task/create",
        "",
        {"content-type": "application/json", "authorization": f"Bearer {token}"},
        json.dumps(body).encode(),
    )
    assert response.status == 201, response


class Arrivals:
    """Counts the queries that hold a list of the expected length; sets ``done`` at 1,000."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.remaining = QUERIES
        self.lock = threading.Lock()
        self.done = threading.Event()

    def __call__(self, query: object) -> None:
        data = getattr(query, "data", None)
        if data is not None and len(data) == self.expected:
            with self.lock:
                self.remaining -= 1
                if self.remaining == 0:
                    self.done.set()


def main() -> None:
    backend = GamifyBackend()
    seed = backend.seed_demo()
    token = backend.token_for(seed.admin.id)
    task = {
        "name": "fan-out",
        "description": "d",
        "details": "x",
        "category": seed.category_ids[0],
        "difficulty": "Easy",
    }
    with backend.serve() as base_url:
        config = ClientConfig(base_url=base_url, token=token, task_completion_delay=0)
        with GamifyClient(config=config) as client:
            round_trips = []
            for _ in range(50):
                start = time.perf_counter()
                client.tasks.list()
                round_trips.append(time.perf_counter() - start)
            queries = [client.use_tasks_data(refetch_interval=None) for _ in range(QUERIES)]
            queries[0].wait_for(timeout=10)
            expected = len(client.tasks.list())
            fanouts = []
            for _ in range(ROUNDS):
                _add_task_behind_the_client(backend, token, task)
                expected += 1
                arrivals = Arrivals(expected)
                unsubscribes = [query.subscribe(arrivals) for query in queries]
                start = time.perf_counter()
                client.refresh_manager.invalidate(CacheKey.TASKS)
                if not arrivals.done.wait(timeout=30):
                    raise RuntimeError("the queries did not all receive the refetched data")
                fanouts.append(time.perf_counter() - start)
                for unsubscribe in unsubscribes:
                    unsubscribe()
            for query in queries:
                query.close()
    backend.close()
    print(f"invalidate_fanout_1000_ms: {statistics.median(fanouts) * 1000:.2f}")
    print(f"fanout_round_trip_ms: {statistics.median(round_trips) * 1000:.2f}")
