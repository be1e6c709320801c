"""``gamify check``: prove that a deployment keeps the contract's real-time promises.

:func:`run_checks` plays the seed's ``test_realtime_updates.js`` against any base URL (the
real Express service or the reference backend) with real assertions: it registers its own
throwaway admin, mentor and users, makes a batch, a category and tasks, submits, and after
every write reads the data back through every route that must show it at once. Each check
gives one :class:`CheckResult`; a failed one says what it expected and what it saw.

The real service's known defects (``CONTRACT.md``) make their checks fail on purpose:
``task.create_succeeds`` and ``task.create_real_time_data`` (a create that answers 500 after
writing), ``submit.xp_added_once`` (double XP) and ``submit.real_time_data`` (no
``currentStreak``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import httpx

from ._core import token_user_id
from .client import GamifyClient
from .config import ClientConfig
from .errors import (
    APIStatusError,
    BadRequestError,
    GamifyError,
    InternalServerError,
    ResponseValidationError,
)
from .models import (
    Batch,
    Category,
    Dashboard,
    Designation,
    MutationResult,
    Task,
    TaskProgress,
    TaskSubmitOutcome,
    UserBatchProgress,
)

__all__ = [
    "CHECKS",
    "Check",
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "DeploymentUnreachableError",
    "run_checks",
]

T = TypeVar("T")

LIVENESS_TEXT = "API is working!"
_TASK_POINTS = 120
_FILLER_POINTS = (40, 60)
_USER_COUNT = 2
_SUBMITTED_LINK = "https://example.com/gamify-check"
_GRADE = 90
_ACCOUNTS_STEP = "set up the admin, mentor and user accounts"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: on a failure ``detail`` says what was expected and what was
    seen; on a pass, what was seen. ``duration`` is in seconds."""

    name: str
    passed: bool
    detail: str
    duration: float

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready values."""
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "duration": round(self.duration, 4),
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check's result, in the order they ran, and what cleaning up could not undo."""

    base_url: str
    results: tuple[CheckResult, ...]
    duration: float
    cleanup_problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that failed."""
        return tuple(result for result in self.results if not result.passed)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values (what ``gamify check --json`` prints)."""
        failed = len(self.failures)
        return {
            "base_url": self.base_url,
            "passed": self.passed,
            "summary": {
                "total": len(self.results),
                "passed": len(self.results) - failed,
                "failed": failed,
            },
            "duration": round(self.duration, 4),
            "checks": [result.to_dict() for result in self.results],
            "cleanup_problems": list(self.cleanup_problems),
        }


class DeploymentUnreachableError(Exception):
    """No HTTP answer at all came from the base URL, so no check could run."""


class CheckFailed(Exception):
    """Raised inside a check: ``detail`` says what was expected and what was seen."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Check:
    """A named check, what it proves, and the function that runs it (it returns what it
    saw, or raises :class:`CheckFailed`)."""

    name: str
    proves: str
    run: Callable[[_Scenario], str] = field(repr=False)


def _describe(error: GamifyError) -> str:
    """What went wrong, naming the request: the detail a failed check shows."""
    if isinstance(error, APIStatusError):
        request = error.response.request
        return f"{request.method} {request.url.path} answered {error.status_code}: {error.message}"
    if isinstance(error, ResponseValidationError):
        request = error.response.request
        return (
            f"{request.method} {request.url.path} answered {error.status_code} with a body "
            f"that breaks the contract: {error.message}"
        )
    return str(error)


def _ref_id(reference: object) -> str | None:
    """The id of a reference that may be an id string or a populated document."""
    if isinstance(reference, str):
        return reference
    found = getattr(reference, "id", None)
    return found if isinstance(found, str) else None


def _expected_percentage(completed: int, total: int) -> int:
    """``Math.round(100 * completed / total)``, 0 without tasks: the contract's rule."""
    return math.floor(100 * completed / total + 0.5) if total else 0


def _expect(problems: list[str], what: str, expected: object, seen: object) -> None:
    if expected != seen:
        problems.append(f"{what}: expected {expected!r}, saw {seen!r}")


def _fail_if(problems: Sequence[str]) -> None:
    if problems:
        raise CheckFailed("; ".join(problems))


@dataclass(frozen=True, slots=True)
class _Read(Generic[T]):
    """A read taken before a write, kept with its error so only the checks that need it fail."""

    what: str
    value: T | None = None
    error: str | None = None

    def get(self) -> T:
        if self.error is not None:
            raise CheckFailed(f"could not read {self.what} before the write: {self.error}")
        return cast(T, self.value)


def _read(what: str, fetch: Callable[[], T]) -> _Read[T]:
    try:
        return _Read(what, value=fetch())
    except GamifyError as error:
        return _Read(what, error=_describe(error))


@dataclass(frozen=True, slots=True)
class _Account:
    role: str
    user_id: str
    client: GamifyClient


