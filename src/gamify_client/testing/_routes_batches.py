"""``/api/batches``: batches (create, list by role, read, edit, delete), membership (enrol,
remove), the mentor, and the batch chat.

As in the real service only create, list, edit and the two listings of the caller check a
token (``authenticateJWT``), and the chat uses ``requireAuth``. The fixed backend adds a token
to enrol, remove, assign-mentor and delete (defect ``missing_auth``): a learner enrols or
leaves only itself, staff act for anyone. Each defect of this area is fixed unless its switch
is on: ``enroll_populate_500``, ``user_batches_empty``, ``parent_id_code``,
``batch_id_in_body``, ``remove_keeps_progress``, ``no_cascade``, ``user_hash_leak``,
``batch_message_500``, ``edit_batch_tasks_unsynced``, ``no_success_flag``, ``validation_500``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NoReturn

from ._documents import populate, populate_each
from ._express import BackendResponse, json_response
from ._ids import is_object_id
from ._progress import add_activity, new_progress, new_task_entry, recompute_metrics
from ._routing import STAFF, Context, Failure, HttpError, Route, js_falsy, object_id
from ._store import Collection, Doc

DIFFICULTY_LEVELS = ("Beginner", "Intermediate", "Advanced")
_BATCH_NOT_FOUND = {"message": "Batch not found"}
_ADMIN_ROLE = {"message": "Assigned admin must have admin or superadmin designation"}
_MENTOR_ROLE = {"message": "Assigned mentor must have mentor designation"}
_ENROLL_POPULATE_ERROR = (
    "Cannot populate path `mentors` because it is not in your schema. "
    "Set the `strictPopulate` option to false to override."
)
_STRING_FIELDS = ("name", "description", "industryFocus")


class MongooseError(Exception):
    """A body Mongoose refuses (a ``ValidationError`` or ``CastError``): the route's 500
    under ``validation_500``; the fixed backend answers 400 ``{message}`` instead."""


def _refuse(ctx: Context, text: str) -> NoReturn:
    if ctx.has_defect("validation_500"):
        raise MongooseError(text)
    raise HttpError(400, {"message": text})


# --- documents --------------------------------------------------------------------------------


def _find_batch(ctx: Context, batch_id: object) -> Doc:
    batch = ctx.store.get(Collection.BATCHES, object_id(batch_id, "Batch"))
    if batch is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    return batch


def _user_with(
    ctx: Context, user_id: object, designations: tuple[str, ...], field: str
) -> Doc | None:
    """``User.findById(user_id)`` when it has one of ``designations``, else None. A malformed
    id is a 400 naming the body ``field`` (the real service's ``CastError`` 500 under
    ``validation_500``)."""
    if user_id is None:
        return None
    if not is_object_id(user_id) and not ctx.has_defect("validation_500"):
        raise HttpError(400, {"message": f"Invalid {field}"})
    user = ctx.store.get(Collection.USERS, object_id(user_id, "User"))
    return user if user is not None and user.get("designation") in designations else None


def _person(ctx: Context, ref: object) -> Doc | None:
    """A whole populated user: the real service serialises the password hash as well
    (defect ``user_hash_leak``)."""
    if ctx.has_defect("user_hash_leak") and isinstance(ref, str):
        return ctx.store.get(Collection.USERS, ref)
    return populate(ctx.store, Collection.USERS, ref)


def _people(ctx: Context, refs: Iterable[object]) -> list[Doc]:
    found = (_person(ctx, ref) for ref in refs)
    return [user for user in found if user is not None]


def _listed(ctx: Context, batches: Iterable[Doc]) -> BackendResponse:
    """Batches as the three listings show them: people populated, then filtered by role
    (``admin`` null unless an admin, ``mentor`` null unless a mentor, only ``user`` users)."""
    shown = []
    for batch in batches:
        admin = _person(ctx, batch.get("admin"))
        mentor = _person(ctx, batch.get("mentor"))
        batch["admin"] = admin if admin is not None and admin["designation"] == "admin" else None
        batch["mentor"] = (
            mentor if mentor is not None and mentor["designation"] == "mentor" else None
        )
        batch["users"] = [u for u in _people(ctx, batch["users"]) if u["designation"] == "user"]
        shown.append(batch)
    return json_response(200, shown)


# --- bodies, cast as the Batch schema casts them ------------------------------------------------


def _cast_error(kind: str, value: object, path: str) -> str:
    type_name = "string" if isinstance(value, str) else type(value).__name__
    return f'Cast to {kind} failed for value "{value}" (type {type_name}) at path "{path}"'


def _as_string(ctx: Context, value: object, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return str(int(value)) if float(value).is_integer() else str(value)
    _refuse(ctx, _cast_error("string", value, path))


def _as_number(ctx: Context, value: object, path: str) -> float | None:
    """A Number path's value; Mongoose stores null for a blank string (a cleared form)."""
    number: float | None = None
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, int | float):  # booleans too: Mongoose casts them to 1 and 0
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        _refuse(ctx, _cast_error("Number", value, path))
    return int(number) if number.is_integer() else number


