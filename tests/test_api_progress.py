"""``/api/batch-progress``: every route on the sync and the async client, against the real
service's payloads (respx) and against the reference backend, with this area's defects
switched on and off."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx
import pytest
import respx

from gamify_client import (
    AsyncGamifyClient,
    AuthenticationError,
    BadRequestError,
    ClientConfig,
    GamifyClient,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.keys import CacheKey
from gamify_client.models import (
    ActivityLogEntry,
    Batch,
    Dashboard,
    Notification,
    Task,
    User,
    UserBatchProgress,
)
from gamify_client.realtime import WRITES
from gamify_client.resources import Progress
from gamify_client.testing import DemoData, GamifyBackend

BASE_URL = "http://gamify.test"

ADMIN_ID = "65f0c1a2b3c4d5e6f7a8b901"
MENTOR_ID = "65f0c1a2b3c4d5e6f7a8b902"
USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
OTHER_TASK_ID = "65f0c1a2b3c4d5e6f7a8b931"
PROGRESS_ID = "65f0c1a2b3c4d5e6f7a8b950"
LOG_ID = "65f0c1a2b3c4d5e6f7a8b961"
MISSING_ID = "65f0c1a2b3c4d5e6f7a8b9ff"

CREATED = "2024-03-12T09:15:27.431Z"
SUBMITTED = "2024-03-15T08:41:03.256Z"
DUE = "2024-03-01T00:00:00.000Z"


# --- one test body for both clients -----------------------------------------------------------


class Api:
    """One client, sync or async, called the same way: ``api(lambda c: c.progress.batch(b))``
    returns the result, awaiting it on a private loop for the async client."""

    def __init__(
        self, client: GamifyClient | AsyncGamifyClient, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        self.client = client
        self._loop = loop

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        outcome = call(self.client)
        if self._loop is None:
            return outcome
        assert inspect.iscoroutine(outcome), "the async client must return a coroutine"
        return self._loop.run_until_complete(outcome)


class Connect(Protocol):
    def __call__(
        self, token: str | None = None, *, backend: GamifyBackend | None = None, retries: int = 0
    ) -> Api: ...


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """Makes clients of the parametrised flavour: to ``backend`` in-process when given, else
    to the base URL that respx mocks."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[GamifyClient | AsyncGamifyClient] = []

    def make(
        token: str | None = None, *, backend: GamifyBackend | None = None, retries: int = 0
    ) -> Api:
        config = ClientConfig(
            base_url=BASE_URL,
            max_retries=retries,
            task_completion_delay=0,
            retry_backoff=0,
            retry_backoff_max=0,
        )
        client: GamifyClient | AsyncGamifyClient
        if loop is None:
            http = httpx.Client(transport=backend.transport()) if backend else None
            client = GamifyClient(config=config, token=token, http_client=http)
        else:
            ahttp = httpx.AsyncClient(transport=backend.transport()) if backend else None
            client = AsyncGamifyClient(config=config, token=token, http_client=ahttp)
        made.append(client)
        return Api(client, loop)

    yield make
    for client in made:
        if isinstance(client, GamifyClient):
            client.close()
        elif loop is not None:
            loop.run_until_complete(client.close())
    if loop is not None:
        loop.close()


@pytest.fixture
def api(connect: Connect) -> Api:
    """A client to the mocked base URL."""
    return connect()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as mock:
        yield mock


def sent_json(route: respx.Route) -> Any:
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


def bearer(backend: GamifyBackend, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.token_for(user_id)}"}


def as_user(connect: Connect, backend: GamifyBackend, user_id: str) -> Api:
    return connect(backend.token_for(user_id), backend=backend)


# --- the real service's payloads ----------------------------------------------------------------


