"""Batch analytics computed from the stored documents: the reports behind ``/api/analytics``,
``/api/mentor`` and ``/api/batches/:id/analytics/*`` (the routes are in ``_routes_analytics``).

Students are the progress documents whose user exists, is enrolled in the batch and is not an
admin; days are UTC ``YYYY-MM-DD``; rounding is JavaScript's ``Math.round``, as the real
service computes the same numbers.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ._documents import populate
from ._ids import parse_iso
from ._progress import js_round
from ._routing import STAFF, Context, HttpError
from ._store import Collection, Doc

DAY = timedelta(days=1)
REPORT_DAYS = 7
"""The daily series cover this many UTC days, today last."""
ACTIVE_WINDOW = timedelta(days=7)
"""A student with a logged activity this recent is active."""
ANSWER_MARK = "\n\n--- ANSWER ---\n"
"""What ``POST /api/mentor/answer-question`` puts between a question and its answer."""

# How the mentor routes show each activity: (action text, item when there is no description,
# type).
_ACTIVITY_TEXT: dict[str, tuple[str, str, str]] = {
    "task_started": ("started lesson", "a lesson", "lesson"),
    "task_submitted": ("submitted task", "a task", "task"),
    "task_graded": ("received grade for", "a task", "task"),
    "task_completed": ("completed lesson", "a lesson", "lesson"),
    "skill_acquired": ("acquired skill", "a new skill", "skill"),
    "milestone_reached": ("reached milestone", "a milestone", "milestone"),
}
_OTHER_ACTIVITY = ("performed action", "an activity", "other")


def utc_day(timestamp: object) -> str | None:
    """The UTC day (``YYYY-MM-DD``) of a stored timestamp, None without one."""
    if not isinstance(timestamp, str):
        return None
    return parse_iso(timestamp).astimezone(UTC).date().isoformat()


def parse_time(timestamp: object) -> datetime | None:
    """A stored timestamp as an aware datetime, None without one."""
    return parse_iso(timestamp) if isinstance(timestamp, str) else None


def report_days(ctx: Context) -> list[str]:
    """The last :data:`REPORT_DAYS` UTC days, oldest first, today last."""
    today = ctx.now.astimezone(UTC)
    return [(today - i * DAY).date().isoformat() for i in range(REPORT_DAYS - 1, -1, -1)]


def mean(values: list[float]) -> float:
    """The arithmetic mean, 0 for no values."""
    return sum(values) / len(values) if values else 0


def one_decimal(value: float) -> float:
    """``Math.round(value * 10) / 10``, an int when it is whole (as JSON shows it)."""
    rounded = js_round(value * 10) / 10
    return int(rounded) if float(rounded).is_integer() else rounded


def metric(progress: Doc, name: str) -> float:
    """One of the progress's stored metrics, 0 when it is missing."""
    value = progress.get("progressMetrics", {}).get(name)
    return value if isinstance(value, int | float) else 0


def last_active_day(progress: Doc, ctx: Context) -> str | None:
    """The day of the progress's last logged activity, else of its creation."""
    log = progress.get("activityLog") or []
    when = log[-1].get("timestamp") if log else progress.get("createdAt") or ctx.timestamp
    return utc_day(when)


def recent_activity_count(progress: Doc, ctx: Context) -> int:
    """How many logged activities of the progress fall within :data:`ACTIVE_WINDOW`."""
    since = ctx.now - ACTIVE_WINDOW
    return sum(
        1
        for log in progress.get("activityLog") or []
        if (at := parse_time(log.get("timestamp"))) is not None and at >= since
    )


def batch_tasks(ctx: Context, batch: Doc) -> list[Doc]:
    """The batch's tasks that still exist, in the batch's order (Mongoose's populate)."""
    tasks = (ctx.store.get(Collection.TASKS, ref) for ref in batch.get("tasks") or [])
    return [task for task in tasks if task is not None]


def batch_users(ctx: Context, batch: Doc) -> list[Doc]:
    """The batch's users that still exist (Mongoose's populate drops the others)."""
    users = (ctx.store.get(Collection.USERS, ref) for ref in batch.get("users") or [])
    return [user for user in users if user is not None]


@dataclass(frozen=True)
class Student:
    """A student's progress in the batch, with its user."""

    progress: Doc
    user: Doc


