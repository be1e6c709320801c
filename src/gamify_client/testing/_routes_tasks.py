"""``/api/task``: list, read, create, complete, submit, start, update, delete and assign tasks.

The real service checks no token on these routes (defect ``missing_auth``); fixed, every
write needs one: an admin, a superadmin or a mentor manages tasks, a learner starts, submits
and completes them as itself. The one exception is ``POST /api/task/complete/:taskId``, which
the real frontend's "Mark complete" button sends without any credential: it stays open to a
request without a token, and a token's user may complete only as itself.

Request bodies are cast as Mongoose casts them (:class:`FieldCaster`); a value it cannot cast
is 400 ``{message}`` when fixed and the route's 500 under ``validation_500``.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._documents import new_submission, populate
from ._express import BackendResponse, json_response, not_found_page, server_error_page
from ._ids import is_object_id, iso, parse_iso
from ._progress import (
    add_activity,
    completion_days,
    new_progress,
    new_task_entry,
    recompute_metrics,
)
from ._routing import (
    STAFF,
    Context,
    Failure,
    HttpError,
    Route,
    js_falsy,
    object_id,
    require_fields,
)
from ._store import Collection, Doc
from ._submissions import (
    batch_containing,
    batch_progress_summary,
    complete_task,
    refuse_repeat,
)

TASK_TYPES = ("Mini-project", "Case Study")
CONTENT_TYPES = ("video", "document", "quiz", "other")
SUBMISSION_TYPES = ("File Upload", "Link", "Text Entry")
MANAGERS = (*STAFF, "mentor")
"""The roles that may create, edit and delete tasks and categories (once ``missing_auth`` is
fixed)."""
COMPLETION_XP = 50
"""What ``POST /api/task/complete/:taskId`` gives the user."""

_TASK_NOT_FOUND = {"message": "Task not found"}
# The update, edit and assign routes answer their 404 as ``{error}``, unlike the others.
_TASK_NOT_FOUND_ERROR = {"error": "Task not found"}
_SERVER_ERROR_BODY = {"error": "Server error"}
# Fields the fixed task edit applies beyond the real service's three (defect 21).
_EDIT_STRINGS = ("name", "description", "badge")
_CREATE_MESSAGE = "Failed to create task"


# Request bodies, cast as Mongoose casts them.


def has_json_body(ctx: Context) -> bool:
    """Whether ``req.body`` exists: Express 5 parses only a JSON body (``express.json()``)."""
    media_type = ctx.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def require_json_body(ctx: Context, *, html500: bool) -> BackendResponse | None:
    """The answer to a write without a JSON body, or None when it has one.

    Routes that read ``req.body`` outside their ``try`` (``html500``) get Express's HTML 500
    under ``no_body_html500``; the others fail inside it, with the route's 500, under
    ``validation_500``. Fixed, the first are 400 ``{message}`` and the others read ``{}``.
    """
    if has_json_body(ctx):
        return None
    if html500:
        if ctx.has_defect("no_body_html500"):
            return server_error_page(
                "TypeError: Cannot destructure property of 'req.body' as it is undefined."
            )
        raise HttpError(400, {"message": "A JSON body is required"})
    if ctx.has_defect("validation_500"):
        raise TypeError("Cannot destructure property of 'req.body' as it is undefined.")
    return None


@dataclass(frozen=True)
class FieldCaster:
    """Casts one route's body fields to a model's paths, answering what the route answers
    for a value that does not cast: 400 ``{message: "Invalid <path>"}`` when fixed, and under
    ``validation_500`` the route's 500 (``{message, error: <ValidationError>}``, or
    ``{error: "Server error"}`` for the routes that answer only that)."""

    ctx: Context
    model: str
    failure_message: str | None
    """The route's 500 ``message``; None for the routes that answer ``{error:"Server error"}``."""

    def refuse(
        self,
        path: str,
        value: Any,
        kind: str,
        message: str | None = None,
        *,
        real: bool | None = None,
    ) -> HttpError:
        """The error for ``value`` at ``path``; raise it. ``real`` forces the real service's
        answer (for a defect other than ``validation_500`` that restores it)."""
        if not (self.ctx.has_defect("validation_500") if real is None else real):
            return HttpError(400, {"message": f"Invalid {path}"})
        if self.failure_message is None:
            return HttpError(500, dict(_SERVER_ERROR_BODY))
        text = message or f'Cast to {kind} failed for value "{value}" at path "{path}"'
        error = {
            "errors": {
                path: {
                    "name": "ValidatorError" if kind in ("required", "enum") else "CastError",
                    "message": text,
                    "kind": kind,
                    "path": path,
                    "value": value,
                }
            },
            "_message": f"{self.model} validation failed",
            "name": "ValidationError",
            "message": f"{self.model} validation failed: {path}: {text}",
        }
        return HttpError(500, {"message": self.failure_message, "error": error})

    def required(self, path: str) -> HttpError:
        """The real service's error for a required path left out (a ValidationError)."""
        return self.refuse(path, None, "required", f"Path `{path}` is required.", real=True)

    def string(self, path: str, value: Any) -> str | None:
        """A String path: text, or a number or boolean written as JavaScript writes it."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        raise self.refuse(path, value, "string")

    def enum(self, path: str, value: Any, allowed: tuple[str, ...]) -> str | None:
        """A String path that takes only ``allowed``."""
        text = self.string(path, value)
        if text is not None and text not in allowed:
            raise self.refuse(
                path, value, "enum", f"`{text}` is not a valid enum value for path `{path}`."
            )
        return text

    def number(self, path: str, value: Any) -> int | float | None:
        """A Number path: a finite number, a boolean (1 or 0) or a numeric string."""
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str) and value.strip():
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if number == number and abs(number) != float("inf"):
                return int(number) if number.is_integer() else number
        raise self.refuse(path, value, "Number")

    def strings(self, path: str, value: Any, allowed: tuple[str, ...] | None = None) -> list[str]:
        """An array of String (a single value is cast to a one-item array and null to an empty
        one, as Mongoose does)."""
        items = value if isinstance(value, list) else [] if value is None else [value]
        cast = [
            self.enum(path, item, allowed) if allowed else self.string(path, item) for item in items
        ]
        return [item for item in cast if item is not None]

    def ids(self, path: str, value: Any) -> list[str]:
        """An array of ObjectId references (null is an empty one)."""
        items = value if isinstance(value, list) else [] if value is None else [value]
        return [object_id(item, self.model, path) for item in items]

    def date(self, path: str, value: Any) -> str | None:
        """A Date path: an ISO-8601 text or milliseconds since the epoch, written back as the
        service writes dates. An empty text is no date, as Mongoose casts it (a form's empty
        date field)."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return iso(datetime.fromtimestamp(value / 1000, UTC))
            if isinstance(value, str):
                parsed = parse_iso(value.strip())
                return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        except (ValueError, OverflowError, OSError):
            pass
        raise self.refuse(path, value, "date")