def progress_doc(**changes: Any) -> dict[str, Any]:
    """A progress as ``GET /user/:userId/:batchId`` shows it after its first task was
    deleted (``taskId: null``)."""
    doc: dict[str, Any] = {
        "_id": PROGRESS_ID,
        "userId": {"_id": USER_ID, "username": "ada", "email": "ada@example.com"},
        "batchId": {"_id": BATCH_ID, "name": "Spring", "description": "d", "industryFocus": "AI"},
        "taskProgress": [
            {"taskId": None, "status": "completed", "pointsEarned": 100, "attempts": 1},
            {
                "taskId": {"_id": OTHER_TASK_ID, "name": "Churn", "points": 50, "dueDate": DUE},
                "status": "graded",
                "grade": 88,
                "pointsEarned": 50,
                "attempts": 1,
            },
        ],
        "progressMetrics": {
            "totalTasks": 2,
            "completedTasks": 1,
            "submittedTasks": 2,
            "gradedTasks": 1,
            "totalPointsEarned": 150,
            "completionPercentage": 50,
            "averageGrade": 88,
        },
        "activityLog": [],
        "learningSummary": "",
        "enrolledAt": CREATED,
        "lastActiveAt": SUBMITTED,
        "status": "active",
        "createdAt": CREATED,
        "updatedAt": SUBMITTED,
        "__v": 2,
    }
    doc.update(changes)
    return doc


def notification_docs() -> list[dict[str, Any]]:
    return [
        {
            "type": "overdue_task",
            "title": "Overdue Task",
            "message": 'Task "Churn" in batch "Spring" is overdue',
            "taskId": OTHER_TASK_ID,
            "batchId": BATCH_ID,
            "priority": "high",
            "timestamp": SUBMITTED,
        },
        {
            "type": "task_graded",
            "title": "Task Graded",
            "message": 'Your submission for "REST" has been graded: 88/100',
            "taskId": TASK_ID,
            "batchId": BATCH_ID,
            "priority": "medium",
        },
    ]


def submit_task_body() -> dict[str, Any]:
    return {
        "success": True,
        "message": "Task submitted successfully",
        "data": {
            "taskProgress": {
                "taskId": TASK_ID,
                "status": "graded",
                "grade": 90,
                "pointsEarned": 100,
                "attempts": 1,
                "submittedAt": SUBMITTED,
            },
            "progressMetrics": {"totalTasks": 2, "completedTasks": 0, "completionPercentage": 0},
            "currentStreak": 0,
            "pointsEarned": 100,
            "newTotalXP": 350,
            "isFirstTaskOfDay": True,
        },
        "realTimeData": {
            "taskStatus": "completed",
            "taskId": TASK_ID,
            "batchId": BATCH_ID,
            "userId": USER_ID,
            "pointsEarned": 100,
            "newTotalXP": 350,
            "currentStreak": 0,
            "completionTime": SUBMITTED,
            "batchProgress": {
                "completedTasks": 0,
                "totalTasks": 2,
                "completionPercentage": 0,
                "totalPointsEarned": 100,
            },
        },
    }


# --- the client against the real service's payloads ---------------------------------------------


def test_user_progress_parses_a_deleted_task_and_batch(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/batch-progress/user/{USER_ID}/{BATCH_ID}").respond(
        200, json={"success": True, "progress": progress_doc(batchId=None)}
    )

    progress = api(lambda c: c.progress.user(USER_ID, BATCH_ID))

    assert isinstance(progress, UserBatchProgress)
    assert progress.batch_id is None
    gone, graded = progress.task_progress
    assert gone.task_id is None and gone.status == "completed"
    assert isinstance(graded.task_id, Task) and graded.task_id.name == "Churn"
    assert isinstance(progress.user_id, User) and progress.user_id.username == "ada"


