"""The batches area (``/api/batches``): every route on the sync and the async client against
the real service's payloads (respx), the same routes against the reference backend, each
write's real-time rule, and each defect of the area switched on, with the SDK coping."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from gamify_client import (
    AsyncGamifyClient,
    AuthenticationError,
    BadRequestError,
    CacheKey,
    ClientConfig,
    Event,
    GamifyClient,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.keys import Key
from gamify_client.models import Batch, BatchMessage, MutationResult, Task, User
from gamify_client.realtime import MutationContext
from gamify_client.refresh import DataRefreshManager
from gamify_client.resources import batches as batches_resource
from gamify_client.testing import DemoData, GamifyBackend

BASE_URL = "http://gamify.test"

SUPERADMIN_ID = "65f0c1a2b3c4d5e6f7a8b900"
ADMIN_ID = "65f0c1a2b3c4d5e6f7a8b901"
MENTOR_ID = "65f0c1a2b3c4d5e6f7a8b902"
USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
OTHER_MENTOR_ID = "65f0c1a2b3c4d5e6f7a8b904"
BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
MESSAGE_ID = "65f0c1a2b3c4d5e6f7a8b970"
MISSING_ID = "65f0c1a2b3c4d5e6f7a8bfff"
CREATED = "2024-03-12T09:15:27.431Z"
HASH = "$2b$10$abcdefghijklmnopqrstuuN8XkzX3c2pQ0y3Y7q2cJvYV1a0rY5eS"
TOKEN = "header.payload.signature"
ENROLL_500 = {
    "message": "Failed to enroll user",
    "error": "Cannot populate path `mentors` because it is not in your schema. Set the "
    "`strictPopulate` option to false to override.",
}


# --- the real service's documents ----------------------------------------------------------


def person(user_id: str, username: str, designation: str, **extra: Any) -> dict[str, Any]:
    """A whole User as the real service populates it in batches: password hash included."""
    return {
        "_id": user_id,
        "username": username,
        "email": f"{username}@example.com",
        "password": HASH,
        "designation": designation,
        "avatar": "",
        "xps": 0,
        "restricted": False,
        "theme": "light",
        "emailNotifications": True,
        "inAppNotifications": True,
        "completedTasks": [],
        "inProgressTasks": [],
        "__v": 0,
        **extra,
    }


def batch_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": BATCH_ID,
        "name": "Spring Cohort",
        "description": "Twelve weeks of backend work",
        "admin": ADMIN_ID,
        "mentor": MENTOR_ID,
        "users": [USER_ID],
        "tasks": [TASK_ID],
        "learningObjectives": ["REST APIs"],
        "industryFocus": "Fintech",
        "difficultyLevel": "Intermediate",
        "estimatedDuration": 12,
        "status": "active",
        "progressMetrics": {
            "averageCompletionRate": 0,
            "averageScore": 0,
            "totalTasksCompleted": 0,
            "mentorFeedbackCount": 0,
        },
        "createdAt": CREATED,
        "__v": 0,
    }
    doc.update(changes)
    return doc


def listed_batch() -> dict[str, Any]:
    """A batch as the three listings send it: people populated, then filtered by role."""
    return batch_doc(
        admin=None,  # a superadmin's batch: the filter keeps only an `admin`
        mentor=person(MENTOR_ID, "max", "mentor"),
        users=[person(USER_ID, "uma", "user", parentId=ADMIN_ID)],
    )


def message_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": MESSAGE_ID,
        "batch": BATCH_ID,
        "sender": {"_id": USER_ID, "email": "uma@example.com"},
        "message": "Is the deadline Friday?",
        "createdAt": CREATED,
        "__v": 0,
    }
    doc.update(changes)
    return doc


# --- one client, sync or async, called the same way ----------------------------------------


class Api:
    """``api(lambda c: c.batches.list())`` on either client; the async client's coroutines
    run on a private loop."""

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

    def close(self) -> None:
        if isinstance(self.client, GamifyClient):
            self.client.close()
        elif self._loop is not None:
            self._loop.run_until_complete(self.client.close())


MakeApi = Callable[..., Api]


@pytest.fixture(params=["sync", "async"])
def make_api(request: pytest.FixtureRequest) -> Iterator[MakeApi]:
    """Builds clients of the parametrised flavour: ``make_api(token=..., transport=...)``."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[Api] = []

    def make(
        *,
        token: str | None = TOKEN,
        transport: httpx.MockTransport | None = None,
        max_retries: int = 0,
        refresh_manager: DataRefreshManager | None = None,
    ) -> Api:
        config = ClientConfig(
            base_url=BASE_URL,
            token=token,
            max_retries=max_retries,
            task_completion_delay=0,
            retry_backoff=0,
            retry_backoff_max=0,
        )
        client: GamifyClient | AsyncGamifyClient
        if loop is None:
            http = httpx.Client(transport=transport) if transport is not None else None
            client = GamifyClient(config=config, http_client=http, refresh_manager=refresh_manager)
        else:
            ahttp = httpx.AsyncClient(transport=transport) if transport is not None else None
            client = AsyncGamifyClient(
                config=config, http_client=ahttp, refresh_manager=refresh_manager
            )
        made.append(Api(client, loop))
        return made[-1]

    yield make
    for api in made:
        api.close()
    if loop is not None:
        loop.close()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as mock:
        yield mock


