"""``/api/analytics`` and ``/api/mentor``: batch analytics for admins and mentors, grading and
answers; also the batch's own ``GET /api/batches/:id/analytics/admin`` and ``/mentor``.

Every report is computed from the stored documents (``_analytics``). Students are the progress
documents whose user exists, is enrolled in the batch and is not an admin. The
real service checks no token on ``/api/analytics`` and ``/api/mentor``; fixed (defect
``missing_auth``), reads need staff or the batch's mentor, and grading and answering need a
token too. The real service's known defects here: ``orphan_500`` (a progress whose user was
deleted breaks the admin reports), ``fake_analytics``, ``tracker_status_labels``,
``grade_by_submission_only`` and ``validation_500``.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from ._analytics import (
    ANSWER_MARK,
    Student,
    activity_of,
    batch_tasks,
    batch_users,
    computed_mentor_analytics,
    course_progress,
    drop_off_points,
    engagement_report,
    enrollment_report,
    individual_progress,
    is_complete,
    last_active_day,
    mean,
    metric,
    newest_first,
    one_decimal,
    progress_with_users,
    quiz_analytics,
    recent_activity_count,
    sample_mentor_analytics,
    sender_name,
    students_of,
    task_scores,
    utc_day,
)
from ._documents import populate
from ._express import BackendResponse, json_response
from ._progress import COMPLETED_STATES, add_activity, js_round, recompute_metrics
from ._routing import STAFF, CastError, Context, Failure, HttpError, Route, object_id
from ._store import Collection, Doc

logger = logging.getLogger("gamify_client.testing")

_NULL_ID = "Cannot read properties of null (reading '_id')"
_BATCH_NOT_FOUND = {"error": "Batch not found"}
_READ_FORBIDDEN = "Only staff or the batch's mentor can read its analytics"


Handler = Callable[[Context], BackendResponse]


# --- shared pieces ------------------------------------------------------------------------------


def _answers_500(message: str) -> Callable[[Handler], Handler]:
    """The route's ``catch``: 500 ``{error: message}``. A malformed id is that 500 only while
    ``validation_500`` is on; fixed, the dispatcher answers 404 or 400."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def answer(ctx: Context) -> BackendResponse:
            try:
                return handler(ctx)
            except HttpError:
                raise
            except CastError:
                if ctx.has_defect("validation_500"):
                    raise HttpError(500, {"error": message}) from None
                raise
            except Exception:
                logger.exception("%s", message)
                raise HttpError(500, {"error": message}) from None

        return answer

    return decorate


def js_text(value: object) -> str:
    """``String(value)`` in JavaScript, for the values a JSON body holds."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join("" if item is None else js_text(item) for item in value)
    return str(value)


def cast_number(value: object, path: str) -> int | float:
    """``value`` cast as a Mongoose Number path casts it; 400 ``{message}`` otherwise."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise HttpError(400, {"message": f"Invalid {path}: a number is required"})
    return int(number) if number.is_integer() else number


def cast_text(value: object, path: str) -> str:
    """``value`` cast as a Mongoose String path casts it; 400 ``{message}`` for an object or
    an array."""
    if isinstance(value, str | int | float | bool):
        return js_text(value)
    raise HttpError(400, {"message": f"Invalid {path}: a string is required"})


def _find_batch(ctx: Context, batch_id: str, not_found: Any = _BATCH_NOT_FOUND) -> Doc:
    batch = ctx.store.get(Collection.BATCHES, object_id(batch_id, "Batch"))
    if batch is None:
        raise HttpError(404, not_found)
    return batch


def _require_batch_reader(ctx: Context, batch: Doc | None) -> None:
    """Fixed auth: staff, or the mentor of ``batch``."""
    claims = ctx.caller
    mentor = (
        claims is not None
        and claims.designation == "mentor"
        and batch is not None
        and batch.get("mentor") == claims.user_id
    )
    ctx.forbid_unless(ctx.is_staff or mentor, _READ_FORBIDDEN)


# --- /api/analytics and the admin batch analytics ------------------------------------------------


_ENROLLMENT_FAILURE = "Failed to fetch enrollment analytics"
_ENGAGEMENT_FAILURE = "Failed to fetch engagement analytics"
_PERFORMANCE_FAILURE = "Failed to fetch performance analytics"