def _as_list(value: object) -> list[Any]:
    # Mongoose wraps a single value given for an array path.
    return list(value) if isinstance(value, list) else [value]


def _batch_fields(ctx: Context, fields: dict[str, Any], *, edit: bool) -> Doc:
    """The schema fields of a create or edit body, cast. An edit leaves falsy fields
    unchanged and, on the real service, runs no validators (any ``difficultyLevel`` is
    stored); the fixed backend checks the enum on both."""
    skip_falsy = edit
    check_enum = not (edit and ctx.has_defect("validation_500"))
    doc: Doc = {}
    for name in (*_STRING_FIELDS, "difficultyLevel", "estimatedDuration"):
        value = fields.get(name)
        if value is None or (skip_falsy and js_falsy(value)):
            continue
        if name == "estimatedDuration":
            duration = _as_number(ctx, value, name)
            if duration is not None:
                doc[name] = duration
            continue
        doc[name] = _as_string(ctx, value, name)
        if name == "difficultyLevel" and check_enum and doc[name] not in DIFFICULTY_LEVELS:
            _refuse(ctx, f"`{doc[name]}` is not a valid enum value for path `difficultyLevel`.")
    objectives = fields.get("learningObjectives")
    if objectives is not None and not (skip_falsy and js_falsy(objectives)):
        doc["learningObjectives"] = [
            _as_string(ctx, item, "learningObjectives") for item in _as_list(objectives)
        ]
    tasks = fields.get("tasks")
    if tasks is not None and not (skip_falsy and js_falsy(tasks)):
        doc["tasks"] = [object_id(task, "Batch", "tasks") for task in _as_list(tasks)]
    return doc


def _check_admin(ctx: Context, admin_id: object) -> str:
    admin = _user_with(ctx, admin_id, STAFF, "admin")
    if admin is None:
        raise HttpError(400, _ADMIN_ROLE)
    return str(admin["_id"])


def _check_mentor(ctx: Context, mentor_id: object, field: str = "mentor") -> str:
    mentor = _user_with(ctx, mentor_id, ("mentor",), field)
    if mentor is None:
        raise HttpError(400, _MENTOR_ROLE)
    return str(mentor["_id"])


# --- handlers -------------------------------------------------------------------------------


def create_batch(ctx: Context) -> BackendResponse:
    """``POST /api/batches`` (admin or superadmin): 201 with the bare batch and, fixed,
    ``success: true``. An admin's own id is the batch's admin; a superadmin names one."""
    claims = ctx.verified_claims()
    if claims.designation not in STAFF:
        raise HttpError(403, {"message": "Only admin or superadmin can create batches"})
    fields = ctx.fields
    admin_ref = claims.user_id if claims.designation == "admin" else fields.get("admin")
    admin_id = _check_admin(ctx, admin_ref)
    mentor_id = _check_mentor(ctx, fields.get("mentor"))
    cast = _batch_fields(ctx, fields, edit=False)
    if js_falsy(cast.get("name")):
        _refuse(ctx, "Batch validation failed: name: Path `name` is required.")
    batch: Doc = {
        "_id": ctx.new_id(),
        "admin": admin_id,
        "mentor": mentor_id,
        "users": [],
        "tasks": [],
        "learningObjectives": [],
        "difficultyLevel": "Beginner",
        "status": "active",
        "progressMetrics": {
            "averageCompletionRate": 0,
            "averageScore": 0,
            "totalTasksCompleted": 0,
            "mentorFeedbackCount": 0,
        },
        **cast,
        "createdAt": ctx.timestamp,
        "__v": 0,
    }
    ctx.store.insert(Collection.BATCHES, batch)
    if ctx.has_defect("no_success_flag"):
        return json_response(201, batch)
    return json_response(201, {**batch, "success": True})


