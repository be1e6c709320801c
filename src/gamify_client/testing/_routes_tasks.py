"""``/api/task``: list, read, create, start, edit, assign, delete and submit tasks.

None of these routes checks a token, as in the real service.
"""

from __future__ import annotations

from typing import Any

from ._documents import new_submission, populate, stamp, touch
from ._express import BackendResponse, json_response
from ._progress import new_progress, new_task_entry, recompute_metrics
from ._routing import Context, Failure, HttpError, Route, object_id, require_fields
from ._store import Collection, Doc
from ._submissions import batch_containing, batch_progress_summary, complete_task, refuse_repeat

TASK_TYPES = ("Mini-project", "Case Study")
SUBMISSION_TYPES = ("File Upload", "Link", "Text Entry")
_TASK_NOT_FOUND = {"message": "Task not found"}
# The edit and assign routes answer their 404 as ``{error}``, unlike the others.
_TASK_NOT_FOUND_ERROR = {"error": "Task not found"}


def _task(ctx: Context, not_found: Doc = _TASK_NOT_FOUND) -> Doc:
    task = ctx.store.get(Collection.TASKS, object_id(ctx.params["id"], "Task"))
    if task is None:
        raise HttpError(404, not_found)
    return task


def list_tasks(ctx: Context) -> BackendResponse:
    """``GET /api/task/all``: every task, with ``category`` and ``batch`` populated."""
    tasks = ctx.store.find(Collection.TASKS)
    for task in tasks:
        task["category"] = populate(ctx.store, Collection.CATEGORIES, task.get("category"))
        task["batch"] = populate(ctx.store, Collection.BATCHES, task.get("batch"))
    return json_response(200, tasks)


def get_task(ctx: Context) -> BackendResponse:
    """``GET /api/task/:id``: the bare task."""
    return json_response(200, _task(ctx))


def get_submission(ctx: Context) -> BackendResponse:
    """``GET /api/task/submissions?taskId&userId``: ``{submission}``, null when none."""
    task_id, user_id = ctx.query.get("taskId"), ctx.query.get("userId")
    if not task_id or not user_id:
        raise HttpError(400, {"message": "Missing taskId or userId"})
    submission = ctx.store.find_one(
        Collection.SUBMISSIONS,
        userId=object_id(user_id, "Submission", "userId"),
        taskId=object_id(task_id, "Submission", "taskId"),
    )
    return json_response(200, {"submission": submission})


def _list_field(value: Any, allowed: tuple[str, ...] | None = None) -> list[Any]:
    if not isinstance(value, list) or (allowed and any(v not in allowed for v in value)):
        raise HttpError(400, {"message": "Invalid task fields."})
    return value