def require_manager(ctx: Context, what: str, *, anonymous: bool = False) -> None:
    """403 unless the caller is an admin, a superadmin or a mentor (once ``missing_auth`` is
    fixed). ``anonymous=True`` lets a call without a token through: the routes the real
    frontend's own pages call with no credential at all (the course page's lessons, the
    lesson's task form) stay usable, while a learner's token is still refused."""
    caller = ctx.caller
    if anonymous and caller is None:
        return
    ctx.forbid_unless(
        caller is not None and caller.designation in MANAGERS,
        f"Only an admin, a superadmin or a mentor can {what}",
    )


def acting_user_id(ctx: Context, value: Any) -> Any:
    """The user a learner's write acts for: the body's ``userId`` as the real service trusts
    it; fixed, a token's user may name only itself (staff anyone), and a body without one acts
    for the token's user."""
    caller = ctx.caller
    if ctx.has_defect("missing_auth") or caller is None:
        return value
    if js_falsy(value):
        return caller.user_id
    ctx.require_self_or(value, message="You can only act for yourself")
    return value


def new_document(ctx: Context, doc: Doc) -> Doc:
    """A Task or Category document: an ``_id`` and ``__v``, no timestamps (their schemas have
    none)."""
    return {"_id": ctx.new_id(), **doc, "__v": 0}


