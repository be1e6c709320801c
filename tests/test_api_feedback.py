"""``/api/feedback``: every route on the sync and the async client, against the real
service's payloads (respx) and against the reference backend, with this area's defects
switched on and off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from gamify_client import AuthenticationError, InternalServerError, PermissionDeniedError
from gamify_client.keys import CacheKey
from gamify_client.models import Batch, Feedback, Task, User
from gamify_client.realtime import WRITES
from gamify_client.testing import DemoData, GamifyBackend
from tests.test_api_progress import (
    ADMIN_ID,
    BASE_URL,
    BATCH_ID,
    CREATED,
    MENTOR_ID,
    SUBMITTED,
    TASK_ID,
    USER_ID,
    Api,
    Connect,
    api,
    as_user,
    bearer,
    connect,
    router,
    sent_json,
)

__all__ = ["api", "connect", "router"]  # the fixtures this module borrows

FEEDBACK_ID = "65f0c1a2b3c4d5e6f7a8b970"
TASK_FEEDBACK_ID = "65f0c1a2b3c4d5e6f7a8b971"
HASH = "$2b$10$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrstu"


# --- the real service's payloads ----------------------------------------------------------------


def person(user_id: str, name: str, designation: str) -> dict[str, Any]:
    """A whole populated user, as the real service sends it: password hash included."""
    return {
        "_id": user_id,
        "username": name,
        "email": f"{name}@example.com",
        "password": HASH,
        "designation": designation,
        "xps": 0,
        "completedTasks": [],
        "inProgressTasks": [],
        "__v": 0,
    }


def feedback_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": FEEDBACK_ID,
        "fromUser": USER_ID,
        "toUser": MENTOR_ID,
        "batch": BATCH_ID,
        "content": "Clear reviews, quick answers",
        "rating": 5,
        "createdAt": CREATED,
        "__v": 0,
    }
    doc.update(changes)
    return doc


def populated_timeline() -> list[dict[str, Any]]:
    """``GET /timeline/:userId``: newest first; the task feedback's task was deleted."""
    batch = {"_id": BATCH_ID, "name": "Spring", "admin": ADMIN_ID, "mentor": MENTOR_ID}
    return [
        feedback_doc(
            _id=TASK_FEEDBACK_ID,
            fromUser=person(MENTOR_ID, "max", "mentor"),
            toUser=USER_ID,
            batch=batch,
            task=None,
            createdAt=SUBMITTED,
        ),
        feedback_doc(
            fromUser=person(MENTOR_ID, "max", "mentor"),
            toUser=USER_ID,
            batch=None,
            task={"_id": TASK_ID, "name": "REST", "points": 100},
        ),
    ]


# --- the client against the real service's payloads ---------------------------------------------


def test_submit_posts_the_fields_and_parses_the_bare_feedback(
    api: Api, router: respx.MockRouter
) -> None:
    route = router.post("/api/feedback/submit").respond(201, json=feedback_doc())

    result = api(
        lambda c: c.feedback.submit(
            to_user=MENTOR_ID,
            batch=BATCH_ID,
            content="Clear reviews, quick answers",
            rating=5,
            from_user=USER_ID,
        )
    )

    assert sent_json(route) == {
        "fromUser": USER_ID,
        "toUser": MENTOR_ID,
        "batch": BATCH_ID,
        "content": "Clear reviews, quick answers",
        "rating": 5,
    }
    assert isinstance(result.data, Feedback)
    assert (result.data.id, result.data.rating, result.data.task) == (FEEDBACK_ID, 5.0, None)
    assert result.real_time is None


