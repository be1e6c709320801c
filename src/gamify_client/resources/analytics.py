"""Analytics: ``/api/analytics`` (an admin's batch reports), ``/api/mentor`` (a mentor's
batch reports, grading and answers) and the batch's own admin and mentor analytics
(``/api/batches/:id/analytics/*``).

The real service checks no token on ``/api/analytics`` and ``/api/mentor``; the reference
backend, with defect ``missing_auth`` fixed, asks for one (staff, or the batch's mentor).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey
from ..models import (
    ActivityStream,
    AdminBatchAnalytics,
    AnalyticsSummary,
    AnswerResult,
    EngagementReport,
    EnrollmentReport,
    GradeResult,
    MentorBatchAnalytics,
    MentorEngagementReport,
    MutationResult,
    PerformanceReport,
    StudentAnalytics,
    StudentProgressReport,
    TaskManagementReport,
)
from ..realtime import Rule, Write
from ._base import AsyncResource, SyncResource, async_endpoint, body, segment, sync_endpoint

__all__ = ["Analytics", "AsyncAnalytics"]

T = TypeVar("T")


def _report(model: type[T], what: str) -> Payload[T]:
    """A report's parser: the reports are bare objects."""
    return Payload(TypeAdapter(model), what)


_ENROLLMENT = _report(EnrollmentReport, "enrollment report")
_ENGAGEMENT = _report(EngagementReport, "engagement report")
_PERFORMANCE = _report(PerformanceReport, "performance report")
_SUMMARY = _report(AnalyticsSummary, "analytics summary")
_ADMIN = _report(AdminBatchAnalytics, "admin batch analytics")
_MENTOR = _report(MentorBatchAnalytics, "mentor batch analytics")
_STUDENTS = _report(StudentProgressReport, "student progress")
_MENTOR_ENGAGEMENT = _report(MentorEngagementReport, "mentor engagement report")
_TASKS = _report(TaskManagementReport, "task management report")
_STUDENT = _report(StudentAnalytics, "student analytics")
_STREAM = _report(ActivityStream, "activity stream")

GRADE_SUBMISSION = Write(
    "analytics.grade_submission",
    "POST",
    "/api/mentor/grade-submission",
    MutationPayload(_report(GradeResult, "grade result")),
    Rule(
        Event.PROGRESS_UPDATE,
        # The request names only the submission, so the graded user and the batch are unknown
        # here: every user's progress, dashboard and notifications may hold the grade.
        lambda c: [
            CacheKey.USER_PROGRESS,
            CacheKey.DASHBOARD,
            CacheKey.BATCH_PROGRESS,
            CacheKey.ANALYTICS,
            CacheKey.USER_ANALYTICS,
            CacheKey.NOTIFICATIONS,
            CacheKey.SUBMISSIONS,
            CacheKey.ACTIVITY,
        ],
    ),
)
ANSWER_QUESTION = Write(
    "analytics.answer_question",
    "POST",
    "/api/mentor/answer-question",
    MutationPayload(_report(AnswerResult, "answer result")),
    Rule(
        Event.DATA_REFRESH,
        # The answer is appended to a feedback whose batch and asker the request does not name:
        # the batch's mentor engagement and the asker's feedback views.
        lambda c: [CacheKey.ANALYTICS, CacheKey.FEEDBACK],
    ),
)


def _batch_report(area: str, batch_id: str, report: str, parse: Payload[T]) -> Call[T]:
    return Call("GET", f"/api/{area}/{segment(batch_id)}/{report}", parse)


def get_enrollment(batch_id: str) -> Call[EnrollmentReport]:
    """The batch's enrollments over the last 7 UTC days, completion rate, progress bands
    and mean days to complete. 404 for an unknown batch."""
    return _batch_report("analytics/batch", batch_id, "enrollment", _ENROLLMENT)


def get_engagement(batch_id: str) -> Call[EngagementReport]:
    """Daily active students over the last 7 UTC days, content use, the batch's feedback as
    forum posts and the mentor's rating."""
    return _batch_report("analytics/batch", batch_id, "engagement", _ENGAGEMENT)


def get_performance(batch_id: str) -> Call[PerformanceReport]:
    """Per-task mean grades, each student's progress and the modules students drop off at."""
    return _batch_report("analytics/batch", batch_id, "performance", _PERFORMANCE)


def get_summary(batch_id: str) -> Call[AnalyticsSummary]:
    """The batch at a glance: students, active ones (7 days), completion, mean grade."""
    return _batch_report("analytics/batch", batch_id, "summary", _SUMMARY)


def get_batch_admin(batch_id: str) -> Call[AdminBatchAnalytics]:
    """Enrollment, engagement and performance in one answer. Needs an admin's or a
    superadmin's token (403 ``Forbidden`` otherwise)."""
    return _batch_report("batches", batch_id, "analytics/admin", _ADMIN)