# Reads.


def _task(ctx: Context, param: str = "id", not_found: Doc = _TASK_NOT_FOUND) -> Doc:
    task = ctx.store.get(Collection.TASKS, object_id(ctx.params[param], "Task"))
    if task is None:
        raise HttpError(404, not_found)
    return task


def list_tasks(ctx: Context) -> BackendResponse:
    """``GET /api/task/all``: every task, with ``category`` and ``batch`` populated."""
    tasks = ctx.store.find(Collection.TASKS)
    for task in tasks:
        task["category"] = populate(ctx.store, Collection.CATEGORIES, task.get("category"))
        if "batch" in task:
            task["batch"] = populate(ctx.store, Collection.BATCHES, task["batch"])
    return json_response(200, tasks)


def get_task(ctx: Context) -> BackendResponse:
    """``GET /api/task/:id``: the bare task."""
    return json_response(200, _task(ctx))


def get_submission(ctx: Context) -> BackendResponse:
    """``GET /api/task/submissions?taskId&userId``: ``{submission}``, null when none.

    Fixed, a learner reads only its own submissions (staff and mentors anyone's)."""
    task_id, user_id = ctx.query.get("taskId"), ctx.query.get("userId")
    if not task_id or not user_id:
        raise HttpError(400, {"message": "Missing taskId or userId"})
    ctx.require_self_or(user_id, MANAGERS, message="You can only read your own submissions")
    submission = ctx.store.find_one(
        Collection.SUBMISSIONS,
        userId=object_id(user_id, "Submission", "userId"),
        taskId=object_id(task_id, "Submission", "taskId"),
    )
    return json_response(200, {"submission": submission})


# Create.


def _new_task(ctx: Context, fields: dict[str, Any]) -> Doc:
    """The task document ``fields`` make, cast and defaulted as the Task schema does."""
    cast = FieldCaster(ctx, "Task", _CREATE_MESSAGE)
    doc: Doc = {
        "name": cast.string("name", fields["name"]),
        "description": cast.string("description", fields["description"]),
        "details": cast.string("details", fields["details"]),
        "category": object_id(fields["category"], "Task", "category"),
        "difficulty": cast.string("difficulty", fields["difficulty"]),
    }
    keeps_extras = not ctx.has_defect("create_ignores_fields")
    if keeps_extras and fields.get("color") is not None:
        doc["color"] = cast.string("color", fields["color"])
    doc.update(completedCount=0, inProgressCount=0)
    if keeps_extras and fields.get("videoUrl") is not None:
        doc["videoUrl"] = cast.string("videoUrl", fields["videoUrl"])
    content_type = fields.get("contentType") if keeps_extras else None
    doc["contentType"] = cast.enum("contentType", content_type or "video", CONTENT_TYPES)
    doc.update(
        assignedTo=cast.ids("assignedTo", fields.get("assignedTo", [])),
        completedBy=[],
        completionRecords=[],
    )
    if not js_falsy(fields.get("batch")):
        doc["batch"] = object_id(fields["batch"], "Task", "batch")
    points = cast.number("points", fields.get("points", 100))
    doc.update(
        type=cast.enum("type", fields.get("type", "Mini-project"), TASK_TYPES),
        points=100 if points is None else points,
        badge=cast.string("badge", fields.get("badge", "")),
        resources=cast.strings("resources", fields.get("resources", [])),
    )
    due_date = cast.date("dueDate", fields.get("dueDate"))
    if due_date is not None:
        doc["dueDate"] = due_date
    doc["submissionTypes"] = cast.strings(
        "submissionTypes", fields.get("submissionTypes", ["File Upload"]), SUBMISSION_TYPES
    )
    return doc


