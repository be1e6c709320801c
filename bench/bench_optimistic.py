"""Optimistic updates: how soon the observers of a key hold a write's predicted data.

- ``optimistic_to_observers_us``: median time from entering ``tasks.submit`` on an optimistic
  client to the last of 100 dashboard queries holding the predicted XP, before the request
  leaves: the prediction, its layer and every observer's update and callback.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.testing import GamifyBackend

BASE_URL = "http://bench.test"
CONFIG = ClientConfig(base_url=BASE_URL, task_completion_delay=3600, max_retries=0)


def optimistic_to_observers_us(observers: int = 100, writes: int = 20) -> float:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        admin = GamifyClient(
            config=CONFIG,
            token=backend.token_for(demo.admin.id),
            http_client=httpx.Client(transport=backend.transport()),
        )
        task_ids = list(demo.task_ids)
        while len(task_ids) < writes:
            created = admin.tasks.create(
                name=f"Bench task {len(task_ids)}",
                description="Bench",
                details="Bench",
                category=demo.category_ids[0],
                difficulty="Easy",
                batch=demo.batch_id,
                points=10,
            )
            task_ids.append(str(created.data.id))
        user_id = demo.users[0].id
        inner = backend.transport()
        held_before_answer: list[bool] = []
        queries: list[Any] = []

        def handle(request: httpx.Request) -> httpx.Response:
            # The observers must hold the prediction before the request even reaches the server.
            if request.url.path.endswith("/submit"):
                held_before_answer.append(all(query.is_optimistic for query in queries[:1]))
            return inner.handle_request(request)

        user = GamifyClient(
            config=CONFIG,
            token=backend.token_for(user_id),
            http_client=httpx.Client(transport=httpx.MockTransport(handle)),
            optimistic=True,
        )
        tasks = user.tasks.list()
        user.refresh_manager.set(CacheKey.TASKS, tasks)
        kinds = {task.id: (task.submission_types or ["Text Entry"])[0] for task in tasks}
        queries.extend(user.use_dashboard_data(refetch_interval=None) for _ in range(observers))
        for query in queries:
            query.wait_for(timeout=30)
        samples = []
        for task_id in task_ids[:writes]:
            last = [0.0]
            xp_before = queries[0].data.overall_stats.user_total_xp
            holding: set[int] = set()

            # The clock stops when the last observer holds the new XP; the server's answer
            # changes more fields later (the streak), which calls them again.
            def seen(
                query: Any,
                before: int = xp_before,
                holding: set[int] = holding,
                last: list[float] = last,
            ) -> None:
                if query.data.overall_stats.user_total_xp != before and id(query) not in holding:
                    holding.add(id(query))
                    if len(holding) == observers:
                        last[0] = time.perf_counter()

            unsubscribes = [query.subscribe(seen) for query in queries]
            entered = time.perf_counter()
            user.tasks.submit(task_id, user_id=user_id, submission_type=kinds[task_id], value="x")
            samples.append((last[0] - entered) * 1e6)
            for unsubscribe in unsubscribes:
                unsubscribe()
        user.close()
        admin.close()
        if not all(held_before_answer) or len(held_before_answer) != writes:
            raise RuntimeError("the observers did not hold the prediction before the answer")
        return statistics.median(samples)


def main() -> None:
    print(f"optimistic_to_observers_us: {optimistic_to_observers_us():.1f}")


if __name__ == "__main__":
    main()