def progress_with_users(ctx: Context, batch_id: str) -> list[tuple[Doc, Doc | None]]:
    """Every progress of the batch with its user, None where the user was deleted."""
    return [
        (progress, ctx.store.get(Collection.USERS, progress["userId"]))
        for progress in ctx.store.find(Collection.PROGRESS, batchId=batch_id)
    ]


def students_of(ctx: Context, batch: Doc, users: list[Doc], orphan_error: Any) -> list[Student]:
    """The students: progress whose user exists, is enrolled and is not an admin. A progress
    whose user was deleted is skipped; with ``orphan_500`` on it fails the route with
    ``orphan_error``, as the real service's null dereference does."""
    enrolled = {user["_id"] for user in users if user.get("designation") not in STAFF}
    students = []
    for progress, user in progress_with_users(ctx, batch["_id"]):
        if user is None:
            if ctx.has_defect("orphan_500"):
                raise HttpError(500, orphan_error)
            continue
        if user["_id"] in enrolled:
            students.append(Student(progress, user))
    return students


def is_complete(progress: Doc) -> bool:
    """The progress is at 100 % (the real service's test for a completed student)."""
    return metric(progress, "completionPercentage") >= 100


def enrollment_report(ctx: Context, batch: Doc, users: list[Doc], students: list[Student]) -> Doc:
    """Enrollments per day (by progress creation), the percent of enrolled students at 100 %,
    and their mean days from enrolment to the last completion."""
    days = report_days(ctx)
    created = [utc_day(s.progress.get("createdAt") or ctx.timestamp) for s in students]
    total_enrolled = sum(1 for user in users if user.get("designation") not in STAFF)
    completed = [s.progress for s in students if is_complete(s.progress)]
    total_days = 0.0
    for progress in completed:
        start = parse_time(
            progress.get("createdAt") or batch.get("startDate") or batch.get("createdAt")
        )
        finishes = [
            log
            for log in progress.get("activityLog") or []
            if log.get("action") in ("task_completed", "milestone_reached")
        ]
        end = parse_time(finishes[-1].get("timestamp")) if finishes else None
        if start is not None and end is not None:
            total_days += max((end - start) / DAY, 0)
    return {
        "enrollmentRate": [{"date": day, "enrolled": created.count(day)} for day in days],
        "completionRate": js_round(100 * len(completed) / total_enrolled) if total_enrolled else 0,
        "averageTimeToCompletion": one_decimal(total_days / len(completed)) if completed else 0,
        "totalEnrolled": total_enrolled,
        "totalCompleted": len(completed),
    }


def course_progress(students: list[Student]) -> list[Doc]:
    """How many students stand in each quarter of completion."""
    percentages = [metric(s.progress, "completionPercentage") for s in students]
    bands = (("0-25%", 0, 25), ("26-50%", 25, 50), ("51-75%", 50, 75), ("76-100%", 75, math.inf))
    return [
        {"stage": stage, "users": sum(1 for p in percentages if low <= p < high)}
        for stage, low, high in bands
    ]


def submissions_of(ctx: Context, task: Doc) -> list[Doc]:
    """Every Submission of the task, whoever made it."""
    return ctx.store.find(Collection.SUBMISSIONS, taskId=task["_id"])


def engagement_report(
    ctx: Context, batch: Doc, tasks: list[Doc], students: list[Student], *, forum_row: bool
) -> Doc:
    activity_days = [
        {utc_day(log.get("timestamp")) for log in s.progress.get("activityLog") or []}
        for s in students
    ]
    kinds = {task["_id"]: task.get("contentType") or "video" for task in tasks}

    def views(kind: str) -> int:
        return sum(
            1
            for s in students
            for entry in s.progress.get("taskProgress") or []
            if kinds.get(entry.get("taskId")) == kind and entry.get("status") != "not_started"
        )

    feedback = ctx.store.find(Collection.FEEDBACK, batch=batch["_id"])
    to_mentor = [f for f in feedback if f.get("toUser") == batch.get("mentor")]
    content = [
        {"content": "Video Lectures", "views": views("video"), "type": "video"},
        {"content": "Practice Quizzes", "views": views("quiz"), "type": "quiz"},
        {"content": "Reading Materials", "views": views("document"), "type": "document"},
        {
            "content": "Assignments",
            "views": sum(len(submissions_of(ctx, task)) for task in tasks),
            "type": "assignment",
        },
    ]
    if forum_row:
        content.append({"content": "Discussion Forums", "views": len(feedback), "type": "forum"})
    ratings = [f.get("rating") or 0 for f in to_mentor]
    return {
        "userActivity": [
            {"date": day, "active": sum(1 for days in activity_days if day in days)}
            for day in report_days(ctx)
        ],
        "contentInteraction": content,
        "forumAnalytics": {
            "totalPosts": len(feedback),
            "totalReplies": 0,
            "activeDiscussions": 0,
            "averageResponseTime": 0,
        },
        "mentorInteraction": {
            "totalMessages": len(to_mentor),
            "averageResponseTime": 0,
            "qaSessions": 0,
            "satisfactionScore": one_decimal(mean(ratings)) if ratings else 0,
        },
    }