def test_user_batches_and_dashboard_parse_deleted_references(
    api: Api, router: respx.MockRouter
) -> None:
    router.get(f"/api/batch-progress/user/{USER_ID}").respond(
        200, json={"success": True, "progress": [progress_doc(batchId=None, userId=USER_ID)]}
    )
    router.get("/api/batch-progress/dashboard/me").respond(
        200,
        json={
            "success": True,
            "dashboard": {
                "overallStats": {"totalBatches": 1, "userTotalXP": 150, "currentStreak": 0},
                "batchProgress": [progress_doc(batchId=None)],
                "recentSubmissions": [],
                "userProfile": {"username": "ada", "totalXP": 150},
                "lastUpdated": SUBMITTED,
            },
        },
    )

    (listed,) = api(lambda c: c.progress.user_batches(USER_ID))
    dashboard = api(lambda c: c.progress.dashboard())

    assert listed.batch_id is None and listed.user_id == USER_ID
    assert isinstance(dashboard, Dashboard)
    assert dashboard.batch_progress[0].task_progress[0].task_id is None
    assert dashboard.overall_stats.user_total_xp == 150


def test_batch_progress_populate_500_is_a_typed_error(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/batch-progress/batch/{BATCH_ID}").respond(
        500,
        json={
            "message": "Failed to fetch batch progress",
            "error": "Cannot populate path `mentors` because it is not in your schema. Set the "
            "`strictPopulate` option to false to override.",
        },
    )

    with pytest.raises(InternalServerError, match="Failed to fetch batch progress"):
        api(lambda c: c.progress.batch(BATCH_ID))
    assert route.call_count == 1


def test_batch_progress_fixed_payload(api: Api, router: respx.MockRouter) -> None:
    batch = {
        "_id": BATCH_ID,
        "name": "Spring",
        "mentor": {"_id": MENTOR_ID, "username": "max"},
        "admin": {"_id": ADMIN_ID, "username": "ada"},
        "users": [USER_ID],
        "tasks": [TASK_ID],
    }
    router.get(f"/api/batch-progress/batch/{BATCH_ID}").respond(
        200, json={"success": True, "batch": batch, "studentsProgress": [progress_doc()]}
    )

    report = api(lambda c: c.progress.batch(BATCH_ID))

    assert isinstance(report.batch, Batch)
    assert isinstance(report.batch.mentor, User) and report.batch.mentor.username == "max"
    assert report.students_progress[0].progress_metrics.completion_percentage == 50


def test_activity_parses_the_user_and_the_entry_id(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/batch-progress/activity/{BATCH_ID}").respond(
        200,
        json={
            "success": True,
            "activities": [
                {
                    "_id": LOG_ID,
                    "action": "task_completed",
                    "taskId": None,
                    "description": "Completed task: REST",
                    "timestamp": SUBMITTED,
                    "metadata": {"isFirstTaskOfDay": True},
                    "user": {"_id": USER_ID, "username": "ada"},
                }
            ],
        },
    )

    (entry,) = api(lambda c: c.progress.activity(BATCH_ID, limit=1))

    assert isinstance(entry, ActivityLogEntry)
    assert entry.id == LOG_ID and entry.task_id is None
    assert isinstance(entry.user, User) and entry.user.username == "ada"


def test_notifications_parse(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/batch-progress/notifications/{USER_ID}").respond(
        200, json={"success": True, "notifications": notification_docs()}
    )

    overdue, graded = api(lambda c: c.progress.notifications(USER_ID))

    assert route.call_count == 1
    assert isinstance(overdue, Notification)
    assert (overdue.type, overdue.priority, overdue.batch_id) == ("overdue_task", "high", BATCH_ID)
    assert overdue.timestamp is not None
    assert graded.type == "task_graded" and graded.timestamp is None


def test_notifications_orphan_500_is_a_typed_error(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/batch-progress/notifications/{USER_ID}").respond(
        500,
        json={
            "message": "Failed to fetch notifications",
            "error": "Cannot read properties of null (reading 'dueDate')",
        },
    )

    with pytest.raises(InternalServerError, match="Failed to fetch notifications"):
        api(lambda c: c.progress.notifications(USER_ID))


