"""Grading checks (``POST /api/mentor/grade-submission``, as the mentor's analytics modal
makes it: with the id its submission tracker shows): the grade shows at once in the
tracker, the batch's performance analytics and the learner's progress, and an entry
completed without a Submission can be graded too."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import TrackedSubmission
from ._accounts import Account
from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._lookups import expected_percentage, ref_id, task_entry
from ._scenario import Scenario, submit_link
from ._steps import Read, read

_GRADE = 85
_FEEDBACK = "Well argued; cite your sources next time."
_GRADE_WITHOUT_SUBMISSION = 70


@dataclass(frozen=True, slots=True)
class Graded:
    """A learner's submitted task, graded by the mentor with the tracker's id, and what the
    tracker and the performance analytics showed just before."""

    learner: Account
    task_id: str
    task_name: str
    row_before: TrackedSubmission
    score_before: Read[float | None]


def _find_row(scenario: Scenario, learner: Account, task_name: str, how: str) -> TrackedSubmission:
    """The mentor's ``submissionTracker`` row for the learner's task, as the mentor's
    analytics modal reads it; :class:`CheckFailed` when there is none."""
    mentor = scenario.accounts().mentor
    tracker = mentor.client.analytics.task_management(scenario.batch().id).submission_tracker
    student = scenario.session.name(learner.role)
    row = next((r for r in tracker if r.student == student and r.task == task_name), None)
    if row is None or row.id is None:
        raise CheckFailed(
            f"GET /api/mentor/batch/:id/task-management: expected a submissionTracker row with "
            f"an id for the task the learner {how}, saw {'none' if row is None else 'no id'}"
        )
    return row


def _performance(
    scenario: Scenario, learner: Account
) -> tuple[float | None, dict[str | None, tuple[float, int]]]:
    """The learner's ``score`` (None without a row) and each task's (average, attempts) in
    the batch's performance analytics, as the admin's analytics page reads them."""
    report = scenario.accounts().admin.client.analytics.performance(scenario.batch().id)
    row = next((p for p in report.individual_progress if ref_id(p.id) == learner.user_id), None)
    quizzes = {q.quiz: (q.average, q.attempts) for q in report.quiz_scores}
    return (None if row is None else row.score), quizzes


def graded(scenario: Scenario) -> Graded:
    """A learner's link submission of the batch's first task, graded by the mentor."""
    return scenario.once("grade a learner's submission", lambda: _grade(scenario))


def _grade(scenario: Scenario) -> Graded:
    task = scenario.fillers()[0].task
    learner = scenario.enrolled_learner("graded-learner")
    submit_link(learner, task.id)
    name = task.name or ""
    row = _find_row(scenario, learner, name, "submitted")
    score_before = read("the performance analytics", lambda: _performance(scenario, learner)[0])
    scenario.accounts().mentor.client.analytics.grade_submission(
        submission_id=str(row.id), grade=_GRADE, feedback=_FEEDBACK
    )
    return Graded(learner, task.id, name, row, score_before)


@check(
    "grade.shows_in_task_management",
    "The mentor's submission tracker (GET /api/mentor/batch/:id/task-management) shows a "
    "completed submission as 'Submitted', and once graded as 'Graded' with its grade, "
    "score and feedback.",
)
def _grade_in_tracker(scenario: Scenario) -> str:
    done = graded(scenario)
    before = done.row_before
    after = _find_row(scenario, done.learner, done.task_name, "submitted")
    problems = Problems()
    problems.expect("the row's status before grading", "Submitted", before.status)
    problems.expect("the row's grade before grading", None, before.grade)
    problems.expect("the row's status after grading", "Graded", after.status)
    problems.expect("the row's grade after grading", f"{_GRADE}%", after.grade)
    problems.expect("the row's score after grading", _GRADE, after.score)
    problems.expect("the row's feedback after grading", _FEEDBACK, after.feedback)
    problems.raise_any()
    return f"Submitted, then Graded {after.grade}"


@check(
    "grade.shows_in_performance",
    "The grade shows at once in the batch's performance analytics "
    "(GET /api/analytics/batch/:id/performance): the learner's score and the task's "
    "average grade.",
)
def _grade_in_performance(scenario: Scenario) -> str:
    done = graded(scenario)
    score, quizzes = _performance(scenario, done.learner)
    problems = Problems()
    problems.expect("the learner's score before grading", 0, done.score_before.get())
    problems.expect("the learner's score", _GRADE, score)
    problems.expect(
        "the task's quizScores (average, attempts)", (_GRADE, 1), quizzes.get(done.task_name)
    )
    problems.raise_any()
    return f"score {_GRADE} for the learner and the task"


@check(
    "grade.shows_in_learner_progress",
    "The grade shows at once in the learner's own progress: the entry graded with its grade "
    "and feedback, still counted as completed, gradedTasks and averageGrade recomputed, and "
    "a task_graded activity.",
)
def _grade_in_progress(scenario: Scenario) -> str:
    done = graded(scenario)
    learner = done.learner
    progress = learner.client.progress.user(learner.user_id, scenario.batch().id)
    entry = task_entry(progress, done.task_id)
    metrics, total = progress.progress_metrics, len(progress.task_progress)
    problems = Problems()
    problems.expect(
        "the entry (status, grade, feedback)",
        ("graded", _GRADE, _FEEDBACK),
        None if entry is None else (entry.status, entry.grade, entry.feedback),
    )
    problems.expect("gradedTasks", 1, metrics.graded_tasks)
    problems.expect("averageGrade", _GRADE, metrics.average_grade)
    problems.expect("completedTasks (graded counts as completed)", 1, metrics.completed_tasks)
    problems.expect(
        "completionPercentage", expected_percentage(1, total), metrics.completion_percentage
    )
    graded_activities = [
        a
        for a in progress.activity_log
        if a.action == "task_graded" and ref_id(a.task_id) == done.task_id
    ]
    if not graded_activities:
        actions = [a.action for a in progress.activity_log]
        problems.add(f"activityLog: expected task_graded for the task, saw {actions}")
    problems.raise_any()
    return f"graded {_GRADE}, 1/{total} completed"


@check(
    "grade.entry_without_submission",
    "A task completed through POST /api/batch-progress/submit-task has no Submission, so "
    "the tracker shows the progress entry's own id; grading with that id succeeds and marks "
    "the entry graded.",
)
def _entry_without_submission(scenario: Scenario) -> str:
    batch = scenario.batch()
    task = scenario.fillers()[1].task
    learner = scenario.enrolled_learner("tracker-learner")
    learner.client.progress.submit_task(user_id=learner.user_id, task_id=task.id, batch_id=batch.id)
    row = _find_row(scenario, learner, task.name or "", "completed through submit-task")
    scenario.accounts().mentor.client.analytics.grade_submission(
        submission_id=str(row.id), grade=_GRADE_WITHOUT_SUBMISSION, feedback=_FEEDBACK
    )
    entry = task_entry(learner.client.progress.user(learner.user_id, batch.id), task.id)
    problems = Problems()
    problems.expect(
        "the entry (status, grade)",
        ("graded", _GRADE_WITHOUT_SUBMISSION),
        None if entry is None else (entry.status, entry.grade),
    )
    problems.raise_any()
    return f"graded {_GRADE_WITHOUT_SUBMISSION} by the tracker's id {row.id}"


CHECKS: tuple[Check, ...] = (
    _grade_in_tracker,
    _grade_in_performance,
    _grade_in_progress,
    _entry_without_submission,
)
"""This module's checks, in the order they run."""
