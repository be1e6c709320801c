"""Every route of the typed client, on the sync and the async client alike.

The payloads are shaped as the real service sends them (see the wire contract): bare
documents and arrays, named payloads, the ``{success, data}`` envelope, Mongo ids, ISO
timestamps with milliseconds, ``__v`` and unknown fields. Each test runs once per client
through :class:`Api`, which awaits the async client's coroutines on a private event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

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
    MutationResult,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
)
from gamify_client.models import (
    ActivityLogEntry,
    Batch,
    BatchProgressReport,
    Category,
    Dashboard,
    LoginResult,
    RegisterResult,
    Submission,
    SubmitTaskOutcome,
    Task,
    TaskProgress,
    TaskSubmitOutcome,
    User,
    UserBatchProgress,
)

BASE_URL = "http://gamify.test"

ADMIN_ID = "65f0c1a2b3c4d5e6f7a8b901"
MENTOR_ID = "65f0c1a2b3c4d5e6f7a8b902"
USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
CATEGORY_ID = "65f0c1a2b3c4d5e6f7a8b920"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
OTHER_TASK_ID = "65f0c1a2b3c4d5e6f7a8b931"
SUBMISSION_ID = "65f0c1a2b3c4d5e6f7a8b940"
PROGRESS_ID = "65f0c1a2b3c4d5e6f7a8b950"
ENTRY_ID = "65f0c1a2b3c4d5e6f7a8b960"
LOG_ID = "65f0c1a2b3c4d5e6f7a8b961"

CREATED = "2024-03-12T09:15:27.431Z"
UPDATED = "2024-03-14T17:02:11.908Z"
DUE = "2024-04-30T23:59:59.000Z"
SUBMITTED = "2024-03-15T08:41:03.256Z"

TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJpZCI6IjY1ZjBjMWEyYjNjNGQ1ZTZmN2E4YjkwMSIsImRlc2lnbmF0aW9uIjoiYWRtaW4ifQ"
    ".q3Jj8mN0b9wG1c7f3l5d2vXyZk6t4r1s8u0p9a2b3c4"
)

EXPRESS_404 = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
    "</head>\n<body>\n<pre>Cannot GET /api/task/nope</pre>\n</body>\n</html>\n"
)


def at(text: str) -> datetime:
    """The aware datetime a wire timestamp stands for."""
    return datetime.fromisoformat(text)


# Documents as the real service writes them.


def user_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": USER_ID,
        "username": "ada",
        "email": "ada@example.com",
        "designation": "user",
        "parentId": ADMIN_ID,
        "avatar": "",
        "xps": 250,
        "restricted": False,
        "completedTasks": [{"task": TASK_ID, "completedAt": SUBMITTED, "_id": ENTRY_ID}],
        "inProgressTasks": [],
        "createdAt": CREATED,
        "updatedAt": UPDATED,
        "__v": 2,
    }
    doc.update(changes)
    return doc


def category_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": CATEGORY_ID,
        "name": "Backend",
        "emoji": "🛠️",
        "color": "#3b82f6",
        "tasks": [TASK_ID],
        "batch": BATCH_ID,
        "createdAt": CREATED,
        "updatedAt": UPDATED,
        "__v": 0,
    }
    doc.update(changes)
    return doc


def batch_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": BATCH_ID,
        "name": "Spring Cohort 2024",
        "description": "Twelve weeks of backend work",
        "admin": ADMIN_ID,
        "mentor": MENTOR_ID,
        "users": [USER_ID],
        "tasks": [TASK_ID],
        "learningObjectives": ["REST APIs", "Testing"],
        "industryFocus": "Fintech",
        "difficultyLevel": "Intermediate",
        "estimatedDuration": 12,
        "status": "active",
        "startDate": CREATED,
        "endDate": None,
        "progressMetrics": {
            "averageCompletionRate": 37.5,
            "averageScore": 88,
            "totalTasksCompleted": 3,
            "mentorFeedbackCount": 1,
        },
        "createdAt": CREATED,
        "updatedAt": UPDATED,
        "__v": 1,
    }
    doc.update(changes)
    return doc


def task_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": TASK_ID,
        "name": "Build a REST API",
        "description": "CRUD for books",
        "details": "Express, Mongoose, tests",
        "difficulty": "Medium",
        "category": CATEGORY_ID,
        "batch": BATCH_ID,
        "type": "Mini-project",
        "points": 100,
        "badge": "API Artisan",
        "resources": ["https://expressjs.com"],
        "dueDate": DUE,
        "submissionTypes": ["Link", "Text Entry"],
        "assignedTo": [USER_ID],
        "completedBy": [],
        "completedCount": 0,
        "inProgressCount": 0,
        "createdAt": CREATED,
        "updatedAt": UPDATED,
        "__v": 0,
        "reviewQueue": "fast-track",
    }
    doc.update(changes)
    return doc


def submission_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": SUBMISSION_ID,
        "userId": USER_ID,
        "taskId": TASK_ID,
        "submissionType": "Link",
        "value": "https://github.com/ada/books-api",
        "submittedAt": SUBMITTED,
        "status": "submitted",
        "grade": None,
        "feedback": None,
        "createdAt": SUBMITTED,
        "updatedAt": SUBMITTED,
        "__v": 0,
    }
    doc.update(changes)
    return doc


def progress_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": PROGRESS_ID,
        "userId": USER_ID,
        "batchId": BATCH_ID,
        "taskProgress": [
            {
                "taskId": TASK_ID,
                "status": "completed",
                "submissionId": SUBMISSION_ID,
                "submittedAt": SUBMITTED,
                "grade": 92,
                "feedback": "Clean code",
                "pointsEarned": 100,
                "attempts": 1,
                "_id": ENTRY_ID,
            },
            {"taskId": OTHER_TASK_ID, "status": "not_started", "pointsEarned": 0, "attempts": 0},
        ],
        "progressMetrics": {
            "totalTasks": 2,
            "completedTasks": 1,
            "submittedTasks": 1,
            "gradedTasks": 1,
            "totalPointsEarned": 100,
            "completionPercentage": 50,
            "averageGrade": 92,
        },
        "activityLog": [
            {
                "action": "task_completed",
                "taskId": TASK_ID,
                "description": "Completed Build a REST API",
                "timestamp": SUBMITTED,
                "metadata": {"pointsEarned": 100},
                "_id": LOG_ID,
            }
        ],
        "enrolledAt": CREATED,
        "lastActiveAt": SUBMITTED,
        "status": "active",
        "createdAt": CREATED,
        "updatedAt": SUBMITTED,
        "__v": 3,
    }
    doc.update(changes)
    return doc


def batch_summary() -> dict[str, Any]:
    return {
        "completedTasks": 1,
        "totalTasks": 2,
        "completionPercentage": 50,
        "totalPointsEarned": 100,
    }


# Driving the sync and the async client with one test body.


class Api:
    """One client, sync or async, called the same way: ``api(lambda c: c.tasks.list())``
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

    def derive(self, make: Callable[[Any], GamifyClient | AsyncGamifyClient]) -> Api:
        """An Api over a client made from this one (``with_options``), on the same loop."""
        return Api(make(self.client), self._loop)

    def close(self) -> None:
        if isinstance(self.client, GamifyClient):
            self.client.close()
        elif self._loop is not None:
            self._loop.run_until_complete(self.client.close())