def list_batches(ctx: Context) -> BackendResponse:
    """``GET /api/batches``: a superadmin's every batch, an admin's own, a mentor's mentored,
    a user's enrolled ones (``[]`` under ``user_batches_empty``)."""
    claims = ctx.verified_claims()
    role, caller = claims.designation, claims.user_id
    batches = ctx.store.find(Collection.BATCHES)
    if role == "admin":
        batches = [batch for batch in batches if batch.get("admin") == caller]
    elif role == "mentor":
        batches = [batch for batch in batches if batch.get("mentor") == caller]
    elif role == "user" and ctx.has_defect("user_batches_empty"):
        # The real filter also wants `admin` to equal an ObjectId made from the token's
        # missing `parentId`: a fresh random id, so nothing ever matches.
        batches = []
    elif role == "user":
        batches = [batch for batch in batches if caller in batch["users"]]
    elif role != "superadmin":
        batches = []
    return _listed(ctx, batches)


def _caller_account(ctx: Context) -> Doc:
    user_id = ctx.verified_claims().user_id
    if not user_id:
        raise HttpError(400, {"message": "User not authenticated"})
    user = ctx.store.get(Collection.USERS, object_id(user_id, "User"))
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    return user


def user_batches(ctx: Context) -> BackendResponse:
    """``GET /api/batches/user``: the batches that list the caller."""
    user_id = _caller_account(ctx)["_id"]
    return _listed(ctx, [b for b in ctx.store.find(Collection.BATCHES) if user_id in b["users"]])


def _admin_of(ctx: Context, parent_id: object) -> str | None:
    """The ``_id`` the caller's ``parentId`` names, as text: an admin's short code (which
    registration stored before defect ``parent_id_code`` was fixed) is resolved too."""
    if not isinstance(parent_id, str) or not parent_id:
        return None
    if is_object_id(parent_id):
        return parent_id
    admin = ctx.store.find_one(Collection.USERS, adminId=parent_id)
    return None if admin is None else str(admin["_id"])


def available_batches(ctx: Context) -> BackendResponse:
    """``GET /api/batches/available``: the batches of the caller's admin (``parentId``)
    that do not list the caller yet."""
    user = _caller_account(ctx)
    parent_id = user.get("parentId")
    if ctx.has_defect("parent_id_code") and parent_id is not None:
        if not is_object_id(parent_id):
            # The real query casts `parentId` to an ObjectId for `admin` and fails.
            raise MongooseError(f'{_cast_error("ObjectId", parent_id, "admin")} for model "Batch"')
        admin_id: str | None = str(parent_id)
    else:
        admin_id = _admin_of(ctx, parent_id)
    if admin_id is None:
        return _listed(ctx, [])
    batches = [
        batch
        for batch in ctx.store.find(Collection.BATCHES)
        if batch.get("admin") == admin_id and user["_id"] not in batch["users"]
    ]
    return _listed(ctx, batches)


def get_batch(ctx: Context) -> BackendResponse:
    """``GET /api/batches/:id``: the batch with admin, mentor, users and tasks populated,
    unfiltered."""
    batch = _find_batch(ctx, ctx.params["id"])
    batch["admin"] = _person(ctx, batch.get("admin"))
    batch["mentor"] = _person(ctx, batch.get("mentor"))
    batch["users"] = _people(ctx, batch["users"])
    batch["tasks"] = populate_each(ctx.store, Collection.TASKS, batch["tasks"])
    return json_response(200, batch)


def _sync_new_tasks(ctx: Context, batch: Doc, task_ids: list[str]) -> None:
    """Tasks new to a batch join it as on task create: ``Task.batch`` points to it and every
    enrolled user's progress gains a ``not_started`` entry (a user without progress gets one
    holding every batch task)."""
    store = ctx.store
    existing = []
    for task_id in task_ids:
        task = store.get(Collection.TASKS, task_id)
        if task is None:
            continue
        existing.append(task_id)
        if task.get("batch") != batch["_id"]:
            task["batch"] = batch["_id"]
            store.save(Collection.TASKS, task)
    for user_id in batch["users"]:
        progress = store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch["_id"])
        if progress is None:
            store.insert(
                Collection.PROGRESS,
                new_progress(ctx, user_id=user_id, batch_id=batch["_id"], task_ids=batch["tasks"]),
            )
            continue
        known = {entry["taskId"] for entry in progress["taskProgress"]}
        added = [new_task_entry(ctx, task_id) for task_id in existing if task_id not in known]
        if added:
            progress["taskProgress"].extend(added)
            recompute_metrics(ctx, progress)
            store.save(Collection.PROGRESS, progress)


