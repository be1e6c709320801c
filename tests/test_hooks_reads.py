"""The live queries of the reads a dashboard shows beyond the first five: the users listing,
enrolled and available batches, categories and a category's tasks, a batch's analytics,
feedback and notifications. Each shows its data and follows the write that changes it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gamify_client import AsyncGamifyClient, CacheKey, ClientConfig, GamifyClient
from gamify_client.models import AnalyticsSummary, Category, UsersListing
from gamify_client.refresh import DataRefreshManager
from gamify_client.testing import DemoData, GamifyBackend

BASE_URL = "http://gamify.test"


@pytest.fixture
def org() -> Iterator[tuple[GamifyBackend, DemoData]]:
    backend = GamifyBackend()
    yield backend, backend.seed_demo()
    backend.close()


def _client(
    backend: GamifyBackend, user_id: str, manager: DataRefreshManager | None = None
) -> GamifyClient:
    return GamifyClient(
        config=ClientConfig(base_url=BASE_URL, task_completion_delay=0, max_retries=0),
        token=backend.token_for(user_id),
        http_client=httpx.Client(transport=backend.transport()),
        refresh_manager=manager,
    )


def test_enrolment_moves_a_batch_from_available_to_enrolled(
    org: tuple[GamifyBackend, DemoData],
) -> None:
    backend, demo = org
    admin = _client(backend, demo.admin.id)
    created = admin.batches.create(name="Second", description="d", mentor=demo.mentor.id)
    batch_id = created.data.id
    learner = _client(backend, demo.users[0].id)
    available = learner.use_available_batches_data()
    enrolled = learner.use_enrolled_batches_data()
    available.wait_for(timeout=10)
    enrolled.wait_for(timeout=10)
    assert available.key == (CacheKey.AVAILABLE_BATCHES, demo.users[0].id)
    assert batch_id in [batch.id for batch in available.data or []]

    learner.batches.enroll(batch_id, demo.users[0].id)

    enrolled.wait_for(lambda q: batch_id in [b.id for b in q.data or []], timeout=10)
    available.wait_for(lambda q: batch_id not in [b.id for b in q.data or []], timeout=10)
    learner.close()
    admin.close()


def test_a_new_lesson_and_its_task_show_in_the_category_queries(
    org: tuple[GamifyBackend, DemoData],
) -> None:
    backend, demo = org
    admin = _client(backend, demo.admin.id)
    lessons = admin.use_categories_data(demo.batch_id)
    lessons.wait_for(timeout=10)
    before = len(lessons.data or [])
    created = admin.categories.create(name="Lesson", batch=demo.batch_id)
    lessons.wait_for(lambda q: len(q.data or []) == before + 1, timeout=10)

    lesson = admin.use_category_data(created.data.id, demo.batch_id)
    lesson.wait_for(timeout=10)
    assert isinstance(lesson.data, Category)
    admin.tasks.create(
        name="In the lesson",
        description="d",
        details="d",
        category=created.data.id,
        difficulty="Easy",
        batch=demo.batch_id,
    )
    lesson.wait_for(lambda q: q.data is not None and len(q.data.tasks) == 1, timeout=10)
    admin.close()


def test_staff_see_users_and_analytics_and_a_learner_sees_feedback(
    org: tuple[GamifyBackend, DemoData],
) -> None:
    backend, demo = org
    admin = _client(backend, demo.admin.id)
    users = admin.use_users_data()
    summary = admin.use_batch_analytics_data(demo.batch_id)
    users.wait_for(timeout=10)
    summary.wait_for(timeout=10)
    assert isinstance(users.data, UsersListing)
    assert isinstance(summary.data, AnalyticsSummary)
    assert summary.key == (CacheKey.ANALYTICS, demo.batch_id, "summary")
    with pytest.raises(ValueError, match="unknown report"):
        admin.use_batch_analytics_data(demo.batch_id, "weekly")  # type: ignore[arg-type]

    learner_id = demo.users[0].id
    # The learner's and the mentor's clients share one cache, as a harness does.
    shared = DataRefreshManager()
    learner = _client(backend, learner_id, shared)
    received = learner.use_feedback_data(learner_id, "mentor")
    notifications = learner.use_notifications_data(learner_id)
    received.wait_for(timeout=10)
    notifications.wait_for(timeout=10)
    assert received.data == []
    mentor = _client(backend, demo.mentor.id, shared)
    mentor.feedback.submit_mentor(learner_id, batch=demo.batch_id, rating=5, content="Good")
    received.wait_for(lambda q: len(q.data or []) == 1, timeout=10)
    for client in (admin, learner, mentor):
        client.close()


async def test_the_async_client_has_the_same_reads(org: tuple[GamifyBackend, DemoData]) -> None:
    backend, demo = org
    async with AsyncGamifyClient(
        config=ClientConfig(base_url=BASE_URL, task_completion_delay=0, max_retries=0),
        token=backend.token_for(demo.users[0].id),
        http_client=httpx.AsyncClient(transport=backend.transport()),
    ) as learner:
        enrolled = learner.use_enrolled_batches_data()
        lessons = learner.use_categories_data(demo.batch_id)
        await enrolled.wait_for(timeout=10)
        await lessons.wait_for(timeout=10)
        assert [batch.id for batch in enrolled.data or []] == [demo.batch_id]
        assert len(lessons.data or []) == 2
