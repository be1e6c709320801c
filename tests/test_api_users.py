"""``/api/user``: every route on the sync and the async client, against the real service's
payloads (respx) and against the reference backend, with each defect of the area switched
on to show the real behaviour and the SDK coping with it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    GamifyClient,
    InternalServerError,
    MutationResult,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.models import (
    Acknowledgement,
    Category,
    CompletedTask,
    RestrictResult,
    Task,
    User,
    UserBatchProgress,
    UserBatchReport,
    UserProgressReport,
    UsersListing,
)
from gamify_client.realtime import WRITES, MutationContext
from gamify_client.testing import GamifyBackend

BASE = "http://gamify.test"
ADMIN_ID = "65f0c1a2b3c4d5e6f7a8b901"
MENTOR_ID = "65f0c1a2b3c4d5e6f7a8b902"
USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
SUPER_ID = "65f0c1a2b3c4d5e6f7a8b904"
BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
CATEGORY_ID = "65f0c1a2b3c4d5e6f7a8b920"
PROGRESS_ID = "65f0c1a2b3c4d5e6f7a8b950"
ENTRY_ID = "65f0c1a2b3c4d5e6f7a8b960"
HASH = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
DONE = "2024-03-15T08:41:03.256Z"
PASSWORD = "correct horse"


# --- one client, sync or async, called the same way ------------------------------------------


class Api:
    """``api(lambda c: c.users.get(id))`` for either client; the async client's coroutines
    run on a private loop."""

    def __init__(self, client: GamifyClient | AsyncGamifyClient, loop: Any) -> None:
        self.client = client
        self._loop = loop

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        outcome = call(self.client)
        if self._loop is None:
            return outcome
        assert inspect.iscoroutine(outcome), "the async client must return a coroutine"
        return self._loop.run_until_complete(outcome)


MakeApi = Callable[..., Api]


@pytest.fixture(params=["sync", "async"])
def make_api(request: pytest.FixtureRequest) -> Iterator[MakeApi]:
    """Clients of the parametrised flavour, over the default transport or ``transport``."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[Api] = []

    def make(transport: httpx.MockTransport | None = None, token: str | None = None) -> Api:
        config = ClientConfig(base_url=BASE, max_retries=0, task_completion_delay=0, token=token)
        client: GamifyClient | AsyncGamifyClient
        if loop is None:
            http = httpx.Client(transport=transport) if transport is not None else None
            client = GamifyClient(config=config, http_client=http)
        else:
            ahttp = httpx.AsyncClient(transport=transport) if transport is not None else None
            client = AsyncGamifyClient(config=config, http_client=ahttp)
        made.append(Api(client, loop))
        return made[-1]

    yield make
    for api in made:
        if isinstance(api.client, GamifyClient):
            api.client.close()
        elif loop is not None:
            loop.run_until_complete(api.client.close())
    if loop is not None:
        loop.close()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api(token="t0ken")


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        yield mock


def sent(route: respx.Route) -> Any:
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


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
        "theme": "light",
        "emailNotifications": True,
        "inAppNotifications": True,
        "completedTasks": [
            {"task": {"_id": TASK_ID, "name": "REST API"}, "completedAt": DONE, "_id": ENTRY_ID}
        ],
        "inProgressTasks": [],
        "__v": 1,
    }
    doc.update(changes)
    return doc


def progress_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": PROGRESS_ID,
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
        "learningSummary": "",
        "skillsAcquired": [],
        "engagedTopics": [],
        "moodTracker": [],
        "activityLog": [],
        "status": "active",
        "enrolledAt": DONE,
        "lastActiveAt": DONE,
        "createdAt": DONE,
        "updatedAt": DONE,
        "__v": 0,
    }
    doc.update(changes)
    return doc


# --- the real service's payloads, through both clients ---------------------------------------


def test_list_parses_the_four_groups(api: Api, router: respx.MockRouter) -> None:
    listed = {"_id": USER_ID, "username": "ada", "email": "ada@example.com"}
    route = router.get("/api/user/all").respond(
        200,
        json={
            "superadmins": [{"_id": SUPER_ID, "username": "root", "designation": "superadmin"}],
            "admins": [{"_id": ADMIN_ID, "designation": "admin", "adminId": "ADM123"}],
            "mentors": [{"_id": MENTOR_ID, "designation": "mentor", "restricted": True}],
            "users": [{**listed, "designation": "user", "restricted": False, "parentId": "ADM123"}],
        },
    )

    listing = api(lambda c: c.users.list())

    assert route.calls.last.request.headers["authorization"] == "Bearer t0ken"
    assert isinstance(listing, UsersListing)
    assert listing.superadmins[0].id == SUPER_ID
    assert listing.admins[0].admin_id == "ADM123"
    assert listing.mentors[0].restricted is True
    # The real service can hold an admin's short code in parentId (parent_id_code).
    assert listing.users[0].parent_id == "ADM123"


