"""Batches: ``/api/batches``. Create and list need a token; the list is filtered by role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey
from ..models import Batch, MutationResult
from ..realtime import Rule, Write, membership_keys, scoped
from ._base import AsyncResource, SyncResource, async_endpoint, body, segment, sync_endpoint

__all__ = ["AsyncBatches", "Batches", "DifficultyLevel"]

DifficultyLevel: TypeAlias = Literal["Beginner", "Intermediate", "Advanced"] | str

_BATCH = Payload(TypeAdapter(Batch), "Batch", keys=("batch",), bare=True)
_BATCHES = Payload(TypeAdapter(list[Batch]), "list of Batch", keys=("batches",), bare=True)
_BATCH_WRITE = MutationPayload(_BATCH)

CREATE = Write(
    "batches.create",
    "POST",
    "/api/batches",
    _BATCH_WRITE,
    Rule(
        Event.BATCH_CREATED,
        lambda c: [CacheKey.BATCHES, CacheKey.DASHBOARD, CacheKey.BATCH_PROGRESS],
    ),
)
ENROLL = Write(
    "batches.enroll",
    "POST",
    "/api/batches/:id/enroll",
    _BATCH_WRITE,
    Rule(Event.BATCH_ENROLLED, membership_keys),
    ids={"batch_id": ":id", "user_id": "userId"},
)
REMOVE = Write(
    "batches.remove",
    "POST",
    "/api/batches/:id/remove",
    _BATCH_WRITE,
    Rule(Event.DATA_REFRESH, membership_keys),
    ids={"batch_id": ":id", "user_id": "userId"},
)
DELETE = Write(
    "batches.delete",
    "DELETE",
    "/api/batches/:id",
    _BATCH_WRITE,
    Rule(
        Event.DATA_REFRESH,
        lambda c: [
            CacheKey.BATCHES,
            CacheKey.DASHBOARD,
            scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            CacheKey.USER_PROGRESS,
            CacheKey.TASKS,
        ],
    ),
    ids={"batch_id": ":id"},
)


def list_batches() -> Call[list[Batch]]:
    """The batches the token's user may see: an admin's own, a mentor's mentored, a user's
    enrolled, or all for a superadmin."""
    return Call("GET", "/api/batches", _BATCHES)


def get_batch(batch_id: str) -> Call[Batch]:
    """One batch."""
    return Call("GET", f"/api/batches/{segment(batch_id)}", _BATCH)


def create_batch(
    *,
    name: str,
    description: str,
    mentor: str,
    admin: str | None = None,
    industry_focus: str | None = None,
    difficulty_level: DifficultyLevel | None = None,
    estimated_duration: float | None = None,
    learning_objectives: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> Call[MutationResult[Batch]]:
    """Create a batch mentored by ``mentor`` (a mentor's id); needs an admin's or a
    superadmin's token (others get :class:`~gamify_client.PermissionDeniedError`)."""
    fields = {
        "name": name,
        "description": description,
        "mentor": mentor,
        "admin": admin,
        "industryFocus": industry_focus,
        "difficultyLevel": difficulty_level,
        "estimatedDuration": estimated_duration,
        "learningObjectives": list(learning_objectives) if learning_objectives else None,
        "tasks": list(tasks) if tasks else None,
    }
    return CREATE.call("/api/batches", json=body(fields))


def _membership(
    write: Write[Batch], action: str, batch_id: str, user_id: str
) -> Call[MutationResult[Batch]]:
    return write.call(
        f"/api/batches/{segment(batch_id)}/{action}",
        json={"userId": user_id},
        context={"batch_id": batch_id, "user_id": user_id},
    )


def enroll_user(batch_id: str, user_id: str) -> Call[MutationResult[Batch]]:
    """Enrol a user (designation ``user``) in the batch; their progress starts with one
    entry per task. Enrolling twice is a :class:`~gamify_client.BadRequestError`."""
    return _membership(ENROLL, "enroll", batch_id, user_id)


def remove_user(batch_id: str, user_id: str) -> Call[MutationResult[Batch]]:
    """Take a user out of the batch."""
    return _membership(REMOVE, "remove", batch_id, user_id)


def delete_batch(batch_id: str) -> Call[MutationResult[Batch]]:
    """Delete the batch; returns it as it was."""
    return DELETE.call(f"/api/batches/{segment(batch_id)}", context={"batch_id": batch_id})


class Batches(SyncResource):
    """Batches: list, read, create, enrol, remove, delete."""

    list = sync_endpoint(list_batches)
    get = sync_endpoint(get_batch)
    create = sync_endpoint(create_batch)
    enroll = sync_endpoint(enroll_user)
    remove = sync_endpoint(remove_user)
    delete = sync_endpoint(delete_batch)


class AsyncBatches(AsyncResource):
    """Batches, awaited: list, read, create, enrol, remove, delete."""

    list = async_endpoint(list_batches)
    get = async_endpoint(get_batch)
    create = async_endpoint(create_batch)
    enroll = async_endpoint(enroll_user)
    remove = async_endpoint(remove_user)
    delete = async_endpoint(delete_batch)