def task_scores(ctx: Context, tasks: Iterable[Doc], name: str, count: str) -> list[Doc]:
    """Each task's mean grade over its submissions (ungraded ones count 0)."""
    rows = []
    for task in tasks:
        submissions = submissions_of(ctx, task)
        if submissions:
            grades = [s.get("grade") or 0 for s in submissions]
            rows.append(
                {name: task.get("name"), "average": js_round(mean(grades)), count: len(grades)}
            )
    return rows


def individual_progress(ctx: Context, students: list[Student]) -> list[Doc]:
    """Each student's completion, mean grade and last day active."""
    return [
        {
            "id": s.user["_id"],
            "name": s.user.get("username"),
            "progress": js_round(metric(s.progress, "completionPercentage")),
            "score": js_round(metric(s.progress, "averageGrade")),
            "lastActive": last_active_day(s.progress, ctx),
        }
        for s in students
    ]


_MODULE = re.compile(r"Module\s+\d+", re.IGNORECASE)


def module_of(task: Doc, index: int) -> str:
    """The module a task belongs to, inferred from its name as the real service does."""
    name = str(task.get("name") or "")
    if "Module" in name:
        found = _MODULE.search(name)
        return found.group(0) if found else name
    if "introduction" in name.lower():
        return "Introduction"
    if "final" in name.lower():
        return "Final Project"
    return f"Module {index // 3 + 1}"


def drop_off_points(tasks: list[Doc], students: list[Student]) -> list[Doc]:
    """Per module, how many students completed none of its tasks."""
    modules: dict[str, set[str]] = {}
    for index, task in enumerate(tasks):
        modules.setdefault(module_of(task, index), set()).add(task["_id"])
    rows = []
    for module, task_ids in modules.items():
        dropped = sum(
            1
            for s in students
            if not any(
                entry.get("taskId") in task_ids and entry.get("status") in ("completed", "graded")
                for entry in s.progress.get("taskProgress") or []
            )
        )
        rows.append({"module": module, "dropOff": dropped, "total": len(students)})
    return rows


def completed_lessons(user: Doc, tasks: list[Doc]) -> list[Doc]:
    """The tasks the user completed (``User.completedTasks``), in the batch's order."""
    done = {entry.get("task") for entry in user.get("completedTasks") or []}
    return [task for task in tasks if task["_id"] in done]


def progress_level(progress: float) -> str:
    """The mentor batch analytics' engagement level of a completion percentage."""
    return "High" if progress > 70 else "Medium" if progress > 40 else "Low"


QuizScorer = Callable[[Doc, Doc], float]
"""A student's score in a quiz task: ``(user, task) -> score``."""


def mentor_students(
    users: list[Doc],
    tasks: list[Doc],
    quiz_score: QuizScorer,
    submitted: Callable[[Doc, list[Doc]], list[Doc]],
) -> list[Doc]:
    """The batch's users as the mentor batch analytics shows them: progress from their
    completed tasks, a score per quiz task, the tasks they submitted and the batch's mean."""
    quizzes = [task for task in tasks if task.get("contentType") == "quiz"]
    students = []
    for user in users:
        lessons = completed_lessons(user, tasks)
        students.append(
            {
                "_id": user["_id"],
                "name": user.get("username"),
                "email": user.get("email"),
                "progress": js_round(100 * len(lessons) / len(tasks)) if tasks else 0,
                "completedLessons": lessons,
                "quizScores": [
                    {"quiz": quiz.get("name"), "score": quiz_score(user, quiz)} for quiz in quizzes
                ],
                "submittedTasks": submitted(user, lessons),
            }
        )
    average = js_round(mean([s["progress"] for s in students]))
    for student in students:
        student["batchAvg"] = average
    return students