def _batch_and_students(
    ctx: Context, failure: str
) -> tuple[Doc, list[Doc], list[Doc], list[Student]]:
    batch = _find_batch(ctx, ctx.params["batchId"])
    _require_batch_reader(ctx, batch)
    users = batch_users(ctx, batch)
    return batch, users, batch_tasks(ctx, batch), students_of(ctx, batch, users, {"error": failure})


@_answers_500(_ENROLLMENT_FAILURE)
def enrollment(ctx: Context) -> BackendResponse:
    """``GET /api/analytics/batch/:batchId/enrollment``."""
    batch, users, _, students = _batch_and_students(ctx, _ENROLLMENT_FAILURE)
    report = enrollment_report(ctx, batch, users, students)
    # The route puts the progress bands between the completion rate and the mean time.
    ordered = {
        "enrollmentRate": report["enrollmentRate"],
        "completionRate": report["completionRate"],
        "courseProgress": course_progress(students),
    }
    return json_response(200, {**ordered, **report})


@_answers_500(_ENGAGEMENT_FAILURE)
def engagement(ctx: Context) -> BackendResponse:
    """``GET /api/analytics/batch/:batchId/engagement``."""
    batch, _, tasks, students = _batch_and_students(ctx, _ENGAGEMENT_FAILURE)
    return json_response(200, engagement_report(ctx, batch, tasks, students, forum_row=True))


@_answers_500(_PERFORMANCE_FAILURE)
def performance(ctx: Context) -> BackendResponse:
    """``GET /api/analytics/batch/:batchId/performance``."""
    _, _, tasks, students = _batch_and_students(ctx, _PERFORMANCE_FAILURE)
    return json_response(
        200,
        {
            "quizScores": task_scores(ctx, tasks, "quiz", "attempts"),
            "individualProgress": individual_progress(ctx, students),
            "dropOffPoints": drop_off_points(tasks, students),
        },
    )


@_answers_500("Failed to fetch analytics summary")
def summary(ctx: Context) -> BackendResponse:
    """``GET /api/analytics/batch/:batchId/summary``: the route reads no populated user, so
    a deleted one never breaks it."""
    batch = _find_batch(ctx, ctx.params["batchId"])
    _require_batch_reader(ctx, batch)
    users = batch_users(ctx, batch)
    enrolled = {user["_id"] for user in users if user.get("designation") not in STAFF}
    progresses = [
        p
        for p in ctx.store.find(Collection.PROGRESS, batchId=batch["_id"])
        if p["userId"] in enrolled
    ]
    total = len(enrolled)
    active = sum(1 for p in progresses if recent_activity_count(p, ctx) > 0)
    completed = sum(1 for p in progresses if is_complete(p))
    grades = [metric(p, "averageGrade") for p in progresses]
    activity_rate = 100 * active / total if total else 0
    level = "High" if activity_rate >= 70 else "Medium" if activity_rate >= 40 else "Low"
    return json_response(
        200,
        {
            "totalStudents": total,
            "activeStudents": active,
            "completionRate": js_round(100 * completed / total) if total else 0,
            "averageScore": one_decimal(mean(grades)),
            "engagement": level,
            "lastUpdated": ctx.timestamp,
        },
    )


def _forbidden_unless_role(ctx: Context, roles: tuple[str, ...]) -> None:
    """The batch analytics' own role check (the real service's, always on)."""
    if ctx.verified_claims().designation not in roles:
        raise HttpError(403, {"message": "Forbidden"})


def admin_batch_analytics(ctx: Context) -> BackendResponse:
    """``GET /api/batches/:id/analytics/admin``: admins and superadmins only."""
    _forbidden_unless_role(ctx, ("admin", "superadmin"))
    batch = _find_batch(ctx, ctx.params["id"], {"message": "Batch not found"})
    users = batch_users(ctx, batch)
    tasks = batch_tasks(ctx, batch)
    orphan = {"message": "Failed to fetch admin batch analytics", "error": _NULL_ID}
    students = students_of(ctx, batch, users, orphan)
    return json_response(
        200,
        {
            "enrollment": enrollment_report(ctx, batch, users, students),
            "engagement": engagement_report(ctx, batch, tasks, students, forum_row=False),
            "performance": {
                "quizScores": task_scores(
                    ctx, (t for t in tasks if t.get("contentType") == "quiz"), "quiz", "attempts"
                ),
                # Tasks have no "assignment" content type, so this stays empty, as it does on
                # the real service.
                "assignmentScores": task_scores(
                    ctx,
                    (t for t in tasks if t.get("contentType") == "assignment"),
                    "assignment",
                    "submissions",
                ),
                "individualProgress": individual_progress(ctx, students),
            },
        },
    )