def create_task(ctx: Context) -> BackendResponse:
    """``POST /api/task/create``: 201 ``{success, task, message, realTimeData}``.

    The task joins its category and, with a ``batch``, the batch, and every enrolled user's
    progress gets a ``not_started`` entry for it. Fixed, an unknown category or batch is 404
    before anything is written (defect ``create_ignores_fields``).
    """
    require_manager(ctx, "create tasks", anonymous=True)
    require_json_body(ctx, html500=False)
    fields = ctx.fields
    require_fields(fields, "name", "description", "details", "category", "difficulty")
    doc = _new_task(ctx, fields)
    store = ctx.store
    category = store.get(Collection.CATEGORIES, doc["category"])
    batch = store.get(Collection.BATCHES, doc["batch"]) if "batch" in doc else None
    if not ctx.has_defect("create_ignores_fields"):
        if category is None:
            raise HttpError(404, {"message": "Category not found"})
        if "batch" in doc and batch is None:
            raise HttpError(404, {"message": "Batch not found"})
    task = store.insert(Collection.TASKS, new_document(ctx, doc))
    if category is not None:
        category["tasks"].append(task["_id"])
        store.save(Collection.CATEGORIES, category)
    users_affected = _add_to_batch(ctx, task, batch) if batch is not None else 0

    if ctx.has_defect("task_create_500"):
        return json_response(500, {"message": _CREATE_MESSAGE, "error": {}})
    real_time: Doc = {"taskId": task["_id"], "taskName": task["name"]}
    if "batch" in doc:
        real_time["batchId"] = doc["batch"]
    real_time.update(
        points=task["points"],
        difficulty=task["difficulty"],
        createdAt=ctx.timestamp,
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


def _add_to_batch(ctx: Context, task: Doc, batch: Doc) -> int:
    """Append ``task`` to the batch and to its users' progress; how many users it reached.

    A user without progress gets one holding every batch task (only the new one under
    ``create_ignores_fields``, as the real service does)."""
    store = ctx.store
    batch["tasks"].append(task["_id"])
    store.save(Collection.BATCHES, batch)
    only_new = ctx.has_defect("create_ignores_fields")
    for user_id in batch["users"]:
        progress = store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch["_id"])
        if progress is None:
            task_ids = [task["_id"]] if only_new else batch["tasks"]
            fresh = new_progress(ctx, user_id=user_id, batch_id=batch["_id"], task_ids=task_ids)
            store.insert(Collection.PROGRESS, fresh)
        elif all(entry["taskId"] != task["_id"] for entry in progress["taskProgress"]):
            progress["taskProgress"].append(new_task_entry(ctx, task["_id"]))
            recompute_metrics(ctx, progress)
            store.save(Collection.PROGRESS, progress)
    return len(batch["users"])


# Complete, start, submit.


def _completed_today(ctx: Context, task: Doc, user_id: str) -> bool:
    today = ctx.now.date()
    return any(
        record.get("userId") == user_id
        and parse_iso(record["date"]).astimezone(ctx.now.tzinfo).date() == today
        for record in task.get("completionRecords", [])
    )


def complete_task_route(ctx: Context) -> BackendResponse:
    """``POST /api/task/complete/:taskId`` ``{userId?}``: 200 with the task after the update.

    The user joins ``completedBy`` once and ``completionRecords`` once a day; fixed, the
    completion counts and earns :data:`COMPLETION_XP` once per user (under ``complete_farm``
    on every call, as on the real service). No progress, no Submission.
    """
    require_json_body(ctx, html500=False)
    task = _task(ctx, "taskId")
    user_ref = acting_user_id(ctx, ctx.fields.get("userId"))
    farming = ctx.has_defect("complete_farm")
    store = ctx.store
    user = None
    if not js_falsy(user_ref):
        user_id = object_id(user_ref, "Task", "userId")
        user = store.get(Collection.USERS, user_id)
        if user is None and not farming:
            raise HttpError(404, {"message": "User not found"})
        first_time = user_id not in task["completedBy"]
        if first_time:
            task["completedBy"].append(user_id)
        if not _completed_today(ctx, task, user_id):
            task.setdefault("completionRecords", []).append(
                {"userId": user_id, "date": ctx.timestamp, "_id": ctx.new_id()}
            )
        counts = farming or first_time
    else:
        counts = farming
    if counts:
        task["completedCount"] = task.get("completedCount", 0) + 1
        if user is not None:
            user["xps"] = (user.get("xps") or 0) + COMPLETION_XP
            store.save(Collection.USERS, user)
    return json_response(200, store.save(Collection.TASKS, task))


