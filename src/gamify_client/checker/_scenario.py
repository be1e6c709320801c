"""The data one run builds up: accounts, a batch, a category, tasks, an enrolment and a
submit, and the fresh learners of the later checks. Each piece is made once, on first need,
so a check runs only the setup it needs; a failed step fails every check that needs it with
the same detail, and the others still run. Check modules add steps of their own through
:meth:`Scenario.once`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import APIStatusError, GamifyError, InternalServerError
from ..models import (
    Batch,
    Category,
    Dashboard,
    MutationResult,
    Task,
    TaskSubmitOutcome,
    UserBatchProgress,
)
from ._accounts import Account, Accounts, make_accounts, register_user
from ._failures import describe
from ._lookups import ref_id
from ._session import Session
from ._steps import Read, Steps, read

T = TypeVar("T")

_TASK_POINTS = 120
_FILLER_POINTS = (40, 60)
_SUBMITTED_LINK = "https://example.com/gamify-check"
_ACCOUNTS_STEP = "set up the admin, mentor and user accounts"


@dataclass(frozen=True, slots=True)
class TaskCreation:
    """A task the checker made; ``failure`` is the error the create answered although the
    task was written (the real service's 500)."""

    task: Task
    points: int
    result: MutationResult[Task] | None
    failure: APIStatusError | None


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An enrolment the checker asked for; ``failure`` is the error the enrol answered
    although the user was enrolled (the real service's 500)."""

    user: Account
    result: MutationResult[Batch] | None
    failure: APIStatusError | None


@dataclass(frozen=True, slots=True)
class Created:
    """The checked task's creation, and each enrolled user's dashboard read just before it."""

    creation: TaskCreation
    dashboards_before: dict[str, Read[Dashboard]]


@dataclass(frozen=True, slots=True)
class Submitted:
    """The checked task's submit by the first user, with what was read just before it."""

    user: Account
    task: Task
    points: int
    xp_before: Read[int]
    dashboard_before: Read[Dashboard]
    result: MutationResult[TaskSubmitOutcome]


class Scenario:
    """What the checks read and write through: the session and the lazily made data, which
    :meth:`clean_up` deletes at the end."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.anonymous = session.anonymous
        self._steps = Steps()
        self.created_task_ids: list[str] = []
        self.created_category_ids: list[str] = []
        self.created_batch_id: str | None = None

    # Setup steps, each run at most once.

    def once(self, what: str, produce: Callable[[], T]) -> T:
        """Run the setup step ``what`` the first time a check needs it; afterwards give its
        result, or fail again with its first failure."""
        return self._steps.once(what, produce)

    def learner(self, role: str) -> Account:
        """A fresh user registered under the run's admin for one family of checks, so what
        those checks count (feedback, grades, batches) is theirs alone."""
        return self.once(
            f"register the {role}",
            lambda: register_user(self.session, self.accounts(), role),
        )

    def accounts(self) -> Accounts:
        """The admin, mentor and users."""
        return self._steps.once(_ACCOUNTS_STEP, lambda: make_accounts(self.session))

    def batch(self) -> Batch:
        """The run's batch, mentored by its mentor."""
        return self._steps.once("create a batch", self._make_batch)

    def _make_batch(self) -> Batch:
        accounts = self.accounts()
        created = accounts.admin.client.batches.create(
            name=self.session.name("batch"),
            description="Made by gamify check; deleted when the run ends.",
            mentor=accounts.mentor.user_id,
            difficulty_level="Beginner",
            estimated_duration=1,
        )
        self.created_batch_id = created.data.id
        return created.data

    def category(self) -> Category:
        """The run's category, in its batch."""
        return self._steps.once("create a category", self._make_category)

    def _make_category(self) -> Category:
        created = self.accounts().admin.client.categories.create(
            name=self.session.name("category"), emoji="✅", batch=self.batch().id
        )
        self.created_category_ids.append(created.data.id)
        return created.data

    def create_task(self, thing: str, points: int) -> TaskCreation:
        """Create a task in the batch; a 5xx answer is tolerated when the task was written
        anyway, as the real service's create does (a retry would make a duplicate)."""
        admin = self.accounts().admin.client
        name = self.session.name(thing)
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
            return TaskCreation(written[0], points, None, error)
        self.created_task_ids.append(result.data.id)
        return TaskCreation(result.data, points, result, None)

    def fillers(self) -> tuple[TaskCreation, ...]:
        """Tasks in the batch before anyone enrols, so progress has entries to start with."""
        return self._steps.once(
            "create the batch's first tasks",
            lambda: tuple(
                self.create_task(f"task {number}", points)
                for number, points in enumerate(_FILLER_POINTS, start=1)
            ),
        )

    def enrolled(self) -> tuple[Account, ...]:
        """The users, enrolled in the batch after its first tasks exist."""
        return self._steps.once("enrol the users", self._enrol)

    def _enrol(self) -> tuple[Account, ...]:
        accounts = self.accounts()
        self.fillers()
        for user in accounts.users:
            self.enrol(accounts.admin, user)
        return accounts.users

    def enrol(self, enroller: Account, user: Account) -> Enrolment:
        """Enrol ``user`` in the batch at ``enroller``'s request; a 5xx answer is tolerated
        when the user was enrolled anyway, as the real service's enrol does (a retry would
        answer 400 'User is already enrolled in this batch')."""
        batch = self.batch()
        try:
            result = enroller.client.batches.enroll(batch.id, user.user_id)
        except InternalServerError as error:
            members = {ref_id(member) for member in self.anonymous.batches.get(batch.id).users}
            if user.user_id not in members:
                raise
            return Enrolment(user, None, error)
        return Enrolment(user, result, None)

    def enrolled_learner(self, role: str) -> Account:
        """A fresh user (see :meth:`learner`) whom the admin enrolled in the batch once its
        first tasks exist."""

        def enrol_learner() -> Account:
            self.fillers()
            return self.enrol(self.accounts().admin, self.learner(role)).user

        return self.once(f"enrol the {role}", enrol_learner)

    def created(self) -> Created:
        """The checked task, created after the users enrolled."""
        return self._steps.once("create the checked task", self._make_checked_task)

    def _make_checked_task(self) -> Created:
        users = self.enrolled()
        before = {
            user.user_id: read("the dashboard", user.client.progress.dashboard) for user in users
        }
        creation = self.create_task("checked task", _TASK_POINTS)
        return Created(creation, before)

    def task_count(self) -> int:
        """How many tasks the batch holds once the checked task exists."""
        return len(self.fillers()) + 1

    def submitted(self) -> Submitted:
        """The checked task, submitted by the first user."""
        return self._steps.once("submit the checked task", self._submit)

    def _submit(self) -> Submitted:
        creation = self.created().creation
        user = self.enrolled()[0]
        xp_before = read("the user's XP", lambda: self.user_xp(user))
        dashboard_before = read("the dashboard", user.client.progress.dashboard)
        result = submit_link(user, creation.task.id)
        return Submitted(user, creation.task, creation.points, xp_before, dashboard_before, result)

    def clean_up(self) -> tuple[str, ...]:
        """Delete the tasks, categories and batch the run made; say what could not be
        deleted."""
        if not self._steps.succeeded(_ACCOUNTS_STEP):
            return ()
        admin = self.accounts().admin.client
        made: list[tuple[str, str, Callable[[str], object]]] = [
            ("task", task_id, admin.tasks.delete) for task_id in self.created_task_ids
        ]
        # After the tasks: a category delete deletes its tasks first, which would make the
        # task deletes above answer 404.
        made.extend(
            ("category", category_id, admin.categories.delete)
            for category_id in self.created_category_ids
        )
        if self.created_batch_id is not None:
            made.append(("batch", self.created_batch_id, admin.batches.delete))
        problems: list[str] = []
        for kind, made_id, delete in made:
            try:
                delete(made_id)
            except GamifyError as error:
                problems.append(f"could not delete {kind} {made_id}: {describe(error)}")
        return tuple(problems)

    # Reads shared by several checks.

    def user_xp(self, user: Account) -> int:
        """The user's stored XP (``GET /api/user/:id``)."""
        return self.anonymous.users.get(user.user_id).xps

    def progress_of(self, user: Account) -> UserBatchProgress:
        """The user's progress in the batch, as the admin reads it."""
        admin = self.accounts().admin.client
        return admin.progress.user(user.user_id, self.batch().id)


def submit_link(user: Account, task_id: str) -> MutationResult[TaskSubmitOutcome]:
    """Submit the task as ``user`` with the run's link (``POST /api/task/:id/submit``)."""
    return user.client.tasks.submit(
        task_id, user_id=user.user_id, submission_type="Link", value=_SUBMITTED_LINK
    )