def test_get_parses_populated_completed_tasks(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/user/{USER_ID}").respond(200, json=user_doc(lastSeen="x"))

    user = api(lambda c: c.users.get(USER_ID))

    assert isinstance(user, User)
    assert user.parent_id == ADMIN_ID
    assert user.theme == "light" and user.email_notifications is True
    task = user.completed_tasks[0].task
    assert isinstance(task, Task) and task.name == "REST API"
    assert user.completed_tasks[0].id == ENTRY_ID
    assert user.model_extra == {"lastSeen": "x"}


def test_verify_reads_the_named_user(api: Api, router: respx.MockRouter) -> None:
    router.get("/api/user/verify").respond(200, json={"user": user_doc()})

    assert api(lambda c: c.users.verify()).id == USER_ID


def test_verify_on_the_real_service_is_the_cast_500(api: Api, router: respx.MockRouter) -> None:
    # GET /:id is declared first and casts "verify" (defect verify_shadowed).
    router.get("/api/user/verify").respond(
        500,
        json={
            "message": "Server error",
            "error": 'Cast to ObjectId failed for value "verify" (type string) at path "_id" '
            'for model "User"',
        },
    )

    with pytest.raises(InternalServerError, match="Server error"):
        api(lambda c: c.users.verify())


def test_progress_report_parses(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/user/{USER_ID}/progress").respond(
        200,
        json={
            "xps": 350,
            "tasksAssigned": 3,
            "tasksCompleted": 2,
            "currentStreak": 1,
            "averageScore": 0,
            "completedOverTime": {"3/15/2024": 2},
        },
    )

    report = api(lambda c: c.users.progress(USER_ID))

    assert isinstance(report, UserProgressReport)
    assert (report.xps, report.tasks_assigned, report.tasks_completed) == (350, 3, 2)
    assert report.completed_over_time == {"3/15/2024": 2}


def test_batch_report_parses_the_placeholder_overview(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/user/{USER_ID}/progress/batch/{BATCH_ID}").respond(
        200,
        json={
            "xps": 10,
            "tasksAssigned": 0,
            "tasksCompleted": 0,
            "currentStreak": 0,
            "averageScore": 0,
            "completedOverTime": {},
            "learningSummary": "You\u2019ve completed the foundational modules of this batch.",
            "skillsAcquired": ["Built responsive layouts using Flexbox and Grid."],
            "mentorFeedbackSummary": "No mentor feedback yet.",
            "engagedTopics": [{"topic": "React Hooks", "reason": "Quickly mastered"}],
            "moodTracker": [{"date": "2024-05-01", "mood": "Confident", "context": "JS"}],
        },
    )

    report = api(lambda c: c.users.batch_report(USER_ID, BATCH_ID))

    assert isinstance(report, UserBatchReport)
    assert report.engaged_topics[0].topic == "React Hooks"
    assert report.mood_tracker[0].date is not None and report.mood_tracker[0].date.day == 1
    assert report.mentor_feedback_summary == "No mentor feedback yet."


def test_completed_tasks_parses_and_the_real_500_is_typed(
    api: Api, router: respx.MockRouter
) -> None:
    task = {"_id": TASK_ID, "name": "REST API", "category": {"_id": CATEGORY_ID, "name": "Web"}}
    route = router.get(f"/api/user/{USER_ID}/completed-tasks")
    route.respond(
        200, json={"completedTasks": [{"_id": ENTRY_ID, "task": task, "completedAt": DONE}]}
    )

    entries = api(lambda c: c.users.completed_tasks(USER_ID))

    assert isinstance(entries[0], CompletedTask)
    assert isinstance(entries[0].task, Task) and isinstance(entries[0].task.category, Category)
    route.respond(500, json={"error": "Failed to fetch completed tasks"})
    with pytest.raises(InternalServerError, match="Failed to fetch completed tasks"):
        api(lambda c: c.users.completed_tasks(USER_ID))


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("restrict_admin", "restrict", "Admin restricted successfully"),
        ("restrict_user", "restrict-user", "User unrestricted successfully"),
        ("restrict_mentor", "restrict-mentor", "Mentor restricted successfully"),
    ],
)
def test_restrict_toggles(
    api: Api, router: respx.MockRouter, method: str, path: str, message: str
) -> None:
    restricted = "unrestricted" not in message
    route = router.patch(f"/api/user/{path}/{USER_ID}").respond(
        200, json={"message": message, "restricted": restricted}
    )

    result = api(lambda c: getattr(c.users, method)(USER_ID))

    assert sent(route) == {}
    assert isinstance(result, MutationResult) and isinstance(result.data, RestrictResult)
    assert (result.message, result.data.restricted) == (message, restricted)


def test_update_sends_only_the_given_fields_and_parses_the_leaked_hash(
    api: Api, router: respx.MockRouter
) -> None:
    # The real PATCH /:id answers the whole document, hash included (user_hash_leak).
    route = router.patch(f"/api/user/{USER_ID}").respond(
        200, json=user_doc(theme="dark", password=HASH)
    )

    result = api(lambda c: c.users.update(USER_ID, theme="dark", email_notifications=False))

    assert sent(route) == {"theme": "dark", "emailNotifications": False}
    assert result.data.theme == "dark"
    assert result.data.model_extra["password"] == HASH


def test_update_not_found_is_the_error_body(api: Api, router: respx.MockRouter) -> None:
    router.patch(f"/api/user/{USER_ID}").respond(404, json={"error": "User not found"})

    with pytest.raises(NotFoundError, match="User not found"):
        api(lambda c: c.users.update(USER_ID, avatar=""))


def test_update_password(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/user/{USER_ID}/password").respond(
        200, json={"message": "Password updated successfully"}
    )

    result = api(lambda c: c.users.update_password(USER_ID, current_password="a", new_password="b"))

    assert sent(route) == {"currentPassword": "a", "newPassword": "b"}
    assert isinstance(result.data, Acknowledgement)
    assert result.message == "Password updated successfully"


def test_update_email(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/user/{USER_ID}/email").respond(
        200,
        json={"message": "Email updated successfully", "user": user_doc(email="new@x.io")},
    )

    result = api(lambda c: c.users.update_email(USER_ID, new_email="new@x.io"))

    assert sent(route) == {"newEmail": "new@x.io"}
    assert result.data.email == "new@x.io"
    assert result.message == "Email updated successfully"


def test_delete_sends_the_password_as_json(api: Api, router: respx.MockRouter) -> None:
    route = router.delete(f"/api/user/{USER_ID}").respond(
        200, json={"message": "Account deleted successfully"}
    )

    result = api(lambda c: c.users.delete(USER_ID, password="pw"))

    assert sent(route) == {"password": "pw"}
    assert result.message == "Account deleted successfully"