def only_request(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    return route.calls.last.request


def sent_json(route: respx.Route) -> Any:
    request = only_request(route)
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


def ids(values: list[Any]) -> list[str]:
    return [value if isinstance(value, str) else value.id for value in values]


# --- every route against the real service's payloads ---------------------------------------


def test_list_takes_populated_filtered_batches(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/batches").respond(200, json=[listed_batch()])

    (batch,) = api(lambda c: c.batches.list())

    assert only_request(route).headers["authorization"] == f"Bearer {TOKEN}"
    assert isinstance(batch, Batch)
    assert batch.admin is None
    assert isinstance(batch.mentor, User) and batch.mentor.username == "max"
    assert [user.username for user in batch.users if isinstance(user, User)] == ["uma"]
    # The real service leaks the hash (defect user_hash_leak): kept as an unknown field.
    assert batch.mentor.model_extra == {"password": HASH}


def test_enrolled_reads_the_callers_batches(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/batches/user").respond(200, json=[listed_batch()])

    batches = api(lambda c: c.batches.enrolled())

    assert only_request(route).method == "GET"
    assert [batch.id for batch in batches] == [BATCH_ID]
    assert ids(batches[0].users) == [USER_ID]


def test_available_reads_the_admins_other_batches(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/batches/available").respond(200, json=[])

    assert api(lambda c: c.batches.available()) == []
    assert only_request(route).headers["authorization"] == f"Bearer {TOKEN}"


def test_available_surfaces_the_parent_id_code_500(api: Api, router: respx.MockRouter) -> None:
    error = (
        'Cast to ObjectId failed for value "ADM123" (type string) at path "admin" for model "Batch"'
    )
    router.get("/api/batches/available").respond(
        500, json={"message": "Failed to fetch available batches", "error": error}
    )

    with pytest.raises(InternalServerError) as caught:
        api(lambda c: c.batches.available())

    assert caught.value.message == "Failed to fetch available batches"
    assert caught.value.body == {"message": "Failed to fetch available batches", "error": error}


def test_get_takes_the_populated_batch(api: Api, router: respx.MockRouter) -> None:
    task = {"_id": TASK_ID, "name": "Build an API", "points": 100, "batch": BATCH_ID}
    doc = batch_doc(
        admin=person(ADMIN_ID, "ada", "admin", adminId="ADM123"),
        mentor=person(MENTOR_ID, "max", "mentor"),
        users=[person(USER_ID, "uma", "user")],
        tasks=[task],
    )
    route = router.get(f"/api/batches/{BATCH_ID}").respond(200, json=doc)

    batch = api(lambda c: c.batches.get(BATCH_ID))

    assert "authorization" in only_request(route).headers
    assert isinstance(batch.admin, User) and batch.admin.admin_id == "ADM123"
    assert isinstance(batch.tasks[0], Task) and batch.tasks[0].points == 100
    assert batch.created_at is not None and batch.created_at.year == 2024


def test_get_unknown_batch_is_not_found(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/batches/{MISSING_ID}").respond(404, json={"message": "Batch not found"})

    with pytest.raises(NotFoundError, match="Batch not found"):
        api(lambda c: c.batches.get(MISSING_ID))


@pytest.mark.parametrize("success", [False, True], ids=["real", "fixed"])
def test_create_takes_the_bare_batch_with_or_without_success(
    api: Api, router: respx.MockRouter, success: bool
) -> None:
    answer = batch_doc(users=[], tasks=[], **({"success": True} if success else {}))
    route = router.post("/api/batches").respond(201, json=answer)

    result = api(
        lambda c: c.batches.create(
            name="Spring Cohort",
            mentor=MENTOR_ID,
            description="Twelve weeks of backend work",
            industry_focus="Fintech",
            difficulty_level="Intermediate",
            estimated_duration=12,
            learning_objectives=["REST APIs"],
        )
    )

    assert sent_json(route) == {
        "name": "Spring Cohort",
        "description": "Twelve weeks of backend work",
        "mentor": MENTOR_ID,
        "industryFocus": "Fintech",
        "difficultyLevel": "Intermediate",
        "estimatedDuration": 12,
        "learningObjectives": ["REST APIs"],
    }
    assert isinstance(result, MutationResult)
    assert isinstance(result.data, Batch) and result.data.id == BATCH_ID
    assert result.body.get("success") is (True if success else None)


def test_create_refused_for_a_learner(api: Api, router: respx.MockRouter) -> None:
    router.post("/api/batches").respond(
        403, json={"message": "Only admin or superadmin can create batches"}
    )

    with pytest.raises(PermissionDeniedError, match="Only admin or superadmin"):
        api(lambda c: c.batches.create(name="B", mentor=MENTOR_ID))


def test_create_validation_500_is_not_retried(make_api: MakeApi, router: respx.MockRouter) -> None:
    route = router.post("/api/batches").respond(
        500,
        json={
            "message": "Failed to create batch",
            "error": "Batch validation failed: name: Path `name` is required.",
        },
    )
    api = make_api(max_retries=2)

    with pytest.raises(InternalServerError, match="Failed to create batch"):
        api(lambda c: c.batches.create(name="", mentor=MENTOR_ID))

    assert route.call_count == 1


def test_edit_puts_the_given_fields(api: Api, router: respx.MockRouter) -> None:
    route = router.put(f"/api/batches/{BATCH_ID}").respond(200, json=batch_doc(name="Autumn"))

    result = api(lambda c: c.batches.edit(BATCH_ID, name="Autumn", tasks=[TASK_ID]))

    assert sent_json(route) == {"name": "Autumn", "tasks": [TASK_ID]}
    assert result.data.name == "Autumn"


def test_edit_for_another_admin_is_forbidden(api: Api, router: respx.MockRouter) -> None:
    message = "Only the assigned admin or superadmin can edit this batch"
    router.put(f"/api/batches/{BATCH_ID}").respond(403, json={"message": message})

    with pytest.raises(PermissionDeniedError, match=message):
        api(lambda c: c.batches.edit(BATCH_ID, mentor=OTHER_MENTOR_ID))


def test_delete_takes_message_and_batch(api: Api, router: respx.MockRouter) -> None:
    route = router.delete(f"/api/batches/{BATCH_ID}").respond(
        200, json={"message": "Batch deleted", "batch": batch_doc()}
    )

    result = api(lambda c: c.batches.delete(BATCH_ID))

    assert only_request(route).content == b""
    assert result.data.id == BATCH_ID
    assert result.message == "Batch deleted"


def test_enroll_takes_the_fixed_answer(api: Api, router: respx.MockRouter) -> None:
    answer = {
        "success": True,
        "message": "User enrolled successfully",
        "batch": batch_doc(
            users=[{"_id": USER_ID, "username": "uma", "email": "uma@example.com"}],
            mentor={"_id": MENTOR_ID, "username": "max"},
            admin={"_id": ADMIN_ID, "username": "ada"},
        ),
    }
    route = router.post(f"/api/batches/{BATCH_ID}/enroll").respond(200, json=answer)

    result = api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))

    assert sent_json(route) == {"userId": USER_ID}
    assert result.message == "User enrolled successfully"
    assert result.body["success"] is True
    assert isinstance(result.data.mentor, User) and result.data.mentor.username == "max"
    assert [user.email for user in result.data.users if isinstance(user, User)] == [
        "uma@example.com"
    ]


def test_enroll_500_after_the_writes_is_raised_and_never_retried(
    make_api: MakeApi, router: respx.MockRouter
) -> None:
    route = router.post(f"/api/batches/{BATCH_ID}/enroll").respond(500, json=ENROLL_500)
    api = make_api(max_retries=2)

    with pytest.raises(InternalServerError) as caught:
        api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))

    assert route.call_count == 1
    assert caught.value.message == "Failed to enroll user"
    assert caught.value.body == ENROLL_500


def test_enroll_twice_is_a_bad_request(api: Api, router: respx.MockRouter) -> None:
    router.post(f"/api/batches/{BATCH_ID}/enroll").respond(
        400, json={"message": "User is already enrolled in this batch"}
    )

    with pytest.raises(BadRequestError, match="already enrolled"):
        api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))