# --- the mentor batch analytics ------------------------------------------------------------------


def mentor_batch_analytics(ctx: Context) -> BackendResponse:
    """``GET /api/batches/:id/analytics/mentor``: mentors and superadmins; fixed, a mentor
    only for a batch it mentors."""
    _forbidden_unless_role(ctx, ("mentor", "superadmin"))
    batch = _find_batch(ctx, ctx.params["id"], {"message": "Batch not found"})
    claims = ctx.verified_claims()
    if claims.designation == "mentor":
        ctx.forbid_unless(batch.get("mentor") == claims.user_id, "Forbidden")
    users = batch_users(ctx, batch)
    tasks = batch_tasks(ctx, batch)
    if ctx.has_defect("fake_analytics"):
        return json_response(200, sample_mentor_analytics(users, tasks))
    return json_response(200, computed_mentor_analytics(ctx, batch, users, tasks))


# --- /api/mentor ---------------------------------------------------------------------------------


@_answers_500("Failed to fetch student progress analytics")
def student_progress(ctx: Context) -> BackendResponse:
    """``GET /api/mentor/batch/:batchId/student-progress``: every progress of the batch whose
    user exists."""
    batch = _find_batch(ctx, ctx.params["batchId"])
    _require_batch_reader(ctx, batch)
    tasks = batch_tasks(ctx, batch)
    task_names = {task["_id"]: task.get("name") for task in tasks}
    students = []
    for progress, user in progress_with_users(ctx, batch["_id"]):
        if user is None:
            continue
        graded = [
            s
            for s in ctx.store.find(Collection.SUBMISSIONS, userId=user["_id"])
            if s.get("taskId") in task_names and s.get("grade") is not None
        ]
        recent = recent_activity_count(progress, ctx)
        students.append(
            {
                "id": user["_id"],
                "name": user.get("username"),
                "avatar": user.get("avatar") or "",
                "progress": js_round(metric(progress, "completionPercentage")),
                "averageScore": js_round(metric(progress, "averageGrade")),
                "lastActive": last_active_day(progress, ctx),
                "completedLessons": metric(progress, "completedTasks"),
                "totalLessons": len(tasks),
                "quizScores": [
                    {
                        "quiz": task_names[s["taskId"]],
                        "score": s["grade"],
                        "maxScore": 100,
                        "date": utc_day(s.get("submittedAt")),
                    }
                    for s in graded
                ],
                "submittedTasks": metric(progress, "submittedTasks"),
                "totalTasks": len(tasks),
                "engagementLevel": "High" if recent >= 10 else "Medium" if recent >= 5 else "Low",
            }
        )
    count = len(students)
    average = {
        "progress": js_round(mean([s["progress"] for s in students])),
        "averageScore": js_round(mean([s["averageScore"] for s in students])),
        "completionRate": js_round(100 * sum(1 for s in students if s["progress"] >= 100) / count)
        if count
        else 0,
    }
    return json_response(
        200,
        {"students": students, "batchAverage": average, "quizAnalytics": quiz_analytics(students)},
    )