@dataclass(frozen=True, slots=True)
class _Accounts:
    admin: _Account
    admin_code: str
    mentor: _Account
    users: tuple[_Account, ...]


@dataclass(frozen=True, slots=True)
class _TaskCreation:
    """A task the checker made; ``failure`` is the error the create answered although the
    task was written (the real service's 500)."""

    task: Task
    points: int
    result: MutationResult[Task] | None
    failure: APIStatusError | None


@dataclass(frozen=True, slots=True)
class _Created:
    creation: _TaskCreation
    dashboards_before: dict[str, _Read[Dashboard]]


@dataclass(frozen=True, slots=True)
class _Submitted:
    user: _Account
    task: Task
    points: int
    xp_before: _Read[int]
    dashboard_before: _Read[Dashboard]
    result: MutationResult[TaskSubmitOutcome]


@dataclass(frozen=True, slots=True)
class _Login:
    token: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None


class _Scenario:
    """The state one run builds up. Each setup step runs once, on first need; a failed step
    fails every check that needs it with the same detail, and the others still run."""

    def __init__(self, config: ClientConfig, http: httpx.Client, login: _Login) -> None:
        self.config = config
        self.http = http
        self.login = login
        self.run_id = f"{int(time.time()):x}{secrets.token_hex(3)}"
        self.password = secrets.token_urlsafe(12)
        self._liveness: httpx.Response | None = None
        self._clients: list[GamifyClient] = []
        self._outcomes: dict[str, object] = {}
        self._failures: dict[str, str] = {}
        self.created_task_ids: list[str] = []
        self.created_batch_id: str | None = None
        self.anonymous = self.client(None)

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def client(self, token: str | None) -> GamifyClient:
        """A client on the shared connection pool, closed with the scenario."""
        client = GamifyClient(config=self.config.replace(token=token), http_client=self.http)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def probe(self) -> httpx.Response:
        """``GET /``, asked once; no answer at all means the deployment cannot be checked."""
        if self._liveness is None:
            try:
                self._liveness = self.http.get(f"{self.base_url}/")
            except httpx.TransportError as error:
                reason = str(error) or type(error).__name__
                raise DeploymentUnreachableError(
                    f"cannot reach {self.base_url}: {reason}"
                ) from error
        return self._liveness

    def once(self, what: str, produce: Callable[[], T]) -> T:
        """Run the step ``what`` the first time it is needed; afterwards give its result, or
        fail again with its first failure."""
        if what in self._failures:
            raise CheckFailed(self._failures[what])
        if what not in self._outcomes:
            try:
                self._outcomes[what] = produce()
            except CheckFailed as failure:
                self._failures[what] = failure.detail
                raise
            except GamifyError as error:
                self._failures[what] = f"could not {what}: {_describe(error)}"
                raise CheckFailed(self._failures[what]) from error
        return cast(T, self._outcomes[what])

    def email(self, role: str) -> str:
        return f"gamify-check-{self.run_id}-{role}@example.com"

    def name(self, thing: str) -> str:
        return f"gamify check {self.run_id} {thing}"

    # Setup steps, each run at most once.

    def accounts(self) -> _Accounts:
        return self.once(_ACCOUNTS_STEP, self._make_accounts)

    def _make_accounts(self) -> _Accounts:
        admin = self._admin()
        profile = self.anonymous.users.get(admin.user_id)
        if profile.designation != "admin" or not profile.admin_id:
            raise CheckFailed(
                f"the admin account {admin.user_id} is a {profile.designation!r} with admin id "
                f"{profile.admin_id!r}; gamify check needs an admin (its users log in with its "
                "admin id)"
            )
        mentor = self._register_and_login("mentor", "mentor", parent_id=admin.user_id)
        users = tuple(
            self._register_and_login(
                f"user{number}", "user", parent_id=admin.user_id, admin_code=profile.admin_id
            )
            for number in range(1, _USER_COUNT + 1)
        )
        return _Accounts(admin=admin, admin_code=profile.admin_id, mentor=mentor, users=users)

    def _admin(self) -> _Account:
        if self.login.token is not None:
            user_id = token_user_id(self.login.token)
            if user_id is None:
                raise CheckFailed("the given token is not a JWT with an 'id' claim")
            return _Account("admin", user_id, self.client(self.login.token))
        client = self.client(None)
        if self.login.admin_email is not None and self.login.admin_password is not None:
            result = client.login(
                email=self.login.admin_email,
                password=self.login.admin_password,
                designation="admin",
            )
            return _Account("admin", result.user_id, client)
        return self._register_and_login("admin", "admin")

    def _register_and_login(
        self,
        role: str,
        designation: Designation,
        *,
        parent_id: str | None = None,
        admin_code: str | None = None,
    ) -> _Account:
        email = self.email(role)
        registered = self.anonymous.register(
            name=self.name(role),
            email=email,
            password=self.password,
            designation=designation,
            parent_id=parent_id,
        )
        client = self.client(None)
        client.login(
            email=email,
            password=self.password,
            designation=designation,
            admin_id=admin_code,
        )
        return _Account(role, registered.user_id, client)

    def batch(self) -> Batch:
        return self.once("create a batch", self._make_batch)

    def _make_batch(self) -> Batch:
        accounts = self.accounts()
        created = accounts.admin.client.batches.create(
            name=self.name("batch"),
            description="Made by gamify check; deleted when the run ends.",
            mentor=accounts.mentor.user_id,
            difficulty_level="Beginner",
            estimated_duration=1,
        )
        self.created_batch_id = created.data.id
        return created.data

    def category(self) -> Category:
        return self.once("create a category", self._make_category)

    def _make_category(self) -> Category:
        created = self.accounts().admin.client.categories.create(
            name=self.name("category"), emoji="✅", batch=self.batch().id
        )
        return created.data

    def create_task(self, thing: str, points: int) -> _TaskCreation:
        """Create a task in the batch; a 5xx answer is tolerated when the task was written
        anyway, as the real service's create does (a retry would make a duplicate)."""
        admin = self.accounts().admin.client
        name = self.name(thing)
        try:
            result = admin.tasks.create(
                name=name,
                description="A task made by gamify check.",
                details="Submit a link.",
                category=self.category().id,
                difficulty="Medium",
                batch=self.batch().id,
                points=points,
                submission_types=["Link", "Text Entry"],
            )
        except InternalServerError as error:
            written = [task for task in admin.tasks.list() if task.name == name]
            if not written:
                raise
            self.created_task_ids.extend(task.id for task in written)
            return _TaskCreation(written[0], points, None, error)
        self.created_task_ids.append(result.data.id)
        return _TaskCreation(result.data, points, result, None)

    def fillers(self) -> tuple[_TaskCreation, ...]:
        """Tasks in the batch before anyone enrols, so progress has entries to start with."""
        return self.once(
            "create the batch's first tasks",
            lambda: tuple(
                self.create_task(f"task {number}", points)
                for number, points in enumerate(_FILLER_POINTS, start=1)
            ),
        )

    def enrolled(self) -> tuple[_Account, ...]:
        return self.once("enrol the users", self._enrol)

    def _enrol(self) -> tuple[_Account, ...]:
        accounts, batch = self.accounts(), self.batch()
        self.fillers()
        for user in accounts.users:
            accounts.admin.client.batches.enroll(batch.id, user.user_id)
        return accounts.users

    def created(self) -> _Created:
        return self.once("create the checked task", self._make_checked_task)

    def _make_checked_task(self) -> _Created:
        users = self.enrolled()
        before = {
            user.user_id: _read("the dashboard", user.client.progress.dashboard) for user in users
        }
        creation = self.create_task("checked task", _TASK_POINTS)
        return _Created(creation, before)

    def task_count(self) -> int:
        """How many tasks the batch holds once the checked task exists."""
        return len(self.fillers()) + 1

    def submitted(self) -> _Submitted:
        return self.once("submit the checked task", self._submit)

    def _submit(self) -> _Submitted:
        creation = self.created().creation
        user = self.enrolled()[0]
        xp_before = _read("the user's XP", lambda: self.user_xp(user))
        dashboard_before = _read("the dashboard", user.client.progress.dashboard)
        result = user.client.tasks.submit(
            creation.task.id,
            user_id=user.user_id,
            submission_type="Link",
            value=_SUBMITTED_LINK,
        )
        return _Submitted(user, creation.task, creation.points, xp_before, dashboard_before, result)

    def clean_up(self) -> tuple[str, ...]:
        """Delete the tasks and the batch the run made; say what could not be deleted."""
        if _ACCOUNTS_STEP not in self._outcomes:
            return ()
        admin = self.accounts().admin.client
        problems: list[str] = []
        for task_id in self.created_task_ids:
            try:
                admin.tasks.delete(task_id)
            except GamifyError as error:
                problems.append(f"could not delete task {task_id}: {_describe(error)}")
        if self.created_batch_id is not None:
            try:
                admin.batches.delete(self.created_batch_id)
            except GamifyError as error:
                problems.append(
                    f"could not delete batch {self.created_batch_id}: {_describe(error)}"
                )
        return tuple(problems)

    # Reads shared by several checks.

    def user_xp(self, user: _Account) -> int:
        return self.anonymous.users.get(user.user_id).xps

    def progress_of(self, user: _Account) -> UserBatchProgress:
        admin = self.accounts().admin.client
        return admin.progress.user(user.user_id, self.batch().id)