def test_submit_500_is_typed_and_never_retried(connect: Connect, router: respx.MockRouter) -> None:
    route = router.post("/api/feedback/submit").respond(
        500,
        json={
            "message": "Failed to submit feedback",
            "error": "Feedback validation failed: rating: Path `rating` (9) is more than "
            "maximum allowed value (5).",
        },
    )

    with pytest.raises(InternalServerError, match="Failed to submit feedback"):
        connect(retries=3)(
            lambda c: c.feedback.submit(to_user=MENTOR_ID, batch=BATCH_ID, content="x", rating=9)
        )
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("method", "view"),
    [
        ("received", "to"),
        ("sent", "from"),
        ("mentor", "mentor"),
        ("task", "task"),
        ("timeline", "timeline"),
    ],
)
def test_reads_parse_populated_feedback_with_the_hash_and_deleted_references(
    api: Api, router: respx.MockRouter, method: str, view: str
) -> None:
    route = router.get(f"/api/feedback/{view}/{USER_ID}").respond(200, json=populated_timeline())

    newest, older = api(lambda c: getattr(c.feedback, method)(USER_ID))

    assert route.call_count == 1
    assert isinstance(newest.from_user, User) and newest.from_user.username == "max"
    assert newest.from_user.model_extra == {"password": HASH}, "kept, as every unknown field"
    assert isinstance(newest.batch, Batch)
    assert newest.task is None
    assert older.batch is None
    assert isinstance(older.task, Task) and older.task.name == "REST"
    assert newest.created_at is not None and older.created_at is not None
    assert newest.created_at > older.created_at


@pytest.mark.parametrize(("wire", "expected"), [(0, 0.0), ("4.50", 4.5), (4.33, 4.33)])
def test_satisfaction_is_a_float_whatever_the_wire_sends(
    api: Api, router: respx.MockRouter, wire: object, expected: float
) -> None:
    router.get(f"/api/feedback/satisfaction/{USER_ID}").respond(200, json={"averageRating": wire})

    rating = api(lambda c: c.feedback.satisfaction(USER_ID))

    assert isinstance(rating, float)
    assert rating == expected


def test_submit_mentor_and_task_feedback(api: Api, router: respx.MockRouter) -> None:
    mentor = router.post(f"/api/feedback/mentor/{USER_ID}").respond(
        201, json=feedback_doc(fromUser=MENTOR_ID, toUser=USER_ID)
    )
    task = router.post(f"/api/feedback/task/{USER_ID}").respond(
        201, json=feedback_doc(_id=TASK_FEEDBACK_ID, toUser=USER_ID, task=TASK_ID, rating=3)
    )

    general = api(
        lambda c: c.feedback.submit_mentor(USER_ID, batch=BATCH_ID, rating=4, content="Good")
    )
    about = api(
        lambda c: c.feedback.submit_task(
            USER_ID, batch=BATCH_ID, task=TASK_ID, rating=3, content="Tests"
        )
    )

    assert sent_json(mentor) == {"batch": BATCH_ID, "rating": 4, "content": "Good"}
    assert sent_json(task) == {"batch": BATCH_ID, "task": TASK_ID, "rating": 3, "content": "Tests"}
    assert general.data.to_user == USER_ID and general.data.from_user == MENTOR_ID
    assert about.data.task == TASK_ID and about.data.rating == 3


def test_submit_mentor_without_a_token_is_a_typed_401(api: Api, router: respx.MockRouter) -> None:
    router.post(f"/api/feedback/mentor/{USER_ID}").respond(
        401, json={"message": "No token provided, authorization denied."}
    )

    with pytest.raises(AuthenticationError, match="No token provided"):
        api(lambda c: c.feedback.submit_mentor(USER_ID, batch=BATCH_ID, rating=4, content="x"))


def test_feedback_writes_invalidate_the_recipient_the_sender_and_the_batch(
    api: Api, router: respx.MockRouter
) -> None:
    router.post("/api/feedback/submit").respond(201, json=feedback_doc())
    manager = api.client.refresh_manager
    watched = {
        "received": (CacheKey.FEEDBACK, MENTOR_ID, "received"),
        "satisfaction": (CacheKey.FEEDBACK, MENTOR_ID, "satisfaction"),
        "sent": (CacheKey.FEEDBACK, USER_ID, "sent"),
        "analytics": (CacheKey.ANALYTICS, BATCH_ID, "engagement"),
        "report": (CacheKey.USER_ANALYTICS, MENTOR_ID, BATCH_ID),
        "untouched": (CacheKey.FEEDBACK, USER_ID, "received"),
    }
    for key in watched.values():
        manager.set(key, [])
    invalidated: list[Any] = []
    manager.on_invalidate(invalidated.append)

    api(lambda c: c.feedback.submit(to_user=MENTOR_ID, batch=BATCH_ID, content="x", rating=5))

    assert set(invalidated) == {key for name, key in watched.items() if name != "untouched"}
    assert all(WRITES[name].repeatable is False for name in _FEEDBACK_WRITES)