def mentor_report(
    students: list[Doc],
    quizzes: list[Doc],
    *,
    activity: list[Doc],
    qna: list[Doc],
    lessons: list[Doc],
    submissions: list[Doc],
) -> Doc:
    """The mentor batch analytics' answer; ``assignments`` repeats ``quizzes``."""
    return {
        "students": students,
        "quizzes": quizzes,
        "assignments": quizzes,
        "batchActivity": activity,
        "engagement": [
            {"studentId": s["_id"], "student": s["name"], "level": progress_level(s["progress"])}
            for s in students
        ],
        "qna": qna,
        "lessons": lessons,
        "submissions": submissions,
    }


def sample_mentor_analytics(users: list[Doc], tasks: list[Doc]) -> Doc:
    """The real service's answer: random scores, rates and statuses, sample activity and
    questions (defect ``fake_analytics``)."""
    students = mentor_students(
        users, tasks, lambda _user, _quiz: random.randrange(100), lambda _user, done: done
    )
    names = [s["name"] for s in students]
    quizzes = [
        {
            "name": task.get("name"),
            "averageScore": random.randrange(100),
            "difficultQuestions": ["Q2", "Q5"][: random.randrange(2)],
        }
        for task in tasks
        if task.get("contentType") == "quiz"
    ]
    return mentor_report(
        students,
        quizzes,
        activity=[
            item
            for name in names
            for item in (
                {"student": name, "action": "completed a lesson", "time": "2h ago"},
                {"student": name, "action": "submitted a task", "time": "1h ago"},
            )
        ],
        qna=[
            {
                "student": names[0] if names else "Student",
                "question": "How do I solve Q3?",
                "answered": False,
            },
            {
                "student": names[1] if len(names) > 1 else "Student",
                "question": "Can you explain topic X?",
                "answered": True,
            },
        ],
        lessons=[
            {
                "lesson": task.get("name"),
                "completionRate": random.randrange(100),
                "avgTime": random.randrange(60),
                "feedback": "",
            }
            for task in tasks
        ],
        submissions=[
            {
                "taskId": task["_id"],
                "task": task.get("name"),
                "status": random.choice(["Not Started", "In Progress", "Submitted", "Graded"]),
                "submitted": random.randrange(len(students)) if students else 0,
                "graded": random.randrange(len(students)) if students else 0,
                "student": random.choice(names) if names else "",
                "feedback": "Great job!" if random.random() > 0.5 else "",
            }
            for task in tasks
        ],
    )


def activity_item(log: Doc, student: str | None) -> Doc:
    """A logged activity as the mentor routes show it."""
    action, fallback, kind = _ACTIVITY_TEXT.get(str(log.get("action")), _OTHER_ACTIVITY)
    return {
        "id": log.get("_id"),
        "student": student,
        "action": action,
        "item": log.get("description") or fallback,
        "timestamp": log.get("timestamp"),
        "type": kind,
    }


def newest_first(items: list[Doc], field: str = "timestamp") -> list[Doc]:
    """``items`` sorted by a stored time, newest first."""
    return sorted(items, key=lambda item: str(item.get(field) or ""), reverse=True)