def start_task(ctx: Context) -> BackendResponse:
    """``PUT /api/task/start/:id``: ``inProgressCount`` + 1 on every call; 200 with the task."""
    task = _task(ctx)
    task["inProgressCount"] = task.get("inProgressCount", 0) + 1
    return json_response(200, ctx.store.save(Collection.TASKS, task))


def _file_value(ctx: Context) -> str | BackendResponse | None:
    """The ``value`` of a file submission (``/uploads/<stored name>``), Express's HTML 500 when
    the upload folder is missing (``upload_dir``), or None without a file."""
    upload = ctx.file
    if upload is None:
        return None
    if ctx.has_defect("upload_dir"):
        stored = f"{int(ctx.now.timestamp() * 1000)}-{upload.filename}"
        return server_error_page(
            f"Error: ENOENT: no such file or directory, open 'uploads/{stored}'"
        )
    return "/uploads/" + ctx.state.uploads.store(upload.filename, upload.content, ctx.now)


def submit_task(ctx: Context) -> BackendResponse:
    """``POST /api/task/:id/submit`` (JSON, or multipart with a ``file`` part): 201.

    The task's points go to the user once; a second submission answers 400
    ``Task already submitted``. Under ``double_xp`` a task a batch lists pays twice and a
    0-point task pays 50; under ``submit_no_streak`` the answer has no ``currentStreak`` and a
    new progress logs the completion twice.
    """
    file_value = _file_value(ctx)
    if isinstance(file_value, BackendResponse):
        return file_value
    fields = ctx.fields
    submission_type, value = fields.get("submissionType"), fields.get("value")
    if file_value is not None:
        submission_type, value = "File Upload", file_value
    user_ref = acting_user_id(ctx, fields.get("userId"))
    if js_falsy(user_ref) or js_falsy(submission_type) or js_falsy(value):
        raise HttpError(400, {"message": "Missing required fields."})
    task = _task(ctx)
    store = ctx.store
    user = store.get(Collection.USERS, object_id(user_ref, "User"))
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    batch = batch_containing(store, task)
    refuse_repeat(store, user, task["_id"])
    submission_type = str(submission_type)
    if submission_type not in SUBMISSION_TYPES:
        if not ctx.has_defect("validation_500"):
            raise HttpError(400, {"message": "Invalid submissionType"})
        raise HttpError(
            500,
            {
                "message": "Failed to submit task",
                "error": "Submission validation failed: submissionType: "
                f"`{submission_type}` is not a valid enum value for path `submissionType`.",
            },
        )
    submission = new_submission(
        ctx,
        user_id=user["_id"],
        task_id=task["_id"],
        submission_type=submission_type,
        value=str(value),
    )
    store.insert(Collection.SUBMISSIONS, submission)

    double = ctx.has_defect("double_xp")
    stored_points = task.get("points")
    points = (stored_points or 50) if double else (stored_points or 0)
    awards = 1
    if ctx.has_defect("xp_not_updated"):
        awards = 0
    elif double and batch is not None:
        awards = 2
    no_streak = ctx.has_defect("submit_no_streak")
    # Only the defect's double log needs to know (one query less on every other submission).
    had_progress = (
        no_streak
        and batch is not None
        and bool(store.peek_found(Collection.PROGRESS, userId=user["_id"], batchId=batch["_id"]))
    )
    metadata: Doc = {
        "submissionType": submission_type,
        "taskName": task["name"],
        "points": points,
        "submissionId": submission["_id"],
        "status": "completed",
    }
    if not no_streak:
        # The streak's own day set: it reads a UTC stamp's day off its text, where parsing
        # every earlier completion cost each submission more the more the user had done.
        metadata["isFirstTaskOfDay"] = ctx.now.date() not in completion_days(user, ctx.now)
    completion = complete_task(
        ctx,
        user=user,
        task=task,
        batch=batch,
        points=points,
        xp_awards=awards,
        submission_id=submission["_id"],
        grade=None,
        activity_metadata=metadata,
    )
    progress = completion.progress
    if progress is not None and no_streak and not had_progress:
        # The real service logs the completion once when it makes the progress and again after.
        description = f"Completed task: {task['name']}"
        add_activity(ctx, progress, "task_completed", task["_id"], description, metadata)
        store.save(Collection.PROGRESS, progress)
    real_time: Doc = {
        "taskStatus": "completed",
        "taskId": task["_id"],
        "batchId": batch["_id"] if batch else None,
        "userId": user["_id"],
        "pointsEarned": points,
        "newTotalXP": completion.new_total_xp,
    }
    if not no_streak:
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