def test_initialize_posts_both_ids_and_refuses_twice(api: Api, router: respx.MockRouter) -> None:
    fresh = progress_doc(userId=USER_ID, batchId=BATCH_ID)
    route = router.post("/api/batch-progress/initialize").mock(
        side_effect=[
            httpx.Response(
                201,
                json={
                    "success": True,
                    "message": "Batch progress initialized successfully",
                    "progress": fresh,
                },
            ),
            httpx.Response(400, json={"message": "Progress already initialized"}),
        ]
    )

    result = api(lambda c: c.progress.initialize(user_id=USER_ID, batch_id=BATCH_ID))
    with pytest.raises(BadRequestError, match="already initialized"):
        api(lambda c: c.progress.initialize(user_id=USER_ID, batch_id=BATCH_ID))

    assert json.loads(route.calls[0].request.content) == {"userId": USER_ID, "batchId": BATCH_ID}
    assert result.data.id == PROGRESS_ID
    assert result.message == "Batch progress initialized successfully"


def test_submit_task_graded_not_completed_payload_parses(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.post("/api/batch-progress/submit-task").respond(200, json=submit_task_body())

    result = api(
        lambda c: c.progress.submit_task(
            user_id=USER_ID, task_id=TASK_ID, batch_id=BATCH_ID, grade=90
        )
    )

    assert sent_json(route)["submissionData"] == {"grade": 90}
    assert result.data.task_progress.status == "graded"
    assert result.data.progress_metrics.completed_tasks == 0
    assert result.real_time is not None and result.real_time.new_total_xp == 350


def test_submit_task_500_after_write_is_not_retried(
    connect: Connect, router: respx.MockRouter
) -> None:
    route = router.post("/api/batch-progress/submit-task").respond(
        500,
        json={
            "message": "Failed to process task submission",
            "error": "Cannot read properties of null (reading 'xps')",
        },
    )
    api = connect(retries=3)

    with pytest.raises(InternalServerError, match="Failed to process task submission"):
        api(lambda c: c.progress.submit_task(user_id=USER_ID, task_id=TASK_ID, batch_id=BATCH_ID))
    assert route.call_count == 1


# --- the reference backend ----------------------------------------------------------------------


def test_routes_need_a_token_and_the_caller_or_staff(
    backend: GamifyBackend, demo: DemoData
) -> None:
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        own, other = demo.users[0].id, demo.users[1].id
        reads = [
            f"/api/batch-progress/user/{own}/{demo.batch_id}",
            f"/api/batch-progress/user/{own}",
            f"/api/batch-progress/notifications/{own}",
        ]
        for path in reads:
            assert http.get(path).status_code == 401
            assert http.get(path, headers=bearer(backend, own)).status_code == 200
            assert http.get(path, headers=bearer(backend, other)).status_code == 403
            assert http.get(path, headers=bearer(backend, demo.admin.id)).status_code == 200
        payload = {"userId": own, "batchId": demo.batch_id, "taskId": demo.task_ids[0]}
        for path in ("/api/batch-progress/initialize", "/api/batch-progress/submit-task"):
            assert http.post(path, json=payload).status_code == 401
            assert http.post(path, json=payload, headers=bearer(backend, other)).status_code == 403
        backend.defects.add("missing_auth")
        assert http.get(reads[0], headers=bearer(backend, other)).status_code == 200
        response = http.post("/api/batch-progress/submit-task", json=payload)
        assert response.status_code == 200


def test_client_reads_and_writes_progress(
    backend: GamifyBackend, demo: DemoData, connect: Connect
) -> None:
    learner = demo.users[0].id
    user = as_user(connect, backend, learner)
    admin = as_user(connect, backend, demo.admin.id)

    result = user(
        lambda c: c.progress.submit_task(
            user_id=learner, task_id=demo.task_ids[0], batch_id=demo.batch_id
        )
    )
    progress = user(lambda c: c.progress.user(learner, demo.batch_id))
    listed = user(lambda c: c.progress.user_batches(learner))
    report = admin(lambda c: c.progress.batch(demo.batch_id))
    activity = admin(lambda c: c.progress.activity(demo.batch_id, limit=1))
    notes = user(lambda c: c.progress.notifications(learner))
    dashboard = user(lambda c: c.progress.dashboard())

    assert result.real_time is not None and result.real_time.current_streak == 1
    assert progress.progress_metrics.completed_tasks == 1
    assert [p.id for p in listed] == [progress.id]
    assert isinstance(report.batch, Batch) and isinstance(report.batch.mentor, User)
    assert report.batch.mentor.id == demo.mentor.id
    assert isinstance(report.students_progress[0].user_id, User)
    assert report.students_progress[0].user_id.id == learner
    assert [a.action for a in activity] == ["task_completed"]
    assert isinstance(activity[0].user, User) and activity[0].user.id == learner
    assert notes == []
    assert isinstance(dashboard, Dashboard)
    assert dashboard.overall_stats.total_completed_tasks == 1
    assert dashboard.overall_stats.user_total_xp == result.real_time.new_total_xp
    with pytest.raises(PermissionDeniedError):
        as_user(connect, backend, demo.users[1].id)(lambda c: c.progress.user_batches(learner))
    with pytest.raises(AuthenticationError):
        connect(backend=backend)(
            lambda c: c.progress.initialize(user_id=learner, batch_id=demo.batch_id)
        )


def test_initialize_validates_its_body(backend: GamifyBackend, demo: DemoData) -> None:
    mentor = demo.mentor.id
    with httpx.Client(
        transport=backend.transport(), base_url=BASE_URL, headers=bearer(backend, demo.admin.id)
    ) as http:
        missing = http.post("/api/batch-progress/initialize", json={"userId": mentor})
        malformed = http.post(
            "/api/batch-progress/initialize", json={"userId": mentor, "batchId": "nope"}
        )
        unknown = http.post(
            "/api/batch-progress/initialize", json={"userId": mentor, "batchId": MISSING_ID}
        )
        backend.defects.add("validation_500")
        real = http.post("/api/batch-progress/initialize", json={"userId": mentor})
        created = http.post(
            "/api/batch-progress/initialize", json={"userId": mentor, "batchId": demo.batch_id}
        )

    assert (missing.status_code, missing.json()) == (
        400,
        {"message": "Path `batchId` is required."},
    )
    assert (malformed.status_code, malformed.json()) == (400, {"message": "Invalid batchId"})
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Batch not found"})
    assert real.status_code == 500
    assert real.json() == {
        "message": "Failed to initialize progress",
        "error": "UserBatchProgress validation failed: batchId: Path `batchId` is required.",
    }
    assert created.status_code == 201
    assert created.json()["progress"]["activityLog"][0]["description"] == (
        "Enrolled in batch: " + "Demo Cohort"
    )


def _submit_task(
    http: httpx.Client,
    backend: GamifyBackend,
    user_id: str,
    task_id: str,
    batch_id: str,
    **extra: Any,
) -> httpx.Response:
    payload = {"userId": user_id, "taskId": task_id, "batchId": batch_id, **extra}
    return http.post(
        "/api/batch-progress/submit-task", json=payload, headers=bearer(backend, user_id)
    )


def _xps(backend: GamifyBackend, http: httpx.Client, user_id: str) -> int:
    xps: int = http.get(f"/api/user/{user_id}", headers=bearer(backend, user_id)).json()["xps"]
    return xps


@pytest.mark.parametrize("defect", [False, True])
def test_a_repeat_adds_xp_only_under_repeat_xp(
    backend: GamifyBackend, demo: DemoData, defect: bool
) -> None:
    user = demo.users[1].id
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        if defect:
            backend.defects.add("repeat_xp")
        first = _submit_task(http, backend, user, demo.task_ids[2], demo.batch_id)
        again = _submit_task(http, backend, user, demo.task_ids[2], demo.batch_id)

        assert (first.status_code, again.status_code) == (200, 200)
        points = first.json()["data"]["pointsEarned"]
        assert again.json()["data"]["taskProgress"]["attempts"] == 2
        expected = first.json()["data"]["newTotalXP"] + (points if defect else 0)
        assert again.json()["data"]["newTotalXP"] == expected
        assert _xps(backend, http, user) == expected


@pytest.mark.parametrize("defect", [False, True])
def test_a_graded_task_counts_as_completed_unless_graded_not_completed(
    backend: GamifyBackend, demo: DemoData, defect: bool
) -> None:
    if defect:
        backend.defects.add("graded_not_completed")
    user = demo.users[0].id
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        response = _submit_task(
            http, backend, user, demo.task_ids[0], demo.batch_id, submissionData={"grade": 90}
        )

    data = response.json()["data"]
    assert data["taskProgress"]["status"] == "graded"
    assert data["taskProgress"]["grade"] == 90
    assert data["progressMetrics"]["completedTasks"] == (0 if defect else 1)
    assert response.json()["realTimeData"]["batchProgress"]["completionPercentage"] == (
        0 if defect else 25
    )


def test_an_unknown_user_or_batch_is_refused_before_any_write(
    backend: GamifyBackend, demo: DemoData
) -> None:
    user = demo.users[0].id
    admin = bearer(backend, demo.admin.id)
    progress_path = f"/api/batch-progress/user/{MISSING_ID}/{demo.batch_id}"
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL, headers=admin) as http:
        payload = {"userId": MISSING_ID, "taskId": demo.task_ids[0], "batchId": demo.batch_id}
        no_user = http.post("/api/batch-progress/submit-task", json=payload)
        no_batch = http.post(
            "/api/batch-progress/submit-task", json=dict(payload, userId=user, batchId=MISSING_ID)
        )
        untouched = http.get(progress_path).json()["progress"]

        backend.defects.add("submit_task_500_after_write")
        late = http.post("/api/batch-progress/submit-task", json=payload)
        written = http.get(progress_path).json()["progress"]
        crash = http.post(
            "/api/batch-progress/submit-task", json=dict(payload, userId=user, batchId=MISSING_ID)
        )

    assert (no_user.status_code, no_user.json()) == (404, {"message": "User not found"})
    assert (no_batch.status_code, no_batch.json()) == (404, {"message": "Batch not found"})
    assert "_id" not in untouched
    assert late.status_code == 500
    assert late.json() == {
        "message": "Failed to process task submission",
        "error": "Cannot read properties of null (reading 'xps')",
    }
    assert written["progressMetrics"]["completedTasks"] == 1, "the real service wrote first"
    assert crash.status_code == 500
    assert crash.json()["error"] == "Cannot read properties of null (reading 'tasks')"