@_answers_500("Failed to fetch engagement analytics")
def mentor_engagement(ctx: Context) -> BackendResponse:
    """``GET /api/mentor/batch/:batchId/engagement``."""
    batch = _find_batch(ctx, ctx.params["batchId"])
    _require_batch_reader(ctx, batch)
    store = ctx.store
    counts = [
        recent_activity_count(p, ctx) for p in store.find(Collection.PROGRESS, batchId=batch["_id"])
    ]
    levels = (
        ("High", 10, math.inf, "#22c55e"),
        ("Medium", 5, 10, "#eab308"),
        ("Low", -1, 5, "#ef4444"),
    )
    feedback = newest_first(store.find(Collection.FEEDBACK, batch=batch["_id"]), "createdAt")[:20]
    questions = []
    for item in feedback:
        questions.append(
            {
                "id": item["_id"],
                "student": sender_name(ctx, item),
                "question": item.get("content"),
                "timestamp": item.get("createdAt"),
                "answered": False,
                "answerTimestamp": None,
                "urgent": False,
            }
        )
    return json_response(
        200,
        {
            "activityFeed": activity_of(ctx, batch["_id"], 10)[:50],
            "engagementLevels": [
                {"level": level, "count": sum(1 for c in counts if low <= c < high), "color": color}
                for level, low, high, color in levels
            ],
            "qnaForum": questions,
        },
    )


def _tracker_status(ctx: Context, status: str) -> str:
    if ctx.has_defect("tracker_status_labels"):
        return {"completed": "Graded", "submitted": "Submitted"}.get(status, "In Progress")
    return "Graded" if status == "graded" else "Submitted"


def _lesson_feedback(ctx: Context, ratings: list[float]) -> float:
    if ratings:
        return one_decimal(mean(ratings))
    return 4.5 if ctx.has_defect("fake_analytics") else 0


@_answers_500("Failed to fetch task management analytics")
def task_management(ctx: Context) -> BackendResponse:
    """``GET /api/mentor/batch/:batchId/task-management``."""
    batch = _find_batch(ctx, ctx.params["batchId"])
    _require_batch_reader(ctx, batch)
    store = ctx.store
    tasks = batch_tasks(ctx, batch)
    pairs = progress_with_users(ctx, batch["_id"])
    done = ("completed",) if ctx.has_defect("graded_not_completed") else COMPLETED_STATES
    # Task feedback is read through the batch index: a task belongs to one batch.
    feedback = store.find(Collection.FEEDBACK, batch=batch["_id"])
    lessons = []
    for task in tasks:
        statuses = [
            next(
                (
                    e.get("status")
                    for e in p.get("taskProgress") or []
                    if e.get("taskId") == task["_id"]
                ),
                "not_started",
            )
            for p, _ in pairs
        ]
        completed = sum(1 for status in statuses if status in done)
        ratings = [f.get("rating") or 0 for f in feedback if f.get("task") == task["_id"]]
        lessons.append(
            {
                "lesson": task.get("name"),
                "completionRate": js_round(100 * completed / len(pairs)) if pairs else 0,
                # Nothing records the time spent on a task: the real service makes it up.
                "averageTimeSpent": random.randint(30, 59)
                if ctx.has_defect("fake_analytics")
                else 0,
                "studentFeedback": _lesson_feedback(ctx, ratings),
                "totalStudents": len(pairs),
                "completedStudents": completed,
            }
        )
    task_names = {task["_id"]: task.get("name") for task in tasks}
    tracker = []
    for progress, user in pairs:
        if user is None:
            continue
        for entry in progress.get("taskProgress") or []:
            status = entry.get("status")
            if (
                status not in ("submitted", "graded", "completed")
                or entry.get("taskId") not in task_names
            ):
                continue
            grade = entry.get("grade")
            row = {
                "id": entry.get("submissionId") or entry.get("_id"),
                "task": task_names[entry["taskId"]],
                "student": user.get("username"),
                "status": _tracker_status(ctx, str(status)),
                "submittedAt": entry.get("submittedAt"),
                "grade": f"{js_text(grade)}%" if grade else None,
                "score": grade,
                "feedback": entry.get("feedback") or "",
            }
            # JSON.stringify leaves out what is undefined.
            tracker.append({k: v for k, v in row.items() if v is not None or k == "grade"})
    return json_response(200, {"lessonEngagement": lessons, "submissionTracker": tracker})