def test_remove_sends_the_batch_id_in_the_body(api: Api, router: respx.MockRouter) -> None:
    route = router.post(f"/api/batches/{BATCH_ID}/remove").respond(200, json=batch_doc(users=[]))

    result = api(lambda c: c.batches.remove(BATCH_ID, USER_ID))

    assert sent_json(route) == {"batchId": BATCH_ID, "userId": USER_ID}
    assert result.data.users == []


def test_assign_mentor_sends_the_batch_id_in_the_body(api: Api, router: respx.MockRouter) -> None:
    route = router.post(f"/api/batches/{BATCH_ID}/assign-mentor").respond(
        200, json=batch_doc(mentor=OTHER_MENTOR_ID)
    )

    result = api(lambda c: c.batches.assign_mentor(BATCH_ID, OTHER_MENTOR_ID))

    assert sent_json(route) == {"batchId": BATCH_ID, "mentorId": OTHER_MENTOR_ID}
    assert result.data.mentor == OTHER_MENTOR_ID


def test_assign_mentor_refuses_a_non_mentor(api: Api, router: respx.MockRouter) -> None:
    message = "Assigned mentor must have mentor designation"
    router.post(f"/api/batches/{BATCH_ID}/assign-mentor").respond(400, json={"message": message})

    with pytest.raises(BadRequestError, match=message):
        api(lambda c: c.batches.assign_mentor(BATCH_ID, USER_ID))


def test_messages_take_the_chat_oldest_first(api: Api, router: respx.MockRouter) -> None:
    later = message_doc(_id=MISSING_ID, message="Yes", createdAt="2024-03-12T10:00:00.000Z")
    route = router.get(f"/api/batches/{BATCH_ID}/messages").respond(
        200, json=[message_doc(), later]
    )

    messages = api(lambda c: c.batches.messages(BATCH_ID))

    assert only_request(route).headers["authorization"] == f"Bearer {TOKEN}"
    assert all(isinstance(message, BatchMessage) for message in messages)
    assert [message.message for message in messages] == ["Is the deadline Friday?", "Yes"]
    sender = messages[0].sender
    assert isinstance(sender, User) and sender.email == "uma@example.com"


def test_messages_error_body_is_error_only(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/batches/{BATCH_ID}/messages").respond(
        500, json={"error": "Failed to fetch messages"}
    )

    with pytest.raises(InternalServerError, match="Failed to fetch messages"):
        api(lambda c: c.batches.messages(BATCH_ID))