def test_delete_with_a_wrong_password(api: Api, router: respx.MockRouter) -> None:
    router.delete(f"/api/user/{USER_ID}").respond(400, json={"message": "Password is incorrect"})

    with pytest.raises(BadRequestError, match="Password is incorrect"):
        api(lambda c: c.users.delete(USER_ID, password="nope"))


def test_update_points_answers_the_named_user(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/user/{USER_ID}/points").respond(
        200, json={"user": user_doc(xps=300)}
    )

    result = api(lambda c: c.users.update_points(USER_ID, xps=300))

    assert sent(route) == {"xps": 300}
    assert result.data.xps == 300


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs", "wire"),
    [
        (
            "update_learning_summary",
            "summary",
            {"learning_summary": "Learned a lot"},
            {"learningSummary": "Learned a lot"},
        ),
        ("update_skills", "skills", {"skills": ("Flexbox",)}, {"skillsAcquired": ["Flexbox"]}),
        (
            "update_topics",
            "topics",
            {"topics": [{"topic": "Auth", "reason": "hard"}]},
            {"engagedTopics": [{"topic": "Auth", "reason": "hard"}]},
        ),
        (
            "update_mood",
            "mood",
            {"mood": [{"date": "2024-05-01", "mood": "Calm", "context": "JS"}]},
            {"moodTracker": [{"date": "2024-05-01", "mood": "Calm", "context": "JS"}]},
        ),
    ],
)
def test_overview_writes(
    api: Api,
    router: respx.MockRouter,
    method: str,
    suffix: str,
    kwargs: dict[str, Any],
    wire: dict[str, Any],
) -> None:
    stored = {"engagedTopics": [{**wire.get("engagedTopics", [{}])[0], "_id": ENTRY_ID}]}
    route = router.patch(f"/api/user/{USER_ID}/progress/batch/{BATCH_ID}/{suffix}").respond(
        200, json=progress_doc(**(stored if suffix == "topics" else wire))
    )

    result = api(lambda c: getattr(c.users, method)(USER_ID, BATCH_ID, **kwargs))

    assert sent(route) == wire
    assert isinstance(result.data, UserBatchProgress)
    assert result.data.id == PROGRESS_ID


def test_overview_write_failure_is_the_route_500(api: Api, router: respx.MockRouter) -> None:
    router.patch(f"/api/user/{USER_ID}/progress/batch/{BATCH_ID}/skills").respond(
        500, json={"message": "Failed to update skills", "error": "Cast to [string] failed"}
    )

    with pytest.raises(InternalServerError, match="Failed to update skills"):
        api(lambda c: c.users.update_skills(USER_ID, BATCH_ID, skills=["x"]))