_FEEDBACK_WRITES = ("feedback.submit", "feedback.submit_mentor", "feedback.submit_task")


# --- the reference backend ----------------------------------------------------------------------


def _http(backend: GamifyBackend, user_id: str | None = None) -> httpx.Client:
    headers = bearer(backend, user_id) if user_id is not None else None
    return httpx.Client(transport=backend.transport(), base_url=BASE_URL, headers=headers)


def _give(
    http: httpx.Client, demo: DemoData, *, rating: object = 4, **extra: Any
) -> httpx.Response:
    payload = {
        "toUser": demo.mentor.id,
        "batch": demo.batch_id,
        "content": "Helpful",
        "rating": rating,
        **extra,
    }
    return http.post("/api/feedback/submit", json=payload)


def test_client_gives_and_reads_feedback(
    backend: GamifyBackend, demo: DemoData, connect: Connect
) -> None:
    learner, mentor_id = demo.users[0].id, demo.mentor.id
    user = as_user(connect, backend, learner)
    mentor = as_user(connect, backend, mentor_id)

    general = user(
        lambda c: c.feedback.submit(to_user=mentor_id, batch=demo.batch_id, content="Hi", rating=4)
    ).data
    about = user(
        lambda c: c.feedback.submit(
            to_user=mentor_id, batch=demo.batch_id, content="Nice", rating=5, task=demo.task_ids[0]
        )
    ).data
    back = mentor(
        lambda c: c.feedback.submit_mentor(learner, batch=demo.batch_id, rating=3, content="Go")
    ).data
    on_task = mentor(
        lambda c: c.feedback.submit_task(
            learner, batch=demo.batch_id, task=demo.task_ids[1], rating=2, content="Redo"
        )
    ).data

    assert general.from_user == learner, "the sender is the token's user"
    assert about.task == demo.task_ids[0]
    assert (back.from_user, back.to_user, back.task) == (mentor_id, learner, None)
    assert on_task.task == demo.task_ids[1]
    received = user(lambda c: c.feedback.received(mentor_id))
    assert [f.id for f in received] == [general.id, about.id]
    assert all(isinstance(f.from_user, User) for f in received)
    assert [f.id for f in mentor(lambda c: c.feedback.mentor(mentor_id))] == [general.id]
    assert [f.id for f in mentor(lambda c: c.feedback.task(mentor_id))] == [about.id]
    assert [f.id for f in user(lambda c: c.feedback.timeline(learner))] == [on_task.id, back.id]
    sent = user(lambda c: c.feedback.sent(learner))
    assert [f.id for f in sent] == [general.id, about.id]
    assert isinstance(sent[0].to_user, User) and sent[0].to_user.id == mentor_id
    assert mentor(lambda c: c.feedback.satisfaction(mentor_id)) == 4.5
    assert user(lambda c: c.feedback.satisfaction(learner)) == 2.5
    with pytest.raises(PermissionDeniedError):
        user(lambda c: c.feedback.timeline(mentor_id))


def test_tokens_and_identities(backend: GamifyBackend, demo: DemoData) -> None:
    learner, other = demo.users[0].id, demo.users[1].id
    with _http(backend) as anonymous, _http(backend, learner) as user:
        no_token = _give(anonymous, demo)
        spoofed = _give(user, demo, fromUser=other)
        received = anonymous.get(f"/api/feedback/to/{demo.mentor.id}")
        others = user.get(f"/api/feedback/from/{other}")
        backend.defects.add("missing_auth")
        open_submit = _give(anonymous, demo, fromUser=other)
        open_read = anonymous.get(f"/api/feedback/from/{other}")

    assert (no_token.status_code, no_token.json()) == (401, {"message": "No token provided"})
    assert spoofed.status_code == 201
    assert spoofed.json()["fromUser"] == learner, "a learner speaks only for itself"
    assert received.status_code == 200 and len(received.json()) == 1, "the dashboard's read"
    assert others.status_code == 403
    assert open_submit.status_code == 201 and open_submit.json()["fromUser"] == other
    assert [f["_id"] for f in open_read.json()] == [open_submit.json()["_id"]]