def test_post_message_takes_the_new_message(api: Api, router: respx.MockRouter) -> None:
    sender = {"_id": USER_ID, "username": "uma", "email": "uma@x.io", "designation": "user"}
    route = router.post(f"/api/batches/{BATCH_ID}/messages").respond(
        201, json=message_doc(sender=sender)
    )

    result = api(lambda c: c.batches.post_message(BATCH_ID, message="Is the deadline Friday?"))

    assert sent_json(route) == {"message": "Is the deadline Friday?"}
    assert isinstance(result.data, BatchMessage)
    assert result.data.batch == BATCH_ID
    assert isinstance(result.data.sender, User) and result.data.sender.designation == "user"


def test_post_message_500_of_the_real_service_is_raised_once(
    make_api: MakeApi, router: respx.MockRouter
) -> None:
    route = router.post(f"/api/batches/{BATCH_ID}/messages").respond(
        500, json={"error": "Failed to send message"}
    )
    api = make_api(max_retries=2)

    with pytest.raises(InternalServerError, match="Failed to send message"):
        api(lambda c: c.batches.post_message(BATCH_ID, message="hi"))

    assert route.call_count == 1


def test_chat_without_a_token_is_401(make_api: MakeApi, router: respx.MockRouter) -> None:
    route = router.get(f"/api/batches/{BATCH_ID}/messages").respond(
        401, json={"message": "No token provided, authorization denied."}
    )
    api = make_api(token=None)

    with pytest.raises(AuthenticationError, match="authorization denied"):
        api(lambda c: c.batches.messages(BATCH_ID))

    assert "authorization" not in only_request(route).headers


# --- the real-time rules ------------------------------------------------------------------


def context(write: Any, **request: Any) -> MutationContext:
    result: MutationResult[Any] = MutationResult(data=None)
    return MutationContext(write.name, request, result)


def keys_of(write: Any, **request: Any) -> list[Key]:
    return list(write.rule.invalidates(context(write, **request)))


def test_enrol_and_remove_reach_the_users_views_and_the_batch() -> None:
    expected = {
        CacheKey.BATCHES,
        (CacheKey.DASHBOARD, USER_ID),
        (CacheKey.USER_BATCHES, USER_ID),
        (CacheKey.AVAILABLE_BATCHES, USER_ID),
        (CacheKey.USER_PROGRESS, USER_ID),
        (CacheKey.USER_ANALYTICS, USER_ID),
        (CacheKey.BATCH, BATCH_ID),
        (CacheKey.BATCH_PROGRESS, BATCH_ID),
        (CacheKey.ACTIVITY, BATCH_ID),
        (CacheKey.ANALYTICS, BATCH_ID),
    }
    for write in (batches_resource.ENROLL, batches_resource.REMOVE):
        assert set(keys_of(write, batch_id=BATCH_ID, user_id=USER_ID)) == expected
    assert batches_resource.ENROLL.rule.event is Event.BATCH_ENROLLED
    assert not batches_resource.ENROLL.repeatable
    assert batches_resource.REMOVE.repeatable


def test_create_reaches_the_listings_only() -> None:
    keys = keys_of(batches_resource.CREATE)
    assert set(keys) == {CacheKey.BATCHES, CacheKey.AVAILABLE_BATCHES}
    assert batches_resource.CREATE.rule.event is Event.BATCH_CREATED
    assert not batches_resource.CREATE.repeatable


def test_edit_with_new_tasks_reaches_progress() -> None:
    plain = set(keys_of(batches_resource.EDIT, batch_id=BATCH_ID, tasks=None))
    with_tasks = set(keys_of(batches_resource.EDIT, batch_id=BATCH_ID, tasks=[TASK_ID]))
    assert (CacheKey.BATCH, BATCH_ID) in plain
    assert CacheKey.USER_PROGRESS not in plain
    assert with_tasks - plain == {
        CacheKey.TASKS,
        CacheKey.DASHBOARD,
        CacheKey.USER_PROGRESS,
        (CacheKey.BATCH_PROGRESS, BATCH_ID),
        (CacheKey.ANALYTICS, BATCH_ID),
    }


def test_delete_reaches_listings_categories_progress_and_analytics() -> None:
    keys = set(keys_of(batches_resource.DELETE, batch_id=BATCH_ID))
    assert {
        CacheKey.BATCHES,
        CacheKey.USER_BATCHES,
        CacheKey.AVAILABLE_BATCHES,
        (CacheKey.CATEGORIES, BATCH_ID),
        (CacheKey.BATCH_PROGRESS, BATCH_ID),
        (CacheKey.ANALYTICS, BATCH_ID),
        (CacheKey.BATCH_MESSAGES, BATCH_ID),
        CacheKey.USER_PROGRESS,
        CacheKey.DASHBOARD,
    } <= keys
    assert (CacheKey.CATEGORIES, "another batch") not in keys


def test_post_message_reaches_the_batchs_chat_only() -> None:
    keys = keys_of(batches_resource.POST_MESSAGE, batch_id=BATCH_ID)
    assert keys == [(CacheKey.BATCH_MESSAGES, BATCH_ID)]


def test_a_successful_enrol_invalidates_at_once(
    make_api: MakeApi, router: respx.MockRouter
) -> None:
    answer = {"success": True, "message": "User enrolled successfully", "batch": batch_doc()}
    router.post(f"/api/batches/{BATCH_ID}/enroll").respond(200, json=answer)
    manager = DataRefreshManager()
    enrolled, available = (CacheKey.USER_BATCHES, USER_ID), (CacheKey.AVAILABLE_BATCHES, USER_ID)
    untouched = (CacheKey.AVAILABLE_BATCHES, ADMIN_ID)
    for key in (enrolled, available, untouched):
        manager.set(key, [])
    invalidated: list[Key] = []
    manager.on_invalidate(invalidated.append)
    api = make_api(refresh_manager=manager)

    api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))

    assert enrolled in invalidated and available in invalidated
    assert untouched not in invalidated