@pytest.mark.parametrize("defect", [False, True])
def test_streak_counts_any_completion_unless_streak_flag_only(
    backend: GamifyBackend, demo: DemoData, defect: bool
) -> None:
    if defect:
        # The real service: its task submit never flags a completion (submit_no_streak).
        backend.defects.add("streak_flag_only")
        backend.defects.add("submit_no_streak")
    user = demo.users[2].id
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        # The frontend's submit route, then the progress route the same day.
        submitted = http.post(
            f"/api/task/{demo.task_ids[0]}/submit",
            json={"userId": user, "submissionType": "Link", "value": "https://x.io"},
            headers=bearer(backend, user),
        )
        assert submitted.status_code == 201, submitted.text
        later = _submit_task(http, backend, user, demo.task_ids[1], demo.batch_id)
        dashboard = http.get("/api/batch-progress/dashboard/me", headers=bearer(backend, user))

    assert later.json()["data"]["isFirstTaskOfDay"] is False
    expected = 0 if defect else 1
    assert later.json()["data"]["currentStreak"] == expected
    assert dashboard.json()["dashboard"]["overallStats"]["currentStreak"] == expected


def test_batch_progress_populate_500(backend: GamifyBackend, demo: DemoData) -> None:
    path = f"/api/batch-progress/batch/{demo.batch_id}"
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        fixed = http.get(path).json()
        unknown = http.get(f"/api/batch-progress/batch/{MISSING_ID}").json()
        backend.defects.add("batch_progress_populate_500")
        real = http.get(path)

    assert fixed["batch"]["mentor"] == {"_id": demo.mentor.id, "username": demo.mentor.name}
    assert fixed["batch"]["admin"] == {"_id": demo.admin.id, "username": demo.admin.name}
    assert unknown == {"success": True, "batch": None, "studentsProgress": []}
    assert real.status_code == 500
    assert real.json()["message"] == "Failed to fetch batch progress"
    assert "mentors" in real.json()["error"]


