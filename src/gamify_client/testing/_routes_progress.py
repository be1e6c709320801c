"""``/api/batch-progress``: dashboards, per-user and per-batch progress, activity, submit.

The dashboard, and the two per-user reads, check a token; the others do not, as in the
real service. References are populated with the fields the real routes select.
"""

from __future__ import annotations

from ._documents import populate
from ._express import BackendResponse, json_response
from ._progress import (
    add_activity,
    completion_days,
    js_round,
    new_progress,
    user_streak,
    zeroed_progress,
)
from ._routing import Context, Failure, HttpError, Route, object_id, require_fields
from ._store import Collection, Doc, DocumentStore
from ._submissions import batch_progress_summary, complete_task, refuse_repeat

_TASK_FIELDS_FOR_USER = ("name", "description", "points", "difficulty", "dueDate")
_DEFAULT_ACTIVITY_LIMIT = 50
_RECENT_SUBMISSIONS = 10


def _populate_progress(
    store: DocumentStore,
    progress: Doc,
    *,
    task_fields: tuple[str, ...],
    batch_fields: tuple[str, ...] | None = None,
    user_fields: tuple[str, ...] | None = None,
) -> Doc:
    for entry in progress["taskProgress"]:
        entry["taskId"] = populate(store, Collection.TASKS, entry["taskId"], task_fields)
    if batch_fields is not None:
        progress["batchId"] = populate(store, Collection.BATCHES, progress["batchId"], batch_fields)
    if user_fields is not None:
        progress["userId"] = populate(store, Collection.USERS, progress["userId"], user_fields)
    return progress


def _newest_active_first(progresses: list[Doc]) -> list[Doc]:
    return sorted(progresses, key=lambda p: str(p["lastActiveAt"]), reverse=True)


def dashboard(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/dashboard/me``: the token's user's whole dashboard."""
    store = ctx.store
    user_id = object_id(ctx.verified_claims().user_id, "User")
    user = store.get(Collection.USERS, user_id)
    if user is None:
        raise HttpError(404, {"message": "User not found"})
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
    overall = {
        "totalBatches": len(progresses),
        "totalTasksAcrossAllBatches": sum(m.get("totalTasks", 0) for m in metrics),
        "totalCompletedTasks": sum(m.get("completedTasks", 0) for m in metrics),
        "totalSubmittedTasks": sum(m.get("submittedTasks", 0) for m in metrics),
        "totalPointsEarned": sum(m.get("totalPointsEarned", 0) for m in metrics),
        "userTotalXP": user.get("xps") or 0,
        "currentStreak": user_streak(user, ctx.now),
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
            batch_fields=("name", "description", "industryFocus"),
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


def user_batch_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/user/:userId/:batchId``: the progress, or a zeroed one."""
    user_id = object_id(ctx.params["userId"], "UserBatchProgress", "userId")
    batch_id = object_id(ctx.params["batchId"], "UserBatchProgress", "batchId")
    progress = ctx.store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch_id)
    if progress is None:
        return json_response(
            200,
            {"success": True, "progress": zeroed_progress(ctx, user_id=user_id, batch_id=batch_id)},
        )
    for entry in progress["taskProgress"]:
        if "submissionId" in entry:
            entry["submissionId"] = populate(
                ctx.store,
                Collection.SUBMISSIONS,
                entry["submissionId"],
                ("submissionType", "value", "submittedAt", "status", "grade", "feedback"),
            )
    _populate_progress(
        ctx.store,
        progress,
        task_fields=_TASK_FIELDS_FOR_USER,
        batch_fields=("name", "description", "industryFocus"),
        user_fields=("username", "email"),
    )
    return json_response(200, {"success": True, "progress": progress})


def all_user_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/user/:userId``: every progress of the user, newest first."""
    user_id = object_id(ctx.params["userId"], "UserBatchProgress", "userId")
    progresses = _newest_active_first(ctx.store.find(Collection.PROGRESS, userId=user_id))
    shown = [
        _populate_progress(
            ctx.store,
            progress,
            task_fields=("name", "points", "difficulty"),
            batch_fields=("name", "description", "industryFocus", "status"),
        )
        for progress in progresses
    ]
    return json_response(200, {"success": True, "progress": shown})


def batch_progress(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/batch/:batchId``: the batch and its students' progress.

    Students are sorted by completion percentage, highest first; an unknown batch gives
    ``batch: null`` and no students, as in the real service.
    """
    store = ctx.store
    batch_id = object_id(ctx.params["batchId"], "UserBatchProgress", "batchId")
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
        batch["admin"] = populate(store, Collection.USERS, batch["admin"], ("username",))
    return json_response(200, {"success": True, "batch": batch, "studentsProgress": shown})