def test_a_failed_enrol_invalidates_nothing(make_api: MakeApi, router: respx.MockRouter) -> None:
    router.post(f"/api/batches/{BATCH_ID}/enroll").respond(500, json=ENROLL_500)
    manager = DataRefreshManager()
    manager.set((CacheKey.USER_BATCHES, USER_ID), [])
    invalidated: list[Key] = []
    manager.on_invalidate(invalidated.append)
    api = make_api(refresh_manager=manager)

    with pytest.raises(InternalServerError):
        api(lambda c: c.batches.enroll(BATCH_ID, USER_ID))

    assert invalidated == []


# --- against the reference backend ----------------------------------------------------------


class Org:
    """The demo organisation on a reference backend, with a client per account."""

    def __init__(self, backend: GamifyBackend, demo: DemoData, make_api: MakeApi) -> None:
        self.backend = backend
        self.demo = demo
        self._make_api = make_api

    def as_user(self, user_id: str) -> Api:
        return self._make_api(
            token=self.backend.token_for(user_id), transport=self.backend.transport()
        )

    def anonymous(self) -> Api:
        return self._make_api(token=None, transport=self.backend.transport())

    @property
    def admin(self) -> Api:
        return self.as_user(self.demo.admin.id)

    @property
    def learner(self) -> Api:
        return self.as_user(self.demo.users[0].id)

    def register_learner(
        self, name: str, parent_id: str | None = None, designation: str = "user"
    ) -> str:
        """A new learner under the demo admin (or another account), enrolled nowhere;
        returns its id."""
        fields = {
            "name": name,
            "email": f"{name}@demo.gamify",
            "password": "secret-pw",
            "designation": designation,
        }
        if designation == "user":
            fields["parentId"] = parent_id or self.demo.admin.id
        with httpx.Client(transport=self.backend.transport(), base_url=BASE_URL) as raw:
            answer = raw.post("/api/user/register", json=fields)
        assert answer.status_code == 201, answer.text
        user_id: str = answer.json()["userId"]
        return user_id

    def progress_of(self, user_id: str) -> Any:
        """The learner's progress document in the demo batch (as its staff read it)."""
        with httpx.Client(transport=self.backend.transport(), base_url=BASE_URL) as raw:
            answer = raw.get(
                f"/api/batch-progress/user/{user_id}/{self.demo.batch_id}",
                headers={"Authorization": f"Bearer {self.backend.token_for(self.demo.admin.id)}"},
            )
        return answer.json()["progress"]


@pytest.fixture
def org(backend: GamifyBackend, demo: DemoData, make_api: MakeApi) -> Org:
    return Org(backend, demo, make_api)


def test_backend_create_answers_the_batch_with_success(org: Org) -> None:
    result = org.admin(
        lambda c: c.batches.create(
            name="Autumn", mentor=org.demo.mentor.id, difficulty_level="Advanced"
        )
    )

    assert result.body["success"] is True
    assert result.data.admin == org.demo.admin.id
    assert result.data.difficulty_level == "Advanced"
    assert result.data.users == []
    assert result.data.id in [batch.id for batch in org.admin(lambda c: c.batches.list())]


def test_backend_create_refuses_bad_bodies_with_400(org: Org) -> None:
    mentor = org.demo.mentor.id
    with pytest.raises(BadRequestError, match="name"):
        org.admin(lambda c: c.batches.create(name="", mentor=mentor))
    with pytest.raises(BadRequestError, match="difficultyLevel"):
        org.admin(lambda c: c.batches.create(name="B", mentor=mentor, difficulty_level="Expert"))
    with pytest.raises(BadRequestError, match="mentor designation"):
        org.admin(lambda c: c.batches.create(name="B", mentor=org.demo.users[0].id))
    with pytest.raises(PermissionDeniedError):
        org.learner(lambda c: c.batches.create(name="B", mentor=mentor))


def test_backend_validation_500_answers_the_routes_500(org: Org) -> None:
    org.backend.defects.add("validation_500")

    with pytest.raises(InternalServerError) as caught:
        org.admin(lambda c: c.batches.create(name="", mentor=org.demo.mentor.id))

    assert caught.value.message == "Failed to create batch"
    assert caught.value.body == {
        "message": "Failed to create batch",
        "error": "Batch validation failed: name: Path `name` is required.",
    }


def test_backend_create_casts_like_mongoose_and_lists_a_superadmins_batch(org: Org) -> None:
    superadmin = org.as_user(org.demo.superadmin.id)
    with httpx.Client(transport=org.backend.transport(), base_url=BASE_URL) as raw:
        token = {"Authorization": f"Bearer {org.backend.token_for(org.demo.superadmin.id)}"}
        fields = {"name": "Own", "mentor": org.demo.mentor.id, "admin": org.demo.superadmin.id}
        created = raw.post("/api/batches", json={**fields, "estimatedDuration": "8"}, headers=token)
        refused = raw.post(
            "/api/batches", json={**fields, "estimatedDuration": "soon"}, headers=token
        )
        no_admin = raw.post(
            "/api/batches", json={"name": "x", "mentor": org.demo.mentor.id}, headers=token
        )
    assert created.status_code == 201 and created.json()["estimatedDuration"] == 8
    assert refused.status_code == 400 and "estimatedDuration" in refused.json()["message"]
    assert no_admin.json() == {
        "message": "Assigned admin must have admin or superadmin designation"
    }

    listed = {batch.name: batch for batch in superadmin(lambda c: c.batches.list())}

    assert listed["Own"].admin is None  # the listing keeps only an `admin` as admin
    assert isinstance(listed["Demo Cohort"].admin, User)