def test_register_refusals_are_typed(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/user/register")
    route.respond(400, json={"message": "User already exists"})
    with pytest.raises(BadRequestError, match="User already exists"):
        api(lambda c: c.users.register(name="a", email="a@x.io", password="p", designation="user"))
    # A taken username or a bad field is the catch-all 500 on the real service (validation_500).
    route.respond(500, json={"message": "Server error", "error": "E11000 duplicate key error"})
    with pytest.raises(InternalServerError, match="Server error") as failed:
        api(lambda c: c.users.register(name="a", email="b@x.io", password="p", designation="user"))
    assert failed.value.body == {"message": "Server error", "error": "E11000 duplicate key error"}


def test_login_messages_and_the_html_500(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/user/login")
    route.respond(400, json={"message": "Invalid  password"})
    with pytest.raises(BadRequestError, match="Invalid  password"):
        api(lambda c: c.users.login(email="a@x.io", password="x"))
    # Without a JSON body the real handler throws outside its try (no_body_html500).
    page = "<!DOCTYPE html>\n<html><body><pre>TypeError: Cannot destructure</pre></body></html>"
    route.respond(500, text=page, headers={"content-type": "text/html; charset=utf-8"})
    with pytest.raises(InternalServerError, match="Cannot destructure"):
        api(lambda c: c.users.login(email="a@x.io", password="x"))


# --- the rules every write carries -----------------------------------------------------------


def _context(name: str, data: Any, **request: Any) -> MutationContext:
    return MutationContext(name, request, MutationResult(data=data))


def test_rules_scope_their_keys() -> None:
    user = User.model_validate(user_doc())
    profile = WRITES["users.update"].rule.invalidates(
        _context("users.update", user, user_id=USER_ID)
    )
    assert (CacheKey.USER_PROFILE, USER_ID) in profile
    assert (CacheKey.DASHBOARD, USER_ID) in profile and CacheKey.USERS in profile
    overview = WRITES["users.update_mood"].rule.invalidates(
        _context("users.update_mood", None, user_id=USER_ID, batch_id=BATCH_ID)
    )
    assert (CacheKey.USER_PROGRESS, USER_ID, BATCH_ID) in overview
    assert (CacheKey.BATCH_PROGRESS, BATCH_ID) in overview
    assert WRITES["users.update_password"].rule.invalidates(_context("p", None)) == []
    deleted = WRITES["users.delete"].rule.invalidates(_context("d", None, user_id=USER_ID))
    assert CacheKey.BATCH_PROGRESS in deleted and (CacheKey.USER_PROGRESS, USER_ID) in deleted
    # Toggles and the password change are never repeated; absolute writes may be.
    assert not WRITES["users.restrict_user"].repeatable
    assert not WRITES["users.update_password"].repeatable
    assert WRITES["users.update_points"].repeatable and WRITES["users.update"].repeatable


def test_a_profile_update_patches_the_cached_profile() -> None:
    # The answer's completedTasks are bare ids; the cached profile keeps its populated ones.
    new = User.model_validate(user_doc(username="ada2", completedTasks=[]))
    ((key, patch),) = WRITES["users.update"].rule.patches(_context("u", new, user_id=USER_ID))
    assert key == (CacheKey.USER_PROFILE, USER_ID)
    patched = patch(User.model_validate(user_doc()))
    assert patched.username == "ada2" and len(patched.completed_tasks) == 1
    assert patch(None) is None


def test_an_overview_write_patches_the_cached_progress() -> None:
    answer = UserBatchProgress.model_validate(progress_doc(learningSummary="new"))
    rule = WRITES["users.update_learning_summary"].rule
    ((key, patch),) = rule.patches(_context("s", answer, user_id=USER_ID, batch_id=BATCH_ID))
    assert key == (CacheKey.USER_PROGRESS, USER_ID, BATCH_ID)
    cached = UserBatchProgress.model_validate(progress_doc(status="paused"))
    patched = patch(cached)
    assert (patched.learning_summary, patched.status) == ("new", "paused")


# --- against the reference backend -----------------------------------------------------------


class Clock:
    """The backend's clock, moved by the tests that cross days."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 15, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend(clock: Clock) -> Iterator[GamifyBackend]:
    with GamifyBackend(clock=clock) as backend:
        yield backend


@dataclass
class Org:
    """Accounts made through the routes: two admins, a mentor, two users of the first admin
    (the first enrolled in a batch) and a user of the second admin, each with a token."""

    backend: GamifyBackend
    http: httpx.Client
    ids: dict[str, str]
    tokens: dict[str, str]
    admin_code: str
    other_code: str
    batch_id: str

    def login(self, email: str, designation: str, admin_id: str | None = None) -> httpx.Response:
        payload = {"email": email, "password": PASSWORD, "designation": designation}
        if admin_id is not None:
            payload["adminId"] = admin_id
        return self.http.post("/api/user/login", json=payload)

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _register(http: httpx.Client, name: str, designation: str, parent: str | None = None) -> Any:
    payload = {
        "name": name,
        "email": f"{name}@x.io",
        "password": PASSWORD,
        "designation": designation,
    }
    if parent is not None:
        payload["parentId"] = parent
    response = http.post("/api/user/register", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def org(backend: GamifyBackend) -> Iterator[Org]:
    with httpx.Client(transport=backend.transport(), base_url=BASE) as http:
        backend.defects.add("open_superadmin_signup")
        root = _register(http, "root", "superadmin")
        backend.defects.discard("open_superadmin_signup")
        admin = _register(http, "ada", "admin")
        other = _register(http, "otto", "admin")
        mentor = _register(http, "max", "mentor")
        # A user names its admin by the short code the signup page asks for.
        uma = _register(http, "uma", "user", admin["adminId"])
        leo = _register(http, "leo", "user", admin["adminId"])
        ivy = _register(http, "ivy", "user", other["adminId"])
        ids = {
            "root": root["userId"],
            "ada": admin["userId"],
            "otto": other["userId"],
            "max": mentor["userId"],
            "uma": uma["userId"],
            "leo": leo["userId"],
            "ivy": ivy["userId"],
        }
        org = Org(backend, http, ids, {}, admin["adminId"], other["adminId"], "")
        for who, designation, code in (
            ("root", "superadmin", None),
            ("ada", "admin", None),
            ("otto", "admin", None),
            ("max", "mentor", None),
            ("uma", "user", admin["adminId"]),
            ("leo", "user", admin["adminId"]),
            ("ivy", "user", other["adminId"]),
        ):
            answer = org.login(f"{who}@x.io", designation, code)
            assert answer.status_code == 200, answer.text
            org.tokens[who] = answer.json()["token"]
        batch = http.post(
            "/api/batches", json={"name": "Cohort", "mentor": ids["max"]}, headers=org.bearer("ada")
        )
        assert batch.status_code == 201, batch.text
        org.batch_id = batch.json()["_id"]
        enrolled = http.post(
            f"/api/batches/{org.batch_id}/enroll",
            json={"userId": ids["uma"]},
            headers=org.bearer("ada"),
        )
        assert enrolled.status_code == 200, enrolled.text
        yield org


@pytest.fixture
def as_user(org: Org, make_api: MakeApi) -> Callable[[str | None], Api]:
    """A client of the parametrised flavour on the org's backend, with ``who``'s token."""

    def make(who: str | None) -> Api:
        return make_api(org.backend.transport(), org.tokens[who] if who else None)

    return make


def test_register_resolves_the_admin_code_and_emails_ignore_case(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    anonymous = as_user(None)
    user = anonymous(lambda c: c.users.get(org.ids["uma"]))
    assert user.parent_id == org.ids["ada"]
    with pytest.raises(BadRequestError, match="User already exists"):
        anonymous(
            lambda c: c.users.register(
                name="uma2", email="  UMA@X.IO ", password="pw", designation="user"
            )
        )
    with pytest.raises(BadRequestError, match=r"Invalid Admin ID\."):
        anonymous(
            lambda c: c.users.register(
                name="zed", email="zed@x.io", password="pw", designation="user", parent_id="ADM0"
            )
        )
    login = anonymous(
        lambda c: c.users.login(
            email="Uma@X.io", password=PASSWORD, designation="user", admin_id=org.admin_code
        )
    )
    assert login.user_id == org.ids["uma"]


def test_superadmin_signup_is_refused_unless_the_defect_is_on(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    anonymous = as_user(None)

    def signup(name: str) -> Any:
        return anonymous(
            lambda c: c.users.register(
                name=name, email=f"{name}@x.io", password="pw", designation="superadmin"
            )
        )

    with pytest.raises(PermissionDeniedError):
        signup("eve")
    org.backend.defects.add("open_superadmin_signup")
    assert signup("eve").user_id


def test_login_checks_in_the_real_order(org: Org, as_user: Callable[[str | None], Api]) -> None:
    anonymous = as_user(None)
    cases = [
        ({"email": "nobody@x.io", "password": PASSWORD}, "user does not exist"),
        ({"email": "uma@x.io", "password": "wrong"}, "Invalid  password"),
        (
            {"email": "uma@x.io", "password": PASSWORD, "designation": "admin"},
            "Invalid designation",
        ),
        (
            {"email": "uma@x.io", "password": PASSWORD, "designation": "user", "admin_id": "ADM0"},
            "Invalid Admin ID.",
        ),
        (
            {
                "email": "uma@x.io",
                "password": PASSWORD,
                "designation": "user",
                "admin_id": org.other_code,
            },
            "You are not assigned to this Admin ID.",
        ),
    ]

    def login_with(fields: dict[str, str]) -> Callable[[Any], Any]:
        return lambda c: c.users.login(**fields)

    for fields, message in cases:
        with pytest.raises(BadRequestError) as refused:
            anonymous(login_with(fields))
        assert refused.value.body == {"message": message}
    missing = org.login("uma@x.io", "user")
    assert (missing.status_code, missing.json()) == (400, {"message": "Admin ID is required."})


def test_list_is_staff_only_and_an_admin_sees_its_own_users(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    listing = as_user("ada")(lambda c: c.users.list())
    assert sorted(user.username for user in listing.users) == ["leo", "uma"]
    assert [admin.admin_id for admin in listing.admins] == [org.admin_code, org.other_code]
    everyone = as_user("root")(lambda c: c.users.list())
    assert len(everyone.users) == 3 and everyone.superadmins[0].id == org.ids["root"]
    with pytest.raises(PermissionDeniedError):
        as_user("uma")(lambda c: c.users.list())
    org.backend.defects.add("user_list_any_role")
    assert len(as_user("uma")(lambda c: c.users.list()).mentors) == 1


def test_verify_and_the_shadowed_route(org: Org, as_user: Callable[[str | None], Api]) -> None:
    assert as_user("uma")(lambda c: c.users.verify()).id == org.ids["uma"]
    with pytest.raises(AuthenticationError):
        as_user(None)(lambda c: c.users.verify())
    org.backend.defects.add("verify_shadowed")
    # GET /:id takes the path and reads "verify" as an id.
    with pytest.raises(NotFoundError):
        as_user("uma")(lambda c: c.users.verify())
    org.backend.defects.add("validation_500")
    with pytest.raises(InternalServerError, match="Server error"):
        as_user("uma")(lambda c: c.users.verify())


def test_get_hides_the_password_and_unknown_is_404(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    user = as_user(None)(lambda c: c.users.get(org.ids["ada"]))
    assert user.admin_id == org.admin_code and "password" not in (user.model_extra or {})
    with pytest.raises(NotFoundError):
        as_user(None)(lambda c: c.users.get("0123456789abcdef01234567"))


def test_restrictions_toggle_and_are_enforced(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    root = as_user("root")
    first = root(lambda c: c.users.restrict_admin(org.ids["otto"]))
    assert (first.message, first.data.restricted) == ("Admin restricted successfully", True)
    refused = org.login("otto@x.io", "admin")
    assert (refused.status_code, refused.json()) == (403, {"message": "Account is restricted"})
    # Tokens given before the restriction are refused on guarded routes too.
    with pytest.raises(PermissionDeniedError, match="Account is restricted"):
        as_user("otto")(lambda c: c.users.list())
    org.backend.defects.add("restricted_ignored")
    assert org.login("otto@x.io", "admin").status_code == 200
    org.backend.defects.discard("restricted_ignored")
    second = root(lambda c: c.users.restrict_admin(org.ids["otto"]))
    assert (second.message, second.data.restricted) == ("Admin unrestricted successfully", False)
    with pytest.raises(PermissionDeniedError, match="Only superadmin"):
        as_user("ada")(lambda c: c.users.restrict_admin(org.ids["otto"]))
    with pytest.raises(NotFoundError, match="Admin not found"):
        root(lambda c: c.users.restrict_admin(org.ids["uma"]))


def test_an_admin_restricts_only_its_own_users(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    ada = as_user("ada")
    assert ada(lambda c: c.users.restrict_user(org.ids["leo"])).data.restricted is True
    with pytest.raises(PermissionDeniedError, match="Admins can only restrict their own users"):
        ada(lambda c: c.users.restrict_user(org.ids["ivy"]))
    with pytest.raises(NotFoundError, match="User not found"):
        ada(lambda c: c.users.restrict_user(org.ids["max"]))
    with pytest.raises(PermissionDeniedError, match="Only admin or superadmin"):
        as_user("uma")(lambda c: c.users.restrict_user(org.ids["leo"]))


def test_parent_id_code_keeps_the_code_and_the_user_cannot_log_in(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    org.backend.defects.add("parent_id_code")
    _register(org.http, "kai", "user", org.admin_code)
    kai = org.http.get("/api/user/all", headers=org.bearer("root")).json()["users"][-1]
    assert kai["parentId"] == org.admin_code
    refused = org.login("kai@x.io", "user", org.admin_code)
    assert refused.json() == {"message": "You are not assigned to this Admin ID."}
    # Restrict-user compares with the code: the code-holding user is the admin's, uma is not.
    ada = as_user("ada")
    assert ada(lambda c: c.users.restrict_user(kai["_id"])).data.restricted is True
    with pytest.raises(PermissionDeniedError):
        ada(lambda c: c.users.restrict_user(org.ids["uma"]))


def test_restrict_mentor_is_for_admins(org: Org, as_user: Callable[[str | None], Api]) -> None:
    with pytest.raises(PermissionDeniedError, match="Only admin or superadmin"):
        as_user("max")(lambda c: c.users.restrict_mentor(org.ids["max"]))
    ada = as_user("ada")
    assert ada(lambda c: c.users.restrict_mentor(org.ids["max"])).data.restricted is True
    assert ada(lambda c: c.users.restrict_mentor(org.ids["max"])).data.restricted is False
    with pytest.raises(PermissionDeniedError, match="Only superadmin can perform this action"):
        as_user("uma")(lambda c: c.users.restrict_mentor(org.ids["max"]))
    org.backend.defects.add("restrict_mentor_any_staff")
    result = as_user("max")(lambda c: c.users.restrict_mentor(org.ids["max"]))
    assert result.message == "Mentor restricted successfully"


def test_profile_update_is_own_and_limited(org: Org, as_user: Callable[[str | None], Api]) -> None:
    uma = as_user("uma")
    result = uma(
        lambda c: c.users.update(
            org.ids["uma"], username="uma-b", theme="dark", email_notifications=False
        )
    )
    assert (result.data.username, result.data.theme) == ("uma-b", "dark")
    assert result.data.email_notifications is False
    assert "password" not in (result.data.model_extra or {})
    with pytest.raises(PermissionDeniedError):
        uma(lambda c: c.users.update(org.ids["leo"], avatar=""))
    with pytest.raises(BadRequestError, match="Username already taken"):
        uma(lambda c: c.users.update(org.ids["uma"], username="leo"))
    with pytest.raises(AuthenticationError):
        as_user(None)(lambda c: c.users.update(org.ids["uma"], avatar=""))
    path = f"/api/user/{org.ids['uma']}"
    # A field the schema lacks is dropped (the admin page's displayName); a protected one is 403.
    dropped = org.http.patch(path, json={"displayName": "U"}, headers=org.bearer("uma"))
    assert dropped.status_code == 200 and "displayName" not in dropped.json()
    protected = org.http.patch(path, json={"xps": 10**6}, headers=org.bearer("uma"))
    assert protected.status_code == 403
    # missing_auth: the real route checks no token and no ownership.
    org.backend.defects.add("missing_auth")
    anyone = as_user(None)(lambda c: c.users.update(org.ids["uma"], avatar="x.png"))
    assert anyone.data.avatar == "x.png"


def test_user_patch_open_applies_anything_and_the_hash_leaks(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    org.backend.defects.add("user_patch_open")
    org.backend.defects.add("user_hash_leak")
    org.backend.defects.add("missing_auth")
    path = f"/api/user/{org.ids['uma']}"
    changed = org.http.patch(path, json={"designation": "admin", "password": "plain"})
    assert changed.status_code == 200
    assert changed.json()["designation"] == "admin" and changed.json()["password"] == "plain"
    # The SDK keeps the leaked hash as an extra field and parses the user as usual.
    result = as_user(None)(lambda c: c.users.update(org.ids["uma"], avatar="a.png"))
    assert result.data.designation == "admin" and result.data.model_extra["password"] == "plain"
    assert org.login("uma@x.io", "admin").json() == {"message": "Invalid  password"}


def test_password_change_hashes_once(org: Org, as_user: Callable[[str | None], Api]) -> None:
    uma = as_user("uma")
    with pytest.raises(BadRequestError, match="Current password is incorrect"):
        uma(
            lambda c: c.users.update_password(
                org.ids["uma"], current_password="x", new_password="y"
            )
        )
    with pytest.raises(PermissionDeniedError, match="own password"):
        uma(
            lambda c: c.users.update_password(
                org.ids["leo"], current_password="x", new_password="y"
            )
        )
    done = uma(
        lambda c: c.users.update_password(
            org.ids["uma"], current_password=PASSWORD, new_password="new secret"
        )
    )
    assert done.message == "Password updated successfully"
    relogin = org.http.post(
        "/api/user/login",
        json={
            "email": "uma@x.io",
            "password": "new secret",
            "designation": "user",
            "adminId": org.admin_code,
        },
    )
    assert relogin.status_code == 200


def test_password_double_hash_locks_the_account_out(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    org.backend.defects.add("password_double_hash")
    as_user("ada")(
        lambda c: c.users.update_password(
            org.ids["ada"], current_password=PASSWORD, new_password="new secret"
        )
    )
    for password in (PASSWORD, "new secret"):
        answer = org.http.post(
            "/api/user/login",
            json={"email": "ada@x.io", "password": password, "designation": "admin"},
        )
        assert answer.json() == {"message": "Invalid  password"}


def test_email_change(org: Org, as_user: Callable[[str | None], Api]) -> None:
    uma = as_user("uma")
    result = uma(lambda c: c.users.update_email(org.ids["uma"], new_email=" Uma.New@X.io "))
    assert result.data.email == "uma.new@x.io" and result.message == "Email updated successfully"
    assert "password" not in (result.data.model_extra or {})
    with pytest.raises(BadRequestError, match="Email already in use"):
        uma(lambda c: c.users.update_email(org.ids["uma"], new_email="LEO@x.io"))
    with pytest.raises(PermissionDeniedError, match="own email"):
        uma(lambda c: c.users.update_email(org.ids["leo"], new_email="z@x.io"))
    org.backend.defects.add("user_hash_leak")
    leaked = uma(lambda c: c.users.update_email(org.ids["uma"], new_email="uma3@x.io"))
    assert leaked.data.model_extra["password"].startswith("pbkdf2_sha256$")


def _batch_users(org: Org) -> list[str]:
    batch = org.http.get(f"/api/batches/{org.batch_id}").json()
    return [user if isinstance(user, str) else user["_id"] for user in batch["users"]]


def _has_progress(org: Org, who: str) -> bool:
    """Whether ``who`` has a stored progress in the org's batch (the zeroed default the
    service answers without one has no ``_id``)."""
    answer = org.http.get(
        f"/api/batch-progress/user/{org.ids[who]}/{org.batch_id}", headers=org.bearer("ada")
    )
    assert answer.status_code == 200, answer.text
    return "_id" in answer.json()["progress"]


def test_account_delete_cascades(org: Org, as_user: Callable[[str | None], Api]) -> None:
    uma = as_user("uma")
    with pytest.raises(BadRequestError, match="Password is incorrect"):
        uma(lambda c: c.users.delete(org.ids["uma"], password="wrong"))
    with pytest.raises(PermissionDeniedError, match="own account"):
        uma(lambda c: c.users.delete(org.ids["leo"], password=PASSWORD))
    assert org.ids["uma"] in _batch_users(org) and _has_progress(org, "uma")
    done = uma(lambda c: c.users.delete(org.ids["uma"], password=PASSWORD))
    assert done.message == "Account deleted successfully"
    assert org.ids["uma"] not in _batch_users(org) and not _has_progress(org, "uma")
    with pytest.raises(NotFoundError):
        as_user(None)(lambda c: c.users.get(org.ids["uma"]))


def test_no_cascade_leaves_the_batch_membership(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    org.backend.defects.add("no_cascade")
    as_user("uma")(lambda c: c.users.delete(org.ids["uma"], password=PASSWORD))
    # The progress stays behind (the batch's populated users just skip the dangling id).
    assert _has_progress(org, "uma")


def test_overview_writes_show_in_the_batch_report(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    uma, user_id = as_user("uma"), org.ids["uma"]
    summary = uma(
        lambda c: c.users.update_learning_summary(user_id, org.batch_id, learning_summary="Good")
    )
    assert summary.data.learning_summary == "Good"
    uma(lambda c: c.users.update_skills(user_id, org.batch_id, skills=["Flexbox", 3]))
    topics = uma(
        lambda c: c.users.update_topics(
            user_id, org.batch_id, topics=[{"topic": "Auth", "reason": "hard"}]
        )
    )
    assert topics.data.engaged_topics[0].id is not None
    mood = uma(
        lambda c: c.users.update_mood(
            user_id, org.batch_id, mood=[{"date": "2024-05-01", "mood": "Calm", "context": "JS"}]
        )
    )
    assert mood.data.mood_tracker[0].mood == "Calm"
    report = as_user(None)(lambda c: c.users.batch_report(user_id, org.batch_id))
    assert report.learning_summary == "Good"
    assert report.skills_acquired == ["Flexbox", "3"]
    assert report.engaged_topics[0].topic == "Auth"
    assert report.mood_tracker[0].date is not None and report.mood_tracker[0].date.year == 2024
    assert report.mentor_feedback_summary == "No mentor feedback yet."
    org.backend.defects.add("fake_analytics")
    fake = as_user(None)(lambda c: c.users.batch_report(user_id, org.batch_id))
    assert fake.engaged_topics[0].topic == "Authentication" and fake.average_score == 0


def test_overview_writes_need_a_progress_and_the_owner(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    leo = as_user("leo")
    with pytest.raises(NotFoundError, match="Progress not found"):
        leo(lambda c: c.users.update_skills(org.ids["leo"], org.batch_id, skills=["x"]))
    with pytest.raises(PermissionDeniedError):
        leo(lambda c: c.users.update_skills(org.ids["uma"], org.batch_id, skills=["x"]))
    with pytest.raises(AuthenticationError):
        as_user(None)(lambda c: c.users.update_skills(org.ids["uma"], org.batch_id, skills=["x"]))
    not_text = org.http.patch(
        f"/api/user/{org.ids['uma']}/progress/batch/{org.batch_id}/skills",
        json={"skillsAcquired": [{"no": "object"}]},
        headers=org.bearer("uma"),
    )
    assert (not_text.status_code, not_text.json()) == (
        400,
        {"message": "skillsAcquired must be a string"},
    )
    org.backend.defects.add("upsert_phantom_progress")
    org.backend.defects.add("missing_auth")
    phantom = as_user(None)(
        lambda c: c.users.update_skills(org.ids["leo"], org.batch_id, skills=["x"])
    )
    assert phantom.data.skills_acquired == ["x"] and phantom.data.task_progress == []


def test_points_are_own_or_an_admins(org: Org, as_user: Callable[[str | None], Api]) -> None:
    own = as_user("uma")(lambda c: c.users.update_points(org.ids["uma"], xps=50))
    assert own.data.xps == 50
    assert as_user("ada")(lambda c: c.users.update_points(org.ids["leo"], xps=7)).data.xps == 7
    with pytest.raises(PermissionDeniedError):
        as_user("uma")(lambda c: c.users.update_points(org.ids["leo"], xps=10**6))
    org.backend.defects.add("points_any_user")
    farmed = as_user("uma")(lambda c: c.users.update_points(org.ids["leo"], xps=10**6))
    assert farmed.data.xps == 10**6
    forged = as_user(None)
    forged.client.token = "not-a-token"
    with pytest.raises(AuthenticationError, match=r"Invalid or expired token\."):
        forged(lambda c: c.users.update_points(org.ids["leo"], xps=1))


def test_points_validation(org: Org) -> None:
    path = f"/api/user/{org.ids['uma']}/points"
    bad = org.http.patch(path, json={"xps": "lots"}, headers=org.bearer("uma"))
    assert (bad.status_code, bad.json()) == (400, {"message": "xps must be a number"})
    org.backend.defects.add("validation_500")
    real = org.http.patch(path, json={"xps": "lots"}, headers=org.bearer("uma"))
    assert (real.status_code, real.json()) == (500, {"error": "Failed to update points"})


def test_requireauth_takes_the_cookie_once_fixed(org: Org) -> None:
    path = f"/api/user/{org.ids['uma']}/points"
    cookie = {"Cookie": f"authToken={org.tokens['uma']}"}
    assert org.http.patch(path, json={"xps": 3}, headers=cookie).status_code == 200
    org.backend.defects.add("requireauth_header_only")
    refused = org.http.patch(path, json={"xps": 3}, headers=cookie)
    assert (refused.status_code, refused.json()) == (
        401,
        {"message": "No token provided, authorization denied."},
    )


def test_completed_tasks_and_the_populate_500(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    assert as_user("uma")(lambda c: c.users.completed_tasks(org.ids["uma"])) == []
    with pytest.raises(PermissionDeniedError):
        as_user("leo")(lambda c: c.users.completed_tasks(org.ids["uma"]))
    org.backend.defects.add("completed_tasks_populate_500")
    with pytest.raises(InternalServerError) as failed:
        as_user("uma")(lambda c: c.users.completed_tasks(org.ids["uma"]))
    assert failed.value.body == {"error": "Failed to fetch completed tasks"}


def test_progress_report(org: Org, as_user: Callable[[str | None], Api]) -> None:
    report = as_user(None)(lambda c: c.users.progress(org.ids["uma"]))
    assert report.tasks_assigned == 0 and report.current_streak == 0
    assert report.completed_over_time == {}
    with pytest.raises(NotFoundError):
        as_user(None)(lambda c: c.users.progress("0123456789abcdef01234567"))


def test_bodies_once_fixed_and_as_the_real_service_answers(org: Org) -> None:
    no_body = org.http.post("/api/user/register")
    assert (no_body.status_code, no_body.json()) == (400, {"message": "A JSON body is required"})
    bad = {"name": "x", "email": "x@x.io", "password": "pw", "designation": "king"}
    refused = org.http.post("/api/user/register", json=bad)
    assert (refused.status_code, refused.json()) == (400, {"message": "Invalid designation"})
    org.backend.defects.add("no_body_html500")
    org.backend.defects.add("validation_500")
    page = org.http.post("/api/user/login")
    assert page.status_code == 500 and "Cannot destructure property" in page.text
    assert page.headers["content-type"].startswith("text/html")
    real = org.http.post("/api/user/register", json=bad)
    assert real.status_code == 500
    assert real.json()["message"] == "Server error"
    assert "is not a valid enum value for path `designation`" in real.json()["error"]


def _signature_ok(token: str, secret: bytes) -> bool:
    header, payload, signature = token.split(".")
    digest = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == signature


def test_default_jwt_secret_signs_logins_with_the_public_constant(org: Org) -> None:
    public = b"your-secret-key-here"
    assert not _signature_ok(org.tokens["ada"], public)
    org.backend.defects.add("default_jwt_secret")
    token = org.login("ada@x.io", "admin").json()["token"]
    assert _signature_ok(token, public)


def _task_in_batch(org: Org) -> str:
    """A task of the org's batch, assigned to uma, made through the routes as an admin."""
    category = org.http.post(
        "/api/categories/create",
        json={"name": "Web", "emoji": "W", "batch": org.batch_id},
        headers=org.bearer("ada"),
    )
    assert category.status_code == 201, category.text
    created = org.http.post(
        "/api/task/create",
        json={
            "name": "Landing page",
            "description": "d",
            "details": "d",
            "category": category.json()["_id"],
            "difficulty": "Easy",
            "batch": org.batch_id,
            "assignedTo": [org.ids["uma"]],
        },
        headers=org.bearer("ada"),
    )
    assert created.status_code == 201, created.text
    task_id: str = created.json()["task"]["_id"]
    return task_id


def test_reports_over_assigned_and_completed_tasks(
    org: Org, as_user: Callable[[str | None], Api]
) -> None:
    task_id = _task_in_batch(org)
    submitted = org.http.post(
        f"/api/task/{task_id}/submit",
        json={"userId": org.ids["uma"], "submissionType": "Text Entry", "value": "done"},
        headers=org.bearer("uma"),
    )
    assert submitted.status_code == 201, submitted.text
    graded = org.http.post(
        "/api/batch-progress/submit-task",
        json={
            "userId": org.ids["uma"],
            "taskId": task_id,
            "batchId": org.batch_id,
            "submissionData": {"grade": 81},
        },
        headers=org.bearer("ada"),
    )
    assert graded.status_code == 200, graded.text
    anonymous = as_user(None)
    report = anonymous(lambda c: c.users.progress(org.ids["uma"]))
    assert (report.tasks_assigned, report.tasks_completed) == (1, 1)
    assert report.average_score == 81
    in_batch = anonymous(lambda c: c.users.batch_report(org.ids["uma"], org.batch_id))
    assert (in_batch.tasks_assigned, in_batch.average_score) == (1, 81)
    user = anonymous(lambda c: c.users.get(org.ids["uma"]))
    populated = user.completed_tasks[0].task
    assert isinstance(populated, Task) and populated.name == "Landing page"
    (entry,) = as_user("uma")(lambda c: c.users.completed_tasks(org.ids["uma"]))
    assert isinstance(entry.task, Task) and isinstance(entry.task.category, Category)
    assert entry.task.category.name == "Web"
    org.backend.defects.add("fake_analytics")
    assert anonymous(lambda c: c.users.progress(org.ids["uma"])).average_score == 0


def test_streak_and_completions_per_day_come_from_task_completions(
    org: Org, clock: Clock, as_user: Callable[[str | None], Api]
) -> None:
    first, second = _task_in_batch(org), _task_in_batch(org)

    def complete(task_id: str) -> None:
        done = org.http.post(
            f"/api/task/complete/{task_id}",
            json={"userId": org.ids["uma"]},
            headers=org.bearer("uma"),
        )
        assert done.status_code == 200, done.text

    complete(first)
    # Tokens live a day: the next day's completion comes 20 hours later.
    clock.now += timedelta(hours=20)
    complete(second)
    report = as_user(None)(lambda c: c.users.progress(org.ids["uma"]))
    assert report.tasks_completed == 2
    assert report.current_streak == 2
    assert report.completed_over_time == {"3/15/2024": 1, "3/16/2024": 1}
    # Without a completion today the service counts no streak at all.
    clock.now += timedelta(hours=20)
    assert as_user(None)(lambda c: c.users.progress(org.ids["uma"])).current_streak == 0