def batch_activity(ctx: Context) -> BackendResponse:
    """``GET /api/batch-progress/activity/:batchId?limit=50``: the newest activities."""
    store = ctx.store
    batch_id = object_id(ctx.params["batchId"], "UserBatchProgress", "batchId")
    raw_limit = ctx.query.get("limit", "")
    limit = int(raw_limit) if raw_limit.isdigit() else _DEFAULT_ACTIVITY_LIMIT
    activities: list[Doc] = []
    for progress in store.find(Collection.PROGRESS, batchId=batch_id):
        user = populate(store, Collection.USERS, progress["userId"], ("username",))
        for activity in progress["activityLog"]:
            task = populate(store, Collection.TASKS, activity.get("taskId"), ("name",))
            activities.append({**activity, "taskId": task, "user": user})
    activities.sort(key=lambda a: str(a["timestamp"]), reverse=True)
    return json_response(200, {"success": True, "activities": activities[:limit]})


def initialize_progress(ctx: Context) -> BackendResponse:
    """``POST /api/batch-progress/initialize``: 201 with a fresh progress; twice: 400."""
    fields = ctx.fields
    require_fields(fields, "userId", "batchId")
    user_id = object_id(fields["userId"], "UserBatchProgress", "userId")
    batch_id = object_id(fields["batchId"], "UserBatchProgress", "batchId")
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


def submit_task(ctx: Context) -> BackendResponse:
    """``POST /api/batch-progress/submit-task``: complete a task in a batch; 200.

    Same once-only rule as ``POST /api/task/:id/submit``: a repeat answers 400.
    """
    fields = ctx.fields
    require_fields(fields, "userId", "taskId", "batchId")
    store = ctx.store
    task = store.get(Collection.TASKS, object_id(fields["taskId"], "Task"))
    if task is None:
        raise HttpError(404, {"message": "Task not found"})
    user = store.get(Collection.USERS, object_id(fields["userId"], "User"))
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    batch = store.get(Collection.BATCHES, object_id(fields["batchId"], "Batch"))
    if batch is None:
        raise HttpError(404, {"message": "Batch not found"})
    refuse_repeat(store, user, task["_id"])
    submission_data = fields.get("submissionData")
    grade = submission_data.get("grade") if isinstance(submission_data, dict) else None
    points = task.get("points") or 0
    first_of_day = ctx.now.date() not in completion_days(user, ctx.now)
    completion = complete_task(
        ctx,
        user=user,
        task=task,
        batch=batch,
        points=points,
        xp_awards=0 if ctx.has_defect("xp_not_updated") else 1,
        submission_id=None,
        grade=grade,
        activity_metadata={
            "taskName": task["name"],
            "pointsEarned": points,
            "completionTime": ctx.timestamp,
            "isFirstTaskOfDay": first_of_day,
        },
    )
    progress = completion.progress
    assert progress is not None
    entry = next(e for e in progress["taskProgress"] if e["taskId"] == task["_id"])
    return json_response(
        200,
        {
            "success": True,
            "message": "Task submitted successfully",
            "data": {
                "taskProgress": entry,
                "progressMetrics": progress["progressMetrics"],
                "currentStreak": completion.current_streak,
                "pointsEarned": points,
                "newTotalXP": completion.new_total_xp,
                "isFirstTaskOfDay": first_of_day,
            },
            "realTimeData": {
                "taskStatus": "completed",
                "taskId": task["_id"],
                "batchId": batch["_id"],
                "userId": user["_id"],
                "pointsEarned": points,
                "newTotalXP": completion.new_total_xp,
                "currentStreak": completion.current_streak,
                "completionTime": ctx.timestamp,
                "batchProgress": batch_progress_summary(progress),
            },
        },
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/batch-progress/dashboard/me",
        dashboard,
        Failure("Failed to fetch dashboard data"),
        auth="jwt",
    ),
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
    ),
    Route(
        "POST",
        "/api/batch-progress/submit-task",
        submit_task,
        Failure("Failed to process task submission"),
    ),
)
"""This area's routes, in the real service's matching order."""
