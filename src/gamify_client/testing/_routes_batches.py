"""``/api/batches``: create, list (by role), read, enroll, remove and delete batches.

Only create and list check a token, as in the real service; create and enroll answer
without ``success``, and create answers the bare batch.
"""

from __future__ import annotations

from ._documents import populate, populate_each, stamp, touch
from ._express import BackendResponse, json_response
from ._progress import add_activity, new_progress
from ._routing import Context, Failure, HttpError, Route, object_id, require_fields
from ._store import Collection, Doc

DIFFICULTY_LEVELS = ("Beginner", "Intermediate", "Advanced")
_BATCH_NOT_FOUND = {"message": "Batch not found"}


def _batch(ctx: Context) -> Doc:
    batch = ctx.store.get(Collection.BATCHES, object_id(ctx.params["id"], "Batch"))
    if batch is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    return batch


def _user_with(ctx: Context, user_id: object, designations: tuple[str, ...]) -> Doc | None:
    if user_id in (None, ""):
        return None
    user = ctx.store.get(Collection.USERS, object_id(user_id, "User"))
    return user if user is not None and user["designation"] in designations else None


def create_batch(ctx: Context) -> BackendResponse:
    """``POST /api/batches`` (admin or superadmin): 201 with the bare batch."""
    claims = ctx.verified_claims()
    if claims.designation not in ("admin", "superadmin"):
        raise HttpError(403, {"message": "Only admin or superadmin can create batches"})
    fields = ctx.fields
    admin_ref = claims.user_id if claims.designation == "admin" else fields.get("admin")
    admin = _user_with(ctx, admin_ref, ("admin", "superadmin"))
    if admin is None:
        raise HttpError(
            400, {"message": "Assigned admin must have admin or superadmin designation"}
        )
    mentor = _user_with(ctx, fields.get("mentor"), ("mentor",))
    if mentor is None:
        raise HttpError(400, {"message": "Assigned mentor must have mentor designation"})
    require_fields(fields, "name", "description")
    level = fields.get("difficultyLevel")
    if level is not None and level not in DIFFICULTY_LEVELS:
        raise HttpError(400, {"message": "Invalid difficulty level"})
    doc: Doc = {
        "name": fields["name"],
        "description": fields["description"],
        "admin": admin["_id"],
        "mentor": mentor["_id"],
        "users": [],
        "tasks": [object_id(task, "Batch", "tasks") for task in fields.get("tasks") or []],
        "learningObjectives": list(fields.get("learningObjectives") or []),
    }
    for name in ("industryFocus", "difficultyLevel", "estimatedDuration"):
        if fields.get(name) is not None:
            doc[name] = fields[name]
    doc.update(
        status="active",
        startDate=ctx.timestamp,
        progressMetrics={
            "averageCompletionRate": 0,
            "averageScore": 0,
            "totalTasksCompleted": 0,
            "mentorFeedbackCount": 0,
        },
    )
    return json_response(201, ctx.store.insert(Collection.BATCHES, stamp(ctx, doc)))


def _visible_to(ctx: Context, batch: Doc) -> bool:
    claims = ctx.verified_claims()
    if claims.designation == "admin":
        return bool(batch["admin"] == claims.user_id)
    if claims.designation == "mentor":
        return bool(batch["mentor"] == claims.user_id)
    if claims.designation == "user":
        return claims.user_id in batch["users"]
    return True


def list_batches(ctx: Context) -> BackendResponse:
    """``GET /api/batches``: the batches the token's role may see, people populated.

    An admin sees its own batches, a mentor those it mentors, a user those it is enrolled
    in, a superadmin all. As in the real service, a populated ``admin`` that is not an
    ``admin`` (a superadmin) shows as null, and ``users`` keeps only ``user``s.
    """
    shown = []
    for batch in ctx.store.find(Collection.BATCHES):
        if not _visible_to(ctx, batch):
            continue
        admin = populate(ctx.store, Collection.USERS, batch["admin"])
        mentor = populate(ctx.store, Collection.USERS, batch["mentor"])
        users = populate_each(ctx.store, Collection.USERS, batch["users"])
        batch["admin"] = admin if admin and admin["designation"] == "admin" else None
        batch["mentor"] = mentor if mentor and mentor["designation"] == "mentor" else None
        batch["users"] = [user for user in users if user["designation"] == "user"]
        shown.append(batch)
    return json_response(200, shown)


def get_batch(ctx: Context) -> BackendResponse:
    """``GET /api/batches/:id``: the batch with admin, mentor, users and tasks populated."""
    batch = _batch(ctx)
    store = ctx.store
    batch["admin"] = populate(store, Collection.USERS, batch["admin"])
    batch["mentor"] = populate(store, Collection.USERS, batch["mentor"])
    batch["users"] = populate_each(store, Collection.USERS, batch["users"])
    batch["tasks"] = populate_each(store, Collection.TASKS, batch["tasks"])
    return json_response(200, batch)


def enroll_user(ctx: Context) -> BackendResponse:
    """``POST /api/batches/:id/enroll``: 200 ``{message, batch}``; already enrolled: 400.

    The user's progress in the batch starts with one ``not_started`` entry per task and
    a ``milestone_reached`` activity.
    """
    user = _user_with(ctx, ctx.fields.get("userId"), ("user",))
    if user is None:
        raise HttpError(400, {"message": "Only users with user designation can be enrolled"})
    batch = _batch(ctx)
    if user["_id"] in batch["users"]:
        raise HttpError(400, {"message": "User is already enrolled in this batch"})
    batch["users"].append(user["_id"])
    ctx.store.save(Collection.BATCHES, touch(ctx, batch))
    store = ctx.store
    if store.find_one(Collection.PROGRESS, userId=user["_id"], batchId=batch["_id"]) is None:
        progress = new_progress(
            ctx, user_id=user["_id"], batch_id=batch["_id"], task_ids=batch["tasks"]
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
    batch["users"] = populate_each(store, Collection.USERS, batch["users"], ("username", "email"))
    batch["admin"] = populate(store, Collection.USERS, batch["admin"], ("username",))
    return json_response(200, {"message": "User enrolled successfully", "batch": batch})


def remove_user(ctx: Context) -> BackendResponse:
    """``POST /api/batches/:id/remove``: take ``userId`` out of the batch; 200 with it."""
    batch = _batch(ctx)
    user_id = ctx.fields.get("userId")
    batch["users"] = [member for member in batch["users"] if member != user_id]
    return json_response(200, ctx.store.save(Collection.BATCHES, touch(ctx, batch)))


def delete_batch(ctx: Context) -> BackendResponse:
    """``DELETE /api/batches/:id``: 200 ``{message, batch}``."""
    batch = ctx.store.delete(Collection.BATCHES, object_id(ctx.params["id"], "Batch"))
    if batch is None:
        raise HttpError(404, _BATCH_NOT_FOUND)
    return json_response(200, {"message": "Batch deleted", "batch": batch})


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/batches", create_batch, Failure("Failed to create batch"), auth="jwt"),
    Route("GET", "/api/batches", list_batches, Failure("Failed to fetch batches"), auth="jwt"),
    Route("GET", "/api/batches/:id", get_batch, Failure("Failed to fetch batch")),
    Route("POST", "/api/batches/:id/enroll", enroll_user, Failure("Failed to enroll user")),
    Route("POST", "/api/batches/:id/remove", remove_user, Failure("Failed to remove user")),
    Route("DELETE", "/api/batches/:id", delete_batch, Failure("Failed to delete batch")),
)
"""This area's routes, in the real service's matching order."""