def edit_batch(ctx: Context) -> BackendResponse:
    """``PUT /api/batches/:id`` (superadmin or the batch's admin): the truthy fields are
    applied; 200 with the bare batch. Fixed, the role is checked before the lookup, and tasks
    new to the batch reach ``Task.batch`` and every enrolled user's progress."""
    claims = ctx.verified_claims()
    unsynced = ctx.has_defect("edit_batch_tasks_unsynced")
    forbidden = HttpError(
        403, {"message": "Only the assigned admin or superadmin can edit this batch"}
    )
    if not unsynced and claims.designation not in STAFF:
        raise forbidden
    batch = _find_batch(ctx, ctx.params["id"])
    if claims.designation != "superadmin" and not (
        claims.designation == "admin" and batch.get("admin") == claims.user_id
    ):
        raise forbidden
    fields = ctx.fields
    people: Doc = {}
    if not js_falsy(fields.get("admin")):
        people["admin"] = _check_admin(ctx, fields["admin"])
    if not js_falsy(fields.get("mentor")):
        people["mentor"] = _check_mentor(ctx, fields["mentor"])
    update = {**_batch_fields(ctx, fields, edit=True), **people}
    new_tasks = [task for task in update.get("tasks", []) if task not in batch["tasks"]]
    batch.update(update)
    ctx.store.save(Collection.BATCHES, batch)
    if new_tasks and not unsynced:
        _sync_new_tasks(ctx, batch, new_tasks)
    return json_response(200, batch)


def _delete_batch_data(ctx: Context, batch_id: str) -> None:
    """What a batch leaves behind, once defect ``no_cascade`` is fixed: its progress and the
    submissions its progress links, its chat, its feedback, and ``Task.batch``."""
    store = ctx.store
    for progress in store.find(Collection.PROGRESS, batchId=batch_id):
        for entry in progress["taskProgress"]:
            if isinstance(entry.get("submissionId"), str):
                store.delete(Collection.SUBMISSIONS, entry["submissionId"])
        store.delete(Collection.PROGRESS, progress["_id"])
    for collection in (Collection.BATCH_MESSAGES, Collection.FEEDBACK):
        for doc in store.find(collection, batch=batch_id):
            store.delete(collection, doc["_id"])
    for task in store.find(Collection.TASKS, batch=batch_id):
        task["batch"] = None
        store.save(Collection.TASKS, task)


def delete_batch(ctx: Context) -> BackendResponse:
    """``DELETE /api/batches/:id`` (staff, fixed): 200 ``{message, batch}``."""
    ctx.forbid_unless(ctx.is_staff, "Only admin or superadmin can delete batches")
    batch_id = object_id(ctx.params["id"], "Batch")
    batch = ctx.store.delete(Collection.BATCHES, batch_id)
    if batch is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    if not ctx.has_defect("no_cascade"):
        _delete_batch_data(ctx, batch_id)
    return json_response(200, {"message": "Batch deleted", "batch": batch})


def _target_batch_id(ctx: Context) -> object:
    """The batch a remove or assign-mentor acts on: the body's ``batchId`` on the real
    service (defect ``batch_id_in_body``), the path id once fixed."""
    if ctx.has_defect("batch_id_in_body"):
        return ctx.fields.get("batchId")
    return ctx.params["id"]


def assign_mentor(ctx: Context) -> BackendResponse:
    """``POST /api/batches/:id/assign-mentor`` (staff, fixed): set the batch's mentor to
    ``mentorId``; 200 with the bare batch."""
    ctx.forbid_unless(ctx.is_staff, "Only admin or superadmin can assign mentors")
    mentor_id = _check_mentor(ctx, ctx.fields.get("mentorId"), "mentorId")
    batch_id = _target_batch_id(ctx)
    if batch_id is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    batch = _find_batch(ctx, batch_id)
    batch["mentor"] = mentor_id
    return json_response(200, ctx.store.save(Collection.BATCHES, batch))