@pytest.mark.parametrize("defect", [False, True])
def test_activity_limit_gives_the_newest_activities_either_way(
    backend: GamifyBackend, demo: DemoData, defect: bool
) -> None:
    # The real service also reads only the ``limit`` students whose newest activity is the
    # newest (activity_limit_users); those hold the newest activities, so the answer agrees.
    path = f"/api/batch-progress/activity/{demo.batch_id}"
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        for user in demo.users[:2]:
            for task_id in demo.task_ids[:2]:
                assert _submit_task(http, backend, user.id, task_id, demo.batch_id).is_success
        everything = http.get(path).json()["activities"]
        if defect:
            backend.defects.add("activity_limit_users")
        three = http.get(path, params={"limit": 3}).json()["activities"]
        bad = http.get(path, params={"limit": "many"})
        backend.defects.add("validation_500")
        real_bad = http.get(path, params={"limit": "many"})

    assert len(everything) == 7, "three enrolments and four completions"
    assert [a["_id"] for a in three] == [a["_id"] for a in everything[:3]]
    assert [a["action"] for a in three] == ["task_completed"] * 3
    assert (bad.status_code, bad.json()) == (400, {"message": "Invalid limit"})
    assert real_bad.status_code == 500
    assert real_bad.json()["message"] == "Failed to fetch recent activity"