def create_task(ctx: Context) -> BackendResponse:
    """``POST /api/task/create``: 201 ``{success, task, message, realTimeData}``.

    A task with a ``batch`` joins the batch, and every enrolled user's progress gets a
    ``not_started`` entry for it.
    """
    fields = ctx.fields
    require_fields(fields, "name", "description", "details", "category", "difficulty")
    category_id = object_id(fields["category"], "Task", "category")
    batch_ref = fields.get("batch")
    batch_id = object_id(batch_ref, "Task", "batch") if batch_ref else None
    task_type = fields.get("type", "Mini-project")
    points = fields.get("points", 100)
    if task_type not in TASK_TYPES:
        raise HttpError(400, {"message": "Invalid task type."})
    if isinstance(points, bool) or not isinstance(points, (int, float)):
        raise HttpError(400, {"message": "Invalid task fields."})
    doc: Doc = {
        "name": fields["name"],
        "description": fields["description"],
        "details": fields["details"],
        "difficulty": fields["difficulty"],
        "category": category_id,
        "batch": batch_id,
        "type": task_type,
        "points": points,
        "badge": fields.get("badge", ""),
        "resources": _list_field(fields.get("resources", [])),
        "submissionTypes": _list_field(
            fields.get("submissionTypes", ["File Upload"]), SUBMISSION_TYPES
        ),
        "assignedTo": _list_field(fields.get("assignedTo", [])),
        "completedBy": [],
        "completedCount": 0,
        "inProgressCount": 0,
    }
    if fields.get("dueDate") is not None:
        doc["dueDate"] = fields["dueDate"]
    task = ctx.store.insert(Collection.TASKS, stamp(ctx, doc))

    category = ctx.store.get(Collection.CATEGORIES, category_id)
    if category is not None:
        category["tasks"].append(task["_id"])
        ctx.store.save(Collection.CATEGORIES, touch(ctx, category))
    users_affected = _add_to_batch(ctx, task, batch_id) if batch_id else 0

    if ctx.has_defect("task_create_500"):
        return json_response(500, {"message": "Failed to create task", "error": {}})
    real_time: Doc = {"taskId": task["_id"], "taskName": task["name"]}
    if batch_id is not None:
        real_time["batchId"] = batch_id
    real_time.update(
        points=task["points"],
        difficulty=task["difficulty"],
        createdAt=task["createdAt"],
        assignedTo=task["assignedTo"],
        totalUsersAffected=users_affected,
    )
    return json_response(
        201,
        {
            "success": True,
            "task": task,
            "message": "Task created successfully and assigned to batch",
            "realTimeData": real_time,
        },
    )


def _add_to_batch(ctx: Context, task: Doc, batch_id: str) -> int:
    """Append ``task`` to the batch and to its users' progress; how many users it reached."""
    store = ctx.store
    batch = store.get(Collection.BATCHES, batch_id)
    if batch is None:
        return 0
    batch["tasks"].append(task["_id"])
    store.save(Collection.BATCHES, touch(ctx, batch))
    for user_id in batch["users"]:
        progress = store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch_id)
        if progress is None:
            fresh = new_progress(ctx, user_id=user_id, batch_id=batch_id, task_ids=batch["tasks"])
            store.insert(Collection.PROGRESS, fresh)
        elif all(entry["taskId"] != task["_id"] for entry in progress["taskProgress"]):
            progress["taskProgress"].append(new_task_entry(ctx, task["_id"]))
            recompute_metrics(ctx, progress)
            store.save(Collection.PROGRESS, progress)
    return len(batch["users"])


def start_task(ctx: Context) -> BackendResponse:
    """``PUT /api/task/start/:id``: ``inProgressCount`` + 1; 200 with the task."""
    task = _task(ctx)
    task["inProgressCount"] = task.get("inProgressCount", 0) + 1
    return json_response(200, ctx.store.save(Collection.TASKS, touch(ctx, task)))


def edit_task(ctx: Context) -> BackendResponse:
    """``PATCH /api/task/edit/:id``: set ``details``, ``difficulty`` and ``assignedTo``."""
    task = _task(ctx, _TASK_NOT_FOUND_ERROR)
    for name in ("details", "difficulty"):
        if name in ctx.fields:
            task[name] = ctx.fields[name]
    if ctx.fields.get("assignedTo"):
        task["assignedTo"] = _list_field(ctx.fields["assignedTo"])
    return json_response(200, ctx.store.save(Collection.TASKS, touch(ctx, task)))


def assign_task(ctx: Context) -> BackendResponse:
    """``PATCH /api/task/assign/:id``: replace ``assignedTo``; 200 with the task."""
    task = _task(ctx, _TASK_NOT_FOUND_ERROR)
    if "assignedTo" in ctx.fields:
        task["assignedTo"] = _list_field(ctx.fields["assignedTo"])
    return json_response(200, ctx.store.save(Collection.TASKS, touch(ctx, task)))


def delete_task(ctx: Context) -> BackendResponse:
    """``DELETE /api/task/delete/:id``: 200 with the deleted task."""
    task = ctx.store.delete(Collection.TASKS, object_id(ctx.params["id"], "Task"))
    if task is None:
        raise HttpError(404, _TASK_NOT_FOUND)
    return json_response(200, task)