# Update, edit, assign.


def _editable(ctx: Context, fields: dict[str, Any]) -> Doc:
    """The changes a task update applies: ``details``, ``difficulty`` and a truthy
    ``assignedTo`` on the real service; fixed, also the fields the UI edits (defect 21)."""
    cast = FieldCaster(ctx, "Task", None)
    changes: Doc = {}
    for name in ("details", "difficulty"):
        if fields.get(name) is not None:
            changes[name] = cast.string(name, fields[name])
    if not js_falsy(fields.get("assignedTo")):
        changes["assignedTo"] = cast.ids("assignedTo", fields["assignedTo"])
    if ctx.has_defect("edit_ignores_fields"):
        return changes
    for name in _EDIT_STRINGS:
        if fields.get(name) is not None:
            changes[name] = cast.string(name, fields[name])
    if fields.get("type") is not None:
        changes["type"] = cast.enum("type", fields["type"], TASK_TYPES)
    if fields.get("points") is not None:
        changes["points"] = cast.number("points", fields["points"])
    if fields.get("resources") is not None:
        changes["resources"] = cast.strings("resources", fields["resources"])
    if "dueDate" in fields:
        changes["dueDate"] = cast.date("dueDate", fields["dueDate"])
    if fields.get("submissionTypes") is not None:
        changes["submissionTypes"] = cast.strings(
            "submissionTypes", fields["submissionTypes"], SUBMISSION_TYPES
        )
    return changes


def _update_task(ctx: Context, changes: Doc) -> BackendResponse:
    task = _task(ctx, not_found=_TASK_NOT_FOUND_ERROR)
    task.update(changes)
    return json_response(200, ctx.store.save(Collection.TASKS, task))


def edit_task(ctx: Context) -> BackendResponse:
    """``PUT /api/task/update/:id`` and ``PATCH /api/task/edit/:id`` (one handler): 200 with
    the task; 404 ``{error}``. The same body leaves the same task, so a repeat is harmless."""
    require_manager(ctx, "edit tasks")
    refused = require_json_body(ctx, html500=True)
    if refused is not None:
        return refused
    return _update_task(ctx, _editable(ctx, ctx.fields))


def assign_task(ctx: Context) -> BackendResponse:
    """``PATCH /api/task/assign/:id``: replace ``assignedTo``; 200 with the task; 404
    ``{error}``."""
    require_manager(ctx, "assign tasks")
    refused = require_json_body(ctx, html500=True)
    if refused is not None:
        return refused
    changes: Doc = {}
    if ctx.fields.get("assignedTo") is not None:
        cast = FieldCaster(ctx, "Task", None)
        changes["assignedTo"] = cast.ids("assignedTo", ctx.fields["assignedTo"])
    return _update_task(ctx, changes)


# Delete.


def purge_task_references(
    ctx: Context, task_ids: set[str], batch_ids: Iterable[str], categories: Iterable[Doc]
) -> None:
    """Remove the deleted ``task_ids`` from ``categories``' task lists, from every batch's
    ``tasks`` and from the progress entries of those batches and ``batch_ids`` (metrics
    recomputed): what the fixed deletes do (defect ``no_cascade``)."""
    store = ctx.store
    for category in categories:
        kept = [ref for ref in category["tasks"] if ref not in task_ids]
        if len(kept) != len(category["tasks"]):
            category["tasks"] = kept
            store.save(Collection.CATEGORIES, category)
    touched = set(batch_ids)
    # Batch.tasks has no index: the batches are few, and every one may list the task.
    for batch in store.find(Collection.BATCHES):
        kept = [ref for ref in batch["tasks"] if ref not in task_ids]
        if len(kept) != len(batch["tasks"]):
            batch["tasks"] = kept
            store.save(Collection.BATCHES, batch)
            touched.add(batch["_id"])
    for batch_id in touched:
        for progress in store.find(Collection.PROGRESS, batchId=batch_id):
            entries = progress["taskProgress"]
            kept = [entry for entry in entries if entry.get("taskId") not in task_ids]
            if len(kept) != len(entries):
                progress["taskProgress"] = kept
                recompute_metrics(ctx, progress)
                store.save(Collection.PROGRESS, progress)