def _enrolment_answer(ctx: Context, batch: Doc) -> BackendResponse:
    store = ctx.store
    batch["users"] = populate_each(store, Collection.USERS, batch["users"], ("username", "email"))
    batch["mentor"] = populate(store, Collection.USERS, batch.get("mentor"), ("username",))
    batch["admin"] = populate(store, Collection.USERS, batch.get("admin"), ("username",))
    answer: Doc = {"message": "User enrolled successfully", "batch": batch}
    if not ctx.has_defect("no_success_flag"):
        answer = {"success": True, **answer}
    return json_response(200, answer)


def enroll_user(ctx: Context) -> BackendResponse:
    """``POST /api/batches/:id/enroll``: add ``userId`` (a ``user``) to the batch; their
    progress starts with one ``not_started`` entry per task and a ``milestone_reached``
    activity. Already enrolled: 400. Fixed: 200 ``{success, message, batch}``."""
    user_ref = ctx.fields.get("userId")
    # Asked without a token (as the real service's own scripts do), the enrolment is taken as
    # it comes; with one, a learner enrols only itself.
    if ctx.caller is not None:
        ctx.require_self_or(user_ref, message="You can only enrol yourself")
    user = _user_with(ctx, user_ref, ("user",), "userId")
    if user is None:
        raise HttpError(400, {"message": "Only users with user designation can be enrolled"})
    batch = _find_batch(ctx, ctx.params["id"])
    user_id = str(user["_id"])
    if user_id in batch["users"]:
        raise HttpError(400, {"message": "User is already enrolled in this batch"})
    batch["users"].append(user_id)
    store = ctx.store
    store.save(Collection.BATCHES, batch)
    progress = store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch["_id"])
    if progress is None:
        progress = new_progress(
            ctx, user_id=user_id, batch_id=batch["_id"], task_ids=batch["tasks"]
        )
        add_activity(
            ctx,
            progress,
            "milestone_reached",
            None,
            f"Enrolled in batch: {batch['name']}",
            {
                "batchName": batch["name"],
                "totalTasks": len(batch["tasks"]),
                "enrollmentDate": ctx.timestamp,
            },
        )
        store.insert(Collection.PROGRESS, progress)
    elif progress.get("status") == "dropped" and not ctx.has_defect("remove_keeps_progress"):
        # A learner who left and comes back picks up where they were.
        progress["status"] = "active"
        recompute_metrics(ctx, progress)
        store.save(Collection.PROGRESS, progress)
    if ctx.has_defect("enroll_populate_500"):
        # Answered, not raised: the writes above stay, as on the real service.
        return json_response(
            500, {"message": "Failed to enroll user", "error": _ENROLL_POPULATE_ERROR}
        )
    return _enrolment_answer(ctx, batch)


def remove_user(ctx: Context) -> BackendResponse:
    """``POST /api/batches/:id/remove``: take ``userId`` out of the batch; 200 with the bare
    batch. Fixed, their progress in it becomes ``dropped``."""
    user_id = ctx.fields.get("userId")
    ctx.require_self_or(user_id, message="You can only leave a batch yourself")
    batch_id = _target_batch_id(ctx)
    if batch_id is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    batch = _find_batch(ctx, batch_id)
    batch["users"] = [member for member in batch["users"] if member != user_id]
    store = ctx.store
    store.save(Collection.BATCHES, batch)
    if isinstance(user_id, str) and not ctx.has_defect("remove_keeps_progress"):
        progress = store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch["_id"])
        if progress is not None and progress.get("status") != "dropped":
            progress["status"] = "dropped"
            progress["updatedAt"] = ctx.timestamp
            store.save(Collection.PROGRESS, progress)
    return json_response(200, batch)


# --- the batch chat ---------------------------------------------------------------------------


def _chat_batch(ctx: Context, failure: str) -> Doc | None:
    """The chat's batch: None when it does not exist, and on the real service whatever the
    id (it checks nothing). A malformed id is the route's ``{error}`` 500 there."""
    batch_id = ctx.params["batchId"]
    if not is_object_id(batch_id):
        if ctx.has_defect("validation_500"):
            raise HttpError(500, {"error": failure})
        raise HttpError(404, _BATCH_NOT_FOUND)
    return ctx.store.get(Collection.BATCHES, batch_id)


