"""``client.tasks``: every route of ``/api/task`` on both clients, against the real service's
payloads (respx) and against the reference backend, with each defect of the area switched on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from gamify_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client._parsing import status_error
from gamify_client.keys import CacheKey
from gamify_client.models import Batch, Category, CompletionRecord, MutationResult, Task
from gamify_client.realtime import WRITES, MutationContext
from gamify_client.resources import tasks as task_endpoints
from gamify_client.testing import DemoData, GamifyBackend

from . import _api_support
from ._api_support import (
    BASE_URL,
    Api,
    ApiFactory,
    error_body,
    express_page,
    last_request,
    sent_json,
)

# The shared fixtures, by name.
make_api = _api_support.make_api
router = _api_support.router

USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
CATEGORY_ID = "65f0c1a2b3c4d5e6f7a8b920"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
RECORD_ID = "65f0c1a2b3c4d5e6f7a8b961"
SUBMISSION_ID = "65f0c1a2b3c4d5e6f7a8b940"
TODAY = "2024-03-15T08:41:03.256Z"


def task_doc(**changes: Any) -> dict[str, Any]:
    """A task as the real service stores it: no timestamps, ``contentType`` "video"."""
    doc: dict[str, Any] = {
        "_id": TASK_ID,
        "name": "Build a REST API",
        "description": "CRUD for books",
        "details": "Express, Mongoose, tests",
        "category": CATEGORY_ID,
        "difficulty": "Medium",
        "completedCount": 0,
        "inProgressCount": 0,
        "contentType": "video",
        "assignedTo": [],
        "completedBy": [],
        "completionRecords": [],
        "batch": BATCH_ID,
        "type": "Mini-project",
        "points": 150,
        "badge": "",
        "resources": [],
        "submissionTypes": ["File Upload"],
        "__v": 0,
    }
    doc.update(changes)
    return doc


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    return make_api()


# The real service's payloads.


def test_list_takes_populated_and_dangling_references(api: Api, router: respx.MockRouter) -> None:
    category = {"_id": CATEGORY_ID, "name": "Backend", "emoji": "🛠️", "tasks": [TASK_ID]}
    batch = {"_id": BATCH_ID, "name": "Cohort", "users": [], "tasks": [TASK_ID]}
    router.get("/api/task/all").respond(
        200, json=[task_doc(category=category, batch=batch), task_doc(category=None)]
    )

    tasks = api(lambda c: c.tasks.list())

    assert isinstance(tasks[0].category, Category)
    assert tasks[0].category.tasks == [TASK_ID]
    assert isinstance(tasks[0].batch, Batch)
    assert tasks[1].category is None
    assert tasks[1].content_type == "video"


def test_get_parses_the_new_task_fields(api: Api, router: respx.MockRouter) -> None:
    record = {"userId": USER_ID, "date": TODAY, "_id": RECORD_ID}
    router.get(f"/api/task/{TASK_ID}").respond(
        200,
        json=task_doc(videoUrl="https://v.example/1", color="#ff0000", completionRecords=[record]),
    )

    task = api(lambda c: c.tasks.get(TASK_ID))

    assert task.video_url == "https://v.example/1"
    assert task.color == "#ff0000"
    assert task.completion_records == [
        CompletionRecord.model_validate({"userId": USER_ID, "date": TODAY, "_id": RECORD_ID})
    ]
    assert task.completion_records[0].user_id == USER_ID


def test_get_missing_is_not_found(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/task/{TASK_ID}").respond(404, json={"message": "Task not found"})

    with pytest.raises(NotFoundError, match="Task not found"):
        api(lambda c: c.tasks.get(TASK_ID))


def test_submission_query_and_null(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/task/submissions").respond(200, json={"submission": None})

    assert api(lambda c: c.tasks.submission(task_id=TASK_ID, user_id=USER_ID)) is None
    assert dict(last_request(route).url.params) == {"taskId": TASK_ID, "userId": USER_ID}


def test_create_sends_the_content_fields(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/task/create").respond(
        201,
        json={
            "success": True,
            "task": task_doc(contentType="quiz", videoUrl="https://v.example/1", color="#123"),
            "message": "Task created successfully and assigned to batch",
            "realTimeData": {
                "taskId": TASK_ID,
                "taskName": "Build a REST API",
                "batchId": BATCH_ID,
                "points": 150,
                "difficulty": "Medium",
                "createdAt": TODAY,
                "assignedTo": [],
                "totalUsersAffected": 3,
            },
        },
    )

    result = api(
        lambda c: c.tasks.create(
            name="Build a REST API",
            description="CRUD for books",
            details="Express",
            category=CATEGORY_ID,
            difficulty="Medium",
            batch=BATCH_ID,
            video_url="https://v.example/1",
            content_type="quiz",
            color="#123",
        )
    )

    assert sent_json(route) == {
        "name": "Build a REST API",
        "description": "CRUD for books",
        "details": "Express",
        "category": CATEGORY_ID,
        "difficulty": "Medium",
        "batch": BATCH_ID,
        "videoUrl": "https://v.example/1",
        "contentType": "quiz",
        "color": "#123",
    }
    assert result.data.content_type == "quiz"
    assert result.real_time is not None and result.real_time.total_users_affected == 3


def test_create_500_after_writing_is_never_retried(make_api: ApiFactory) -> None:
    api = make_api(max_retries=3)
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.post("/api/task/create").respond(
            500, json={"message": "Failed to create task", "error": {}}
        )
        with pytest.raises(InternalServerError, match="Failed to create task") as caught:
            api(
                lambda c: c.tasks.create(
                    name="n", description="d", details="x", category=CATEGORY_ID, difficulty="E"
                )
            )
    assert route.call_count == 1
    assert caught.value.body == {"message": "Failed to create task", "error": {}}


def test_complete_posts_the_user_and_takes_the_bare_task(
    api: Api, router: respx.MockRouter
) -> None:
    record = {"userId": USER_ID, "date": TODAY, "_id": RECORD_ID}
    route = router.post(f"/api/task/complete/{TASK_ID}").respond(
        200, json=task_doc(completedCount=1, completedBy=[USER_ID], completionRecords=[record])
    )

    result = api(lambda c: c.tasks.complete(TASK_ID, user_id=USER_ID))

    assert sent_json(route) == {"userId": USER_ID}
    assert isinstance(result, MutationResult)
    assert result.data.completed_by == [USER_ID]
    assert result.data.completion_records[0].user_id == USER_ID
    assert result.real_time is None


def test_complete_without_a_user_still_sends_a_json_body(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.post(f"/api/task/complete/{TASK_ID}").respond(200, json=task_doc())

    api(lambda c: c.tasks.complete(TASK_ID))

    assert sent_json(route) == {}


def test_submit_file_upload_500_html_is_a_typed_error(api: Api, router: respx.MockRouter) -> None:
    router.post(f"/api/task/{TASK_ID}/submit").respond(
        500,
        text=express_page("Error: ENOENT: no such file or directory, open 'uploads/1-r.txt'"),
        headers={"content-type": "text/html; charset=utf-8"},
    )

    with pytest.raises(InternalServerError, match="ENOENT"):
        api(lambda c: c.tasks.submit(TASK_ID, user_id=USER_ID, file=("r.txt", b"x")))


def test_start_puts_without_a_body(api: Api, router: respx.MockRouter) -> None:
    route = router.put(f"/api/task/start/{TASK_ID}").respond(200, json=task_doc(inProgressCount=2))

    result = api(lambda c: c.tasks.start(TASK_ID))

    assert last_request(route).content == b""
    assert result.data.in_progress_count == 2


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("PUT", "update", "update"),
        ("PATCH", "edit", "edit"),
    ],
)
def test_update_and_edit_send_every_field(
    api: Api, router: respx.MockRouter, method: str, path: str, name: str
) -> None:
    route = router.request(method, f"/api/task/{path}/{TASK_ID}").respond(
        200, json=task_doc(name="Renamed", points=200)
    )

    result = api(
        lambda c: getattr(c.tasks, name)(
            TASK_ID,
            name="Renamed",
            description="New",
            details="More",
            difficulty="Hard",
            type="Case Study",
            points=200,
            badge="Gold",
            resources=["https://r.example"],
            due_date="2024-05-01T00:00:00.000Z",
            submission_types=["Link"],
            assigned_to=[USER_ID],
        )
    )

    assert sent_json(route) == {
        "details": "More",
        "difficulty": "Hard",
        "assignedTo": [USER_ID],
        "name": "Renamed",
        "description": "New",
        "type": "Case Study",
        "points": 200,
        "badge": "Gold",
        "resources": ["https://r.example"],
        "dueDate": "2024-05-01T00:00:00.000Z",
        "submissionTypes": ["Link"],
    }
    assert result.data.name == "Renamed"


def test_edit_404_is_an_error_body(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/task/edit/{TASK_ID}").respond(404, json={"error": "Task not found"})

    with pytest.raises(NotFoundError, match="Task not found") as caught:
        api(lambda c: c.tasks.edit(TASK_ID))

    assert sent_json(route) == {}
    assert caught.value.body == {"error": "Task not found"}


def test_update_server_error(api: Api, router: respx.MockRouter) -> None:
    router.put(f"/api/task/update/{TASK_ID}").respond(500, json={"error": "Server error"})

    with pytest.raises(InternalServerError, match="Server error"):
        api(lambda c: c.tasks.update(TASK_ID, difficulty="Hard"))


def test_assign_replaces_the_assignees(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/task/assign/{TASK_ID}").respond(
        200, json=task_doc(assignedTo=[USER_ID])
    )

    result = api(lambda c: c.tasks.assign(TASK_ID, assigned_to=[USER_ID]))

    assert sent_json(route) == {"assignedTo": [USER_ID]}
    assert result.data.assigned_to == [USER_ID]


def test_delete_returns_the_task_and_a_repeat_finds_nothing(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.delete(f"/api/task/delete/{TASK_ID}")
    route.side_effect = [
        httpx.Response(200, json=task_doc()),
        httpx.Response(404, json={"message": "Task not found"}),
    ]

    assert api(lambda c: c.tasks.delete(TASK_ID)).data.id == TASK_ID
    with pytest.raises(NotFoundError):
        api(lambda c: c.tasks.delete(TASK_ID))


# Retries follow the writes' rules, not their HTTP methods.


def test_edit_is_retried_after_a_lost_answer(make_api: ApiFactory) -> None:
    api = make_api(max_retries=2)
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.patch(f"/api/task/edit/{TASK_ID}")
        route.side_effect = [httpx.Response(502), httpx.Response(200, json=task_doc(badge="B"))]
        result = api(lambda c: c.tasks.edit(TASK_ID, badge="B"))
    assert route.call_count == 2
    assert result.data.badge == "B"


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("PUT", f"/api/task/start/{TASK_ID}", lambda c: c.tasks.start(TASK_ID)),
        ("POST", f"/api/task/complete/{TASK_ID}", lambda c: c.tasks.complete(TASK_ID)),
    ],
)
def test_counting_writes_are_never_retried_once_sent(
    make_api: ApiFactory, method: str, path: str, call: Any
) -> None:
    api = make_api(max_retries=2)
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.request(method, path).respond(502)
        with pytest.raises(APIStatusError):
            api(call)
    assert route.call_count == 1


def test_a_retried_delete_that_finds_nothing_has_succeeded(make_api: ApiFactory) -> None:
    api = make_api(max_retries=2)
    api.client.refresh_manager.set(CacheKey.TASKS, [Task.model_validate(task_doc())])
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.delete(f"/api/task/delete/{TASK_ID}")
        route.side_effect = [
            httpx.Response(503),
            httpx.Response(404, json={"message": "Task not found"}),
        ]
        result = api(lambda c: c.tasks.delete(TASK_ID))
    assert route.call_count == 2
    assert result.data is None
    entry = api.client.refresh_manager.peek(CacheKey.TASKS)
    assert entry is not None and entry.data == []


# The writes' rules.


def test_only_writes_that_change_nothing_on_repeat_are_repeatable() -> None:
    repeatable = {name for name, write in WRITES.items() if name.startswith("tasks.")}
    assert {name for name in repeatable if WRITES[name].repeatable} == {
        "tasks.update",
        "tasks.edit",
        "tasks.assign",
        "tasks.delete",
    }
    assert repeatable >= {"tasks.create", "tasks.complete", "tasks.start", "tasks.submit"}


def _context(name: str, request: dict[str, Any], data: Any) -> MutationContext:
    return MutationContext(name, request, MutationResult(data=data))


def test_complete_invalidates_the_users_xp_and_the_task_lists() -> None:
    context = _context("tasks.complete", {"task_id": TASK_ID, "user_id": USER_ID}, None)
    keys = task_endpoints.COMPLETE.rule.invalidates(context)
    assert (CacheKey.USER_PROFILE, USER_ID) in keys
    assert (CacheKey.DASHBOARD, USER_ID) in keys
    assert CacheKey.TASKS in keys
    assert CacheKey.BATCH_PROGRESS not in keys


def test_start_invalidates_only_the_task_lists() -> None:
    keys = task_endpoints.START.rule.invalidates(
        _context("tasks.start", {"task_id": TASK_ID}, None)
    )
    assert set(keys) == {CacheKey.TASKS, CacheKey.CATEGORY_TASKS}


def test_delete_drops_the_task_from_the_cached_list_at_once(api: Api) -> None:
    kept = Task.model_validate(task_doc(_id=SUBMISSION_ID))
    gone = Task.model_validate(task_doc())
    api.client.refresh_manager.set(CacheKey.TASKS, [kept, gone])
    with respx.mock(base_url=BASE_URL) as mock:
        mock.delete(f"/api/task/delete/{TASK_ID}").respond(200, json=task_doc())
        api(lambda c: c.tasks.delete(TASK_ID))

    entry = api.client.refresh_manager.peek(CacheKey.TASKS)
    assert entry is not None and entry.data == [kept]


# Against the reference backend.


@pytest.fixture
def demo(backend: GamifyBackend) -> DemoData:
    return backend.seed_demo()


def _as(make_api: ApiFactory, backend: GamifyBackend, user_id: str | None) -> Api:
    token = backend.token_for(user_id) if user_id is not None else None
    return make_api(backend=backend, token=token)


def _new_task(admin: Api, demo: DemoData, **fields: Any) -> Task:
    values: dict[str, Any] = {
        "name": "Extra",
        "description": "More",
        "details": "Do it",
        "category": demo.category_ids[0],
        "difficulty": "Easy",
        "batch": demo.batch_id,
        **fields,
    }
    result = admin(lambda c: c.tasks.create(**values))
    task: Task = result.data
    return task


def test_backend_task_lifecycle(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    admin = _as(make_api, backend, demo.admin.id)
    learner = _as(make_api, backend, demo.users[0].id)

    task = _new_task(admin, demo, video_url="https://v.example", content_type="document")
    assert (task.video_url, task.content_type, task.created_at) == (
        "https://v.example",
        "document",
        None,
    )
    assert task.id in [t.id for t in admin(lambda c: c.tasks.list())]
    category = admin(lambda c: c.categories.get(demo.category_ids[0], batch_id=demo.batch_id))
    assert task.id in [t.id for t in category.tasks if isinstance(t, Task)]

    edited = admin(lambda c: c.tasks.edit(task.id, name="Renamed", points=7, difficulty="Hard"))
    assert (edited.data.name, edited.data.points, edited.data.difficulty) == ("Renamed", 7, "Hard")
    updated = admin(lambda c: c.tasks.update(task.id, badge="Gold"))
    assert updated.data.badge == "Gold"
    assigned = admin(lambda c: c.tasks.assign(task.id, assigned_to=[demo.users[0].id]))
    assert assigned.data.assigned_to == [demo.users[0].id]

    assert learner(lambda c: c.tasks.start(task.id)).data.in_progress_count == 1
    assert learner(lambda c: c.tasks.start(task.id)).data.in_progress_count == 2

    xp = learner(lambda c: c.users.get(demo.users[0].id)).xps
    done = learner(lambda c: c.tasks.complete(task.id))
    assert done.data.completed_by == [demo.users[0].id]
    assert len(done.data.completion_records) == 1
    again = learner(lambda c: c.tasks.complete(task.id))
    assert again.data.completed_count == 1
    assert learner(lambda c: c.users.get(demo.users[0].id)).xps == xp + 50

    submitted = learner(
        lambda c: c.tasks.submit(
            task.id, user_id=demo.users[0].id, submission_type="Link", value="https://x.io"
        )
    )
    assert submitted.real_time is not None and submitted.real_time.current_streak == 1
    found = learner(lambda c: c.tasks.submission(task_id=task.id, user_id=demo.users[0].id))
    assert found is not None and found.value == "https://x.io"

    deleted = admin(lambda c: c.tasks.delete(task.id))
    assert deleted.data.id == task.id
    category = admin(lambda c: c.categories.get(demo.category_ids[0]))
    assert task.id not in [t.id for t in category.tasks if isinstance(t, Task)]
    progress = learner(lambda c: c.progress.user(demo.users[0].id, demo.batch_id))
    assert task.id not in [getattr(e.task_id, "id", e.task_id) for e in progress.task_progress]
    with pytest.raises(NotFoundError):
        admin(lambda c: c.tasks.delete(task.id))


def test_backend_create_checks_category_and_batch(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    admin = _as(make_api, backend, demo.admin.id)
    with pytest.raises(NotFoundError, match="Category not found"):
        _new_task(admin, demo, category=TASK_ID)
    with pytest.raises(NotFoundError, match="Batch not found"):
        _new_task(admin, demo, batch=TASK_ID)
    with pytest.raises(BadRequestError, match="Invalid type"):
        _new_task(admin, demo, type="Essay")


def test_backend_file_upload_is_stored_and_served(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    learner = _as(make_api, backend, demo.users[1].id)
    result = learner(
        lambda c: c.tasks.submit(
            demo.task_ids[0], user_id=demo.users[1].id, file=("../notes.txt", b"my notes")
        )
    )
    submission = learner(
        lambda c: c.tasks.submission(task_id=demo.task_ids[0], user_id=demo.users[1].id)
    )
    assert result.data.submission.submission_type == "File Upload"
    assert submission.value.startswith("/uploads/") and submission.value.endswith("-notes.txt")
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as raw:
        served = raw.get(submission.value)
        assert (served.status_code, served.content) == (200, b"my notes")
        assert raw.get("/uploads/nothing.txt").status_code == 404


def test_backend_casts_fields_as_mongoose_does(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    admin = _as(make_api, backend, demo.admin.id)
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as raw:
        created = raw.post(
            "/api/task/create",
            json={
                "name": 7,
                "description": "d",
                "details": True,
                "category": demo.category_ids[0],
                "difficulty": "Easy",
                "points": "12",
                "resources": "https://r.example",
            },
            headers={"Authorization": f"Bearer {backend.token_for(demo.admin.id)}"},
        )
    task = Task.model_validate(created.json()["task"])
    assert (task.name, task.details, task.points) == ("7", "true", 12)
    assert task.resources == ["https://r.example"]
    with pytest.raises(BadRequestError, match="Invalid points"):
        admin(lambda c: c.tasks.edit(task.id, points="many"))
    with pytest.raises(BadRequestError, match="Invalid submissionTypes"):
        admin(lambda c: c.tasks.update(task.id, submission_types=["Essay"]))


def test_backend_anonymous_complete_without_a_user_changes_nothing(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    task = _as(make_api, backend, None)(lambda c: c.tasks.complete(demo.task_ids[0])).data
    assert (task.completed_count, task.completed_by, task.completion_records) == (0, [], [])


def test_backend_fixed_auth(make_api: ApiFactory, backend: GamifyBackend, demo: DemoData) -> None:
    anonymous = _as(make_api, backend, None)
    learner = _as(make_api, backend, demo.users[0].id)
    # The real frontend's task forms send no credential: a create without a token goes
    # through, and a learner's token is refused.
    assert _new_task(anonymous, demo).name == "Extra"
    with pytest.raises(PermissionDeniedError):
        _new_task(learner, demo)
    with pytest.raises(AuthenticationError):
        anonymous(lambda c: c.tasks.delete(demo.task_ids[0]))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.tasks.delete(demo.task_ids[0]))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.tasks.complete(demo.task_ids[0], user_id=demo.users[1].id))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.tasks.submission(task_id=demo.task_ids[0], user_id=demo.users[1].id))
    # The frontend's "Mark complete" sends no credential: it keeps working.
    done = anonymous(lambda c: c.tasks.complete(demo.task_ids[0], user_id=demo.users[2].id))
    assert done.data.completed_by == [demo.users[2].id]
    mentor = _as(make_api, backend, demo.mentor.id)
    assert _new_task(mentor, demo).name == "Extra"


def test_backend_edit_needs_a_json_body(backend: GamifyBackend, demo: DemoData) -> None:
    token = backend.token_for(demo.admin.id)
    with httpx.Client(
        transport=backend.transport(),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    ) as raw:
        for method, path in (("PUT", "update"), ("PATCH", "edit"), ("PATCH", "assign")):
            response = raw.request(method, f"/api/task/{path}/{demo.task_ids[0]}")
            assert response.status_code == 400
            assert response.json() == {"message": "A JSON body is required"}
        missing = raw.patch(f"/api/task/edit/{TASK_ID}", json={})
        assert (missing.status_code, missing.json()) == (404, {"error": "Task not found"})


# Each defect of the area, switched on: the real behaviour, and the SDK coping with it.


def _with(defects: tuple[str, ...]) -> GamifyBackend:
    return GamifyBackend(defects=defects)  # type: ignore[arg-type]


@pytest.fixture
def real(request: pytest.FixtureRequest) -> Any:
    backend = _with(tuple(request.param))
    yield backend
    backend.close()


def _seeded(make_api: ApiFactory, backend: GamifyBackend) -> tuple[DemoData, Api, Api]:
    demo = backend.seed_demo()
    return demo, _as(make_api, backend, demo.admin.id), _as(make_api, backend, demo.users[0].id)


@pytest.mark.parametrize("real", [["task_create_500"]], indirect=True)
def test_defect_task_create_500(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, admin, _ = _seeded(make_api, real)
    before = len(admin(lambda c: c.tasks.list()))
    with pytest.raises(InternalServerError, match="Failed to create task") as caught:
        _new_task(admin, demo)
    assert caught.value.body == {"message": "Failed to create task", "error": {}}
    assert len(admin(lambda c: c.tasks.list())) == before + 1


@pytest.mark.parametrize("real", [["double_xp"]], indirect=True)
def test_defect_double_xp(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, _, learner = _seeded(make_api, real)
    before = learner(lambda c: c.users.get(demo.users[0].id)).xps
    result = learner(
        lambda c: c.tasks.submit(
            demo.task_ids[0], user_id=demo.users[0].id, submission_type="Text Entry", value="t"
        )
    )
    assert result.data.progress.new_total_xp == before + 2 * 100


@pytest.mark.parametrize(
    ("real", "streak", "logged"),
    [([], 1, 1), (["submit_no_streak"], None, 2)],
    indirect=["real"],
)
def test_submit_that_makes_the_progress(
    make_api: ApiFactory, real: GamifyBackend, streak: int | None, logged: int
) -> None:
    demo, _, _ = _seeded(make_api, real)
    # A user outside the batch has no progress in it: the submit makes one and logs twice.
    newcomer = _as(make_api, real, None)(
        lambda c: c.register(
            name="Nia Newcomer",
            email="nia@demo.gamify",
            password="pw-123456",
            designation="user",
            parent_id=demo.admin.id,
        )
    )
    learner = _as(make_api, real, newcomer.user_id)
    result = learner(
        lambda c: c.tasks.submit(
            demo.task_ids[0], user_id=newcomer.user_id, submission_type="Link", value="https://x"
        )
    )
    assert result.real_time is not None
    assert result.real_time.current_streak == streak
    assert isinstance(result.real_time.activity_log, list)
    actions = [entry.action for entry in result.real_time.activity_log]
    assert actions == ["task_completed"] * logged


@pytest.mark.parametrize("real", [["complete_farm"]], indirect=True)
def test_defect_complete_farm(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, _, learner = _seeded(make_api, real)
    user_id = demo.users[0].id
    before = learner(lambda c: c.users.get(user_id)).xps
    learner(lambda c: c.tasks.complete(demo.task_ids[0], user_id=user_id))
    second = learner(lambda c: c.tasks.complete(demo.task_ids[0], user_id=user_id))
    assert second.data.completed_count == 2
    assert second.data.completed_by == [user_id]
    assert learner(lambda c: c.users.get(user_id)).xps == before + 100


@pytest.mark.parametrize("real", [["no_cascade"]], indirect=True)
def test_defect_no_cascade_leaves_the_task_id_behind(
    make_api: ApiFactory, real: GamifyBackend
) -> None:
    demo, admin, _ = _seeded(make_api, real)
    admin(lambda c: c.tasks.delete(demo.task_ids[0]))
    category = admin(lambda c: c.categories.list(batch_id=demo.batch_id))[0]
    assert demo.task_ids[0] in category.tasks
    # The populated category leaves the dangling id out, as Mongoose's populate does.
    populated = admin(lambda c: c.categories.get(demo.category_ids[0]))
    assert demo.task_ids[0] not in [t.id for t in populated.tasks if isinstance(t, Task)]


@pytest.mark.parametrize("real", [["validation_500"]], indirect=True)
def test_defect_validation_500(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, admin, learner = _seeded(make_api, real)
    with pytest.raises(InternalServerError, match="Failed to create task") as caught:
        _new_task(admin, demo, type="Essay")
    assert error_body(caught.value)["error"]["name"] == "ValidationError"
    with pytest.raises(InternalServerError, match="Server error"):
        admin(lambda c: c.tasks.edit(demo.task_ids[0], assigned_to=["nope"]))
    with pytest.raises(InternalServerError, match="Failed to submit task"):
        learner(
            lambda c: c.tasks.submit(
                demo.task_ids[0], user_id=demo.users[0].id, submission_type="Essay", value="v"
            )
        )


@pytest.mark.parametrize("real", [["no_body_html500"]], indirect=True)
def test_defect_no_body_html500(real: GamifyBackend) -> None:
    demo = real.seed_demo()
    token = real.token_for(demo.admin.id)
    with httpx.Client(
        transport=real.transport(),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    ) as raw:
        response = raw.put(f"/api/task/update/{demo.task_ids[0]}")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert isinstance(status_error(response), InternalServerError)


@pytest.mark.parametrize("real", [["edit_ignores_fields"]], indirect=True)
def test_defect_edit_ignores_fields(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, admin, _ = _seeded(make_api, real)
    edited = admin(lambda c: c.tasks.edit(demo.task_ids[0], name="Renamed", details="New"))
    assert edited.data.name == "Landing page"
    assert edited.data.details == "New"


@pytest.mark.parametrize("real", [["create_ignores_fields"]], indirect=True)
def test_defect_create_ignores_fields(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, admin, _ = _seeded(make_api, real)
    task = _new_task(admin, demo, video_url="https://v.example", content_type="quiz", color="#1")
    assert (task.video_url, task.content_type, task.color) == (None, "video", None)
    orphan = _new_task(admin, demo, category=TASK_ID, batch=None)
    assert orphan.category == TASK_ID


@pytest.mark.parametrize("real", [["upload_dir"]], indirect=True)
def test_defect_upload_dir(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, _, learner = _seeded(make_api, real)
    with pytest.raises(InternalServerError, match="ENOENT"):
        learner(lambda c: c.tasks.submit(demo.task_ids[0], user_id=demo.users[0].id, file=b"x"))
    with httpx.Client(transport=real.transport(), base_url=BASE_URL) as raw:
        assert raw.get("/uploads/anything.txt").status_code == 404


@pytest.mark.parametrize("real", [["missing_auth"]], indirect=True)
def test_defect_missing_auth(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo = real.seed_demo()
    anonymous = _as(make_api, real, None)
    task = _new_task(anonymous, demo)
    assert anonymous(lambda c: c.tasks.delete(task.id)).data.id == task.id
    learner = _as(make_api, real, demo.users[0].id)
    other = learner(lambda c: c.tasks.complete(demo.task_ids[0], user_id=demo.users[1].id))
    assert other.data.completed_by == [demo.users[1].id]


@pytest.mark.parametrize("real", [["xp_not_updated"]], indirect=True)
def test_xp_not_updated_switch_still_works(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo, _, learner = _seeded(make_api, real)
    before = learner(lambda c: c.users.get(demo.users[0].id)).xps
    result = learner(
        lambda c: c.tasks.submit(
            demo.task_ids[0], user_id=demo.users[0].id, submission_type="Link", value="x"
        )
    )
    assert result.data.progress.new_total_xp == before


def test_backend_takes_an_empty_due_date_as_none(backend: GamifyBackend, demo: DemoData) -> None:
    # The real frontend's task form sends ``dueDate: ""`` when the field is left empty;
    # Mongoose casts that to no date.
    token = backend.token_for(demo.admin.id)
    with httpx.Client(
        transport=backend.transport(),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
    ) as raw:
        created = raw.post(
            "/api/task/create",
            json={
                "name": "Form task",
                "description": "d",
                "details": "d",
                "category": demo.category_ids[0],
                "difficulty": "Easy",
                "dueDate": "",
            },
        )
        assert created.status_code == 201
        assert "dueDate" not in created.json()["task"]
        edited = raw.patch(f"/api/task/edit/{demo.task_ids[0]}", json={"dueDate": ""})
        assert edited.status_code == 200
        assert edited.json().get("dueDate") is None
