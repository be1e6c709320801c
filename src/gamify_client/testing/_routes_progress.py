"""``/api/batch-progress``: dashboards, per-user and per-batch progress, activity,
notifications, the second submit route and the real service's debug route.

The dashboard, the per-user reads and the notifications check a token (``authenticateJWT``);
the others do not, as in the real service. The fixed backend adds a token to initialize and
submit-task and lets only that user or staff act for a user or read their progress (defect
``missing_auth``). References are populated with the fields the real routes select, and a
reference to a deleted document shows as null. Each defect of this area is fixed unless its
switch is on: ``batch_progress_populate_500``, ``streak_flag_only``, ``repeat_xp``,
``submit_task_500_after_write``, ``graded_not_completed`` (in the metrics), ``orphan_500``,
``activity_limit_users``, ``debug_route_public``, ``validation_500``, ``missing_auth``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ._documents import populate, touch
from ._express import BackendResponse, json_response, not_found_page
from ._ids import parse_iso
from ._progress import (
    add_activity,
    completion_days,
    current_streak,
    js_round,
    new_progress,
    new_task_entry,
    recompute_metrics,
    user_streak,
    zeroed_progress,
)
from ._routing import Context, Failure, HttpError, Route, js_falsy, object_id, require_fields
from ._store import Collection, Doc, DocumentStore
from ._submissions import batch_progress_summary, complete_task

_TASK_FIELDS_FOR_USER = ("name", "description", "points", "difficulty", "dueDate")
_SUBMISSION_FIELDS = ("submissionType", "value", "submittedAt", "status", "grade", "feedback")
_BATCH_FIELDS = ("name", "description", "industryFocus")
_DEFAULT_ACTIVITY_LIMIT = 50
_RECENT_SUBMISSIONS = 10
_NOTIFICATION_LIMIT = 20
_PRIORITY = {"high": 3, "medium": 2, "low": 1}
_MENTORS_POPULATE_ERROR = (
    "Cannot populate path `mentors` because it is not in your schema. "
    "Set the `strictPopulate` option to false to override."
)


class MongooseError(Exception):
    """A body Mongoose refuses: the route's 500 under ``validation_500``, else 400."""


def _refuse(ctx: Context, text: str, mongoose_prefix: str = "") -> None:
    """400 ``{message: text}``; under ``validation_500`` the route's 500, its error worded as
    Mongoose words it (``mongoose_prefix`` + ``text``)."""
    if ctx.has_defect("validation_500"):
        raise MongooseError(mongoose_prefix + text)
    raise HttpError(400, {"message": text})


def _null_read(path: str) -> TypeError:
    """The TypeError JavaScript throws when a handler reads ``path`` of null."""
    return TypeError(f"Cannot read properties of null (reading '{path}')")


def _populate_progress(
    store: DocumentStore,
    progress: Doc,
    *,
    task_fields: tuple[str, ...],
    batch_fields: tuple[str, ...] | None = None,
    user_fields: tuple[str, ...] | None = None,
    submission_fields: tuple[str, ...] | None = None,
) -> Doc:
    for entry in progress["taskProgress"]:
        entry["taskId"] = populate(store, Collection.TASKS, entry["taskId"], task_fields)
        if submission_fields is not None and "submissionId" in entry:
            entry["submissionId"] = populate(
                store, Collection.SUBMISSIONS, entry["submissionId"], submission_fields
            )
    if batch_fields is not None:
        progress["batchId"] = populate(store, Collection.BATCHES, progress["batchId"], batch_fields)
    if user_fields is not None:
        progress["userId"] = populate(store, Collection.USERS, progress["userId"], user_fields)
    return progress


def _newest_active_first(progresses: list[Doc]) -> list[Doc]:
    return sorted(progresses, key=lambda p: str(p["lastActiveAt"]), reverse=True)