def _entry(progress: UserBatchProgress, task_id: str) -> TaskProgress | None:
    return next((e for e in progress.task_progress if _ref_id(e.task_id) == task_id), None)


def _status(entry: TaskProgress | None) -> str:
    return entry.status if entry is not None else "no entry"


def _batch_entry(dashboard: Dashboard, batch_id: str) -> UserBatchProgress | None:
    return next((p for p in dashboard.batch_progress if _ref_id(p.batch_id) == batch_id), None)


_REGISTRY: list[Check] = []


def _check(
    name: str, proves: str
) -> Callable[[Callable[[_Scenario], str]], Callable[[_Scenario], str]]:
    def register(run: Callable[[_Scenario], str]) -> Callable[[_Scenario], str]:
        _REGISTRY.append(Check(name, proves, run))
        return run

    return register


# Reachability and auth.


@_check("liveness", f"GET / answers 200 with the text {LIVENESS_TEXT!r}.")
def _liveness(scenario: _Scenario) -> str:
    response = scenario.probe()
    text = response.text.strip()
    if response.status_code != 200 or text != LIVENESS_TEXT:
        raise CheckFailed(
            f"expected 200 {LIVENESS_TEXT!r}, saw {response.status_code} {text[:80]!r}"
        )
    return f"200 {text!r}"