def _check_member(ctx: Context, batch: Doc | None) -> Doc:
    """Members, the batch's admin and mentor, and superadmins may use its chat."""
    if batch is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    claims = ctx.verified_claims()
    member = (
        claims.designation == "superadmin"
        or claims.user_id in batch["users"]
        or claims.user_id in (batch.get("admin"), batch.get("mentor"))
    )
    if not member:
        raise HttpError(403, {"message": "Only members of this batch can use its chat"})
    return batch


def _sender(ctx: Context, ref: object) -> Doc | None:
    # The real service selects `name email role`, and Users have neither name nor role.
    if ctx.has_defect("batch_message_500"):
        return populate(ctx.store, Collection.USERS, ref, ("email",))
    return populate(ctx.store, Collection.USERS, ref, ("username", "email", "designation"))


def batch_messages(ctx: Context) -> BackendResponse:
    """``GET /api/batches/:batchId/messages``: the chat, oldest first, ``sender`` populated.
    Fixed (``missing_auth``), only members may read it."""
    batch = _chat_batch(ctx, "Failed to fetch messages")
    if not ctx.has_defect("missing_auth"):
        _check_member(ctx, batch)
    messages = ctx.store.find(Collection.BATCH_MESSAGES, batch=ctx.params["batchId"])
    messages.sort(key=lambda message: str(message.get("createdAt")))
    for message in messages:
        message["sender"] = _sender(ctx, message.get("sender"))
    return json_response(200, messages)


def post_batch_message(ctx: Context) -> BackendResponse:
    """``POST /api/batches/:batchId/messages``: 201 with the new message, sent by the token's
    user, ``sender`` populated; 403 for non-members. Always 500 under ``batch_message_500``."""
    failure = "Failed to send message"
    if ctx.has_defect("batch_message_500"):
        raise HttpError(500, {"error": failure})
    batch = _check_member(ctx, _chat_batch(ctx, failure))
    text = ctx.fields.get("message")
    if isinstance(text, str):
        text = text.strip()
    elif text is not None and not isinstance(text, dict | list):
        text = _as_string(ctx, text, "message")
    if not isinstance(text, str) or not text:
        if ctx.has_defect("validation_500"):
            raise HttpError(500, {"error": failure})
        raise HttpError(400, {"message": "A message is required"})
    message: Doc = {
        "_id": ctx.new_id(),
        "batch": batch["_id"],
        "sender": ctx.verified_claims().user_id,
        "message": text,
        "createdAt": ctx.timestamp,
        "__v": 0,
    }
    ctx.store.insert(Collection.BATCH_MESSAGES, message)
    return json_response(201, {**message, "sender": _sender(ctx, message["sender"])})


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/batches", create_batch, Failure("Failed to create batch"), auth="jwt"),
    Route("GET", "/api/batches", list_batches, Failure("Failed to fetch batches"), auth="jwt"),
    Route(
        "POST",
        "/api/batches/:id/assign-mentor",
        assign_mentor,
        Failure("Failed to assign mentor"),
        fixed_auth="jwt",
    ),
    Route("POST", "/api/batches/:id/enroll", enroll_user, Failure("Failed to enroll user")),
    Route(
        "POST",
        "/api/batches/:id/remove",
        remove_user,
        Failure("Failed to remove user"),
        fixed_auth="jwt",
    ),
    Route(
        "DELETE",
        "/api/batches/:id",
        delete_batch,
        Failure("Failed to delete batch"),
        fixed_auth="jwt",
    ),
    Route("PUT", "/api/batches/:id", edit_batch, Failure("Failed to edit batch"), auth="jwt"),
    Route(
        "GET",
        "/api/batches/user",
        user_batches,
        Failure("Failed to fetch user batches"),
        auth="jwt",
    ),
    Route(
        "GET",
        "/api/batches/available",
        available_batches,
        Failure("Failed to fetch available batches"),
        auth="jwt",
    ),
    Route("GET", "/api/batches/:id", get_batch, Failure("Failed to fetch batch")),
    Route(
        "GET",
        "/api/batches/:batchId/messages",
        batch_messages,
        Failure("Failed to fetch messages"),
        auth="ra",
    ),
    Route(
        "POST",
        "/api/batches/:batchId/messages",
        post_batch_message,
        Failure("Failed to send message"),
        auth="ra",
    ),
)
"""This area's routes, in the real service's matching order (the two analytics routes,
``GET /api/batches/:id/analytics/admin`` and ``/mentor``, live with the analytics area)."""