def test_backend_no_success_flag_answers_without_success(org: Org) -> None:
    org.backend.defects.add("no_success_flag")
    learner = org.register_learner("noflag")

    created = org.admin(lambda c: c.batches.create(name="Plain", mentor=org.demo.mentor.id))
    enrolled = org.admin(lambda c: c.batches.enroll(created.data.id, learner))

    assert "success" not in created.body
    assert set(enrolled.body) == {"message", "batch"}
    assert learner in ids(enrolled.data.users)


def test_backend_listings_by_role(org: Org) -> None:
    demo = org.demo

    def names(api: Api) -> list[str | None]:
        return [batch.name for batch in api(lambda c: c.batches.list())]

    assert names(org.admin) == ["Demo Cohort"]
    assert names(org.as_user(demo.mentor.id)) == ["Demo Cohort"]
    assert names(org.as_user(demo.superadmin.id)) == ["Demo Cohort"]
    assert names(org.learner) == ["Demo Cohort"]
    (batch,) = org.admin(lambda c: c.batches.list())
    assert isinstance(batch.admin, User) and batch.admin.id == demo.admin.id
    assert ids(batch.users) == [user.id for user in demo.users]
    assert all(isinstance(user, User) and not user.model_extra for user in batch.users)
    with pytest.raises(AuthenticationError):
        org.anonymous()(lambda c: c.batches.list())


def test_backend_user_batches_empty_gives_learners_nothing(org: Org) -> None:
    org.backend.defects.add("user_batches_empty")

    assert org.learner(lambda c: c.batches.list()) == []
    assert [b.id for b in org.learner(lambda c: c.batches.enrolled())] == [org.demo.batch_id]


def test_backend_user_hash_leak_shows_the_hash(org: Org) -> None:
    org.backend.defects.add("user_hash_leak")

    (batch,) = org.admin(lambda c: c.batches.list())
    fetched = org.anonymous()(lambda c: c.batches.get(org.demo.batch_id))

    assert isinstance(batch.mentor, User)
    leaked = (batch.mentor.model_extra or {})["password"]
    assert isinstance(leaked, str) and leaked and leaked != "secret-pw"
    assert isinstance(fetched.admin, User) and "password" in (fetched.admin.model_extra or {})


def test_backend_self_enrolment_moves_the_batch(org: Org) -> None:
    learner = org.register_learner("newbie")
    me = org.as_user(learner)
    batch_id = org.demo.batch_id

    assert [b.id for b in me(lambda c: c.batches.available())] == [batch_id]
    assert me(lambda c: c.batches.enrolled()) == []
    result = me(lambda c: c.batches.enroll(batch_id, learner))

    assert result.body["success"] is True and result.message == "User enrolled successfully"
    assert learner in ids(result.data.users)
    assert isinstance(result.data.mentor, User) and result.data.mentor.username
    assert me(lambda c: c.batches.available()) == []
    assert [b.id for b in me(lambda c: c.batches.enrolled())] == [batch_id]
    progress = org.progress_of(learner)
    assert len(progress["taskProgress"]) == len(org.demo.task_ids)
    assert progress["activityLog"][0]["description"] == "Enrolled in batch: Demo Cohort"
    with pytest.raises(BadRequestError, match="already enrolled"):
        me(lambda c: c.batches.enroll(batch_id, learner))


def test_backend_enrol_checks_a_token_and_a_learner_enrols_only_itself(org: Org) -> None:
    learner = org.register_learner("pat")
    other = org.register_learner("sam")
    batch_id = org.demo.batch_id

    with pytest.raises(PermissionDeniedError):
        org.learner(lambda c: c.batches.enroll(batch_id, learner))
    # Without a token, as the real service's own scripts enrol, it is taken as it comes.
    assert other in ids(org.anonymous()(lambda c: c.batches.enroll(batch_id, other)).data.users)
    with pytest.raises(BadRequestError, match="user designation"):
        org.admin(lambda c: c.batches.enroll(batch_id, org.demo.mentor.id))
    assert learner in ids(org.admin(lambda c: c.batches.enroll(batch_id, learner)).data.users)


def test_backend_missing_auth_lets_anyone_enrol_anyone(org: Org) -> None:
    org.backend.defects.add("missing_auth")
    learner = org.register_learner("open")
    anyone = org.anonymous()

    result = anyone(lambda c: c.batches.enroll(org.demo.batch_id, learner))
    deleted = anyone(lambda c: c.batches.delete(org.demo.batch_id))

    assert learner in ids(result.data.users)
    assert deleted.data.id == org.demo.batch_id


def test_backend_enroll_populate_500_enrols_yet_answers_500(org: Org) -> None:
    org.backend.defects.add("enroll_populate_500")
    learner = org.register_learner("late")
    batch_id = org.demo.batch_id

    with pytest.raises(InternalServerError) as caught:
        org.admin(lambda c: c.batches.enroll(batch_id, learner))

    assert caught.value.body == ENROLL_500
    # The writes stayed: the batch lists the learner, who has progress; a repeat is a 400.
    assert learner in ids(org.anonymous()(lambda c: c.batches.get(batch_id)).users)
    assert org.progress_of(learner)["taskProgress"]
    with pytest.raises(BadRequestError, match="already enrolled"):
        org.admin(lambda c: c.batches.enroll(batch_id, learner))