def categories_listing(ctx: Context, tasks: Iterable[Doc]) -> list[Doc]:
    """The categories that may list ``tasks``: their own and those of their batches."""
    store = ctx.store
    found: dict[str, Doc] = {}
    for task in tasks:
        own = task.get("category")
        if is_object_id(own) and own not in found:
            category = store.get(Collection.CATEGORIES, own)
            if category is not None:
                found[own] = category
        batch_id = task.get("batch")
        if is_object_id(batch_id):
            for category in store.find(Collection.CATEGORIES, batch=batch_id):
                found.setdefault(category["_id"], category)
    return list(found.values())


def task_batches(tasks: Iterable[Doc]) -> set[str]:
    """The batches ``tasks`` name as theirs."""
    return {task["batch"] for task in tasks if is_object_id(task.get("batch"))}


def delete_task(ctx: Context) -> BackendResponse:
    """``DELETE /api/task/delete/:id``: 200 with the deleted task; a repeat is 404.

    Fixed, its id also leaves every category, batch and progress (metrics recomputed); under
    ``no_cascade`` only the task goes, as on the real service.
    """
    require_manager(ctx, "delete tasks")
    task = ctx.store.delete(Collection.TASKS, object_id(ctx.params["id"], "Task"))
    if task is None:
        raise HttpError(404, _TASK_NOT_FOUND)
    if not ctx.has_defect("no_cascade"):
        purge_task_references(
            ctx, {task["_id"]}, task_batches([task]), categories_listing(ctx, [task])
        )
    return json_response(200, task)


# Uploaded files (the fixed service's).


def get_upload(ctx: Context) -> BackendResponse:
    """``GET /uploads/<name>``: a file a submission uploaded, as a static file server sends
    it; Express's 404 page for any other name."""
    name = ctx.params["name"]
    content = ctx.state.uploads.read(name)
    if content is None:
        return not_found_page("GET", f"/uploads/{name}")
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return BackendResponse(
        200, [("X-Powered-By", "Express"), ("Content-Type", media_type)], content
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
        fixed_auth="jwt",
    ),
    Route("GET", "/api/task/:id", get_task, _object_failure("Failed to fetch task")),
    # No token asked, even when fixed: the real frontend's task forms send none; a token is
    # still checked (see require_manager).
    Route("POST", "/api/task/create", create_task, _object_failure(_CREATE_MESSAGE)),
    # Open even when fixed: the real frontend sends it without a credential (see the module).
    Route(
        "POST",
        "/api/task/complete/:taskId",
        complete_task_route,
        _object_failure("Failed to complete task"),
    ),
    Route(
        "POST",
        "/api/task/:id/submit",
        submit_task,
        Failure("Failed to submit task"),
        fixed_auth="jwt",
    ),
    Route(
        "PUT",
        "/api/task/start/:id",
        start_task,
        _object_failure("Failed to start task"),
        fixed_auth="jwt",
    ),
    Route("PUT", "/api/task/update/:id", edit_task, _SERVER_ERROR, fixed_auth="jwt"),
    Route(
        "DELETE",
        "/api/task/delete/:id",
        delete_task,
        _object_failure("Failed to delete task"),
        fixed_auth="jwt",
    ),
    Route("PATCH", "/api/task/edit/:id", edit_task, _SERVER_ERROR, fixed_auth="jwt"),
    Route("PATCH", "/api/task/assign/:id", assign_task, _SERVER_ERROR, fixed_auth="jwt"),
    # The fixed service's static file route; the real service has none (defect upload_dir).
    Route(
        "GET",
        "/uploads/:name",
        get_upload,
        Failure("Failed to read the file"),
        absent_with="upload_dir",
    ),
)
"""This area's routes, in the real service's matching order."""
