"""Progress rules over time: streaks across days, the activity cap, metrics, token expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from gamify_client.testing import ACTIVITY_LOG_LIMIT, DemoData, GamifyBackend

from ._api_support import seeded_admin_headers

BASE = "http://gamify.test"


class MovableClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2024, 3, 4, 10, 0, tzinfo=UTC))


@pytest.fixture
def backend(clock: MovableClock) -> Iterator[GamifyBackend]:
    with GamifyBackend(clock=clock) as backend:
        yield backend


def new_tasks(api: httpx.Client, demo: DemoData, count: int, points: int = 10) -> list[str]:
    ids = []
    for number in range(count):
        response = api.post(
            "/api/task/create",
            json={
                "name": f"Task {number}",
                "description": "d",
                "details": "d",
                "category": demo.category_ids[0],
                "difficulty": "Easy",
                "batch": demo.batch_id,
                "points": points,
            },
            headers=seeded_admin_headers(api),
        )
        ids.append(response.json()["task"]["_id"])
    return ids


def submit(api: httpx.Client, task_id: str, user_id: str) -> dict[str, Any]:
    response = api.post(
        f"/api/task/{task_id}/submit",
        json={"userId": user_id, "submissionType": "Link", "value": "v"},
        headers=seeded_admin_headers(api),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def dashboard_streak(api: httpx.Client, backend: GamifyBackend, user_id: str) -> int:
    response = api.get(
        "/api/batch-progress/dashboard/me",
        headers={"Authorization": f"Bearer {backend.token_for(user_id)}"},
    )
    streak: int = response.json()["dashboard"]["overallStats"]["currentStreak"]
    return streak


def test_streak_counts_consecutive_days(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    user = demo.users[0].id
    streaks = []
    for task_id in demo.task_ids[:3]:
        streaks.append(submit(api, task_id, user)["realTimeData"]["currentStreak"])
        clock.advance(days=1)
    assert streaks == [1, 2, 3]
    assert dashboard_streak(api, backend, user) == 3, "yesterday's completion keeps the streak"
    clock.advance(days=1)
    assert dashboard_streak(api, backend, user) == 0, "a missed day breaks it"
    assert submit(api, demo.task_ids[3], user)["realTimeData"]["currentStreak"] == 1


def test_two_completions_in_a_day_count_once(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    user = demo.users[1].id
    submit(api, demo.task_ids[0], user)
    clock.advance(hours=1)
    assert submit(api, demo.task_ids[1], user)["realTimeData"]["currentStreak"] == 1
    clock.advance(days=1)
    assert submit(api, demo.task_ids[2], user)["realTimeData"]["currentStreak"] == 2


def test_streak_days_follow_the_clocks_time_zone() -> None:
    eastern = timezone(timedelta(hours=-5))
    clock = MovableClock(datetime(2024, 3, 4, 23, 0, tzinfo=eastern))
    with (
        GamifyBackend(clock=clock) as backend,
        httpx.Client(transport=backend.transport(), base_url=BASE) as api,
    ):
        demo = backend.seed_demo()
        submit(api, demo.task_ids[0], demo.users[0].id)
        clock.advance(hours=1, minutes=30)
        real_time = submit(api, demo.task_ids[1], demo.users[0].id)["realTimeData"]
    assert real_time["currentStreak"] == 2


def test_activity_log_keeps_the_newest_hundred(demo: DemoData, api: httpx.Client) -> None:
    user = demo.users[2].id
    for task_id in new_tasks(api, demo, ACTIVITY_LOG_LIMIT):
        submit(api, task_id, user)
    progress = api.get(f"/api/batch-progress/batch/{demo.batch_id}").json()["studentsProgress"][0]
    log = progress["activityLog"]
    assert len(log) == ACTIVITY_LOG_LIMIT
    assert {entry["action"] for entry in log} == {"task_completed"}
    assert log[-1]["description"] == f"Completed task: Task {ACTIVITY_LOG_LIMIT - 1}"
    assert progress["progressMetrics"]["completedTasks"] == ACTIVITY_LOG_LIMIT


def test_completion_percentage_rounds_like_javascript(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    new_tasks(api, demo, 4)
    real_time = submit(api, demo.task_ids[0], demo.users[0].id)["realTimeData"]
    assert real_time["batchProgress"]["totalTasks"] == 8
    assert real_time["batchProgress"]["completionPercentage"] == 13


def test_dashboard_lists_ten_newest_submissions(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    user = demo.users[0].id
    task_ids = new_tasks(api, demo, 12)
    for task_id in task_ids:
        clock.advance(minutes=1)
        submit(api, task_id, user)
    response = api.get(
        "/api/batch-progress/dashboard/me",
        headers={"Authorization": f"Bearer {backend.token_for(user)}"},
    )
    recent = response.json()["dashboard"]["recentSubmissions"]
    assert [s["taskId"]["_id"] for s in recent] == task_ids[::-1][:10]


def test_token_expires_after_one_day(
    demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    token = api.post(
        "/api/user/login",
        json={"email": demo.admin.email, "password": demo.admin.password, "designation": "admin"},
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    clock.advance(hours=23)
    assert api.get("/api/batches", headers=headers).status_code == 200
    clock.advance(hours=1)
    assert api.get("/api/batches", headers=headers).status_code == 403