def test_staff_may_name_the_sender(backend: GamifyBackend, demo: DemoData) -> None:
    with _http(backend, demo.admin.id) as admin:
        given = _give(admin, demo, fromUser=demo.users[2].id)

    assert given.status_code == 201
    assert given.json()["fromUser"] == demo.users[2].id


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rating": 9}, "Path `rating` (9) is more than maximum allowed value (5)."),
        ({"rating": "lots"}, 'Cast to Number failed for value "lots" at path "rating"'),
        ({"rating": None}, "Path `rating` is required."),
        ({"content": ""}, "Path `content` is required."),
        ({"content": {"text": "x"}}, "Cast to string failed for path `content`"),
        ({"batch": None}, "Path `batch` is required."),
        ({"batch": "nope"}, "Invalid batch"),
    ],
)
def test_bad_bodies_are_400_or_the_real_500(
    backend: GamifyBackend, demo: DemoData, body: dict[str, Any], message: str
) -> None:
    with _http(backend, demo.users[0].id) as user:
        fixed = _give(user, demo, **{"rating": 4, **body})
        backend.defects.add("validation_500")
        real = _give(user, demo, **{"rating": 4, **body})
        listed = user.get(f"/api/feedback/to/{demo.mentor.id}").json()

    assert (fixed.status_code, fixed.json()) == (400, {"message": message})
    assert real.status_code == 500
    assert real.json()["message"] == "Failed to submit feedback"
    error = real.json()["error"]
    assert error.startswith("Cast to ObjectId failed") or (
        error.startswith("Feedback validation failed: ") and error.endswith(message)
    )
    assert listed == []


def test_a_number_rating_string_and_content_are_cast(
    backend: GamifyBackend, demo: DemoData
) -> None:
    with _http(backend, demo.users[0].id) as user:
        given = _give(user, demo, rating="3", content=42)

    assert given.status_code == 201
    assert (given.json()["rating"], given.json()["content"]) == (3, "42")


@pytest.mark.parametrize("defect", [False, True])
def test_task_kept_unless_feedback_task_dropped(
    backend: GamifyBackend, demo: DemoData, defect: bool
) -> None:
    if defect:
        backend.defects.add("feedback_task_dropped")
    mentor = demo.mentor.id
    with _http(backend, demo.users[0].id) as user:
        given = _give(user, demo, task=demo.task_ids[0]).json()
        about_tasks = user.get(f"/api/feedback/task/{mentor}", headers=bearer(backend, mentor))
        general = user.get(f"/api/feedback/mentor/{mentor}", headers=bearer(backend, mentor))

    assert ("task" in given) is not defect
    assert len(about_tasks.json()) == (0 if defect else 1)
    assert len(general.json()) == (1 if defect else 0), "without its task it is mentor feedback"
    if not defect:
        assert about_tasks.json()[0]["task"]["_id"] == demo.task_ids[0]


@pytest.mark.parametrize("defect", [False, True])
def test_satisfaction_is_a_number_unless_satisfaction_string(
    backend: GamifyBackend, demo: DemoData, connect: Connect, defect: bool
) -> None:
    if defect:
        backend.defects.add("satisfaction_string")
    mentor = demo.mentor.id
    path = f"/api/feedback/satisfaction/{mentor}"
    with _http(backend, mentor) as http:
        none = http.get(path).json()
        for index, rating in enumerate((5, 4, 4)):
            with _http(backend, demo.users[index].id) as user:
                assert _give(user, demo, rating=rating).status_code == 201
        some = http.get(path).json()

    assert none == {"averageRating": 0}
    assert some == {"averageRating": "4.33" if defect else 4.33}
    assert as_user(connect, backend, mentor)(lambda c: c.feedback.satisfaction(mentor)) == 4.33