_PROTECTED_ROUTES = ("/api/batches", "/api/batch-progress/dashboard/me")


def _statuses(scenario: _Scenario, headers: dict[str, str], expected: int, how: str) -> str:
    problems: list[str] = []
    for path in _PROTECTED_ROUTES:
        status = scenario.http.get(f"{scenario.base_url}{path}", headers=headers).status_code
        if status != expected:
            problems.append(f"GET {path} {how}: expected {expected}, saw {status}")
    _fail_if(problems)
    return f"{expected} from {', '.join(_PROTECTED_ROUTES)} {how}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _forged_token() -> str:
    """A well-formed HS256 JWT for a made-up superadmin, signed with a key no server knows."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "id": secrets.token_hex(12),
        "designation": "superadmin",
        "iat": now,
        "exp": now + 3600,
    }
    payload = _b64(json.dumps(claims).encode())
    key = secrets.token_bytes(32)
    signature = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


@_check("auth.no_token_401", "Protected routes answer 401 when no token is sent.")
def _no_token(scenario: _Scenario) -> str:
    return _statuses(scenario, {}, 401, "without a token")


@_check(
    "auth.bad_token_403",
    "Protected routes answer 403 to a malformed token and to a well-formed one with a "
    "forged signature (the server verifies signatures, not just the token's shape).",
)
def _bad_token(scenario: _Scenario) -> str:
    problems: list[str] = []
    for token, how in (
        ("not-a-token", "with a malformed token"),
        (_forged_token(), "with a forged token"),
    ):
        try:
            _statuses(scenario, {"Authorization": f"Bearer {token}"}, 403, how)
        except CheckFailed as failure:
            problems.append(failure.detail)
    _fail_if(problems)
    return "403 to a malformed and to a forged token"


# Batches.


@_check(
    "batch.create_reflected_in_batches",
    "A new batch shows at once in its admin's and its mentor's GET /api/batches and in "
    "GET /api/batches/:id.",
)
def _batch_created(scenario: _Scenario) -> str:
    accounts, batch = scenario.accounts(), scenario.batch()
    problems: list[str] = []
    for account in (accounts.admin, accounts.mentor):
        listed = [b.id for b in account.client.batches.list()]
        if batch.id not in listed:
            problems.append(
                f"the {account.role}'s GET /api/batches: expected it to list batch {batch.id}, "
                f"saw {len(listed)} batches without it"
            )
    fetched = scenario.anonymous.batches.get(batch.id)
    _expect(problems, "GET /api/batches/:id name", batch.name, fetched.name)
    _expect(
        problems, "GET /api/batches/:id mentor", accounts.mentor.user_id, _ref_id(fetched.mentor)
    )
    _fail_if(problems)
    return f"batch {batch.id} listed for its admin and mentor"


@_check(
    "batch.enroll_reflected_in_progress",
    "Enrolling a user creates their progress at once: one not_started entry per task of the "
    "batch and a milestone_reached activity; the batch lists them and their own "
    "GET /api/batches shows it.",
)
def _enrolled(scenario: _Scenario) -> str:
    users, batch = scenario.enrolled(), scenario.batch()
    task_ids = sorted(creation.task.id for creation in scenario.fillers())
    problems: list[str] = []
    for user in users:
        progress = scenario.progress_of(user)
        who = f"{user.role}'s progress"
        if progress.id is None:
            problems.append(f"{who}: expected a stored progress, saw the zeroed default")
            continue
        entries = sorted(filter(None, (_ref_id(e.task_id) for e in progress.task_progress)))
        _expect(problems, f"{who} task entries", task_ids, entries)
        statuses = {e.status for e in progress.task_progress}
        if statuses - {"not_started"}:
            problems.append(f"{who}: expected every entry not_started, saw {sorted(statuses)}")
        _expect(problems, f"{who} totalTasks", len(task_ids), progress.progress_metrics.total_tasks)
        actions = [a.action for a in progress.activity_log]
        if "milestone_reached" not in actions:
            problems.append(f"{who}: expected a milestone_reached activity, saw {actions}")
        if batch.id not in [b.id for b in user.client.batches.list()]:
            problems.append(
                f"the {user.role}'s GET /api/batches: expected batch {batch.id}, saw none"
            )
    members = {_ref_id(u) for u in scenario.anonymous.batches.get(batch.id).users}
    missing = [user.role for user in users if user.user_id not in members]
    if missing:
        problems.append(
            f"GET /api/batches/:id users: expected {missing} among them, saw {len(members)} users"
        )
    _fail_if(problems)
    return f"{len(users)} users with {len(task_ids)} not_started entries each"


# Task creation.


@_check(
    "task.create_succeeds",
    "POST /api/task/create answers success with the task. A create that fails after writing "
    "the task (the real service's 500) makes a retrying client create duplicates.",
)
def _create_succeeds(scenario: _Scenario) -> str:
    creation = scenario.created().creation
    if creation.failure is not None:
        raise CheckFailed(
            f"expected 201 with success: true and the task, saw {creation.failure.status_code} "
            f"{creation.failure.message!r}; yet the task was written (it is in GET /api/task/all "
            "as " + creation.task.id + "), so a client that retries this POST creates duplicates"
        )
    assert creation.result is not None
    body = creation.result.body
    success = body.get("success") if isinstance(body, dict) else None
    if success is not True:
        raise CheckFailed(f"expected success: true in the answer, saw {success!r}")
    return f"task {creation.task.id} created"


@_check(
    "task.create_reflected_in_tasks",
    "The new task is in GET /api/task/all exactly once, with its batch and points, and "
    "GET /api/task/:id answers it.",
)
def _create_in_tasks(scenario: _Scenario) -> str:
    creation = scenario.created().creation
    task, batch = creation.task, scenario.batch()
    everything = scenario.anonymous.tasks.list()
    same_name = [t for t in everything if t.name == task.name]
    listed = [t for t in everything if t.id == task.id]
    problems: list[str] = []
    if len(listed) != 1:
        problems.append(
            f"GET /api/task/all: expected task {task.id} once, saw it {len(listed)} times"
        )
    if len(same_name) > 1:
        problems.append(
            f"GET /api/task/all: expected one task named {task.name!r}, saw {len(same_name)}"
        )
    for shown in listed[:1]:
        _expect(problems, "its batch", batch.id, _ref_id(shown.batch))
        _expect(problems, "its points", creation.points, shown.points)
    fetched = scenario.anonymous.tasks.get(task.id)
    _expect(problems, "GET /api/task/:id name", task.name, fetched.name)
    _fail_if(problems)
    return f"task {task.id} listed once with batch and points"


@_check(
    "task.create_reflected_in_batch_progress",
    "The new task joins its batch at once, and every enrolled user's progress gains a "
    "not_started entry for it (GET /api/batch-progress/batch/:id).",
)
def _create_in_batch_progress(scenario: _Scenario) -> str:
    task, batch = scenario.created().creation.task, scenario.batch()
    users = scenario.enrolled()
    problems: list[str] = []
    batch_tasks = [_ref_id(t) for t in scenario.anonymous.batches.get(batch.id).tasks]
    if task.id not in batch_tasks:
        problems.append(
            f"GET /api/batches/:id tasks: expected {task.id} among them, saw {batch_tasks}"
        )
    report = scenario.anonymous.progress.batch(batch.id)
    students = {_ref_id(p.user_id): p for p in report.students_progress}
    for user in users:
        progress = students.get(user.user_id)
        if progress is None:
            problems.append(f"{user.role}: expected a row in studentsProgress, saw none")
            continue
        entry = _entry(progress, task.id)
        _expect(problems, f"{user.role}'s entry for the task", "not_started", _status(entry))
        _expect(
            problems,
            f"{user.role}'s totalTasks",
            scenario.task_count(),
            progress.progress_metrics.total_tasks,
        )
    _fail_if(problems)
    return f"task in the batch and in {len(users)} students' progress"


@_check(
    "task.create_reflected_in_every_dashboard",
    "Every enrolled user's dashboard shows the new task at once: one more task in "
    "overallStats and a not_started entry in the batch's progress.",
)
def _create_in_dashboards(scenario: _Scenario) -> str:
    created = scenario.created()
    task, batch = created.creation.task, scenario.batch()
    problems: list[str] = []
    for user in scenario.enrolled():
        before = created.dashboards_before[user.user_id].get()
        after = user.client.progress.dashboard()
        _expect(
            problems,
            f"{user.role}'s totalTasksAcrossAllBatches",
            before.overall_stats.total_tasks_across_all_batches + 1,
            after.overall_stats.total_tasks_across_all_batches,
        )
        progress = _batch_entry(after, batch.id)
        entry = _entry(progress, task.id) if progress is not None else None
        _expect(
            problems, f"{user.role}'s dashboard entry for the task", "not_started", _status(entry)
        )
    _fail_if(problems)
    return f"{len(created.dashboards_before)} dashboards show the task"


@_check(
    "task.create_real_time_data",
    "The create's realTimeData names the task, its batch, points and difficulty, and "
    "totalUsersAffected counts the enrolled users.",
)
def _create_real_time(scenario: _Scenario) -> str:
    creation = scenario.created().creation
    if creation.failure is not None or creation.result is None:
        raise CheckFailed(
            "expected realTimeData in the create's answer, saw none: the create answered "
            f"{creation.failure.status_code if creation.failure else '?'}"
        )
    real_time = creation.result.real_time
    if real_time is None:
        raise CheckFailed("expected realTimeData in the create's answer, saw none")
    problems: list[str] = []
    _expect(problems, "taskId", creation.task.id, real_time.task_id)
    _expect(problems, "taskName", creation.task.name, real_time.task_name)
    _expect(problems, "batchId", scenario.batch().id, real_time.batch_id)
    _expect(problems, "points", creation.points, real_time.points)
    _expect(problems, "difficulty", "Medium", real_time.difficulty)
    _expect(
        problems, "totalUsersAffected", len(scenario.enrolled()), real_time.total_users_affected
    )
    if real_time.created_at is None:
        problems.append("createdAt: expected a time, saw none")
    _fail_if(problems)
    return f"realTimeData for task {creation.task.id}, {real_time.total_users_affected} users"


# Task submission (POST /api/task/:id/submit).


@_check("submit.xp_updated", "Submitting a task raises the user's XP (GET /api/user/:id) at once.")
def _xp_updated(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    before, after = submitted.xp_before.get(), scenario.user_xp(submitted.user)
    if after <= before:
        raise CheckFailed(
            f"expected xps to grow from {before} by the task's {submitted.points} points to "
            f"{before + submitted.points}, saw {after}"
        )
    return f"xps {before} -> {after}"


@_check(
    "submit.xp_added_once",
    "The submit adds exactly the task's points to the user's XP, once (the real service "
    "adds them twice for a task in a batch).",
)
def _xp_once(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    before, after = submitted.xp_before.get(), scenario.user_xp(submitted.user)
    gained, points = after - before, submitted.points
    if gained != points:
        times = f" (the points were added {gained / points:g} times)" if points else ""
        raise CheckFailed(
            f"expected xps {before} + {points} = {before + points}, saw {after}{times}"
        )
    return f"+{gained} XP for a {points}-point task"


@_check(
    "submit.streak",
    "After a first completion today, the user's dashboard shows a currentStreak of 1.",
)
def _streak(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    dashboard = submitted.user.client.progress.dashboard()
    streak = dashboard.overall_stats.current_streak
    if streak != 1:
        raise CheckFailed(
            "expected overallStats.currentStreak 1 (one completion, today, by a new user), "
            f"saw {streak}"
        )
    return "currentStreak 1"


@_check(
    "submit.completion_percentage",
    "The user's batch progress marks the task completed and recomputes its metrics: "
    "completionPercentage = round(100 * completed / total).",
)
def _completion(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    progress = scenario.progress_of(submitted.user)
    metrics, total = progress.progress_metrics, scenario.task_count()
    problems: list[str] = []
    entry = _entry(progress, submitted.task.id)
    _expect(problems, "the task's entry", "completed", _status(entry))
    _expect(problems, "completedTasks", 1, metrics.completed_tasks)
    _expect(problems, "totalTasks", total, metrics.total_tasks)
    _expect(
        problems,
        "completionPercentage",
        _expected_percentage(1, total),
        metrics.completion_percentage,
    )
    _expect(problems, "totalPointsEarned", submitted.points, metrics.total_points_earned)
    _fail_if(problems)
    return f"1/{total} tasks, {metrics.completion_percentage:g}%"


@_check(
    "submit.activity_logged",
    "The submit logs a task_completed activity, in the user's progress and in "
    "GET /api/batch-progress/activity/:batchId.",
)
def _activity(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    task_id = submitted.task.id
    problems: list[str] = []
    logged = [
        a
        for a in scenario.progress_of(submitted.user).activity_log
        if _ref_id(a.task_id) == task_id
    ]
    actions = [a.action for a in logged]
    if "task_completed" not in actions:
        problems.append(
            f"the user's activityLog: expected task_completed for the task, saw {actions}"
        )
    feed = scenario.anonymous.progress.activity(scenario.batch().id)
    if not any(a.action == "task_completed" and _ref_id(a.task_id) == task_id for a in feed):
        problems.append(
            f"the batch's activity feed: expected task_completed for the task, saw {len(feed)} "
            "activities without it"
        )
    _fail_if(problems)
    return "task_completed in the progress and the batch feed"


@_check(
    "submit.real_time_data",
    "The submit's realTimeData carries the new state: taskStatus, ids, pointsEarned, "
    "newTotalXP (matching the stored XP), currentStreak and the batch progress summary.",
)
def _submit_real_time(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    body = submitted.result.body
    raw = body.get("realTimeData") if isinstance(body, dict) else None
    real_time = submitted.result.real_time
    if not isinstance(raw, dict) or real_time is None:
        raise CheckFailed("expected realTimeData in the submit's answer, saw none")
    problems: list[str] = []
    _expect(problems, "taskStatus", "completed", real_time.task_status)
    _expect(problems, "taskId", submitted.task.id, real_time.task_id)
    _expect(problems, "batchId", scenario.batch().id, real_time.batch_id)
    _expect(problems, "userId", submitted.user.user_id, real_time.user_id)
    _expect(problems, "pointsEarned", submitted.points, real_time.points_earned)
    _expect(
        problems,
        "newTotalXP (the stored xps)",
        scenario.user_xp(submitted.user),
        real_time.new_total_xp,
    )
    if "currentStreak" not in raw:
        problems.append("currentStreak: expected 1, saw no currentStreak at all")
    else:
        _expect(problems, "currentStreak", 1, real_time.current_streak)
    total = scenario.task_count()
    summary = real_time.batch_progress
    shown = (
        None
        if summary is None
        else (
            summary.completed_tasks,
            summary.total_tasks,
            summary.completion_percentage,
            summary.total_points_earned,
        )
    )
    _expect(
        problems,
        "batchProgress (completed, total, percentage, points)",
        (1, total, _expected_percentage(1, total), submitted.points),
        shown,
    )
    _fail_if(problems)
    return "realTimeData complete, currentStreak included"


@_check(
    "submit.reflected_in_dashboard",
    "The user's dashboard shows the submit at once: XP equal to the stored xps, one more "
    "completed task, the submission among recentSubmissions, the task's entry completed.",
)
def _submit_in_dashboard(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    before = submitted.dashboard_before.get()
    after = submitted.user.client.progress.dashboard()
    xps, task_id = scenario.user_xp(submitted.user), submitted.task.id
    problems: list[str] = []
    _expect(problems, "overallStats.userTotalXP", xps, after.overall_stats.user_total_xp)
    _expect(problems, "userProfile.totalXP", xps, after.user_profile.total_xp)
    _expect(
        problems,
        "overallStats.totalCompletedTasks",
        before.overall_stats.total_completed_tasks + 1,
        after.overall_stats.total_completed_tasks,
    )
    if not any(_ref_id(s.task_id) == task_id for s in after.recent_submissions):
        problems.append("recentSubmissions: expected the submission, saw it missing")
    progress = _batch_entry(after, scenario.batch().id)
    entry = _entry(progress, task_id) if progress is not None else None
    _expect(problems, "the task's entry", "completed", _status(entry))
    _fail_if(problems)
    return f"dashboard shows {xps} XP and the completion"


@_check(
    "submit.reflected_in_batch_progress",
    "The batch's progress (GET /api/batch-progress/batch/:id) shows the user's completion "
    "at once, with the most complete student first.",
)
def _submit_in_batch(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    students = scenario.anonymous.progress.batch(scenario.batch().id).students_progress
    problems: list[str] = []
    order = [_ref_id(p.user_id) for p in students]
    if not order or order[0] != submitted.user.user_id:
        problems.append(f"studentsProgress order: expected the submitting user first, saw {order}")
    row = next((p for p in students if _ref_id(p.user_id) == submitted.user.user_id), None)
    if row is None:
        problems.append("studentsProgress: expected a row for the submitting user, saw none")
    else:
        _expect(problems, "the user's completedTasks", 1, row.progress_metrics.completed_tasks)
        entry = _entry(row, submitted.task.id)
        _expect(problems, "the user's entry for the task", "completed", _status(entry))
    _fail_if(problems)
    return "the submitting user leads the batch with 1 completed task"


@_check(
    "submit.second_submit_rejected",
    "Submitting the same task again answers 400 'Task already submitted' and earns no XP.",
)
def _second_submit(scenario: _Scenario) -> str:
    submitted = scenario.submitted()
    user, before = submitted.user, scenario.user_xp(submitted.user)
    try:
        user.client.tasks.submit(
            submitted.task.id, user_id=user.user_id, submission_type="Link", value=_SUBMITTED_LINK
        )
    except BadRequestError as error:
        after = scenario.user_xp(user)
        problems: list[str] = []
        if "already submitted" not in error.message.lower():
            problems.append(f"message: expected 'Task already submitted', saw {error.message!r}")
        _expect(problems, "xps after the refused submit", before, after)
        _fail_if(problems)
        return f"400 {error.message!r}, xps unchanged at {after}"
    after = scenario.user_xp(user)
    raise CheckFailed(
        "expected 400 'Task already submitted', saw the second submit accepted "
        f"(xps {before} -> {after})"
    )


# The other submit route (POST /api/batch-progress/submit-task).


@_check(
    "progress_submit.updates_xp_and_progress",
    "POST /api/batch-progress/submit-task adds the task's points once, marks the task "
    "completed with its grade, and answers realTimeData with currentStreak 1.",
)
def _progress_submit(scenario: _Scenario) -> str:
    creation, batch = scenario.created().creation, scenario.batch()
    user = scenario.enrolled()[1]
    before = scenario.user_xp(user)
    result = user.client.progress.submit_task(
        user_id=user.user_id, task_id=creation.task.id, batch_id=batch.id, grade=_GRADE
    )
    after = scenario.user_xp(user)
    problems: list[str] = []
    _expect(problems, "xps", before + creation.points, after)
    real_time = result.real_time
    if real_time is None:
        problems.append("realTimeData: expected currentStreak and newTotalXP, saw no realTimeData")
    else:
        _expect(problems, "realTimeData.currentStreak", 1, real_time.current_streak)
        _expect(problems, "realTimeData.newTotalXP", after, real_time.new_total_xp)
    progress = scenario.progress_of(user)
    entry = _entry(progress, creation.task.id)
    _expect(problems, "the task's entry", "completed", _status(entry))
    _expect(problems, "the task's grade", _GRADE, entry.grade if entry is not None else None)
    total = scenario.task_count()
    _expect(
        problems,
        "completionPercentage",
        _expected_percentage(1, total),
        progress.progress_metrics.completion_percentage,
    )
    _fail_if(problems)
    return f"xps {before} -> {after}, graded {_GRADE}"


CHECKS: tuple[Check, ...] = tuple(_REGISTRY)
"""Every check, in the order :func:`run_checks` runs them."""


def _select(names: Iterable[str] | None) -> tuple[Check, ...]:
    if names is None:
        return CHECKS
    wanted = set(names)
    unknown = wanted - {check.name for check in CHECKS}
    if unknown:
        known = ", ".join(check.name for check in CHECKS)
        raise ValueError(f"unknown check(s) {sorted(unknown)}; known: {known}")
    # The order stays the registry's: later checks read state that earlier writes made.
    return tuple(check for check in CHECKS if check.name in wanted)


def _run_one(check: Check, scenario: _Scenario) -> CheckResult:
    started = time.perf_counter()
    try:
        seen = check.run(scenario)
    except CheckFailed as failure:
        return CheckResult(check.name, False, failure.detail, time.perf_counter() - started)
    except GamifyError as error:
        return CheckResult(check.name, False, _describe(error), time.perf_counter() - started)
    except httpx.TransportError as error:
        detail = f"no answer from {scenario.base_url}: {error or type(error).__name__}"
        return CheckResult(check.name, False, detail, time.perf_counter() - started)
    return CheckResult(check.name, True, seen, time.perf_counter() - started)


def run_checks(
    base_url: str,
    *,
    token: str | None = None,
    admin_email: str | None = None,
    admin_password: str | None = None,
    timeout: float = 10.0,
    checks: Iterable[str] | None = None,
    cleanup: bool = True,
    http_client: httpx.Client | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> CheckReport:
    """Run the checks (all, or those named in ``checks``) against ``base_url``.

    By default the run registers its own throwaway accounts; pass an admin's ``token``, or
    ``admin_email`` and ``admin_password``, to act as that admin instead. ``on_result`` is
    called after each check. With ``cleanup`` the tasks and batch the run made are deleted
    at the end. Raises :class:`DeploymentUnreachableError` when ``GET /`` gets no HTTP answer,
    and ``ValueError`` for contradictory options, an unknown check or a malformed URL.
    """
    if (admin_email is None) != (admin_password is None):
        raise ValueError("admin_email and admin_password go together")
    if token is not None and admin_email is not None:
        raise ValueError("give either a token or an admin email and password, not both")
    selected = _select(checks)
    config = ClientConfig(
        base_url=base_url, timeout=timeout, max_retries=0, task_completion_delay=0
    )
    http = http_client or httpx.Client(timeout=timeout)
    started = time.perf_counter()
    scenario = _Scenario(config, http, _Login(token, admin_email, admin_password))
    try:
        scenario.probe()
        results = []
        for check in selected:
            result = _run_one(check, scenario)
            results.append(result)
            if on_result is not None:
                on_result(result)
        problems = scenario.clean_up() if cleanup else ()
    finally:
        scenario.close()
        if http_client is None:
            http.close()
    return CheckReport(config.base_url, tuple(results), time.perf_counter() - started, problems)
