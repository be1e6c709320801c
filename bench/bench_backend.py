"""Reference backend throughput: task submissions per second over loopback.

One client submits distinct tasks of one batch, one after another, to ``backend.serve()``
(uvicorn on 127.0.0.1). The tasks are made in-process beforehand and are not timed.
"""

from __future__ import annotations

import time

import httpx

from gamify_client.testing import DEMO_PASSWORD, GamifyBackend

TASKS = 600
BASE = "http://setup"


def _prepare(backend: GamifyBackend) -> tuple[str, list[str]]:
    """A fresh batch with one enrolled user and TASKS tasks; the user's id and the task ids."""
    demo = backend.seed_demo()
    with httpx.Client(transport=backend.transport(), base_url=BASE) as setup:
        admin = {"Authorization": f"Bearer {backend.token_for(demo.admin.id)}"}
        batch = setup.post(
            "/api/batches",
            json={"name": "Bench", "description": "load", "mentor": demo.mentor.id},
            headers=admin,
        ).json()
        user_id = setup.post(
            "/api/user/register",
            json={
                "name": "Bench User",
                "email": "bench@demo.gamify",
                "password": DEMO_PASSWORD,
                "designation": "user",
                "parentId": demo.admin.id,
            },
        ).json()["userId"]
        setup.post(f"/api/batches/{batch['_id']}/enroll", json={"userId": user_id})
        task_ids = [
            setup.post(
                "/api/task/create",
                json={
                    "name": f"Bench task {number}",
                    "description": "d",
                    "details": "d",
                    "category": demo.category_ids[0],
                    "difficulty": "Easy",
                    "batch": batch["_id"],
                    "points": 10,
                },
            ).json()["task"]["_id"]
            for number in range(TASKS)
        ]
    return user_id, task_ids


def main() -> None:
    """Print ``backend_requests_per_s``: submissions per second against ``serve()``."""
    with GamifyBackend() as backend:
        user_id, task_ids = _prepare(backend)
        learner = {"Authorization": f"Bearer {backend.token_for(user_id)}"}
        with (
            backend.serve() as base_url,
            httpx.Client(base_url=base_url, headers=learner) as client,
        ):
            client.get("/")
            started = time.perf_counter()
            for task_id in task_ids:
                response = client.post(
                    f"/api/task/{task_id}/submit",
                    json={"userId": user_id, "submissionType": "Text Entry", "value": "done"},
                )
                response.raise_for_status()
            elapsed = time.perf_counter() - started
    print(f"backend_requests_per_s: {len(task_ids) / elapsed:.0f}")


if __name__ == "__main__":
    main()