@pytest.mark.parametrize("defect", [False, True])
def test_populated_users_hide_the_hash_unless_user_hash_leak(
    backend: GamifyBackend, demo: DemoData, defect: bool
) -> None:
    if defect:
        backend.defects.add("user_hash_leak")
    mentor = demo.mentor.id
    with _http(backend, demo.users[0].id) as user:
        assert _give(user, demo).status_code == 201
        shown = [
            user.get(f"/api/feedback/{view}/{mentor}", headers=bearer(backend, mentor)).json()[0]
            for view in ("to", "mentor", "timeline")
        ]
        sent = user.get(f"/api/feedback/from/{demo.users[0].id}").json()[0]

    assert all(("password" in f["fromUser"]) is defect for f in shown)
    assert ("password" in sent["toUser"]) is defect
    assert shown[0]["batch"]["_id"] == demo.batch_id


def test_per_user_submits_need_a_requireauth_token_and_a_task(
    backend: GamifyBackend, demo: DemoData
) -> None:
    learner = demo.users[0].id
    path_mentor, path_task = f"/api/feedback/mentor/{learner}", f"/api/feedback/task/{learner}"
    body = {"batch": demo.batch_id, "rating": 4, "content": "ok", "fromUser": demo.admin.id}
    with _http(backend) as anonymous, _http(backend, demo.mentor.id) as mentor:
        no_token = anonymous.post(path_mentor, json=body)
        given = mentor.post(path_mentor, json=body)
        index_task = mentor.post(path_task, json={**body, "task": 0})
        no_task = mentor.post(path_task, json=body)
        bad_path = mentor.post("/api/feedback/mentor/nope", json=body)
        backend.defects.add("validation_500")
        real_no_task = mentor.post(path_task, json=body)
        real_index = mentor.post(path_task, json={**body, "task": 0})

    assert (no_token.status_code, no_token.json()) == (
        401,
        {"message": "No token provided, authorization denied."},
    )
    assert given.status_code == 201
    assert given.json()["fromUser"] == demo.mentor.id, "the body's fromUser is ignored"
    assert "task" not in given.json()
    assert (index_task.status_code, index_task.json()) == (400, {"message": "Invalid task"})
    assert (no_task.status_code, no_task.json()) == (
        400,
        {"message": "Path `task` is required."},
    )
    assert bad_path.status_code == 404
    assert real_no_task.status_code == 201 and "task" not in real_no_task.json()
    assert real_index.status_code == 500
    assert real_index.json()["message"] == "Failed to submit task feedback"


def test_the_frontend_posts_mentor_feedback_to_its_own_id(
    backend: GamifyBackend, demo: DemoData
) -> None:
    # BatchAnalytics sends the learner's own id as :userId; the fixed backend still takes it.
    learner = demo.users[0].id
    with _http(backend, learner) as user:
        response = user.post(
            f"/api/feedback/mentor/{learner}",
            json={"batch": demo.batch_id, "rating": 5, "content": "Thanks"},
        )
        mine = user.get(f"/api/feedback/mentor/{learner}").json()

    assert response.status_code == 201
    assert [f["_id"] for f in mine] == [response.json()["_id"]]


def test_feedback_reaches_the_batch_analytics_key_over_the_backend(
    backend: GamifyBackend, demo: DemoData, connect: Connect
) -> None:
    mentor = as_user(connect, backend, demo.mentor.id)
    key = (CacheKey.FEEDBACK, demo.users[0].id, "timeline")
    mentor.client.refresh_manager.set(key, [])
    invalidated: list[Any] = []
    mentor.client.refresh_manager.on_invalidate(invalidated.append)

    mentor(
        lambda c: c.feedback.submit_task(
            demo.users[0].id, batch=demo.batch_id, task=demo.task_ids[0], rating=4, content="ok"
        )
    )

    assert invalidated == [key]


def test_write_routes_are_the_sdks() -> None:
    routes = {(WRITES[name].method, WRITES[name].route) for name in _FEEDBACK_WRITES}
    assert routes == {
        ("POST", "/api/feedback/submit"),
        ("POST", "/api/feedback/mentor/:userId"),
        ("POST", "/api/feedback/task/:userId"),
    }