def _graded_entry(ctx: Context, submission_id: str) -> tuple[Doc, Doc] | None:
    """The progress and the entry ``submission_id`` names: the entry's submission, or (fixed,
    defect ``grade_by_submission_only``) the entry's own id, which the tracker shows for an
    entry without a submission."""
    store = ctx.store
    by_own_id = not ctx.has_defect("grade_by_submission_only")

    def matches(entry: Doc) -> bool:
        return entry.get("submissionId") == submission_id or (
            by_own_id and entry.get("_id") == submission_id
        )

    submission = store.get(Collection.SUBMISSIONS, submission_id)
    candidates = (
        store.find(Collection.PROGRESS, userId=submission["userId"])
        if submission is not None
        else []
    )
    for progress in candidates:
        entry = next((e for e in progress.get("taskProgress") or [] if matches(e)), None)
        if entry is not None:
            return progress, entry
    # No submission leads there: only a scan finds an entry by its own id.
    for progress in store.find(Collection.PROGRESS):
        entry = next((e for e in progress.get("taskProgress") or [] if matches(e)), None)
        if entry is not None:
            return progress, entry
    return None


def _may_grade(ctx: Context, batch_id: object) -> bool:
    """Fixed auth for grading and answering: staff, or the mentor of the batch."""
    claims = ctx.caller
    if ctx.is_staff:
        return True
    if claims is None or claims.designation != "mentor" or not isinstance(batch_id, str):
        return False
    batch = ctx.store.get(Collection.BATCHES, batch_id)
    return batch is not None and batch.get("mentor") == claims.user_id


def _body_value(ctx: Context, name: str, cast: Callable[[object, str], Any]) -> Any:
    """A body field cast as Mongoose casts it; a bad value is 400 when fixed and the route's
    500 under ``validation_500``."""
    value = ctx.fields.get(name)
    if value is None:
        return None
    try:
        return cast(value, name)
    except HttpError:
        if ctx.has_defect("validation_500"):
            raise CastError(value, "UserBatchProgress", name) from None
        raise


@_answers_500("Failed to grade submission")
def grade_submission(ctx: Context) -> BackendResponse:
    """``POST /api/mentor/grade-submission``: grade a progress entry and its Submission."""
    fields = ctx.fields
    strict = not ctx.has_defect("validation_500")
    raw_id = fields.get("submissionId")
    if strict and (raw_id in (None, "") or fields.get("grade") in (None, "")):
        raise HttpError(400, {"message": "submissionId and grade are required"})
    grade = _body_value(ctx, "grade", cast_number)
    feedback = _body_value(ctx, "feedback", cast_text)
    if raw_id is None:
        # Mongoose drops an undefined filter value and finds any progress, which has no
        # entry with an undefined submission.
        if ctx.store.find_one(Collection.PROGRESS) is not None:
            raise HttpError(404, {"error": "Task progress not found"})
        raise HttpError(404, {"error": "Submission not found"})
    submission_id = object_id(raw_id, "UserBatchProgress", "submissionId")
    found = _graded_entry(ctx, submission_id)
    if found is None:
        raise HttpError(404, {"error": "Submission not found"})
    progress, entry = found
    ctx.forbid_unless(
        _may_grade(ctx, progress.get("batchId")),
        "Only staff or the batch's mentor can grade its submissions",
    )
    for name, value in (("grade", grade), ("feedback", feedback)):
        if value is None:
            entry.pop(name, None)
        else:
            entry[name] = value
    entry["status"] = "graded"
    add_activity(
        ctx,
        progress,
        "task_graded",
        entry.get("taskId"),
        f"Received grade {js_text(fields.get('grade'))}% for task submission",
        {},
    )
    recompute_metrics(ctx, progress)
    ctx.store.save(Collection.PROGRESS, progress)
    _grade_submission_document(ctx, entry.get("submissionId") or submission_id, grade, feedback)
    answer = {
        "success": True,
        "message": "Submission graded successfully",
        "submissionId": raw_id,
        "grade": fields.get("grade"),
        "feedback": fields.get("feedback"),
    }
    return json_response(200, {k: v for k, v in answer.items() if v is not None})


def _grade_submission_document(
    ctx: Context, submission_id: object, grade: Any, feedback: Any
) -> None:
    if not isinstance(submission_id, str):
        return
    submission = ctx.store.get(Collection.SUBMISSIONS, submission_id)
    if submission is None:
        return
    for name, value in (("grade", grade), ("feedback", feedback)):
        if value is None:
            submission.pop(name, None)
        else:
            submission[name] = value
    submission["status"] = "graded"
    ctx.store.save(Collection.SUBMISSIONS, submission)