def test_backend_remove_drops_the_progress(org: Org) -> None:
    leaver = org.demo.users[2].id

    result = org.as_user(leaver)(lambda c: c.batches.remove(org.demo.batch_id, leaver))

    assert leaver not in ids(result.data.users)
    assert org.progress_of(leaver)["status"] == "dropped"
    assert [b.id for b in org.as_user(leaver)(lambda c: c.batches.available())] == [
        org.demo.batch_id
    ]
    with pytest.raises(PermissionDeniedError):
        org.learner(lambda c: c.batches.remove(org.demo.batch_id, org.demo.users[1].id))
    back = org.as_user(leaver)(lambda c: c.batches.enroll(org.demo.batch_id, leaver))
    assert leaver in ids(back.data.users)
    assert org.progress_of(leaver)["status"] == "active"


def test_backend_remove_keeps_progress_leaves_it_active(org: Org) -> None:
    org.backend.defects.add("remove_keeps_progress")
    leaver = org.demo.users[2].id

    org.admin(lambda c: c.batches.remove(org.demo.batch_id, leaver))

    assert org.progress_of(leaver)["status"] == "active"


def test_backend_batch_id_in_body_reads_the_body(org: Org) -> None:
    org.backend.defects.add("batch_id_in_body")
    with httpx.Client(transport=org.backend.transport(), base_url=BASE_URL) as raw:
        token = {"Authorization": f"Bearer {org.backend.token_for(org.demo.admin.id)}"}
        path = f"/api/batches/{org.demo.batch_id}/assign-mentor"
        without = raw.post(path, json={"mentorId": org.demo.mentor.id}, headers=token)
        assert (without.status_code, without.json()) == (404, {"message": "Batch not found"})

    # The SDK sends the id in the body as well, so it works against either.
    result = org.admin(lambda c: c.batches.assign_mentor(org.demo.batch_id, org.demo.mentor.id))
    assert result.data.mentor == org.demo.mentor.id
    removed = org.admin(lambda c: c.batches.remove(org.demo.batch_id, org.demo.users[1].id))
    assert org.demo.users[1].id not in ids(removed.data.users)


def test_backend_assign_mentor_uses_the_path_and_checks_the_role(org: Org) -> None:
    mentor = org.register_learner("notamentor")
    batch_id = org.demo.batch_id

    with httpx.Client(transport=org.backend.transport(), base_url=BASE_URL) as raw:
        token = {"Authorization": f"Bearer {org.backend.token_for(org.demo.admin.id)}"}
        fixed = raw.post(
            f"/api/batches/{batch_id}/assign-mentor",
            json={"mentorId": org.demo.mentor.id},
            headers=token,
        )
    assert fixed.status_code == 200
    with pytest.raises(BadRequestError, match="mentor designation"):
        org.admin(lambda c: c.batches.assign_mentor(batch_id, mentor))
    with pytest.raises(PermissionDeniedError):
        org.learner(lambda c: c.batches.assign_mentor(batch_id, org.demo.mentor.id))
    with pytest.raises(NotFoundError):
        org.admin(lambda c: c.batches.assign_mentor(MISSING_ID, org.demo.mentor.id))


def test_backend_edit_with_new_tasks_reaches_every_member(org: Org) -> None:
    admin = org.admin
    other = admin(lambda c: c.batches.create(name="Other", mentor=org.demo.mentor.id)).data
    category = admin(lambda c: c.categories.create(name="Extra", emoji="x", batch=other.id)).data
    task = admin(
        lambda c: c.tasks.create(
            name="Moved",
            description="d",
            details="x",
            category=category.id,
            difficulty="Easy",
            batch=other.id,
        )
    ).data
    tasks = [*org.demo.task_ids, task.id]

    edited = admin(lambda c: c.batches.edit(org.demo.batch_id, name="Renamed", tasks=tasks))

    assert edited.data.name == "Renamed"
    assert edited.data.tasks == tasks
    for user in org.demo.users:
        entries = [entry["taskId"]["_id"] for entry in org.progress_of(user.id)["taskProgress"]]
        assert task.id in entries
    moved = org.anonymous()(lambda c: c.tasks.get(task.id))
    assert moved.batch == org.demo.batch_id


def test_backend_edit_batch_tasks_unsynced_leaves_progress(org: Org) -> None:
    org.backend.defects.add("edit_batch_tasks_unsynced")
    first = org.demo.users[0].id
    before = len(org.progress_of(first)["taskProgress"])
    kept = list(org.demo.task_ids[:1])

    org.admin(lambda c: c.batches.edit(org.demo.batch_id, tasks=[*kept, TASK_ID]))

    assert len(org.progress_of(first)["taskProgress"]) == before
    # And the real order: the lookup's 404 comes before the role check.
    with pytest.raises(NotFoundError):
        org.learner(lambda c: c.batches.edit(MISSING_ID, name="x"))