def _flagged_streak(logs: Iterable[Doc], now: datetime) -> int:
    """The real service's streak: days with a ``task_completed`` flagged ``isFirstTaskOfDay``
    (defect ``streak_flag_only``)."""
    days = {
        parse_iso(entry["timestamp"]).astimezone(now.tzinfo).date()
        for entry in logs
        if entry.get("action") == "task_completed"
        and (entry.get("metadata") or {}).get("isFirstTaskOfDay") is True
    }
    return current_streak(days, now.date())


def _user_param(ctx: Context) -> str:
    """The path's ``userId``, readable by that user or staff only once ``missing_auth`` is
    fixed."""
    user_id = object_id(ctx.params["userId"], "UserBatchProgress", "userId")
    ctx.require_self_or(user_id, message="You can only read your own progress")
    return user_id


# --- reads ------------------------------------------------------------------------------------


def user_batch_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/user/:userId/:batchId``: the progress, or a zeroed one."""
    user_id = _user_param(ctx)
    batch_id = object_id(ctx.params["batchId"], "UserBatchProgress", "batchId")
    progress = ctx.store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch_id)
    if progress is None:
        zeroed = zeroed_progress(ctx, user_id=user_id, batch_id=batch_id)
        return json_response(200, {"success": True, "progress": zeroed})
    _populate_progress(
        ctx.store,
        progress,
        task_fields=_TASK_FIELDS_FOR_USER,
        submission_fields=_SUBMISSION_FIELDS,
        batch_fields=_BATCH_FIELDS,
        user_fields=("username", "email"),
    )
    return json_response(200, {"success": True, "progress": progress})


def all_user_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/user/:userId``: every progress of the user, newest first."""
    user_id = _user_param(ctx)
    progresses = _newest_active_first(ctx.store.find(Collection.PROGRESS, userId=user_id))
    shown = [
        _populate_progress(
            ctx.store,
            progress,
            task_fields=("name", "points", "difficulty"),
            batch_fields=(*_BATCH_FIELDS, "status"),
        )
        for progress in progresses
    ]
    return json_response(200, {"success": True, "progress": shown})


def _repair_progress(ctx: Context, user_id: str) -> None:
    """What the dashboard writes as it reads: a progress for every batch listing the user,
    an entry for every batch task, and submitted tasks marked completed. Nothing is copied
    or written when there is nothing to repair, which is almost every time."""
    store = ctx.store
    # Batches are few and have no index on their members, so this reads them all (shared
    # copies: only read).
    for batch in store.peek_found(Collection.BATCHES):
        if user_id not in batch["users"]:
            continue
        found = store.peek_found(Collection.PROGRESS, userId=user_id, batchId=batch["_id"])
        if not found:
            progress = new_progress(
                ctx, user_id=user_id, batch_id=batch["_id"], task_ids=batch["tasks"]
            )
            add_activity(
                ctx,
                progress,
                "milestone_reached",
                None,
                f"Auto-enrolled in batch: {batch['name']}",
                {
                    "batchName": batch["name"],
                    "totalTasks": len(batch["tasks"]),
                    "enrollmentDate": ctx.timestamp,
                },
            )
            store.insert(Collection.PROGRESS, progress)
            continue
        missing, completions = _progress_repairs(ctx, found[0], batch)
        if missing or completions:
            repaired = store.get(Collection.PROGRESS, found[0]["_id"])
            assert repaired is not None
            _apply_repairs(ctx, repaired, missing, completions)
            recompute_metrics(ctx, repaired)
            store.save(Collection.PROGRESS, repaired)