def computed_mentor_analytics(ctx: Context, batch: Doc, users: list[Doc], tasks: list[Doc]) -> Doc:
    """The mentor batch analytics from the stored data: grades from the users' submissions,
    activity from their progress, questions from the batch's feedback; 0 or empty without
    data."""
    store = ctx.store
    names = {user["_id"]: user.get("username") for user in users}
    submissions = {
        task["_id"]: [s for s in submissions_of(ctx, task) if s.get("userId") in names]
        for task in tasks
    }

    def quiz_score(user: Doc, quiz: Doc) -> float:
        grades = [
            s["grade"]
            for s in submissions[quiz["_id"]]
            if s.get("userId") == user["_id"] and s.get("grade") is not None
        ]
        return grades[-1] if grades else 0

    def submitted(user: Doc, _done: list[Doc]) -> list[Doc]:
        return [
            task
            for task in tasks
            if any(s.get("userId") == user["_id"] for s in submissions[task["_id"]])
        ]

    quizzes: list[Doc] = []
    for task in tasks:
        if task.get("contentType") != "quiz":
            continue
        grades = [s["grade"] for s in submissions[task["_id"]] if s.get("grade") is not None]
        # Grades are kept per task, not per question: no question is known to be hard.
        quizzes.append(
            {
                "name": task.get("name"),
                "averageScore": js_round(mean(grades)),
                "difficultQuestions": [],
            }
        )
    activity = newest_first(
        [
            activity_item(log, names[progress["userId"]])
            for progress in store.find(Collection.PROGRESS, batchId=batch["_id"])
            if progress["userId"] in names
            for log in progress.get("activityLog") or []
        ]
    )
    feedback = newest_first(store.find(Collection.FEEDBACK, batch=batch["_id"]), "createdAt")
    completed_by = [{entry.get("task") for entry in u.get("completedTasks") or []} for u in users]

    def lesson(task: Doc) -> Doc:
        done = sum(1 for tasks_done in completed_by if task["_id"] in tasks_done)
        notes = [f for f in feedback if f.get("task") == task["_id"]]
        return {
            "lesson": task.get("name"),
            "completionRate": js_round(100 * done / len(users)) if users else 0,
            # Nothing records how long a lesson took.
            "avgTime": 0,
            "feedback": str(notes[0].get("content") or "") if notes else "",
        }

    def submission_summary(task: Doc) -> Doc:
        made = newest_first(submissions[task["_id"]], "submittedAt")
        graded = [s for s in made if s.get("status") == "graded" or s.get("grade") is not None]
        status = (
            "Not Started" if not made else "Graded" if len(graded) == len(made) else "Submitted"
        )
        return {
            "taskId": task["_id"],
            "task": task.get("name"),
            "status": status,
            "submitted": len(made),
            "graded": len(graded),
            "student": (names.get(made[0].get("userId")) or "") if made else "",
            "feedback": str(graded[0].get("feedback") or "") if graded else "",
        }

    return mentor_report(
        mentor_students(users, tasks, quiz_score, submitted),
        quizzes,
        activity=[
            {"student": item["student"], "action": item["action"], "time": item["timestamp"]}
            for item in activity[:50]
        ],
        qna=[
            {
                "student": sender_name(ctx, item),
                "question": item.get("content"),
                "answered": ANSWER_MARK in str(item.get("content") or ""),
            }
            for item in feedback[:20]
        ],
        lessons=[lesson(task) for task in tasks],
        submissions=[submission_summary(task) for task in tasks],
    )


def sender_name(ctx: Context, feedback: Doc) -> str:
    """The username of who sent a feedback, ``"Anonymous"`` once that user is gone."""
    sender = populate(ctx.store, Collection.USERS, feedback.get("fromUser"), ("username",))
    return str((sender or {}).get("username") or "Anonymous")


def quiz_analytics(students: list[Doc]) -> list[Doc]:
    """Per task with graded submissions: the mean, the count, letter bands and, below 80 %
    passing (60 and up), one question flagged as hard."""
    by_quiz: dict[Any, list[float]] = {}
    for student in students:
        for score in student["quizScores"]:
            by_quiz.setdefault(score["quiz"], []).append(score["score"])
    rows = []
    for quiz, scores in by_quiz.items():
        passing = 100 * sum(1 for s in scores if s >= 60) / len(scores)
        hard = []
        if passing < 60:
            hard.append(
                {
                    "question": f"Understanding core concepts in {quiz}",
                    "correctRate": js_round(passing),
                }
            )
        elif passing < 80:
            hard.append(
                {"question": f"Advanced topics in {quiz}", "correctRate": js_round(passing)}
            )
        bands = (
            ("A (90-100)", 90, math.inf),
            ("B (80-89)", 80, 90),
            ("C (70-79)", 70, 80),
            ("D (60-69)", 60, 70),
            ("F (0-59)", -math.inf, 60),
        )
        rows.append(
            {
                "quiz": quiz,
                "averageScore": js_round(mean(scores)),
                "totalAttempts": len(scores),
                "gradeDistribution": [
                    {"grade": grade, "count": sum(1 for s in scores if low <= s < high)}
                    for grade, low, high in bands
                ],
                "difficultQuestions": hard,
            }
        )
    return rows


def activity_of(ctx: Context, batch_id: str, per_student: int | None) -> list[Doc]:
    """The batch's activities as the mentor routes show them, newest first; ``per_student``
    keeps only each student's newest logged entries."""
    items = []
    for progress, user in progress_with_users(ctx, batch_id):
        if user is None:
            continue
        log = progress.get("activityLog") or []
        for entry in log[-per_student:] if per_student else log:
            items.append(activity_item(entry, user.get("username")))
    return newest_first(items)
