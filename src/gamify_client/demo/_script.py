"""The scripted day: nine scenes by five people, each with the views it must reach. The
eighth is made offline and waits in the user's outbox until they are back; the ninth is a
conflict: the admin renames a task offline while the mentor renames it online.

A step's expectations are computed from what the views show just before it runs (XP,
completed tasks, task counts, a task's name), so each one names a value the view can only
reach through that write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..client import GamifyClient
from ..errors import APITimeoutError
from ..events import Event, EventManager
from ..keys import CacheKey
from ..models import BatchProgressReport, Dashboard, ProgressMetrics, Task, ref_id
from ..optimistic import OptimisticConflict
from ..outbox import WriteQueued
from ..resources.tasks import SubmissionType
from ..testing import DemoData
from ._session import DemoSession, Learner
from ._tracker import EventExpectation, Expectation, Sight

Shows = Callable[[Any], bool]
V = TypeVar("V")

_REPLAY_DEADLINE = 10.0
"""How long a write queued offline gets to be replayed once its user is back (seconds)."""

_CONFLICT_DEADLINE = 5.0
"""How long the admin stays offline, at most, waiting for the mentor's rename to reach the
views and contradict her prediction (seconds); she comes back on the conflict."""

ADMIN_RENAME = "Churn analysis"
MENTOR_RENAME = "Why customers leave"
"""The two names the conflict scene gives "Churn case study", offline and online."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the day: what the screen says, the summary's name for it, its write (or
    the writes of a scene, like the conflict's two edits), and the views it must reach and
    events it must cause (asked just before it runs)."""

    title: str
    label: str
    run: Callable[[], object]
    expect: Callable[[], Sequence[Expectation | EventExpectation]]


# Reading the views' data


def _in_batch(dashboard: object, batch_id: str) -> ProgressMetrics | None:
    if not isinstance(dashboard, Dashboard):
        return None
    for progress in dashboard.batch_progress:
        if ref_id(progress.batch_id) == batch_id:
            return progress.progress_metrics
    return None


def _student(report: object, user_id: str) -> ProgressMetrics | None:
    if not isinstance(report, BatchProgressReport):
        return None
    for progress in report.students_progress:
        if ref_id(progress.user_id) == user_id:
            return progress.progress_metrics
    return None


def _task(tasks: object, task_id: str) -> Task | None:
    if not isinstance(tasks, list):
        return None
    return next((task for task in tasks if isinstance(task, Task) and task.id == task_id), None)


def _name(tasks: object, task_id: str) -> str | None:
    task = _task(tasks, task_id)
    return None if task is None else task.name


def _completions(tasks: object, task_id: str) -> int | None:
    task = _task(tasks, task_id)
    return None if task is None else task.completed_count


def _points(tasks: object, task_id: str) -> int | None:
    task = _task(tasks, task_id)
    return None if task is None else task.points


def _batch_users(batches: object, batch_id: str) -> int | None:
    if not isinstance(batches, list):
        return None
    for batch in batches:
        if ref_id(batch) == batch_id:
            return len(batch.users)
    return None


def _xp(dashboard: object) -> int | None:
    return dashboard.overall_stats.user_total_xp if isinstance(dashboard, Dashboard) else None


def _batch_count(dashboard: object) -> int | None:
    return dashboard.overall_stats.total_batches if isinstance(dashboard, Dashboard) else None


def _completed(metrics: ProgressMetrics | None) -> int | None:
    return None if metrics is None else metrics.completed_tasks


def _total(metrics: ProgressMetrics | None) -> int | None:
    return None if metrics is None else metrics.total_tasks


def _required(value: V | None, what: str) -> V:
    if value is None:
        raise RuntimeError(f"the demo's views do not show {what}")
    return value


# What a view must show after a write


def _batch_total_is(batch_id: str, total: int) -> Shows:
    return lambda dashboard: _total(_in_batch(dashboard, batch_id)) == total


def _every_student_total_is(totals: dict[str, int]) -> Shows:
    return lambda report: all(
        _total(_student(report, user_id)) == total for user_id, total in totals.items()
    )


def _task_count_is(count: int) -> Shows:
    return lambda tasks: isinstance(tasks, list) and len(tasks) == count


def _xp_and_completed_are(batch_id: str, xp: int, completed: int) -> Shows:
    return lambda dashboard: (
        _xp(dashboard) == xp and _completed(_in_batch(dashboard, batch_id)) == completed
    )


def _student_completed_is(user_id: str, completed: int) -> Shows:
    return lambda report: _completed(_student(report, user_id)) == completed


def _completions_are(task_id: str, count: int) -> Shows:
    return lambda tasks: _completions(tasks, task_id) == count


def _batch_count_is(count: int) -> Shows:
    return lambda batches: isinstance(batches, list) and len(batches) == count


def _enrolled_batches_are(count: int) -> Shows:
    return lambda dashboard: _batch_count(dashboard) == count


def _batch_users_are(batch_id: str, count: int) -> Shows:
    return lambda batches: _batch_users(batches, batch_id) == count


def _named(task_id: str, name: str) -> Shows:
    return lambda tasks: _name(tasks, task_id) == name


def _conflict_on_tasks(payload: Any) -> bool:
    return (
        isinstance(payload, OptimisticConflict)
        and payload.mutation == "tasks.edit"
        and payload.key == CacheKey.TASKS
    )


class _Conflicts:
    """Listens for ``optimisticConflict`` on the task list while the ``with`` block runs, so a
    step can wait for one instead of guessing how long it takes."""

    def __init__(self, events: EventManager) -> None:
        self._events = events
        self._seen = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None

    def _heard(self, payload: Any) -> None:
        if _conflict_on_tasks(payload):
            self._seen.set()

    def __enter__(self) -> _Conflicts:
        self._unsubscribe = self._events.subscribe(Event.OPTIMISTIC_CONFLICT, self._heard)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def wait(self, timeout: float) -> bool:
        """True once a conflict on the task list was emitted; False after ``timeout``."""
        return self._seen.wait(timeout)


def _offline(
    client: GamifyClient, write: Callable[[], object], meanwhile: Callable[[], None] | None = None
) -> None:
    """Make ``write`` with ``client`` offline (it waits in the outbox, shown optimistically),
    run ``meanwhile`` while the client is still offline, then come back and wait (up to
    :data:`_REPLAY_DEADLINE`) until the outbox replayed the write."""
    client.set_online(False)
    try:
        try:
            write()
        except WriteQueued as queued:
            pending = queued.pending
        else:
            return
        if meanwhile is not None:
            meanwhile()
    finally:
        client.set_online(True)
    try:
        pending.result(timeout=_REPLAY_DEADLINE)
    except TimeoutError:
        raise APITimeoutError(
            f"the queued {pending.write} (operation {pending.operation_id}) was not replayed "
            f"within {_REPLAY_DEADLINE} s"
        ) from None


class DemoDay:
    """The day's steps, played against a :class:`DemoSession` on the seeded backend."""

    def __init__(
        self, session: DemoSession, seed: DemoData, pause: Callable[[], None] = lambda: None
    ) -> None:
        self._session = session
        self._seed = seed
        # Within a scene of several moves, for a person to follow each; nothing waits on it.
        self._pause = pause
        self._new_task_id: str | None = None
        self._evening_batch_id: str | None = None

    def steps(self) -> tuple[Step, ...]:
        """The steps, in order; a later step uses what an earlier one created."""
        admin = self._session.admin.name
        mentor = self._session.mentor.name
        uma, leo, ivy = self._session.learners
        landing, rest_client, sales, churn = self._seed.task_ids[:4]
        return (
            Step(
                f'{admin} creates the task "Ship a release" (150 XP) in Demo Cohort',
                "task created",
                self._create_task,
                self._expect_task_created,
            ),
            Step(
                f'{uma.name} submits "Ship a release" as a link (task route)',
                f"{uma.name} submits (task route)",
                lambda: self._submit(
                    uma, self._created_task(), "Link", "https://example.com/releases/1.0"
                ),
                lambda: self._expect_completion(uma, self._created_task()),
            ),
            Step(
                f'{leo.name} completes "Landing page", graded 90 (progress route)',
                f"{leo.name} completes (progress route)",
                lambda: self._complete(leo, landing, 90),
                lambda: self._expect_completion(leo, landing),
            ),
            Step(
                f'{admin} opens a second batch, "Evening Cohort"',
                "batch created",
                self._create_batch,
                self._expect_batch_created,
            ),
            Step(
                f"{admin} enrols {ivy.name} in Evening Cohort",
                f"{ivy.name} enrolled",
                lambda: self._session.admin.client.batches.enroll(
                    self._evening_batch(), ivy.user_id
                ),
                lambda: self._expect_enrolled(ivy),
            ),
            Step(
                f'{ivy.name} submits "REST client" as text (task route)',
                f"{ivy.name} submits (task route)",
                lambda: self._submit(
                    ivy, rest_client, "Text Entry", "Called the API and rendered a table."
                ),
                lambda: self._expect_completion(ivy, rest_client),
            ),
            Step(
                f'{uma.name} completes "Sales dashboard", graded 95 (progress route)',
                f"{uma.name} completes (progress route)",
                lambda: self._complete(uma, sales, 95),
                lambda: self._expect_completion(uma, sales),
            ),
            Step(
                f'{leo.name} goes offline, submits "REST client" (kept in the outbox), and '
                "comes back: the outbox replays it",
                f"{leo.name} submits offline, replayed",
                lambda: self._submit_offline(
                    leo, rest_client, "Written on the train, sent when back online."
                ),
                lambda: self._expect_completion(leo, rest_client),
            ),
            Step(
                f'{admin} renames "Churn case study" offline while {mentor} renames it '
                "online: a conflict",
                f"{admin} and {mentor} rename a task: conflict",
                lambda: self._rename_in_conflict(churn),
                lambda: self._expect_conflict_settled(churn),
            ),
        )

    def _created_task(self) -> str:
        if self._new_task_id is None:
            raise RuntimeError("the task-creating step has not run")
        return self._new_task_id

    def _evening_batch(self) -> str:
        if self._evening_batch_id is None:
            raise RuntimeError("the batch-creating step has not run")
        return self._evening_batch_id

    # The writes

    def _create_task(self) -> None:
        created = self._session.admin.client.tasks.create(
            name="Ship a release",
            description="Tag, build and publish a version",
            details="Write the changelog entry too.",
            category=self._seed.category_ids[0],
            difficulty="Medium",
            batch=self._seed.batch_id,
            points=150,
            submission_types=["Link", "Text Entry"],
        )
        self._new_task_id = created.data.id

    def _submit(
        self, learner: Learner, task_id: str, submission_type: SubmissionType, value: str
    ) -> None:
        learner.client.tasks.submit(
            task_id, user_id=learner.user_id, submission_type=submission_type, value=value
        )

    def _submit_offline(self, learner: Learner, task_id: str, value: str) -> None:
        """Offline, the submission is kept on disk and the call says so; back online, the
        client replays it on its own (on a background worker) and the views follow."""
        _offline(learner.client, lambda: self._submit(learner, task_id, "Text Entry", value))

    def _rename_in_conflict(self, task_id: str) -> None:
        """The admin renames the task offline (queued; every board shows her name at once,
        marked optimistic). The mentor renames it online: his answer invalidates the task
        list, its refetch contradicts her prediction and the boards show his name
        (``optimisticConflict``). She comes back once that happened; her outbox replays her
        edit, which reaches the server last and so wins (a task edit's rule: last writer
        wins), and the boards refetch it."""
        admin = self._session.admin.client
        mentor = self._session.mentor.client

        def rival_rename() -> None:
            self._pause()
            with _Conflicts(self._session.events) as conflicts:
                mentor.tasks.edit(task_id, name=MENTOR_RENAME)
                # Back online before the refetch landed, her replay could win the race and
                # there would be no conflict to see; past the deadline the summary says so.
                conflicts.wait(_CONFLICT_DEADLINE)
            self._pause()

        _offline(admin, lambda: admin.tasks.edit(task_id, name=ADMIN_RENAME), rival_rename)

    def _complete(self, learner: Learner, task_id: str, grade: int) -> None:
        learner.client.progress.submit_task(
            user_id=learner.user_id, task_id=task_id, batch_id=self._seed.batch_id, grade=grade
        )

    def _create_batch(self) -> None:
        created = self._session.admin.client.batches.create(
            name="Evening Cohort",
            description="The same course, after work",
            mentor=self._seed.mentor.id,
            difficulty_level="Beginner",
            estimated_duration=8,
        )
        self._evening_batch_id = created.data.id

    # The views each write must reach

    def _expect_task_created(self) -> list[Expectation]:
        batch_id = self._seed.batch_id
        progress = self._session.admin.progress
        expectations: list[Expectation] = []
        totals: dict[str, int] = {}
        for learner in self._session.learners:
            before = _total(_student(progress.query.data, learner.user_id))
            totals[learner.user_id] = _required(before, f"{learner.name}'s tasks") + 1
            expectations.append(
                Expectation(learner.dashboard, _batch_total_is(batch_id, totals[learner.user_id]))
            )
        expectations.append(Expectation(progress, _every_student_total_is(totals)))
        expectations += [
            Expectation(learner.board, _task_count_is(len(learner.board.query.data or []) + 1))
            for learner in self._session.learners
        ]
        return expectations

    def _expect_completion(self, learner: Learner, task_id: str) -> list[Expectation]:
        batch_id = self._seed.batch_id
        dashboard = learner.dashboard.query.data
        progress = self._session.admin.progress
        points = _required(_points(learner.board.query.data, task_id), "the task's points")
        xp = _required(_xp(dashboard), f"{learner.name}'s XP")
        completed = _required(_completed(_in_batch(dashboard, batch_id)), "completed tasks")
        student = _completed(_student(progress.query.data, learner.user_id))
        expectations = [
            Expectation(
                learner.dashboard, _xp_and_completed_are(batch_id, xp + points, completed + 1)
            ),
            Expectation(
                progress,
                _student_completed_is(learner.user_id, _required(student, "its student") + 1),
            ),
        ]
        for member in self._session.learners:
            count = _required(_completions(member.board.query.data, task_id), "the task")
            expectations.append(Expectation(member.board, _completions_are(task_id, count + 1)))
        return expectations

    def _expect_batch_created(self) -> list[Expectation]:
        batches = self._session.admin.batches
        return [Expectation(batches, _batch_count_is(len(batches.query.data or []) + 1))]

    def _expect_conflict_settled(self, task_id: str) -> list[Expectation | EventExpectation]:
        """Every board shows the admin's name marked optimistic, then the mentor's from the
        server (her prediction dropped), then hers from the server once her edit lands; and
        the conflict is announced."""
        for learner in self._session.learners:
            _required(_name(learner.board.query.data, task_id), "the task to rename")
        expectations: list[Expectation | EventExpectation] = [
            Expectation(
                learner.board,
                _named(task_id, ADMIN_RENAME),
                optimistic=False,
                first=(
                    Sight(_named(task_id, ADMIN_RENAME), optimistic=True),
                    Sight(_named(task_id, MENTOR_RENAME), optimistic=False),
                ),
            )
            for learner in self._session.learners
        ]
        expectations.append(EventExpectation(Event.OPTIMISTIC_CONFLICT, _conflict_on_tasks))
        return expectations

    def _expect_enrolled(self, learner: Learner) -> list[Expectation]:
        batches = self._session.admin.batches
        enrolled = _batch_users(batches.query.data, self._evening_batch())
        total = _batch_count(learner.dashboard.query.data)
        return [
            Expectation(
                learner.dashboard, _enrolled_batches_are(_required(total, "the batches") + 1)
            ),
            Expectation(
                batches,
                _batch_users_are(self._evening_batch(), _required(enrolled, "the batch") + 1),
            ),
        ]
