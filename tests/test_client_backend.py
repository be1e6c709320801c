"""Every route of the client against the reference backend: in-process (MockTransport) and
over a real loopback socket, with the sync and the async client.

One scenario walks the whole contract; it runs four times (two transports, two clients), so
what holds in-process holds on the wire too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from gamify_client import (
    AsyncGamifyClient,
    AuthenticationError,
    BadRequestError,
    ClientConfig,
    GamifyClient,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.models import (
    ActivityLogEntry,
    Batch,
    BatchProgressReport,
    Category,
    Dashboard,
    Task,
    User,
    UserBatchProgress,
)
from gamify_client.testing import GamifyBackend

Transport = str


@pytest.fixture(scope="module")
def backend() -> Iterator[GamifyBackend]:
    with GamifyBackend() as backend:
        yield backend


@pytest.fixture(scope="module")
def socket_url(backend: GamifyBackend) -> Iterator[str]:
    with backend.serve() as url:
        yield url


class Both:
    """Runs a client call the same way for both clients: the async client's coroutines run
    on a private loop, so one scenario serves both."""

    def __init__(self, client: GamifyClient | AsyncGamifyClient, loop: asyncio.AbstractEventLoop):
        self.client = client
        self.loop = loop

    def __call__(self, fn: Callable[[Any], Any]) -> Any:
        result = fn(self.client)
        if isinstance(result, Awaitable):
            return self.loop.run_until_complete(result)  # type: ignore[arg-type]
        return result


@pytest.fixture(params=["in-process", "socket"])
def transport(request: pytest.FixtureRequest) -> Transport:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def make(
    request: pytest.FixtureRequest, backend: GamifyBackend, transport: Transport, socket_url: str
) -> Iterator[Callable[[], Both]]:
    loop = asyncio.new_event_loop()
    made: list[Both] = []

    def factory() -> Both:
        base = socket_url if transport == "socket" else "http://gamify.test"
        config = ClientConfig(base_url=base, task_completion_delay=0, max_retries=0)
        client: GamifyClient | AsyncGamifyClient
        if request.param == "sync":
            http = httpx.Client(transport=backend.transport()) if transport != "socket" else None
            client = GamifyClient(config=config, http_client=http)
        else:
            ahttp = (
                httpx.AsyncClient(transport=backend.transport()) if transport != "socket" else None
            )
            client = AsyncGamifyClient(config=config, http_client=ahttp)
        both = Both(client, loop)
        made.append(both)
        return both

    yield factory
    for both in made:
        result = both.client.close()
        if result is not None:
            loop.run_until_complete(result)
    loop.close()


def test_every_route(make: Callable[[], Both]) -> None:
    run_admin, run_user, anonymous = make(), make(), make()
    tag = uuid.uuid4().hex[:8]
    password = "correct horse"

    # users: register, login, get
    admin = anonymous(
        lambda c: c.register(
            name=f"Ada {tag}", email=f"ada-{tag}@x.io", password=password, designation="admin"
        )
    )
    assert admin.admin_id
    mentor = anonymous(
        lambda c: c.register(
            name=f"Max {tag}", email=f"max-{tag}@x.io", password=password, designation="mentor"
        )
    )
    learner = anonymous(
        lambda c: c.users.register(
            name=f"Uma {tag}",
            email=f"uma-{tag}@x.io",
            password=password,
            designation="user",
            parent_id=admin.user_id,
        )
    )
    with pytest.raises(BadRequestError):
        anonymous(lambda c: c.login(email=f"ada-{tag}@x.io", password="wrong"))
    login = run_admin(lambda c: c.login(email=f"ada-{tag}@x.io", password=password))
    assert login.user_id == admin.user_id
    assert run_admin.client.user_id == admin.user_id
    run_user(
        lambda c: c.login(
            email=f"uma-{tag}@x.io", password=password, designation="user", admin_id=admin.admin_id
        )
    )
    user = anonymous(lambda c: c.users.get(learner.user_id))
    assert isinstance(user, User) and user.designation == "user"

    # auth errors from the middleware
    with pytest.raises(AuthenticationError):
        anonymous(lambda c: c.batches.list())
    with pytest.raises(PermissionDeniedError):
        anonymous(lambda c: c.with_options(token="not-a-jwt").batches.list())

    # batches and categories
    batch = run_admin(
        lambda c: c.batches.create(
            name=f"Batch {tag}",
            description="d",
            mentor=mentor.user_id,
            difficulty_level="Beginner",
            learning_objectives=["ship"],
        )
    ).data
    assert isinstance(batch, Batch)
    assert batch.id in [b.id for b in run_admin(lambda c: c.batches.list())]
    assert run_admin(lambda c: c.batches.get(batch.id)).name == f"Batch {tag}"
    category = run_admin(lambda c: c.categories.create(name="APIs", emoji="🔌", batch=batch.id))
    assert isinstance(category.data, Category)
    assert [c.id for c in run_admin(lambda c: c.categories.list(batch_id=batch.id))] == [
        category.data.id
    ]
    assert category.data.id in [c.id for c in run_admin(lambda c: c.categories.list())]

    enrolled = run_admin(lambda c: c.batches.enroll(batch.id, learner.user_id))
    assert learner.user_id in [getattr(u, "id", u) for u in enrolled.data.users]
    with pytest.raises(BadRequestError):
        run_admin(lambda c: c.batches.enroll(batch.id, learner.user_id))

    # tasks
    created = run_admin(
        lambda c: c.tasks.create(
            name=f"Task {tag}",
            description="d",
            details="x",
            category=category.data.id,
            difficulty="Easy",
            batch=batch.id,
            points=120,
            submission_types=["Link"],
        )
    )
    task = created.data
    assert isinstance(task, Task) and task.points == 120
    assert created.real_time is not None and created.real_time.total_users_affected == 1
    second = run_admin(
        lambda c: c.tasks.create(
            name=f"Second {tag}",
            description="d",
            details="x",
            category=category.data.id,
            difficulty="Hard",
            batch=batch.id,
        )
    ).data
    assert task.id in [t.id for t in run_admin(lambda c: c.tasks.list())]
    assert run_admin(lambda c: c.tasks.get(task.id)).name == f"Task {tag}"
    with pytest.raises(NotFoundError):
        run_admin(lambda c: c.tasks.get("0" * 24))
    assert run_user(lambda c: c.tasks.start(task.id)).data.in_progress_count == 1
    assert run_admin(lambda c: c.tasks.edit(task.id, details="new")).data.details == "new"
    assigned = run_admin(lambda c: c.tasks.assign(task.id, assigned_to=[learner.user_id])).data
    assert [getattr(u, "id", u) for u in assigned.assigned_to] == [learner.user_id]

    # submissions, both routes
    assert run_user(lambda c: c.tasks.submission(task_id=task.id, user_id=learner.user_id)) is None
    submitted = run_user(
        lambda c: c.tasks.submit(
            task.id, user_id=learner.user_id, submission_type="Link", value="https://x.io"
        )
    )
    assert submitted.data.progress.points_earned == 120
    assert submitted.real_time is not None
    assert submitted.real_time.new_total_xp == 120
    assert submitted.real_time.current_streak == 1
    found = run_user(lambda c: c.tasks.submission(task_id=task.id, user_id=learner.user_id))
    assert found is not None and found.id == submitted.data.submission.id
    with pytest.raises(BadRequestError, match="already submitted"):
        run_user(
            lambda c: c.tasks.submit(
                task.id, user_id=learner.user_id, submission_type="Link", value="again"
            )
        )
    via_progress = run_user(
        lambda c: c.progress.submit_task(
            user_id=learner.user_id, task_id=second.id, batch_id=batch.id, grade=88
        )
    )
    assert via_progress.data.new_total_xp == 220
    assert via_progress.real_time is not None and via_progress.real_time.current_streak == 1

    # progress reads
    dashboard = run_user(lambda c: c.progress.dashboard())
    assert isinstance(dashboard, Dashboard)
    assert dashboard.overall_stats.user_total_xp == 220
    assert dashboard.overall_stats.current_streak == 1
    progress = run_user(lambda c: c.progress.user(learner.user_id, batch.id))
    assert isinstance(progress, UserBatchProgress)
    assert progress.progress_metrics.completion_percentage == 100
    all_progress = run_user(lambda c: c.progress.user_batches(learner.user_id))
    assert [p.progress_metrics.completed_tasks for p in all_progress] == [2]
    report = run_admin(lambda c: c.progress.batch(batch.id))
    assert isinstance(report, BatchProgressReport) and len(report.students_progress) == 1
    activity = run_admin(lambda c: c.progress.activity(batch.id, limit=5))
    assert activity and all(isinstance(a, ActivityLogEntry) for a in activity)
    assert "task_completed" in [a.action for a in activity]

    # a second user: initialise progress, points, removal, deletion
    other = anonymous(
        lambda c: c.register(
            name=f"Ivy {tag}",
            email=f"ivy-{tag}@x.io",
            password=password,
            designation="user",
            parent_id=admin.user_id,
        )
    )
    initialized = run_admin(
        lambda c: c.progress.initialize(user_id=other.user_id, batch_id=batch.id)
    )
    assert initialized.message is not None or initialized.data is not None
    with pytest.raises(BadRequestError):
        run_admin(lambda c: c.progress.initialize(user_id=other.user_id, batch_id=batch.id))
    points = run_admin(lambda c: c.users.update_points(other.user_id, xps=42))
    assert points.data.xps == 42
    run_admin(lambda c: c.batches.enroll(batch.id, other.user_id))
    removed = run_admin(lambda c: c.batches.remove(batch.id, other.user_id)).data
    assert other.user_id not in [getattr(u, "id", u) for u in removed.users]
    assert run_admin(lambda c: c.tasks.delete(second.id)).data.id == second.id
    assert run_admin(lambda c: c.batches.delete(batch.id)).data.id == batch.id
    with pytest.raises(NotFoundError):
        run_admin(lambda c: c.batches.get(batch.id))


def test_file_upload_submission(make: Callable[[], Both], backend: GamifyBackend) -> None:
    seed_admin = make()
    tag = uuid.uuid4().hex[:8]
    admin = seed_admin(
        lambda c: c.register(
            name=f"A {tag}", email=f"a-{tag}@x.io", password="pw", designation="admin"
        )
    )
    learner = seed_admin(
        lambda c: c.register(
            name=f"U {tag}",
            email=f"u-{tag}@x.io",
            password="pw",
            designation="user",
            parent_id=admin.user_id,
        )
    )
    seed_admin(lambda c: c.login(email=f"a-{tag}@x.io", password="pw"))
    mentor = seed_admin(
        lambda c: c.register(
            name=f"M {tag}", email=f"m-{tag}@x.io", password="pw", designation="mentor"
        )
    )
    batch = seed_admin(lambda c: c.batches.create(name="B", description="d", mentor=mentor.user_id))
    category = seed_admin(lambda c: c.categories.create(name="C", emoji="x", batch=batch.data.id))
    task = seed_admin(
        lambda c: c.tasks.create(
            name="Upload",
            description="d",
            details="x",
            category=category.data.id,
            difficulty="Easy",
        )
    ).data
    result = seed_admin(
        lambda c: c.tasks.submit(
            task.id, user_id=learner.user_id, file=("report.txt", b"hello", "text/plain")
        )
    )
    assert result.data.submission.submission_type == "File Upload"
    assert result.data.progress.points_earned == task.points