@_answers_500("Failed to fetch student analytics")
def student_analytics(ctx: Context) -> BackendResponse:
    """``GET /api/mentor/student/:studentId/analytics``; fixed: the student themself, staff
    or a mentor."""
    store = ctx.store
    user = store.get(Collection.USERS, object_id(ctx.params["studentId"], "User"))
    if user is None:
        raise HttpError(404, {"error": "Student not found"})
    claims = ctx.caller
    ctx.forbid_unless(
        claims is not None
        and (claims.user_id == user["_id"] or claims.designation in (*STAFF, "mentor")),
        "You can only read your own analytics",
    )
    batch_filter = ctx.query.get("batchId")
    progresses = store.find(Collection.PROGRESS, userId=user["_id"])
    if batch_filter:
        wanted = object_id(batch_filter, "UserBatchProgress", "batchId")
        progresses = [p for p in progresses if p["batchId"] == wanted]
    if not progresses:
        raise HttpError(404, {"error": "No progress data found for student"})
    totals = {"tasks": 0, "completed": 0}
    activity: list[Doc] = []
    strengths: list[str] = []
    weak: list[str] = []
    grades: list[float] = []
    for progress in progresses:
        totals["tasks"] += int(metric(progress, "totalTasks"))
        totals["completed"] += int(metric(progress, "completedTasks"))
        batch = populate(store, Collection.BATCHES, progress.get("batchId"), ("name",))
        batch_name = (batch or {}).get("name") or "Unknown Batch"
        activity.extend(
            {
                "action": log.get("action"),
                "item": log.get("description") or "an activity",
                "timestamp": log.get("timestamp"),
                "batch": batch_name,
            }
            for log in (progress.get("activityLog") or [])[-5:]
        )
        for entry in progress.get("taskProgress") or []:
            grade = entry.get("grade")
            if grade is None:
                continue
            grades.append(grade)
            task = populate(store, Collection.TASKS, entry.get("taskId"), ("name",))
            if task is None:
                continue
            name = str(task.get("name"))
            if grade >= 85 and name not in strengths:
                strengths.append(name)
            if grade < 70 and name not in weak:
                weak.append(name)
    first = progresses[0]
    return json_response(
        200,
        {
            "student": {
                "id": user["_id"],
                "name": user.get("username"),
                "email": user.get("email"),
                "enrolledDate": first.get("enrolledAt") or ctx.timestamp,
                "lastActive": first.get("lastActiveAt") or ctx.timestamp,
            },
            "progress": {
                "overallProgress": js_round(100 * totals["completed"] / totals["tasks"])
                if totals["tasks"]
                else 0,
                "completedLessons": totals["completed"],
                "totalLessons": totals["tasks"],
                "completedTasks": totals["completed"],
                "totalTasks": totals["tasks"],
                "averageScore": js_round(mean(grades)) if grades else 0,
            },
            "recentActivity": newest_first(activity)[:10],
            "strengths": strengths[:5],
            "areasForImprovement": weak[:5],
        },
    )


@_answers_500("Failed to answer question")
def answer_question(ctx: Context) -> BackendResponse:
    """``POST /api/mentor/answer-question``: append the answer to a feedback's content."""
    fields = ctx.fields
    raw_id, raw_answer = fields.get("questionId"), fields.get("answer")
    strict = not ctx.has_defect("validation_500")
    if strict and (raw_id in (None, "") or raw_answer in (None, "")):
        raise HttpError(400, {"message": "questionId and answer are required"})
    answer = _body_value(ctx, "answer", cast_text)
    question_id = object_id(raw_id, "Feedback", "questionId")
    feedback = ctx.store.get(Collection.FEEDBACK, question_id)
    if feedback is None:
        raise HttpError(404, {"error": "Question not found"})
    ctx.forbid_unless(
        _may_grade(ctx, feedback.get("batch")),
        "Only staff or the batch's mentor can answer its questions",
    )
    feedback["content"] = f"{js_text(feedback.get('content'))}{ANSWER_MARK}{js_text(answer)}"
    ctx.store.save(Collection.FEEDBACK, feedback)
    reply = {
        "success": True,
        "message": "Question answered successfully",
        "questionId": raw_id,
        "answer": raw_answer,
    }
    return json_response(200, {k: v for k, v in reply.items() if v is not None})


