"""A user's progress in a batch: task entries, metrics, the activity log and the streak.

These are the rules the real-time system depends on (``CONTRACT.md``, "Semantics"): the
metrics are recomputed from the task entries, the activity log keeps the newest
:data:`ACTIVITY_LOG_LIMIT` entries, and the streak counts consecutive calendar days with
a completion, back from today or, when nothing was completed today, from yesterday.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ._ids import parse_iso
from ._routing import Context
from ._store import Doc

ACTIVITY_LOG_LIMIT = 100
SUBMITTED_STATES = ("submitted", "graded", "completed")
COMPLETED_STATES = ("completed", "graded")
"""What counts as completed: a graded task was completed first (the real service counts
only ``completed``, defect ``graded_not_completed``)."""


def js_round(value: float) -> int:
    """``Math.round``: halves go up, unlike Python's ``round``."""
    return math.floor(value + 0.5)


def completion_percentage(completed: int, total: int) -> int:
    """``round(100 * completed / total)``, 0 when there are no tasks."""
    return js_round(100 * completed / total) if total else 0


def new_task_entry(ctx: Context, task_id: str) -> Doc:
    """A ``not_started`` entry for ``task_id``."""
    return {
        "taskId": task_id,
        "status": "not_started",
        "pointsEarned": 0,
        "attempts": 0,
        "_id": ctx.new_id(),
    }


def new_progress(ctx: Context, *, user_id: str, batch_id: str, task_ids: Iterable[str]) -> Doc:
    """A fresh progress document with one ``not_started`` entry per task."""
    progress: Doc = {
        "_id": ctx.new_id(),
        "userId": user_id,
        "batchId": batch_id,
        "taskProgress": [new_task_entry(ctx, task_id) for task_id in task_ids],
        "progressMetrics": {},
        "learningSummary": "",
        "skillsAcquired": [],
        "engagedTopics": [],
        "moodTracker": [],
        "activityLog": [],
        "enrolledAt": ctx.timestamp,
        "lastActiveAt": ctx.timestamp,
        "status": "active",
        "createdAt": ctx.timestamp,
        "updatedAt": ctx.timestamp,
        "__v": 0,
    }
    recompute_metrics(ctx, progress)
    return progress


def zeroed_progress(ctx: Context, *, user_id: str, batch_id: str) -> Doc:
    """What the real service answers for a user with no progress in a batch."""
    return {
        "userId": user_id,
        "batchId": batch_id,
        "progressMetrics": {
            "totalTasks": 0,
            "completedTasks": 0,
            "totalPointsEarned": 0,
            "averageGrade": 0,
            "completionPercentage": 0,
        },
        "activityLog": [],
        "learningSummary": "",
        "skillsAcquired": [],
        "engagedTopics": [],
        "moodTracker": [],
        "lastActiveAt": ctx.timestamp,
        "enrolledAt": ctx.timestamp,
    }


def recompute_metrics(ctx: Context, progress: Doc) -> None:
    """Derive ``progressMetrics`` from the task entries and mark the progress active now."""
    entries: list[Doc] = progress["taskProgress"]
    total = len(entries)
    done = ("completed",) if ctx.has_defect("graded_not_completed") else COMPLETED_STATES
    # One pass over the entries: every submission recomputes the metrics.
    completed = submitted = 0
    points: float = 0
    grades = []
    for entry in entries:
        status = entry.get("status")
        completed += status in done
        submitted += status in SUBMITTED_STATES
        grade = entry.get("grade")
        if grade is not None:
            grades.append(grade)
        points += entry.get("pointsEarned") or 0
    average_grade = sum(grades) / len(grades) if grades else 0
    progress["progressMetrics"] = {
        "totalTasks": total,
        "completedTasks": completed,
        "submittedTasks": submitted,
        "gradedTasks": len(grades),
        "totalPointsEarned": points,
        "completionPercentage": completion_percentage(completed, total),
        "averageGrade": js_round(average_grade * 100) / 100,
    }
    progress["lastActiveAt"] = ctx.timestamp
    progress["updatedAt"] = ctx.timestamp


def add_activity(
    ctx: Context,
    progress: Doc,
    action: str,
    task_id: str | None,
    description: str,
    metadata: dict[str, Any],
) -> None:
    """Log ``action`` and keep only the newest :data:`ACTIVITY_LOG_LIMIT` entries."""
    log: list[Doc] = progress["activityLog"]
    log.append(
        {
            "action": action,
            "taskId": task_id,
            "description": description,
            "metadata": metadata,
            "timestamp": ctx.timestamp,
            "_id": ctx.new_id(),
        }
    )
    del log[:-ACTIVITY_LOG_LIMIT]


def completion_days(user: Doc, now: datetime) -> set[date]:
    """The calendar days (in ``now``'s time zone) on which ``user`` completed a task."""
    stamps = {entry["completedAt"] for entry in user["completedTasks"]}
    if now.tzinfo == UTC:
        # The service writes UTC (``iso``): a stamp's day is its first ten characters, so the
        # days are read off the text instead of parsing every stamp (a user completes many
        # tasks a day, and the streak is counted on every submission and dashboard).
        days = {stamp[:10] for stamp in stamps if stamp.endswith("Z")}
        found = {date.fromisoformat(day) for day in days}
        stamps = {stamp for stamp in stamps if not stamp.endswith("Z")}
    else:
        found = set()
    return found | {parse_iso(stamp).astimezone(now.tzinfo).date() for stamp in stamps}


def current_streak(days: set[date], today: date) -> int:
    """Consecutive days in ``days`` up to ``today``, or up to yesterday if today is missing."""
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak


def user_streak(user: Doc, now: datetime) -> int:
    """The streak of ``user`` as of ``now``."""
    return current_streak(completion_days(user, now), now.date())