def test_notifications_overdue_graded_and_orphans(backend: GamifyBackend, demo: DemoData) -> None:
    user = demo.users[0].id
    admin = bearer(backend, demo.admin.id)
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL, headers=admin) as http:
        created = http.post(
            "/api/task/create",
            json={
                "name": "Late one",
                "description": "d",
                "details": "d",
                "category": demo.category_ids[0],
                "difficulty": "Easy",
                "batch": demo.batch_id,
                "dueDate": "2000-01-01T00:00:00.000Z",
            },
        )
        assert created.status_code == 201, created.text
        late_id = created.json()["task"]["_id"]
        graded = _submit_task(
            http, backend, user, demo.task_ids[0], demo.batch_id, submissionData={"grade": 92.5}
        )
        assert graded.status_code == 200
        path = f"/api/batch-progress/notifications/{user}"
        notes = http.get(path).json()["notifications"]

        backend.defects.add("no_cascade")
        assert http.delete(f"/api/task/delete/{late_id}").status_code == 200
        skipped = http.get(path).json()["notifications"]
        backend.defects.add("orphan_500")
        real = http.get(path)

    assert [(n["type"], n["priority"]) for n in notes] == [
        ("overdue_task", "high"),
        ("task_graded", "medium"),
    ]
    assert notes[0]["message"] == 'Task "Late one" in batch "Demo Cohort" is overdue'
    assert notes[1]["message"].endswith("has been graded: 92.5/100")
    assert [n["type"] for n in skipped] == ["task_graded"]
    assert real.status_code == 500
    assert real.json() == {
        "message": "Failed to fetch notifications",
        "error": "Cannot read properties of null (reading 'dueDate')",
    }


def test_progress_reads_parse_after_deletes(
    backend: GamifyBackend, demo: DemoData, connect: Connect
) -> None:
    backend.defects.add("no_cascade")
    learner = demo.users[0].id
    admin = as_user(connect, backend, demo.admin.id)
    user = as_user(connect, backend, learner)

    admin(lambda c: c.tasks.delete(demo.task_ids[0]))
    progress = user(lambda c: c.progress.user(learner, demo.batch_id))
    admin(lambda c: c.batches.delete(demo.batch_id))
    (left,) = user(lambda c: c.progress.user_batches(learner))
    report = admin(lambda c: c.progress.batch(demo.batch_id))

    assert progress.task_progress[0].task_id is None
    assert isinstance(progress.task_progress[1].task_id, Task)
    assert left.batch_id is None
    assert report.batch is None
    assert report.students_progress[0].task_progress[0].task_id is None