def _page_number(ctx: Context, name: str, default: int) -> float:
    """``parseInt`` of a query value when ``validation_500`` is on (NaN for text); fixed, a
    non-negative integer or 400."""
    raw = ctx.query.get(name)
    if raw is None:
        return default
    if ctx.has_defect("validation_500"):
        found = re.match(r"\s*([+-]?\d+)", raw)
        return int(found.group(1)) if found else math.nan
    if not raw.isdigit():
        raise HttpError(400, {"message": f"Invalid {name}: a non-negative integer is required"})
    return int(raw)


def _js_slice_bound(value: float, length: int) -> int:
    if math.isnan(value):
        return 0
    if value < 0:
        return max(length + int(value), 0)
    return min(int(value), length)


@_answers_500("Failed to fetch activity stream")
def activity_stream(ctx: Context) -> BackendResponse:
    """``GET /api/mentor/batch/:batchId/activity-stream``: a page of the batch's activity; an
    unknown batch gives an empty page."""
    batch_id = object_id(ctx.params["batchId"], "Batch")
    _require_batch_reader(ctx, ctx.store.get(Collection.BATCHES, batch_id))
    limit = _page_number(ctx, "limit", 50)
    offset = _page_number(ctx, "offset", 0)
    activities = activity_of(ctx, batch_id, None)
    end = offset + limit
    page = activities[
        _js_slice_bound(offset, len(activities)) : _js_slice_bound(end, len(activities))
    ]
    return json_response(
        200,
        {"activities": page, "totalCount": len(activities), "hasMore": bool(end < len(activities))},
    )


def _own_500(message: str) -> Failure:
    """The route's 500 as documentation: its handler answers ``{error: message}`` itself."""
    return Failure(message)


ROUTES: tuple[Route, ...] = (
    # /api/batches (backend/routes/BatchRoutes.js): after GET /:id, which they never shadow.
    Route(
        "GET",
        "/api/batches/:id/analytics/admin",
        admin_batch_analytics,
        Failure("Failed to fetch admin batch analytics"),
        auth="jwt",
    ),
    Route(
        "GET",
        "/api/batches/:id/analytics/mentor",
        mentor_batch_analytics,
        Failure("Failed to fetch mentor batch analytics"),
        auth="jwt",
    ),
    # /api/analytics (backend/routes/analyticsRoutes.js)
    Route(
        "GET",
        "/api/analytics/batch/:batchId/enrollment",
        enrollment,
        _own_500(_ENROLLMENT_FAILURE),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/analytics/batch/:batchId/engagement",
        engagement,
        _own_500(_ENGAGEMENT_FAILURE),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/analytics/batch/:batchId/performance",
        performance,
        _own_500(_PERFORMANCE_FAILURE),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/analytics/batch/:batchId/summary",
        summary,
        _own_500("Failed to fetch analytics summary"),
        fixed_auth="jwt",
    ),
    # /api/mentor (backend/routes/mentorAnalyticsRoutes.js)
    Route(
        "GET",
        "/api/mentor/batch/:batchId/student-progress",
        student_progress,
        _own_500("Failed to fetch student progress analytics"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/mentor/batch/:batchId/engagement",
        mentor_engagement,
        _own_500(_ENGAGEMENT_FAILURE),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/mentor/batch/:batchId/task-management",
        task_management,
        _own_500("Failed to fetch task management analytics"),
        fixed_auth="jwt",
    ),
    Route(
        "POST",
        "/api/mentor/grade-submission",
        grade_submission,
        _own_500("Failed to grade submission"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/mentor/student/:studentId/analytics",
        student_analytics,
        _own_500("Failed to fetch student analytics"),
        fixed_auth="jwt",
    ),
    Route(
        "POST",
        "/api/mentor/answer-question",
        answer_question,
        _own_500("Failed to answer question"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/mentor/batch/:batchId/activity-stream",
        activity_stream,
        _own_500("Failed to fetch activity stream"),
        fixed_auth="jwt",
    ),
)
"""This area's routes, in the real service's matching order."""
