"""Optimistic updates: how soon the observers of a key hold a write's predicted data.

- ``optimistic_to_observers_us``: median time from entering ``tasks.submit`` on an optimistic
  client to the last of 100 dashboard queries holding the predicted XP, before the request
  leaves: the prediction, its layer and every observer's update and callback. Each round
  submits the demo's tasks on a fresh backend.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.testing import GamifyBackend

CONFIG = ClientConfig(base_url="http://bench.test", task_completion_delay=3600, max_retries=0)


def _round(observers: int) -> list[float]:
    """The samples of one round: one per demo task submitted."""
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        user_id = demo.users[0].id
        inner = backend.transport()
        queries: list[Any] = []

        def handle(request: httpx.Request) -> httpx.Response:
            # The observers must hold the prediction before the request reaches the server.
            if request.url.path.endswith("/submit") and not queries[-1].is_optimistic:
                raise RuntimeError("the observers did not hold the prediction before the answer")
            return inner.handle_request(request)

        user = GamifyClient(
            config=CONFIG,
            token=backend.token_for(user_id),
            http_client=httpx.Client(transport=httpx.MockTransport(handle)),
            optimistic=True,
        )
        tasks = user.tasks.list()
        user.refresh_manager.set(CacheKey.TASKS, tasks)
        queries.extend(user.use_dashboard_data(refetch_interval=None) for _ in range(observers))
        for query in queries:
            query.wait_for(timeout=30)
        samples = []
        for task in tasks:
            done = [0.0]
            holding: set[int] = set()
            before = queries[0].data.overall_stats.user_total_xp

            # The clock stops when the last observer holds the new XP; the server's answer
            # changes more fields later (the streak), which calls them again.
            def seen(
                query: Any,
                before: int = before,
                holding: set[int] = holding,
                done: list[float] = done,
            ) -> None:
                if query.data.overall_stats.user_total_xp != before and id(query) not in holding:
                    holding.add(id(query))
                    if len(holding) == observers:
                        done[0] = time.perf_counter()

            unsubscribes = [query.subscribe(seen) for query in queries]
            kind = task.submission_types[0]
            entered = time.perf_counter()
            user.tasks.submit(task.id, user_id=user_id, submission_type=kind, value="x")
            samples.append((done[0] - entered) * 1e6)
            for unsubscribe in unsubscribes:
                unsubscribe()
        user.close()
        return samples


def optimistic_to_observers_us(observers: int = 100, rounds: int = 5) -> float:
    return statistics.median(sample for _ in range(rounds) for sample in _round(observers))


def main() -> None:
    print(f"optimistic_to_observers_us: {optimistic_to_observers_us():.1f}")


if __name__ == "__main__":
    main()