def submit_task(ctx: Context) -> BackendResponse:
    """``POST /api/task/:id/submit`` (JSON, or multipart with a ``file`` part): 201.

    The task's points go to the user once; a second submission answers 400
    ``Task already submitted``.
    """
    fields = ctx.fields
    submission_type, value = fields.get("submissionType"), fields.get("value")
    upload = ctx.file
    if upload is not None:
        submission_type = "File Upload"
        value = f"/uploads/{int(ctx.now.timestamp() * 1000)}-{upload.filename}"
    if not fields.get("userId") or not submission_type or not value:
        raise HttpError(400, {"message": "Missing required fields."})
    task = _task(ctx)
    user = ctx.store.get(Collection.USERS, object_id(fields["userId"], "User"))
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    batch = batch_containing(ctx.store, task)
    refuse_repeat(ctx.store, user, task["_id"])

    submission = new_submission(
        ctx,
        user_id=user["_id"],
        task_id=task["_id"],
        submission_type=str(submission_type),
        value=str(value),
    )
    ctx.store.insert(Collection.SUBMISSIONS, submission)
    points = task.get("points") or 50
    awards = 1
    if ctx.has_defect("xp_not_updated"):
        awards = 0
    elif ctx.has_defect("double_xp") and batch is not None:
        awards = 2
    completion = complete_task(
        ctx,
        user=user,
        task=task,
        batch=batch,
        points=points,
        xp_awards=awards,
        submission_id=submission["_id"],
        grade=None,
        activity_metadata={
            "submissionType": submission_type,
            "taskName": task["name"],
            "points": points,
            "submissionId": submission["_id"],
            "status": "completed",
        },
    )
    progress = completion.progress
    real_time: Doc = {
        "taskStatus": "completed",
        "taskId": task["_id"],
        "batchId": batch["_id"] if batch else None,
        "userId": user["_id"],
        "pointsEarned": points,
        "newTotalXP": completion.new_total_xp,
    }
    if not ctx.has_defect("submit_no_streak"):
        real_time["currentStreak"] = completion.current_streak
    real_time["completionTime"] = ctx.timestamp
    real_time["batchProgress"] = batch_progress_summary(progress)
    real_time["activityLog"] = progress["activityLog"][-5:] if progress else []
    return json_response(
        201,
        {
            "success": True,
            "message": "Task completed successfully!",
            "submission": {
                "id": submission["_id"],
                "submissionType": submission_type,
                "submittedAt": submission["submittedAt"],
                "status": "completed",
            },
            "progress": {
                "pointsEarned": points,
                "totalXPS": completion.new_total_xp,
                "taskCompleted": True,
                "newTotalXP": completion.new_total_xp,
            },
            "realTimeData": real_time,
        },
    )


def _object_failure(message: str) -> Failure:
    return Failure(message, "error_object")


_SERVER_ERROR = Failure("Server error", "server_error")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/task/all", list_tasks, _object_failure("Failed to fetch all tasks")),
    Route(
        "GET",
        "/api/task/submissions",
        get_submission,
        _object_failure("Failed to fetch submission"),
    ),
    Route("POST", "/api/task/create", create_task, _object_failure("Failed to create task")),
    Route("PUT", "/api/task/start/:id", start_task, _object_failure("Failed to start task")),
    Route("PATCH", "/api/task/edit/:id", edit_task, _SERVER_ERROR),
    Route("PATCH", "/api/task/assign/:id", assign_task, _SERVER_ERROR),
    Route(
        "DELETE",
        "/api/task/delete/:id",
        delete_task,
        _object_failure("Failed to delete task"),
    ),
    Route("POST", "/api/task/:id/submit", submit_task, Failure("Failed to submit task")),
    Route("GET", "/api/task/:id", get_task, _object_failure("Failed to fetch task")),
)
"""This area's routes, in the real service's matching order."""