def test_dashboard_repairs_progress_as_it_reads(backend: GamifyBackend, demo: DemoData) -> None:
    backend.defects.add("edit_batch_tasks_unsynced")
    user = demo.users[0].id
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
        created = http.post(
            "/api/task/create",
            json={
                "name": "Loose",
                "description": "d",
                "details": "d",
                "category": demo.category_ids[0],
                "difficulty": "Easy",
            },
            headers=bearer(backend, demo.admin.id),
        )
        loose = created.json()["task"]["_id"]
        edited = http.put(
            f"/api/batches/{demo.batch_id}",
            json={"tasks": [*demo.task_ids, loose]},
            headers=bearer(backend, demo.admin.id),
        )
        assert edited.status_code == 200, edited.text
        path = f"/api/batch-progress/user/{user}/{demo.batch_id}"
        before = http.get(path, headers=bearer(backend, user)).json()["progress"]
        dashboard = http.get("/api/batch-progress/dashboard/me", headers=bearer(backend, user))
        after = http.get(path, headers=bearer(backend, user)).json()["progress"]

    assert len(before["taskProgress"]) == len(demo.task_ids)
    assert (
        dashboard.json()["dashboard"]["overallStats"]["totalTasksAcrossAllBatches"]
        == len(demo.task_ids) + 1
    )
    assert after["taskProgress"][-1]["taskId"]["_id"] == loose
    assert after["taskProgress"][-1]["status"] == "not_started"


@pytest.mark.parametrize(
    ("debug", "defects", "status"),
    [(False, (), 404), (True, (), 200), (False, ("debug_route_public",), 200)],
)
def test_debug_route_only_in_debug_mode(debug: bool, defects: Any, status: int) -> None:
    with GamifyBackend(debug=debug, defects=defects) as backend:
        demo = backend.seed_demo()
        user = demo.users[0]
        with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as http:
            response = http.get(f"/api/batch-progress/test/{user.id}")

    assert response.status_code == status
    if status == 404:
        assert "Cannot GET /api/batch-progress/test/" in response.text
        return
    body = response.json()
    assert body["message"] == "Test progress data retrieved successfully"
    data = body["data"]
    assert data["user"] == {"_id": user.id, "username": user.name, "email": user.email, "xps": 0}
    assert data["summary"] == {
        "totalBatches": 1,
        "totalTasks": 4,
        "completedTasks": 0,
        "totalXP": 0,
    }
    assert data["progressRecords"][0]["batchId"]["name"] == "Demo Cohort"


def test_the_debug_route_stays_out_of_the_client() -> None:
    assert not [name for name in vars(Progress) if "test" in name or "debug" in name]
    assert "progress.notifications" not in WRITES, "a read carries no write"


def test_a_progress_write_invalidates_activity_and_notifications(
    backend: GamifyBackend, demo: DemoData, connect: Connect
) -> None:
    learner = demo.users[0].id
    user = as_user(connect, backend, learner)
    manager = user.client.refresh_manager
    watched = [
        (CacheKey.NOTIFICATIONS, learner),
        (CacheKey.ACTIVITY, demo.batch_id),
        (CacheKey.DASHBOARD, learner),
        (CacheKey.NOTIFICATIONS, demo.users[1].id),
    ]
    for key in watched:
        manager.set(key, [])
    invalidated: list[Any] = []
    manager.on_invalidate(invalidated.append)

    user(
        lambda c: c.progress.submit_task(
            user_id=learner, task_id=demo.task_ids[0], batch_id=demo.batch_id
        )
    )

    assert sorted(map(str, invalidated)) == sorted(map(str, watched[:3])), "others' stay"
    with pytest.raises(NotFoundError):
        user(lambda c: c.progress.user(learner, "not-an-id"))