def get_batch_mentor(batch_id: str) -> Call[MentorBatchAnalytics]:
    """Students, quizzes, engagement, questions, lessons and submissions of the batch. Needs
    a mentor's or a superadmin's token. The real service fills most numbers at random
    (defect ``fake_analytics``)."""
    return _batch_report("batches", batch_id, "analytics/mentor", _MENTOR)


def get_student_progress(batch_id: str) -> Call[StudentProgressReport]:
    """Every student's progress, scores and engagement level, the batch's averages and each
    graded task's score bands."""
    return _batch_report("mentor/batch", batch_id, "student-progress", _STUDENTS)


def get_mentor_engagement(batch_id: str) -> Call[MentorEngagementReport]:
    """The batch's 50 newest activities, students per engagement level, and its 20 newest
    feedback as questions."""
    return _batch_report("mentor/batch", batch_id, "engagement", _MENTOR_ENGAGEMENT)


def get_task_management(batch_id: str) -> Call[TaskManagementReport]:
    """Each task's completion and feedback, and every submitted entry with its grade; an
    entry's ``id`` is what :meth:`grade_submission` takes."""
    return _batch_report("mentor/batch", batch_id, "task-management", _TASKS)


def get_activity_stream(
    batch_id: str, *, limit: int | None = None, offset: int | None = None
) -> Call[ActivityStream]:
    """A page of the batch's activity, newest first (the server's default: 50 from 0); an
    unknown batch gives an empty page."""
    params = body({"limit": limit, "offset": offset})
    return Call(
        "GET",
        f"/api/mentor/batch/{segment(batch_id)}/activity-stream",
        _STREAM,
        params=params or None,
    )


def get_student(student_id: str, *, batch_id: str | None = None) -> Call[StudentAnalytics]:
    """A student's progress, recent activity, strengths and weak tasks, over every batch or
    one. 404 for an unknown student or one without progress."""
    params = {"batchId": batch_id} if batch_id is not None else None
    path = f"/api/mentor/student/{segment(student_id)}/analytics"
    return Call("GET", path, _STUDENT, params=params)


def grade_submission(
    *, submission_id: str, grade: float, feedback: str | None = None
) -> Call[MutationResult[GradeResult]]:
    """Grade a submitted entry: the progress entry and its Submission get the grade, the
    feedback and status ``graded``. ``submission_id`` is a submission's id or, once defect
    ``grade_by_submission_only`` is fixed, the tracker's fallback entry id. Never retried
    once sent: each call logs another ``task_graded``."""
    fields = {"submissionId": submission_id, "grade": grade, "feedback": feedback}
    return GRADE_SUBMISSION.call("/api/mentor/grade-submission", json=body(fields))


def answer_question(*, question_id: str, answer: str) -> Call[MutationResult[AnswerResult]]:
    """Answer a question (a feedback): the answer is appended to its content after a
    ``--- ANSWER ---`` line. Never retried once sent: each call appends again."""
    return ANSWER_QUESTION.call(
        "/api/mentor/answer-question", json={"questionId": question_id, "answer": answer}
    )


class Analytics(SyncResource):
    """Analytics: the admin's and the mentor's batch reports, grading and answers."""

    enrollment = sync_endpoint(get_enrollment)
    engagement = sync_endpoint(get_engagement)
    performance = sync_endpoint(get_performance)
    summary = sync_endpoint(get_summary)
    batch_admin = sync_endpoint(get_batch_admin)
    batch_mentor = sync_endpoint(get_batch_mentor)
    student_progress = sync_endpoint(get_student_progress)
    mentor_engagement = sync_endpoint(get_mentor_engagement)
    task_management = sync_endpoint(get_task_management)
    activity_stream = sync_endpoint(get_activity_stream)
    student = sync_endpoint(get_student)
    grade_submission = sync_endpoint(grade_submission)
    answer_question = sync_endpoint(answer_question)


class AsyncAnalytics(AsyncResource):
    """Analytics, awaited: the admin's and the mentor's batch reports, grading and answers."""

    enrollment = async_endpoint(get_enrollment)
    engagement = async_endpoint(get_engagement)
    performance = async_endpoint(get_performance)
    summary = async_endpoint(get_summary)
    batch_admin = async_endpoint(get_batch_admin)
    batch_mentor = async_endpoint(get_batch_mentor)
    student_progress = async_endpoint(get_student_progress)
    mentor_engagement = async_endpoint(get_mentor_engagement)
    task_management = async_endpoint(get_task_management)
    activity_stream = async_endpoint(get_activity_stream)
    student = async_endpoint(get_student)
    grade_submission = async_endpoint(grade_submission)
    answer_question = async_endpoint(answer_question)