def test_backend_edit_checks_the_role_before_the_lookup(org: Org) -> None:
    with pytest.raises(PermissionDeniedError):
        org.learner(lambda c: c.batches.edit(MISSING_ID, name="x"))
    other_admin = org.register_learner("otheradmin", designation="admin")
    with pytest.raises(PermissionDeniedError):
        org.as_user(other_admin)(lambda c: c.batches.edit(org.demo.batch_id, name="x"))
    with pytest.raises(NotFoundError):
        org.admin(lambda c: c.batches.edit(MISSING_ID, name="x"))


def test_backend_delete_cascades(org: Org) -> None:
    batch_id, first = org.demo.batch_id, org.demo.users[0].id
    org.learner(lambda c: c.batches.post_message(batch_id, message="bye"))

    deleted = org.admin(lambda c: c.batches.delete(batch_id))

    assert deleted.data.id == batch_id and deleted.message == "Batch deleted"
    with pytest.raises(NotFoundError):
        org.anonymous()(lambda c: c.batches.get(batch_id))
    assert "_id" not in org.progress_of(first)  # the zeroed default: no progress left
    task = org.anonymous()(lambda c: c.tasks.get(org.demo.task_ids[0]))
    assert task.batch is None
    with pytest.raises(NotFoundError):
        org.admin(lambda c: c.batches.delete(batch_id))


def test_backend_delete_needs_staff(org: Org) -> None:
    with pytest.raises(AuthenticationError):
        org.anonymous()(lambda c: c.batches.delete(org.demo.batch_id))
    with pytest.raises(PermissionDeniedError):
        org.learner(lambda c: c.batches.delete(org.demo.batch_id))


def test_backend_no_cascade_leaves_progress_and_tasks(org: Org) -> None:
    org.backend.defects.add("no_cascade")
    batch_id = org.demo.batch_id

    org.admin(lambda c: c.batches.delete(batch_id))

    assert org.progress_of(org.demo.users[0].id)["_id"]
    task = org.anonymous()(lambda c: c.tasks.get(org.demo.task_ids[0]))
    assert task.batch == batch_id


def test_backend_parent_id_code_answers_500(org: Org) -> None:
    org.backend.defects.add("parent_id_code")
    coded = org.register_learner("coded", parent_id=org.demo.admin_id)
    me = org.as_user(coded)

    with pytest.raises(InternalServerError) as caught:
        me(lambda c: c.batches.available())

    assert caught.value.message == "Failed to fetch available batches"
    assert caught.value.body == {
        "message": "Failed to fetch available batches",
        "error": 'Cast to ObjectId failed for value "'
        + org.demo.admin_id
        + '" (type string) at path "admin" for model "Batch"',
    }
    org.backend.defects.discard("parent_id_code")
    assert [b.id for b in me(lambda c: c.batches.available())] == [org.demo.batch_id]


def test_backend_chat_for_members(org: Org) -> None:
    batch_id = org.demo.batch_id
    posted = org.learner(lambda c: c.batches.post_message(batch_id, message="  Hello  "))
    org.as_user(org.demo.mentor.id)(lambda c: c.batches.post_message(batch_id, message="Hi"))

    assert posted.data.message == "Hello"
    assert isinstance(posted.data.sender, User)
    assert posted.data.sender.id == org.demo.users[0].id
    assert posted.data.sender.designation == "user"
    assert posted.body["_id"] == posted.data.id
    chat = org.admin(lambda c: c.batches.messages(batch_id))
    assert [message.message for message in chat] == ["Hello", "Hi"]
    assert [getattr(m.sender, "username", None) for m in chat] == [
        org.demo.users[0].name,
        org.demo.mentor.name,
    ]
    outsider = org.as_user(org.register_learner("outsider"))
    with pytest.raises(PermissionDeniedError):
        outsider(lambda c: c.batches.post_message(batch_id, message="let me in"))
    with pytest.raises(PermissionDeniedError):
        outsider(lambda c: c.batches.messages(batch_id))
    with pytest.raises(BadRequestError):
        org.learner(lambda c: c.batches.post_message(batch_id, message="   "))
    with pytest.raises(AuthenticationError):
        org.anonymous()(lambda c: c.batches.messages(batch_id))


def test_backend_batch_message_500_stores_nothing(org: Org) -> None:
    org.learner(lambda c: c.batches.post_message(org.demo.batch_id, message="before"))
    org.backend.defects.add("batch_message_500")

    with pytest.raises(InternalServerError) as caught:
        org.learner(lambda c: c.batches.post_message(org.demo.batch_id, message="lost"))

    assert caught.value.body == {"error": "Failed to send message"}
    (kept,) = org.learner(lambda c: c.batches.messages(org.demo.batch_id))
    assert kept.message == "before"
    # The real service's populate selects fields Users lack: only the email shows.
    assert isinstance(kept.sender, User) and kept.sender.username is None
    assert kept.sender.email == org.demo.users[0].email


def test_backend_malformed_ids(org: Org) -> None:
    with pytest.raises(NotFoundError, match="Batch not found"):
        org.anonymous()(lambda c: c.batches.get("not-an-id"))
    with pytest.raises(NotFoundError, match="Batch not found"):
        org.learner(lambda c: c.batches.messages("not-an-id"))
    org.backend.defects.add("validation_500")
    with pytest.raises(InternalServerError, match="Failed to fetch batch"):
        org.anonymous()(lambda c: c.batches.get("not-an-id"))
    with pytest.raises(InternalServerError) as caught:
        org.learner(lambda c: c.batches.messages("not-an-id"))
    assert caught.value.body == {"error": "Failed to fetch messages"}