def _progress_repairs(
    ctx: Context, progress: Doc, batch: Doc
) -> tuple[list[str], list[tuple[Doc, int]]]:
    """What the progress lacks, found without changing it: the batch tasks it has no entry
    for, and the submissions (with the task's points) whose entry is still ``not_started``."""
    statuses = {entry["taskId"]: entry.get("status") for entry in progress["taskProgress"]}
    missing: list[str] = []
    for task_id in batch["tasks"]:
        if task_id not in statuses:
            statuses[task_id] = "not_started"
            missing.append(task_id)
    completions: list[tuple[Doc, int]] = []
    for submission in ctx.store.peek_found(Collection.SUBMISSIONS, userId=progress["userId"]):
        task = ctx.store.peek(Collection.TASKS, submission["taskId"])
        if task is None or statuses.get(submission["taskId"]) != "not_started":
            continue
        statuses[submission["taskId"]] = "completed"
        completions.append((submission, task.get("points") or 0))
    return missing, completions


def _apply_repairs(
    ctx: Context, progress: Doc, missing: list[str], completions: list[tuple[Doc, int]]
) -> None:
    """Add an entry for each ``missing`` task, then mark the ``completions`` completed."""
    entries = {entry["taskId"]: entry for entry in progress["taskProgress"]}
    for task_id in missing:
        entries[task_id] = new_task_entry(ctx, task_id)
        progress["taskProgress"].append(entries[task_id])
    for submission, points in completions:
        entries[submission["taskId"]].update(
            status="completed",
            submissionId=submission["_id"],
            submittedAt=submission["submittedAt"],
            pointsEarned=points,
            attempts=1,
        )