ApiFactory = Callable[..., Api]


@pytest.fixture(params=["sync", "async"])
def make_api(request: pytest.FixtureRequest) -> Iterator[ApiFactory]:
    """Builds clients of the parametrised flavour; every one is closed after the test."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[Api] = []

    def make(**options: Any) -> Api:
        config = ClientConfig(base_url=BASE_URL, max_retries=0, task_completion_delay=0)
        client: GamifyClient | AsyncGamifyClient
        if loop is None:
            client = GamifyClient(config=config, **options)
        else:
            client = AsyncGamifyClient(config=config, **options)
        made.append(Api(client, loop))
        return made[-1]

    yield make
    for api in made:
        api.close()
    if loop is not None:
        loop.close()


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    return make_api()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as mock:
        yield mock


def last_request(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    return route.calls.last.request


def sent_json(route: respx.Route) -> Any:
    request = last_request(route)
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


def form_parts(request: httpx.Request) -> dict[str, EmailMessage]:
    """The parts of a multipart/form-data request, by field name."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(_class=EmailMessage, policy=policy.HTTP).parsebytes(
        head + request.content
    )
    parts: dict[str, EmailMessage] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        parts[name] = part
    return parts


def part_bytes(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


# Tasks


def test_tasks_list_takes_the_bare_array_with_populated_references(
    api: Api, router: respx.MockRouter
) -> None:
    populated = task_doc(category=category_doc(), batch=batch_doc())
    by_id = task_doc(_id=OTHER_TASK_ID, name="Write a case study", type="Case Study")
    route = router.get("/api/task/all").respond(200, json=[populated, by_id])

    tasks = api(lambda c: c.tasks.list())

    assert last_request(route).method == "GET"
    assert [type(task) for task in tasks] == [Task, Task]
    first, second = tasks
    assert first.id == TASK_ID
    assert isinstance(first.category, Category)
    assert first.category.id == CATEGORY_ID
    assert first.category.name == "Backend"
    assert first.category.tasks == [TASK_ID]
    assert isinstance(first.batch, Batch)
    assert first.batch.name == "Spring Cohort 2024"
    assert first.batch.progress_metrics is not None
    assert first.batch.progress_metrics.average_completion_rate == 37.5
    assert first.created_at == at(CREATED)
    assert first.version == 0
    assert first.model_extra == {"reviewQueue": "fast-track"}
    assert second.id == OTHER_TASK_ID
    assert second.category == CATEGORY_ID
    assert second.batch == BATCH_ID
    assert second.type == "Case Study"


def test_tasks_get_parses_the_bare_document(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/task/{TASK_ID}").respond(200, json=task_doc(inProgressCount=4))

    task = api(lambda c: c.tasks.get(TASK_ID))

    assert last_request(route).method == "GET"
    assert isinstance(task, Task)
    assert task.id == TASK_ID
    assert task.name == "Build a REST API"
    assert task.details == "Express, Mongoose, tests"
    assert task.difficulty == "Medium"
    assert task.points == 100
    assert task.badge == "API Artisan"
    assert task.resources == ["https://expressjs.com"]
    assert task.due_date == at(DUE)
    assert task.submission_types == ["Link", "Text Entry"]
    assert task.assigned_to == [USER_ID]
    assert task.completed_by == []
    assert task.completed_count == 0
    assert task.in_progress_count == 4
    assert task.updated_at == at(UPDATED)
    assert task.model_extra == {"reviewQueue": "fast-track"}


def test_tasks_submission_sends_both_ids_as_query(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/task/submissions").respond(
        200, json={"submission": submission_doc(grade=92, feedback="Clean code")}
    )

    submission = api(lambda c: c.tasks.submission(task_id=TASK_ID, user_id=USER_ID))

    request = last_request(route)
    assert request.method == "GET"
    assert dict(request.url.params) == {"taskId": TASK_ID, "userId": USER_ID}
    assert isinstance(submission, Submission)
    assert submission.id == SUBMISSION_ID
    assert submission.user_id == USER_ID
    assert submission.task_id == TASK_ID
    assert submission.submission_type == "Link"
    assert submission.value == "https://github.com/ada/books-api"
    assert submission.submitted_at == at(SUBMITTED)
    assert submission.status == "submitted"
    assert submission.grade == 92
    assert submission.feedback == "Clean code"
    assert submission.model_extra == {"createdAt": SUBMITTED, "updatedAt": SUBMITTED, "__v": 0}


def test_tasks_submission_is_none_when_there_is_none(api: Api, router: respx.MockRouter) -> None:
    router.get("/api/task/submissions").respond(200, json={"submission": None})

    assert api(lambda c: c.tasks.submission(task_id=TASK_ID, user_id=USER_ID)) is None


def test_tasks_create_sends_every_field_in_camel_case(api: Api, router: respx.MockRouter) -> None:
    created = task_doc(assignedTo=[USER_ID, ADMIN_ID])
    route = router.post("/api/task/create").respond(
        201,
        json={
            "success": True,
            "task": created,
            "message": "Task created successfully",
            "realTimeData": {
                "taskId": TASK_ID,
                "taskName": "Build a REST API",
                "batchId": BATCH_ID,
                "points": 150,
                "difficulty": "Medium",
                "createdAt": CREATED,
                "assignedTo": [USER_ID, ADMIN_ID],
                "totalUsersAffected": 7,
            },
        },
    )

    result = api(
        lambda c: c.tasks.create(
            name="Build a REST API",
            description="CRUD for books",
            details="Express, Mongoose, tests",
            category=CATEGORY_ID,
            difficulty="Medium",
            batch=BATCH_ID,
            assigned_to=[USER_ID, ADMIN_ID],
            type="Mini-project",
            points=150,
            badge="API Artisan",
            resources=["https://expressjs.com"],
            due_date=datetime(2024, 4, 30, 23, 59, 59),
            submission_types=["Link", "File Upload"],
        )
    )

    assert last_request(route).method == "POST"
    assert sent_json(route) == {
        "name": "Build a REST API",
        "description": "CRUD for books",
        "details": "Express, Mongoose, tests",
        "category": CATEGORY_ID,
        "difficulty": "Medium",
        "batch": BATCH_ID,
        "assignedTo": [USER_ID, ADMIN_ID],
        "type": "Mini-project",
        "points": 150,
        "badge": "API Artisan",
        "resources": ["https://expressjs.com"],
        "dueDate": DUE,
        "submissionTypes": ["Link", "File Upload"],
    }
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, Task)
    assert result.data.id == TASK_ID
    assert result.data.assigned_to == [USER_ID, ADMIN_ID]
    assert result.message == "Task created successfully"
    assert result.body["success"] is True
    real_time = result.real_time
    assert real_time is not None
    assert real_time.task_id == TASK_ID
    assert real_time.task_name == "Build a REST API"
    assert real_time.batch_id == BATCH_ID
    assert real_time.points == 150
    assert real_time.difficulty == "Medium"
    assert real_time.created_at == at(CREATED)
    assert real_time.assigned_to == [USER_ID, ADMIN_ID]
    assert real_time.total_users_affected == 7
    assert real_time.current_streak is None


def test_tasks_create_omits_the_fields_left_out(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/task/create").respond(
        201,
        json={
            "success": True,
            "task": task_doc(batch=None, assignedTo=[]),
            "message": "Task created successfully",
            "realTimeData": {
                "taskId": TASK_ID,
                "taskName": "Build a REST API",
                "batchId": None,
                "points": 100,
                "difficulty": "Easy",
                "createdAt": CREATED,
                "assignedTo": [],
                "totalUsersAffected": 0,
            },
        },
    )

    result = api(
        lambda c: c.tasks.create(
            name="Build a REST API",
            description="CRUD for books",
            details="Express",
            category=CATEGORY_ID,
            difficulty="Easy",
            due_date="2024-05-01T12:00:00.000Z",
        )
    )

    assert sent_json(route) == {
        "name": "Build a REST API",
        "description": "CRUD for books",
        "details": "Express",
        "category": CATEGORY_ID,
        "difficulty": "Easy",
        "dueDate": "2024-05-01T12:00:00.000Z",
    }
    assert result.data.batch is None
    assert result.real_time is not None
    assert result.real_time.batch_id is None
    assert result.real_time.total_users_affected == 0


def submit_answer() -> dict[str, Any]:
    """``POST /api/task/:id/submit`` as the real service answers: the receipt has ``id``, and
    ``realTimeData`` has no ``currentStreak`` (defect 2)."""
    return {
        "success": True,
        "message": "Task submitted successfully",
        "submission": {
            "id": SUBMISSION_ID,
            "submissionType": "Link",
            "submittedAt": SUBMITTED,
            "status": "submitted",
        },
        "progress": {
            "pointsEarned": 100,
            "totalXPS": 350,
            "taskCompleted": True,
            "newTotalXP": 350,
        },
        "realTimeData": {
            "taskStatus": "completed",
            "taskId": TASK_ID,
            "batchId": BATCH_ID,
            "userId": USER_ID,
            "pointsEarned": 100,
            "newTotalXP": 350,
            "completionTime": SUBMITTED,
            "batchProgress": batch_summary(),
            "activityLog": {
                "action": "task_completed",
                "taskId": TASK_ID,
                "description": "Completed Build a REST API",
                "timestamp": SUBMITTED,
            },
        },
    }


def test_tasks_submit_json_parses_the_receipt_and_real_time_data(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.post(f"/api/task/{TASK_ID}/submit").respond(201, json=submit_answer())

    result = api(
        lambda c: c.tasks.submit(
            TASK_ID,
            user_id=USER_ID,
            submission_type="Link",
            value="https://github.com/ada/books-api",
        )
    )

    assert last_request(route).method == "POST"
    assert sent_json(route) == {
        "userId": USER_ID,
        "submissionType": "Link",
        "value": "https://github.com/ada/books-api",
    }
    assert isinstance(result, MutationResult)
    outcome = result.data
    assert isinstance(outcome, TaskSubmitOutcome)
    assert outcome.submission.id == SUBMISSION_ID
    assert outcome.submission.submission_type == "Link"
    assert outcome.submission.submitted_at == at(SUBMITTED)
    assert outcome.submission.status == "submitted"
    assert outcome.progress.points_earned == 100
    assert outcome.progress.total_xps == 350
    assert outcome.progress.task_completed is True
    assert outcome.progress.new_total_xp == 350
    assert result.message == "Task submitted successfully"
    real_time = result.real_time
    assert real_time is not None
    assert real_time.task_status == "completed"
    assert real_time.task_id == TASK_ID
    assert real_time.batch_id == BATCH_ID
    assert real_time.user_id == USER_ID
    assert real_time.points_earned == 100
    assert real_time.new_total_xp == 350
    assert real_time.current_streak is None
    assert real_time.completion_time == at(SUBMITTED)
    assert real_time.batch_progress is not None
    assert real_time.batch_progress.completed_tasks == 1
    assert real_time.batch_progress.total_tasks == 2
    assert real_time.batch_progress.completion_percentage == 50
    assert real_time.batch_progress.total_points_earned == 100
    assert isinstance(real_time.activity_log, ActivityLogEntry)
    assert real_time.activity_log.action == "task_completed"


def test_tasks_submit_uploads_a_file_as_multipart(api: Api, router: respx.MockRouter) -> None:
    answer = submit_answer()
    answer["submission"]["submissionType"] = "File Upload"
    route = router.post(f"/api/task/{TASK_ID}/submit").respond(201, json=answer)
    content = b"%PDF-1.4\n% report\n"

    result = api(
        lambda c: c.tasks.submit(
            TASK_ID,
            user_id=USER_ID,
            file=("report.pdf", content, "application/pdf"),
            value="final version",
        )
    )

    request = last_request(route)
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = form_parts(request)
    assert set(parts) == {"userId", "submissionType", "value", "file"}
    assert part_bytes(parts["userId"]) == USER_ID.encode()
    assert part_bytes(parts["submissionType"]) == b"File Upload"
    assert part_bytes(parts["value"]) == b"final version"
    assert parts["file"].get_filename() == "report.pdf"
    assert parts["file"].get_content_type() == "application/pdf"
    assert part_bytes(parts["file"]) == content
    assert result.data.submission.submission_type == "File Upload"
    assert result.real_time is not None
    assert result.real_time.current_streak is None


def test_tasks_submit_uploads_a_bare_file_object(api: Api, router: respx.MockRouter) -> None:
    route = router.post(f"/api/task/{TASK_ID}/submit").respond(201, json=submit_answer())

    api(lambda c: c.tasks.submit(TASK_ID, user_id=USER_ID, file=io.BytesIO(b"notes")))

    parts = form_parts(last_request(route))
    assert set(parts) == {"userId", "submissionType", "file"}
    assert part_bytes(parts["submissionType"]) == b"File Upload"
    assert part_bytes(parts["file"]) == b"notes"


def test_tasks_submit_needs_a_type_or_a_file(api: Api, router: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="submission_type"):
        api(lambda c: c.tasks.submit(TASK_ID, user_id=USER_ID, value="x"))

    assert router.calls.call_count == 0


def test_tasks_start_puts_without_a_body(api: Api, router: respx.MockRouter) -> None:
    route = router.put(f"/api/task/start/{TASK_ID}").respond(200, json=task_doc(inProgressCount=1))

    result = api(lambda c: c.tasks.start(TASK_ID))

    request = last_request(route)
    assert request.method == "PUT"
    assert request.content == b""
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, Task)
    assert result.data.in_progress_count == 1
    assert result.message is None
    assert result.real_time is None


def test_tasks_edit_patches_the_given_fields(api: Api, router: respx.MockRouter) -> None:
    edited = task_doc(details="Add pagination", difficulty="Hard", assignedTo=[USER_ID, MENTOR_ID])
    route = router.patch(f"/api/task/edit/{TASK_ID}").respond(200, json=edited)

    result = api(
        lambda c: c.tasks.edit(
            TASK_ID, details="Add pagination", difficulty="Hard", assigned_to=[USER_ID, MENTOR_ID]
        )
    )

    assert last_request(route).method == "PATCH"
    assert sent_json(route) == {
        "details": "Add pagination",
        "difficulty": "Hard",
        "assignedTo": [USER_ID, MENTOR_ID],
    }
    assert result.data.details == "Add pagination"
    assert result.data.difficulty == "Hard"
    assert result.data.assigned_to == [USER_ID, MENTOR_ID]
    assert result.real_time is None


def test_tasks_edit_omits_the_fields_left_out(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/task/edit/{TASK_ID}").respond(200, json=task_doc(difficulty="Hard"))

    api(lambda c: c.tasks.edit(TASK_ID, difficulty="Hard"))

    assert sent_json(route) == {"difficulty": "Hard"}


def test_tasks_assign_patches_the_assignees(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/task/assign/{TASK_ID}").respond(
        200, json=task_doc(assignedTo=[USER_ID, MENTOR_ID])
    )

    result = api(lambda c: c.tasks.assign(TASK_ID, assigned_to=[USER_ID, MENTOR_ID]))

    assert last_request(route).method == "PATCH"
    assert sent_json(route) == {"assignedTo": [USER_ID, MENTOR_ID]}
    assert isinstance(result.data, Task)
    assert result.data.assigned_to == [USER_ID, MENTOR_ID]


def test_tasks_delete_returns_the_deleted_task(api: Api, router: respx.MockRouter) -> None:
    route = router.delete(f"/api/task/delete/{TASK_ID}").respond(200, json=task_doc())

    result = api(lambda c: c.tasks.delete(TASK_ID))

    request = last_request(route)
    assert request.method == "DELETE"
    assert request.content == b""
    assert isinstance(result, MutationResult)
    assert result.data.id == TASK_ID
    assert result.message is None


# Categories


def test_categories_list_all(api: Api, router: respx.MockRouter) -> None:
    other = category_doc(_id=OTHER_TASK_ID, name="Frontend", emoji="🎨", tasks=[])
    route = router.get("/api/categories/all").respond(200, json=[category_doc(), other])

    categories = api(lambda c: c.categories.list())

    request = last_request(route)
    assert request.method == "GET"
    assert request.url.query == b""
    assert [type(category) for category in categories] == [Category, Category]
    assert categories[0].id == CATEGORY_ID
    assert categories[0].emoji == "🛠️"
    assert categories[0].color == "#3b82f6"
    assert categories[0].tasks == [TASK_ID]
    assert categories[0].batch == BATCH_ID
    assert categories[0].version == 0
    assert categories[1].name == "Frontend"
    assert categories[1].tasks == []


def test_categories_list_of_one_batch(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/categories/all").respond(200, json=[category_doc()])

    categories = api(lambda c: c.categories.list(batch_id=BATCH_ID))

    assert dict(last_request(route).url.params) == {"batchId": BATCH_ID}
    assert [category.id for category in categories] == [CATEGORY_ID]


def test_categories_create_takes_the_bare_category(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/categories/create").respond(201, json=category_doc(tasks=[]))

    result = api(
        lambda c: c.categories.create(name="Backend", emoji="🛠️", batch=BATCH_ID, color="#3b82f6")
    )

    assert last_request(route).method == "POST"
    assert sent_json(route) == {
        "name": "Backend",
        "emoji": "🛠️",
        "batch": BATCH_ID,
        "color": "#3b82f6",
    }
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, Category)
    assert result.data.id == CATEGORY_ID
    assert result.data.tasks == []
    assert result.message is None
    assert result.real_time is None


def test_categories_create_omits_the_color_left_out(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/categories/create").respond(201, json=category_doc(color=None))

    result = api(lambda c: c.categories.create(name="Backend", emoji="🛠️", batch=BATCH_ID))

    assert sent_json(route) == {"name": "Backend", "emoji": "🛠️", "batch": BATCH_ID}
    assert result.data.color is None


# Batches


def test_batches_list_sends_the_token(api: Api, router: respx.MockRouter) -> None:
    api.client.token = TOKEN
    mentored = batch_doc(mentor=user_doc(_id=MENTOR_ID, username="grace", designation="mentor"))
    route = router.get("/api/batches").respond(200, json=[mentored])

    batches = api(lambda c: c.batches.list())

    request = last_request(route)
    assert request.method == "GET"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert [type(batch) for batch in batches] == [Batch]
    assert isinstance(batches[0].mentor, User)
    assert batches[0].mentor.username == "grace"
    assert batches[0].admin == ADMIN_ID


def test_batches_get_parses_the_bare_batch(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/batches/{BATCH_ID}").respond(200, json=batch_doc())

    batch = api(lambda c: c.batches.get(BATCH_ID))

    assert last_request(route).method == "GET"
    assert isinstance(batch, Batch)
    assert batch.id == BATCH_ID
    assert batch.description == "Twelve weeks of backend work"
    assert batch.users == [USER_ID]
    assert batch.tasks == [TASK_ID]
    assert batch.learning_objectives == ["REST APIs", "Testing"]
    assert batch.industry_focus == "Fintech"
    assert batch.difficulty_level == "Intermediate"
    assert batch.estimated_duration == 12
    assert batch.status == "active"
    assert batch.start_date == at(CREATED)
    assert batch.end_date is None
    assert batch.progress_metrics is not None
    assert batch.progress_metrics.average_score == 88
    assert batch.progress_metrics.total_tasks_completed == 3
    assert batch.progress_metrics.mentor_feedback_count == 1
    assert batch.version == 1


def test_batches_create_takes_the_bare_batch_without_success(
    api: Api, router: respx.MockRouter
) -> None:
    api.client.token = TOKEN
    created = batch_doc(users=[], tasks=[], progressMetrics=None)
    route = router.post("/api/batches").respond(201, json=created)

    result = api(
        lambda c: c.batches.create(
            name="Spring Cohort 2024",
            description="Twelve weeks of backend work",
            mentor=MENTOR_ID,
            admin=ADMIN_ID,
            industry_focus="Fintech",
            difficulty_level="Intermediate",
            estimated_duration=12,
            learning_objectives=["REST APIs", "Testing"],
            tasks=[TASK_ID],
        )
    )

    request = last_request(route)
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent_json(route) == {
        "name": "Spring Cohort 2024",
        "description": "Twelve weeks of backend work",
        "mentor": MENTOR_ID,
        "admin": ADMIN_ID,
        "industryFocus": "Fintech",
        "difficultyLevel": "Intermediate",
        "estimatedDuration": 12,
        "learningObjectives": ["REST APIs", "Testing"],
        "tasks": [TASK_ID],
    }
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, Batch)
    assert result.data.id == BATCH_ID
    assert result.data.users == []
    assert result.message is None
    assert result.real_time is None
    assert "success" not in result.body


def test_batches_create_omits_the_fields_left_out(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/batches").respond(201, json=batch_doc())

    api(lambda c: c.batches.create(name="Spring", description="Backend", mentor=MENTOR_ID))

    assert sent_json(route) == {"name": "Spring", "description": "Backend", "mentor": MENTOR_ID}


def test_batches_enroll_takes_message_and_batch_without_success(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.post(f"/api/batches/{BATCH_ID}/enroll").respond(
        200, json={"message": "User enrolled successfully", "batch": batch_doc()}
    )

    result = api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))

    assert last_request(route).method == "POST"
    assert sent_json(route) == {"userId": USER_ID}
    assert isinstance(result.data, Batch)
    assert result.data.users == [USER_ID]
    assert result.message == "User enrolled successfully"
    assert result.real_time is None


def test_batches_remove_takes_the_bare_batch(api: Api, router: respx.MockRouter) -> None:
    route = router.post(f"/api/batches/{BATCH_ID}/remove").respond(200, json=batch_doc(users=[]))

    result = api(lambda c: c.batches.remove(BATCH_ID, USER_ID))

    assert last_request(route).method == "POST"
    assert sent_json(route) == {"batchId": BATCH_ID, "userId": USER_ID}
    assert isinstance(result.data, Batch)
    assert result.data.users == []
    assert result.message is None


def test_batches_delete_takes_message_and_batch(api: Api, router: respx.MockRouter) -> None:
    route = router.delete(f"/api/batches/{BATCH_ID}").respond(
        200, json={"message": "Batch deleted successfully", "batch": batch_doc()}
    )

    result = api(lambda c: c.batches.delete(BATCH_ID))

    request = last_request(route)
    assert request.method == "DELETE"
    assert request.content == b""
    assert isinstance(result.data, Batch)
    assert result.data.id == BATCH_ID
    assert result.message == "Batch deleted successfully"


# Batch progress


def test_progress_dashboard_parses_the_named_payload(api: Api, router: respx.MockRouter) -> None:
    api.client.token = TOKEN
    with_batch = progress_doc(batchId={"_id": BATCH_ID, "name": "Spring Cohort 2024"})
    route = router.get("/api/batch-progress/dashboard/me").respond(
        200,
        json={
            "success": True,
            "dashboard": {
                "overallStats": {
                    "totalBatches": 1,
                    "totalTasksAcrossAllBatches": 2,
                    "totalCompletedTasks": 1,
                    "totalSubmittedTasks": 1,
                    "totalPointsEarned": 100,
                    "userTotalXP": 350,
                    "currentStreak": 3,
                    "averageCompletionRate": 50,
                },
                "batchProgress": [with_batch],
                "recentSubmissions": [submission_doc()],
                "userProfile": {"username": "ada", "totalXP": 350},
                "lastUpdated": UPDATED,
            },
        },
    )

    dashboard = api(lambda c: c.progress.dashboard())

    request = last_request(route)
    assert request.method == "GET"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert isinstance(dashboard, Dashboard)
    stats = dashboard.overall_stats
    assert stats.total_batches == 1
    assert stats.total_tasks_across_all_batches == 2
    assert stats.total_completed_tasks == 1
    assert stats.total_submitted_tasks == 1
    assert stats.total_points_earned == 100
    assert stats.user_total_xp == 350
    assert stats.current_streak == 3
    assert stats.average_completion_rate == 50
    assert [type(progress) for progress in dashboard.batch_progress] == [UserBatchProgress]
    batch = dashboard.batch_progress[0].batch_id
    assert isinstance(batch, Batch)
    assert batch.id == BATCH_ID
    assert batch.name == "Spring Cohort 2024"
    assert [submission.id for submission in dashboard.recent_submissions] == [SUBMISSION_ID]
    assert dashboard.user_profile.username == "ada"
    assert dashboard.user_profile.total_xp == 350
    assert dashboard.last_updated == at(UPDATED)


def test_progress_user_parses_one_batch_progress(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/batch-progress/user/{USER_ID}/{BATCH_ID}").respond(
        200, json={"success": True, "progress": progress_doc()}
    )

    progress = api(lambda c: c.progress.user(USER_ID, BATCH_ID))

    assert last_request(route).method == "GET"
    assert isinstance(progress, UserBatchProgress)
    assert progress.id == PROGRESS_ID
    assert progress.user_id == USER_ID
    assert progress.batch_id == BATCH_ID
    assert [type(entry) for entry in progress.task_progress] == [TaskProgress, TaskProgress]
    done, todo = progress.task_progress
    assert done.task_id == TASK_ID
    assert done.status == "completed"
    assert done.submission_id == SUBMISSION_ID
    assert done.submitted_at == at(SUBMITTED)
    assert done.grade == 92
    assert done.feedback == "Clean code"
    assert done.points_earned == 100
    assert done.attempts == 1
    assert done.model_extra == {"_id": ENTRY_ID}
    assert todo.task_id == OTHER_TASK_ID
    assert todo.status == "not_started"
    assert todo.submitted_at is None
    metrics = progress.progress_metrics
    assert metrics.total_tasks == 2
    assert metrics.completed_tasks == 1
    assert metrics.submitted_tasks == 1
    assert metrics.graded_tasks == 1
    assert metrics.total_points_earned == 100
    assert metrics.completion_percentage == 50
    assert metrics.average_grade == 92
    assert [entry.action for entry in progress.activity_log] == ["task_completed"]
    assert progress.activity_log[0].metadata == {"pointsEarned": 100}
    assert progress.activity_log[0].timestamp == at(SUBMITTED)
    assert progress.enrolled_at == at(CREATED)
    assert progress.last_active_at == at(SUBMITTED)
    assert progress.status == "active"
    assert progress.model_extra == {"createdAt": CREATED, "updatedAt": SUBMITTED, "__v": 3}


def test_progress_user_takes_the_zeroed_default(api: Api, router: respx.MockRouter) -> None:
    zeroed = {
        "userId": USER_ID,
        "batchId": BATCH_ID,
        "taskProgress": [],
        "progressMetrics": {
            "totalTasks": 0,
            "completedTasks": 0,
            "submittedTasks": 0,
            "gradedTasks": 0,
            "totalPointsEarned": 0,
            "completionPercentage": 0,
            "averageGrade": 0,
        },
        "activityLog": [],
    }
    router.get(f"/api/batch-progress/user/{USER_ID}/{BATCH_ID}").respond(
        200, json={"success": True, "progress": zeroed}
    )

    progress = api(lambda c: c.progress.user(USER_ID, BATCH_ID))

    assert progress.id is None
    assert progress.user_id == USER_ID
    assert progress.task_progress == []
    assert progress.progress_metrics.completion_percentage == 0
    assert progress.enrolled_at is None


def test_progress_user_batches_parses_the_list(api: Api, router: respx.MockRouter) -> None:
    second = progress_doc(_id=ENTRY_ID, batchId=OTHER_TASK_ID, taskProgress=[], activityLog=[])
    route = router.get(f"/api/batch-progress/user/{USER_ID}").respond(
        200, json={"success": True, "progress": [progress_doc(), second]}
    )

    progress = api(lambda c: c.progress.user_batches(USER_ID))

    assert last_request(route).method == "GET"
    assert [type(entry) for entry in progress] == [UserBatchProgress, UserBatchProgress]
    assert [entry.id for entry in progress] == [PROGRESS_ID, ENTRY_ID]
    assert progress[1].batch_id == OTHER_TASK_ID


def test_progress_batch_parses_batch_and_students(api: Api, router: respx.MockRouter) -> None:
    ahead = progress_doc(userId=user_doc())
    behind = progress_doc(
        _id=ENTRY_ID,
        userId={"_id": MENTOR_ID, "username": "lin", "email": "lin@example.com"},
        progressMetrics={"totalTasks": 2, "completedTasks": 0, "completionPercentage": 0},
    )
    route = router.get(f"/api/batch-progress/batch/{BATCH_ID}").respond(
        200, json={"success": True, "batch": batch_doc(), "studentsProgress": [ahead, behind]}
    )

    report = api(lambda c: c.progress.batch(BATCH_ID))

    assert last_request(route).method == "GET"
    assert isinstance(report, BatchProgressReport)
    assert isinstance(report.batch, Batch)
    assert report.batch.id == BATCH_ID
    students = report.students_progress
    assert [type(student.user_id) for student in students] == [User, User]
    assert [student.progress_metrics.completion_percentage for student in students] == [50, 0]
    first_user = students[0].user_id
    assert isinstance(first_user, User)
    assert first_user.username == "ada"
    assert first_user.xps == 250


def activity_entries() -> list[dict[str, Any]]:
    return [
        {
            "action": "task_completed",
            "taskId": {"_id": TASK_ID, "name": "Build a REST API"},
            "description": "Completed Build a REST API",
            "timestamp": SUBMITTED,
            "metadata": {"pointsEarned": 100},
            "userId": {"_id": USER_ID, "username": "ada"},
        },
        {
            "action": "milestone_reached",
            "taskId": None,
            "description": "Enrolled in batch",
            "timestamp": CREATED,
        },
    ]


def test_progress_activity_with_a_limit(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/batch-progress/activity/{BATCH_ID}").respond(
        200, json={"success": True, "activities": activity_entries()}
    )

    activities = api(lambda c: c.progress.activity(BATCH_ID, limit=20))

    request = last_request(route)
    assert request.method == "GET"
    assert dict(request.url.params) == {"limit": "20"}
    assert [type(entry) for entry in activities] == [ActivityLogEntry, ActivityLogEntry]
    completed, milestone = activities
    assert isinstance(completed.task_id, Task)
    assert completed.task_id.name == "Build a REST API"
    assert completed.model_extra == {"userId": {"_id": USER_ID, "username": "ada"}}
    assert milestone.action == "milestone_reached"
    assert milestone.task_id is None
    assert milestone.timestamp == at(CREATED)


def test_progress_activity_leaves_the_limit_to_the_server(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.get(f"/api/batch-progress/activity/{BATCH_ID}").respond(
        200, json={"success": True, "activities": []}
    )

    assert api(lambda c: c.progress.activity(BATCH_ID)) == []
    assert last_request(route).url.query == b""


def test_progress_initialize_posts_both_ids(api: Api, router: respx.MockRouter) -> None:
    fresh = progress_doc(activityLog=[], taskProgress=[])
    route = router.post("/api/batch-progress/initialize").respond(
        201, json={"success": True, "message": "Progress initialized", "progress": fresh}
    )

    result = api(lambda c: c.progress.initialize(user_id=USER_ID, batch_id=BATCH_ID))

    assert last_request(route).method == "POST"
    assert sent_json(route) == {"userId": USER_ID, "batchId": BATCH_ID}
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, UserBatchProgress)
    assert result.data.id == PROGRESS_ID
    assert result.message == "Progress initialized"
    assert result.real_time is None


def submit_task_answer() -> dict[str, Any]:
    """``POST /api/batch-progress/submit-task``: the ``{success, data, realTimeData}`` envelope."""
    return {
        "success": True,
        "message": "Task submitted successfully",
        "data": {
            "taskProgress": {
                "taskId": TASK_ID,
                "status": "completed",
                "submittedAt": SUBMITTED,
                "grade": 92,
                "pointsEarned": 100,
                "attempts": 1,
                "_id": ENTRY_ID,
            },
            "progressMetrics": progress_doc()["progressMetrics"],
            "currentStreak": 4,
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
            "currentStreak": 4,
            "completionTime": SUBMITTED,
            "batchProgress": batch_summary(),
        },
    }


def test_progress_submit_task_parses_the_envelope(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/batch-progress/submit-task").respond(200, json=submit_task_answer())

    result = api(
        lambda c: c.progress.submit_task(
            user_id=USER_ID, task_id=TASK_ID, batch_id=BATCH_ID, grade=92
        )
    )

    assert last_request(route).method == "POST"
    assert sent_json(route) == {
        "userId": USER_ID,
        "taskId": TASK_ID,
        "batchId": BATCH_ID,
        "submissionData": {"grade": 92},
    }
    assert isinstance(result, MutationResult)
    outcome = result.data
    assert isinstance(outcome, SubmitTaskOutcome)
    assert isinstance(outcome.task_progress, TaskProgress)
    assert outcome.task_progress.status == "completed"
    assert outcome.task_progress.grade == 92
    assert outcome.progress_metrics is not None
    assert outcome.progress_metrics.completion_percentage == 50
    assert outcome.current_streak == 4
    assert outcome.points_earned == 100
    assert outcome.new_total_xp == 350
    assert outcome.is_first_task_of_day is True
    assert result.message == "Task submitted successfully"
    real_time = result.real_time
    assert real_time is not None
    assert real_time.current_streak == 4
    assert real_time.new_total_xp == 350
    assert real_time.user_id == USER_ID
    assert real_time.batch_progress is not None
    assert real_time.batch_progress.completion_percentage == 50
    assert real_time.activity_log is None


def test_progress_submit_task_without_a_grade(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/batch-progress/submit-task").respond(200, json=submit_task_answer())

    api(lambda c: c.progress.submit_task(user_id=USER_ID, task_id=TASK_ID, batch_id=BATCH_ID))

    assert sent_json(route) == {"userId": USER_ID, "taskId": TASK_ID, "batchId": BATCH_ID}


# Users and auth


def test_users_register_an_admin(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/user/register").respond(
        201,
        json={"message": "User registered successfully", "userId": ADMIN_ID, "adminId": "ADM123"},
    )

    result = api(
        lambda c: c.users.register(
            name="Root", email="root@example.com", password="s3cret!", designation="admin"
        )
    )

    assert last_request(route).method == "POST"
    assert sent_json(route) == {
        "name": "Root",
        "email": "root@example.com",
        "password": "s3cret!",
        "designation": "admin",
    }
    assert isinstance(result, RegisterResult)
    assert result.user_id == ADMIN_ID
    assert result.admin_id == "ADM123"
    assert result.message == "User registered successfully"


def test_client_register_a_user_under_an_admin(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/user/register").respond(
        201, json={"message": "User registered successfully", "userId": USER_ID}
    )

    result = api(
        lambda c: c.register(
            name="Ada",
            email="ada@example.com",
            password="s3cret!",
            designation="user",
            parent_id=ADMIN_ID,
        )
    )

    assert sent_json(route) == {
        "name": "Ada",
        "email": "ada@example.com",
        "password": "s3cret!",
        "designation": "user",
        "parentId": ADMIN_ID,
    }
    assert isinstance(result, RegisterResult)
    assert result.user_id == USER_ID
    assert result.admin_id is None


def login_answer(designation: str = "user") -> dict[str, Any]:
    return {
        "message": "Login successful",
        "userId": USER_ID,
        "token": TOKEN,
        "designation": designation,
    }


def test_users_login_returns_the_token(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/user/login").respond(200, json=login_answer())

    result = api(
        lambda c: c.users.login(
            email="ada@example.com", password="s3cret!", designation="user", admin_id="ADM123"
        )
    )

    assert last_request(route).method == "POST"
    assert sent_json(route) == {
        "email": "ada@example.com",
        "password": "s3cret!",
        "designation": "user",
        "adminId": "ADM123",
    }
    assert isinstance(result, LoginResult)
    assert result.token == TOKEN
    assert result.user_id == USER_ID
    assert result.designation == "user"
    assert result.message == "Login successful"
    assert api.client.token == TOKEN


def test_client_login_sends_the_token_from_then_on(api: Api, router: respx.MockRouter) -> None:
    login = router.post("/api/user/login").respond(200, json=login_answer("admin"))
    dashboard = router.get("/api/batch-progress/dashboard/me").respond(
        200, json={"success": True, "dashboard": {}}
    )

    result = api(lambda c: c.login(email="root@example.com", password="s3cret!"))
    api(lambda c: c.progress.dashboard())

    assert "authorization" not in last_request(login).headers
    assert sent_json(login) == {
        "email": "root@example.com",
        "password": "s3cret!",
        "designation": "admin",
    }
    assert result.token == TOKEN
    assert api.client.token == TOKEN
    assert last_request(dashboard).headers["authorization"] == f"Bearer {TOKEN}"


def test_login_as_a_user_needs_the_admin_id(api: Api, router: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="admin_id"):
        api(lambda c: c.login(email="ada@example.com", password="s3cret!", designation="user"))

    assert router.calls.call_count == 0
    assert api.client.token is None


def test_users_get_parses_the_bare_user(api: Api, router: respx.MockRouter) -> None:
    started = {"task": task_doc(_id=OTHER_TASK_ID), "startedAt": UPDATED, "_id": LOG_ID}
    route = router.get(f"/api/user/{USER_ID}").respond(
        200, json=user_doc(inProgressTasks=[started], lastLogin=UPDATED)
    )

    user = api(lambda c: c.users.get(USER_ID))

    assert last_request(route).method == "GET"
    assert isinstance(user, User)
    assert user.id == USER_ID
    assert user.username == "ada"
    assert user.email == "ada@example.com"
    assert user.designation == "user"
    assert user.parent_id == ADMIN_ID
    assert user.avatar == ""
    assert user.xps == 250
    assert user.restricted is False
    assert user.completed_tasks[0].task == TASK_ID
    assert user.completed_tasks[0].completed_at == at(SUBMITTED)
    in_progress = user.in_progress_tasks[0]
    assert isinstance(in_progress.task, Task)
    assert in_progress.task.id == OTHER_TASK_ID
    assert in_progress.started_at == at(UPDATED)
    assert user.version == 2
    assert user.model_extra == {"lastLogin": UPDATED}


def test_users_update_points_patches_xps(api: Api, router: respx.MockRouter) -> None:
    api.client.token = TOKEN
    route = router.patch(f"/api/user/{USER_ID}/points").respond(
        200, json={"user": user_doc(xps=500)}
    )

    result = api(lambda c: c.users.update_points(USER_ID, xps=500))

    request = last_request(route)
    assert request.method == "PATCH"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent_json(route) == {"xps": 500}
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, User)
    assert result.data.xps == 500
    assert result.message is None
    assert result.real_time is None


# Error answers


def test_an_unknown_route_is_not_found_with_express_text(
    api: Api, router: respx.MockRouter
) -> None:
    router.get("/api/task/nope").respond(
        404, text=EXPRESS_404, headers={"content-type": "text/html; charset=utf-8"}
    )

    with pytest.raises(NotFoundError) as caught:
        api(lambda c: c.tasks.get("nope"))

    assert "Cannot GET /api/task/nope" in caught.value.message
    assert caught.value.status_code == 404
    assert caught.value.body == EXPRESS_404


def test_a_document_not_found_carries_the_server_message(
    api: Api, router: respx.MockRouter
) -> None:
    router.get(f"/api/task/{TASK_ID}").respond(404, json={"message": "Task not found"})

    with pytest.raises(NotFoundError) as caught:
        api(lambda c: c.tasks.get(TASK_ID))

    assert caught.value.message == "Task not found"
    assert caught.value.body == {"message": "Task not found"}


def test_an_error_only_body_gives_its_error_as_message(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/batches/{BATCH_ID}").respond(500, json={"error": "Batch lookup failed"})

    with pytest.raises(InternalServerError) as caught:
        api(lambda c: c.batches.get(BATCH_ID))

    assert caught.value.message == "Batch lookup failed"
    assert caught.value.status_code == 500
    assert caught.value.body == {"error": "Batch lookup failed"}


def test_no_token_is_an_authentication_error(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/batches").respond(401, json={"message": "No token provided"})

    with pytest.raises(AuthenticationError) as caught:
        api(lambda c: c.batches.list())

    assert "authorization" not in last_request(route).headers
    assert caught.value.message == "No token provided"
    assert caught.value.status_code == 401
    assert caught.value.body == {"message": "No token provided"}


def test_a_bad_token_is_permission_denied(api: Api, router: respx.MockRouter) -> None:
    api.client.token = "expired"
    route = router.get("/api/batch-progress/dashboard/me").respond(
        403, json={"message": "Invalid token"}
    )

    with pytest.raises(PermissionDeniedError) as caught:
        api(lambda c: c.progress.dashboard())

    assert last_request(route).headers["authorization"] == "Bearer expired"
    assert caught.value.message == "Invalid token"
    assert caught.value.status_code == 403


def test_a_second_submit_is_a_bad_request_with_the_submission(
    api: Api, router: respx.MockRouter
) -> None:
    router.post(f"/api/task/{TASK_ID}/submit").respond(
        400, json={"message": "Task already submitted", "submission": submission_doc()}
    )

    with pytest.raises(BadRequestError) as caught:
        api(lambda c: c.tasks.submit(TASK_ID, user_id=USER_ID, submission_type="Link", value="x"))

    assert caught.value.message == "Task already submitted"
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["submission"]["_id"] == SUBMISSION_ID


def test_a_failed_create_is_a_server_error_sent_once(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    api = make_api(max_retries=2)
    route = router.post("/api/task/create").respond(
        500, json={"message": "Failed to create task", "error": "batchId is not defined"}
    )

    with pytest.raises(InternalServerError) as caught:
        api(
            lambda c: c.tasks.create(
                name="n", description="d", details="x", category=CATEGORY_ID, difficulty="Easy"
            )
        )

    assert route.call_count == 1
    assert caught.value.message == "Failed to create task"
    assert caught.value.status_code == 500
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"] == "batchId is not defined"


# Answers that break the contract


def test_success_false_is_a_validation_error(api: Api, router: respx.MockRouter) -> None:
    body = {"success": False, "message": "Progress not found"}
    router.get(f"/api/batch-progress/user/{USER_ID}/{BATCH_ID}").respond(200, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.progress.user(USER_ID, BATCH_ID))

    assert caught.value.message == "Progress not found"
    assert caught.value.body == body
    assert caught.value.status_code == 200


def test_success_false_on_a_write_is_a_validation_error(api: Api, router: respx.MockRouter) -> None:
    body = {"success": False, "message": "Task not found in batch progress"}
    router.post("/api/batch-progress/submit-task").respond(200, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.progress.submit_task(user_id=USER_ID, task_id=TASK_ID, batch_id=BATCH_ID))

    assert caught.value.message == "Task not found in batch progress"
    assert caught.value.body == body


def test_success_false_where_every_field_is_optional_is_a_validation_error(
    api: Api, router: respx.MockRouter
) -> None:
    body = {"success": False, "message": "Batch not found"}
    router.get(f"/api/batch-progress/batch/{BATCH_ID}").respond(200, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.progress.batch(BATCH_ID))

    assert caught.value.message == "Batch not found"
    assert caught.value.body == body


def test_an_html_success_is_a_validation_error(api: Api, router: respx.MockRouter) -> None:
    page = "<!DOCTYPE html><html><body>Sign in to the proxy</body></html>"
    router.get("/api/task/all").respond(
        200, text=page, headers={"content-type": "text/html; charset=utf-8"}
    )

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.tasks.list())

    assert "text/html" in caught.value.message
    assert caught.value.body == page


def test_a_dict_where_a_list_belongs_is_a_validation_error(
    api: Api, router: respx.MockRouter
) -> None:
    body = {"count": 2}
    router.get("/api/task/all").respond(200, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.tasks.list())

    assert caught.value.body == body
    assert [error["type"] for error in caught.value.errors] == ["list_type"]


def test_a_task_without_id_is_a_validation_error(api: Api, router: respx.MockRouter) -> None:
    body = task_doc()
    del body["_id"]
    router.get(f"/api/task/{TASK_ID}").respond(200, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.tasks.get(TASK_ID))

    assert caught.value.body == body
    assert [(error["type"], error["loc"]) for error in caught.value.errors] == [
        ("missing", ("_id",))
    ]
    assert "_id" in caught.value.message


def test_a_write_with_a_bad_payload_is_a_validation_error(
    api: Api, router: respx.MockRouter
) -> None:
    body = {"message": "User enrolled successfully", "batch": {"name": "no id"}}
    router.post(f"/api/batches/{BATCH_ID}/enroll").respond(200, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))

    assert caught.value.body == body
    assert caught.value.errors[0]["type"] == "missing"


def test_bad_real_time_data_is_a_validation_error(api: Api, router: respx.MockRouter) -> None:
    body = submit_answer()
    body["realTimeData"]["newTotalXP"] = "a lot"
    router.post(f"/api/task/{TASK_ID}/submit").respond(201, json=body)

    with pytest.raises(ResponseValidationError) as caught:
        api(lambda c: c.tasks.submit(TASK_ID, user_id=USER_ID, submission_type="Text Entry"))

    assert caught.value.body == body
    assert caught.value.errors[0]["loc"] == ("newTotalXP",)


# Client options and paths


def test_with_options_sends_the_new_token(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/batches").respond(200, json=[])
    other = api.derive(lambda c: c.with_options(token=TOKEN))

    other(lambda c: c.batches.list())
    api(lambda c: c.batches.list())

    first, second = (call.request for call in route.calls)
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in second.headers
    assert other.client.token == TOKEN
    assert api.client.token is None


def test_default_headers_are_sent_with_the_token(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    api = make_api(default_headers={"X-Client-Name": "grading-bot"}, token=TOKEN)
    route = router.get(f"/api/task/{TASK_ID}").respond(200, json=task_doc())

    api(lambda c: c.tasks.get(TASK_ID))

    headers = last_request(route).headers
    assert headers["x-client-name"] == "grading-bot"
    assert headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("call", "raw_path"),
    [
        (lambda c: c.tasks.get("../all"), b"/api/task/..%2Fall"),
        (lambda c: c.tasks.delete("x/../../user/1"), b"/api/task/delete/x%2F..%2F..%2Fuser%2F1"),
        (lambda c: c.batches.get("1/enroll"), b"/api/batches/1%2Fenroll"),
        (lambda c: c.users.get("1?x=2#y"), b"/api/user/1%3Fx%3D2%23y"),
        (lambda c: c.progress.user("a/b", "c"), b"/api/batch-progress/user/a%2Fb/c"),
    ],
)
def test_path_ids_are_quoted_into_one_segment(
    api: Api, router: respx.MockRouter, call: Callable[[Any], Any], raw_path: bytes
) -> None:
    # The catch-all route answers whatever arrives; the raw path shows where it went.
    route = router.route().respond(404, json={"message": "Not found"})

    with pytest.raises(NotFoundError):
        api(call)

    request = last_request(route)
    assert request.url.raw_path == raw_path
    assert request.url.query == b""


def test_an_empty_id_is_refused_before_sending(api: Api, router: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="empty"):
        api(lambda c: c.tasks.get(""))

    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("dots", "raw_path"), [(".", b"/api/task/%2E"), ("..", b"/api/task/%2E%2E")]
)
def test_dot_ids_stay_in_their_route(
    api: Api, router: respx.MockRouter, dots: str, raw_path: bytes
) -> None:
    # Left as they are, "." and ".." would be removed by URL normalisation.
    route = router.route().respond(404, json={"message": "Task not found"})

    with pytest.raises(NotFoundError):
        api(lambda c: c.tasks.get(dots))

    assert last_request(route).url.raw_path == raw_path