def dashboard(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/dashboard/me``: the token's user's whole dashboard, after
    repairing their progress."""
    store = ctx.store
    user_id = object_id(ctx.verified_claims().user_id, "User")
    user = store.peek(Collection.USERS, user_id)
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    _repair_progress(ctx, user_id)
    progresses = _newest_active_first(
        [p for p in store.find(Collection.PROGRESS, userId=user_id) if p["status"] == "active"]
    )
    metrics = [p["progressMetrics"] for p in progresses]
    submissions = sorted(
        store.find(Collection.SUBMISSIONS, userId=user_id),
        key=lambda s: str(s["submittedAt"]),
        reverse=True,
    )[:_RECENT_SUBMISSIONS]
    for submission in submissions:
        submission["taskId"] = populate(
            store, Collection.TASKS, submission["taskId"], ("name", "points")
        )
    if ctx.has_defect("streak_flag_only"):
        streak = _flagged_streak((a for p in progresses for a in p["activityLog"]), ctx.now)
    else:
        streak = user_streak(user, ctx.now)
    overall = {
        "totalBatches": len(progresses),
        "totalTasksAcrossAllBatches": sum(m.get("totalTasks", 0) for m in metrics),
        "totalCompletedTasks": sum(m.get("completedTasks", 0) for m in metrics),
        "totalSubmittedTasks": sum(m.get("submittedTasks", 0) for m in metrics),
        "totalPointsEarned": sum(m.get("totalPointsEarned", 0) for m in metrics),
        "userTotalXP": user.get("xps") or 0,
        "currentStreak": streak,
        "averageCompletionRate": (
            js_round(sum(m.get("completionPercentage", 0) for m in metrics) / len(metrics))
            if metrics
            else 0
        ),
    }
    batch_progress = [
        _populate_progress(
            store,
            progress,
            task_fields=("name", "dueDate", "difficulty"),
            batch_fields=_BATCH_FIELDS,
        )
        for progress in progresses
    ]
    return json_response(
        200,
        {
            "success": True,
            "dashboard": {
                "overallStats": overall,
                "batchProgress": batch_progress,
                "recentSubmissions": submissions,
                "userProfile": {"username": user["username"], "totalXP": user.get("xps")},
                "lastUpdated": ctx.timestamp,
            },
        },
    )


def _js_number(value: Any) -> str:
    """A number as JavaScript prints it in a template string (``90``, not ``90.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _entry_notifications(ctx: Context, progress: Doc, batch: Doc | None) -> Iterable[Doc]:
    for entry in progress["taskProgress"]:
        task = populate(ctx.store, Collection.TASKS, entry["taskId"], ("name", "dueDate"))
        if task is None:
            if ctx.has_defect("orphan_500"):
                raise _null_read("dueDate")
            continue
        overdue = (
            bool(task.get("dueDate"))
            and parse_iso(task["dueDate"]) < ctx.now
            and entry.get("status") == "not_started"
        )
        graded = entry.get("status") == "graded" and entry.get("grade") is not None
        if not (overdue or graded):
            continue
        if batch is None:
            if ctx.has_defect("orphan_500"):
                raise _null_read("name" if overdue else "_id")
            continue
        if overdue:
            yield {
                "type": "overdue_task",
                "title": "Overdue Task",
                "message": f'Task "{task["name"]}" in batch "{batch["name"]}" is overdue',
                "taskId": task["_id"],
                "batchId": batch["_id"],
                "priority": "high",
                "timestamp": ctx.timestamp,
            }
        if graded:
            note = {
                "type": "task_graded",
                "title": "Task Graded",
                "message": f'Your submission for "{task["name"]}" has been graded: '
                f"{_js_number(entry['grade'])}/100",
                "taskId": task["_id"],
                "batchId": batch["_id"],
                "priority": "medium",
            }
            if entry.get("submittedAt"):
                note["timestamp"] = entry["submittedAt"]
            yield note


def notifications(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/notifications/:userId``: overdue and graded tasks, high
    priority first, then newest, at most 20. Entries whose task or batch was deleted are
    skipped (the real service answers 500, defect ``orphan_500``)."""
    user_id = _user_param(ctx)
    found: list[Doc] = []
    for progress in ctx.store.find(Collection.PROGRESS, userId=user_id):
        batch = populate(ctx.store, Collection.BATCHES, progress["batchId"], ("name",))
        found.extend(_entry_notifications(ctx, progress, batch))
    found.sort(key=lambda n: str(n.get("timestamp") or ""), reverse=True)
    found.sort(key=lambda n: _PRIORITY[n["priority"]], reverse=True)
    return json_response(200, {"success": True, "notifications": found[:_NOTIFICATION_LIMIT]})


def debug_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/test/:userId``: every progress of a user, fully populated,
    with a summary. Only in debug mode (defect ``debug_route_public`` opens it always)."""
    if not (ctx.state.debug or ctx.has_defect("debug_route_public")):
        return not_found_page("GET", f"/api/batch-progress/test/{ctx.params['userId']}")
    store = ctx.store
    user_id = object_id(ctx.params["userId"], "UserBatchProgress", "userId")
    records = [
        _populate_progress(
            store,
            progress,
            task_fields=_TASK_FIELDS_FOR_USER,
            submission_fields=_SUBMISSION_FIELDS,
            batch_fields=(*_BATCH_FIELDS, "status"),
            user_fields=("username", "email"),
        )
        for progress in _newest_active_first(store.find(Collection.PROGRESS, userId=user_id))
    ]
    user = populate(store, Collection.USERS, user_id, ("username", "email", "xps"))
    summary = {
        "totalBatches": len(records),
        "totalTasks": sum(len(p["taskProgress"]) for p in records),
        "completedTasks": sum(
            1 for p in records for e in p["taskProgress"] if e.get("status") == "completed"
        ),
        "totalXP": (user or {}).get("xps") or 0,
    }
    return json_response(
        200,
        {
            "success": True,
            "message": "Test progress data retrieved successfully",
            "data": {
                "user": user,
                "progressRecords": records,
                "summary": summary,
                "testTimestamp": ctx.timestamp,
            },
        },
    )


def batch_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/batch/:batchId``: the batch and its students' progress.

    Students are sorted by completion percentage, highest first; an unknown batch gives
    ``batch: null`` and no students, as in the real service (which always answers 500 for
    its populate of ``mentors``, defect ``batch_progress_populate_500``).
    """
    store = ctx.store
    batch_id = object_id(ctx.params["batchId"], "UserBatchProgress", "batchId")
    if ctx.has_defect("batch_progress_populate_500"):
        return json_response(
            500, {"message": "Failed to fetch batch progress", "error": _MENTORS_POPULATE_ERROR}
        )
    students = sorted(
        store.find(Collection.PROGRESS, batchId=batch_id),
        key=lambda p: p["progressMetrics"].get("completionPercentage", 0),
        reverse=True,
    )
    shown = [
        _populate_progress(
            store,
            progress,
            task_fields=("name", "points", "difficulty"),
            user_fields=("username", "email"),
        )
        for progress in students
    ]
    batch = store.get(Collection.BATCHES, batch_id)
    if batch is not None:
        for role in ("mentor", "admin"):
            batch[role] = populate(store, Collection.USERS, batch.get(role), ("username",))
    return json_response(200, {"success": True, "batch": batch, "studentsProgress": shown})


def _activity_limit(ctx: Context) -> int:
    raw = ctx.query.get("limit")
    if raw is None:
        return _DEFAULT_ACTIVITY_LIMIT
    if re.fullmatch(r"\d+", raw.strip()):
        return int(raw)
    _refuse(ctx, "Invalid limit")
    return _DEFAULT_ACTIVITY_LIMIT


def _latest_activity(progress: Doc) -> str:
    return max((str(a["timestamp"]) for a in progress["activityLog"]), default="")


def batch_activity(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/activity/:batchId?limit=50``: the newest activities of every
    student (the real service also reads only ``limit`` students' logs, defect
    ``activity_limit_users``)."""
    store = ctx.store
    batch_id = object_id(ctx.params["batchId"], "UserBatchProgress", "batchId")
    limit = _activity_limit(ctx)
    progresses = store.find(Collection.PROGRESS, batchId=batch_id)
    if ctx.has_defect("activity_limit_users") and limit:
        newest = sorted(progresses, key=_latest_activity, reverse=True)[:limit]
        read = {progress["_id"] for progress in newest}
        progresses = [progress for progress in progresses if progress["_id"] in read]
    activities: list[Doc] = []
    for progress in progresses:
        user = populate(store, Collection.USERS, progress["userId"], ("username",))
        for activity in progress["activityLog"]:
            task = populate(store, Collection.TASKS, activity.get("taskId"), ("name",))
            activities.append({**activity, "taskId": task, "user": user})
    activities.sort(key=lambda a: str(a["timestamp"]), reverse=True)
    return json_response(200, {"success": True, "activities": activities[:limit]})


# --- writes -----------------------------------------------------------------------------------


def _ids_of(ctx: Context, *names: str) -> list[str]:
    """The body's ids ``names``: 400 when one is missing (the route's 500 under
    ``validation_500``), and only the caller or staff may name another user."""
    fields = ctx.fields
    missing = [name for name in names if js_falsy(fields.get(name))]
    if missing:
        prefix = f"UserBatchProgress validation failed: {missing[0]}: "
        _refuse(ctx, f"Path `{missing[0]}` is required.", prefix)
    ids = [object_id(fields[name], "UserBatchProgress", name) for name in names]
    ctx.require_self_or(fields["userId"])
    return ids


def initialize_progress(ctx: Context) -> BackendResponse:
    """``POST /api/batch-progress/initialize``: 201 with a fresh progress; twice: 400."""
    user_id, batch_id = _ids_of(ctx, "userId", "batchId")
    if ctx.store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch_id) is not None:
        raise HttpError(400, {"message": "Progress already initialized"})
    batch = ctx.store.get(Collection.BATCHES, batch_id)
    if batch is None:
        raise HttpError(404, {"message": "Batch not found"})
    progress = new_progress(ctx, user_id=user_id, batch_id=batch_id, task_ids=batch["tasks"])
    add_activity(
        ctx,
        progress,
        "milestone_reached",
        None,
        f"Enrolled in batch: {batch['name']}",
        {"batchName": batch["name"], "totalTasks": len(batch["tasks"])},
    )
    ctx.store.insert(Collection.PROGRESS, progress)
    return json_response(
        201,
        {
            "success": True,
            "message": "Batch progress initialized successfully",
            "progress": progress,
        },
    )


def _grade(ctx: Context) -> Any:
    """``submissionData.grade`` as a Number path takes it; None when absent or falsy."""
    data = ctx.fields.get("submissionData")
    grade = data.get("grade") if isinstance(data, dict) else None
    if js_falsy(grade):
        return None
    if isinstance(grade, str):
        try:
            grade = float(grade)
        except ValueError:
            grade = None
    if isinstance(grade, bool) or not isinstance(grade, (int, float)) or not math.isfinite(grade):
        _refuse(ctx, "Cast to Number failed for path `grade`")
    return int(grade) if isinstance(grade, float) and grade.is_integer() else grade


def _record_progress(
    ctx: Context, progress: Doc, task: Doc, points: int, grade: Any, first_of_day: bool | None
) -> bool:
    """Mark ``task`` done in ``progress``, log it and recompute; returns ``isFirstTaskOfDay``
    (``first_of_day``, or, when None, the real service's count over this progress's log)."""
    entry = next((e for e in progress["taskProgress"] if e["taskId"] == task["_id"]), None)
    if entry is None:
        entry = new_task_entry(ctx, task["_id"])
        progress["taskProgress"].append(entry)
    entry.update(
        status="graded" if grade is not None else "completed",
        submittedAt=ctx.timestamp,
        pointsEarned=points,
        attempts=entry.get("attempts", 0) + 1,
    )
    if grade is not None:
        entry["grade"] = grade
    metadata = {
        "taskName": task["name"],
        "pointsEarned": points,
        "completionTime": ctx.timestamp,
        "isFirstTaskOfDay": bool(first_of_day),
    }
    description = f"Completed task: {task['name']}"
    add_activity(ctx, progress, "task_completed", task["_id"], description, metadata)
    if first_of_day is None:
        today = ctx.now.date()
        first_of_day = (
            sum(
                1
                for log in progress["activityLog"]
                if log["action"] == "task_completed"
                and parse_iso(log["timestamp"]).astimezone(ctx.now.tzinfo).date() == today
            )
            <= 1
        )
        metadata["isFirstTaskOfDay"] = first_of_day
    recompute_metrics(ctx, progress)
    ctx.store.save(Collection.PROGRESS, progress)
    return first_of_day


def _award(ctx: Context, user: Doc, task: Doc, points: int) -> int:
    """XP for this completion: the task's points the first time the user completes it (every
    time under ``repeat_xp``); the user's completion is recorded once. Returns the streak."""
    xp_awards = 0 if ctx.has_defect("xp_not_updated") else 1
    if all(entry["task"] != task["_id"] for entry in user["completedTasks"]):
        return complete_task(
            ctx,
            user=user,
            task=task,
            batch=None,
            points=points,
            xp_awards=xp_awards,
            submission_id=None,
            grade=None,
            activity_metadata={},
        ).current_streak
    if ctx.has_defect("repeat_xp"):
        user["xps"] = (user.get("xps") or 0) + points * xp_awards
        ctx.store.save(Collection.USERS, touch(ctx, user))
    return user_streak(user, ctx.now)


def submit_task(ctx: Context) -> BackendResponse:
    """``POST /api/batch-progress/submit-task``: complete a task in a batch; 200.

    The entry becomes ``completed`` (``graded`` with a grade), a ``task_completed`` activity
    is logged and the metrics recomputed on every call; the XP comes once per user and task.
    An unknown user or batch is a 404 before any write (the real service writes, then
    answers 500: defect ``submit_task_500_after_write``).
    """
    fields = ctx.fields
    require_fields(fields, "userId", "taskId", "batchId")
    store = ctx.store
    task = store.get(Collection.TASKS, object_id(fields["taskId"], "Task"))
    if task is None:
        raise HttpError(404, {"message": "Task not found"})
    user_id = object_id(fields["userId"], "User")
    batch_id = object_id(fields["batchId"], "Batch")
    ctx.require_self_or(user_id)
    user = store.get(Collection.USERS, user_id)
    batch = store.get(Collection.BATCHES, batch_id)
    late_failure = ctx.has_defect("submit_task_500_after_write")
    if user is None and not late_failure:
        raise HttpError(404, {"message": "User not found"})
    if batch is None and not late_failure:
        raise HttpError(404, {"message": "Batch not found"})
    grade = _grade(ctx)
    points = task.get("points") or 0
    progress = store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch_id)
    if progress is None:
        if batch is None:
            raise _null_read("tasks")
        progress = new_progress(ctx, user_id=user_id, batch_id=batch_id, task_ids=batch["tasks"])
        store.insert(Collection.PROGRESS, progress)
    # The real service flags a first completion by counting this progress's log; the fixed
    # one asks the user's completions in every batch.
    first_by_user = (
        None
        if user is None or ctx.has_defect("streak_flag_only")
        else ctx.now.date() not in completion_days(user, ctx.now)
    )
    first_of_day = _record_progress(ctx, progress, task, points, grade, first_by_user)
    if user is None:
        # The real service saved the progress before it read the missing user's XP.
        error = str(_null_read("xps"))
        return json_response(500, {"message": "Failed to process task submission", "error": error})
    streak = _award(ctx, user, task, points)
    if ctx.has_defect("streak_flag_only"):
        streak = _flagged_streak(progress["activityLog"], ctx.now)
    entry = next(e for e in progress["taskProgress"] if e["taskId"] == task["_id"])
    summary = batch_progress_summary(progress)
    return json_response(
        200,
        {
            "success": True,
            "message": "Task submitted successfully",
            "data": {
                "taskProgress": entry,
                "progressMetrics": progress["progressMetrics"],
                "currentStreak": streak,
                "pointsEarned": points,
                "newTotalXP": user["xps"],
                "isFirstTaskOfDay": first_of_day,
            },
            "realTimeData": {
                "taskStatus": "completed",
                "taskId": task["_id"],
                "batchId": batch_id,
                "userId": user_id,
                "pointsEarned": points,
                "newTotalXP": user["xps"],
                "currentStreak": streak,
                "completionTime": ctx.timestamp,
                "batchProgress": summary,
            },
        },
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/batch-progress/user/:userId/:batchId",
        user_batch_progress,
        Failure("Failed to fetch progress"),
        auth="jwt",
    ),
    Route(
        "GET",
        "/api/batch-progress/user/:userId",
        all_user_progress,
        Failure("Failed to fetch user progress"),
        auth="jwt",
    ),
    Route(
        "GET",
        "/api/batch-progress/dashboard/me",
        dashboard,
        Failure("Failed to fetch dashboard data"),
        auth="jwt",
        cached=True,
    ),
    Route(
        "GET",
        "/api/batch-progress/notifications/:userId",
        notifications,
        Failure("Failed to fetch notifications"),
        auth="jwt",
    ),
    Route(
        "GET",
        "/api/batch-progress/test/:userId",
        debug_progress,
        Failure("Failed to fetch test progress data"),
    ),
    Route(
        "GET",
        "/api/batch-progress/batch/:batchId",
        batch_progress,
        Failure("Failed to fetch batch progress"),
    ),
    Route(
        "GET",
        "/api/batch-progress/activity/:batchId",
        batch_activity,
        Failure("Failed to fetch recent activity"),
    ),
    Route(
        "POST",
        "/api/batch-progress/initialize",
        initialize_progress,
        Failure("Failed to initialize progress"),
        fixed_auth="jwt",
    ),
    Route(
        "POST",
        "/api/batch-progress/submit-task",
        submit_task,
        Failure("Failed to process task submission"),
        fixed_auth="jwt",
    ),
)
"""This area's routes, in the real service's matching order."""
