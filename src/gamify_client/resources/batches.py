"""Batches: ``/api/batches``. Batches, their members and mentor, and the batch chat.

The real service checks a token on create, edit, the listings and the chat; the reference
backend, with defect ``missing_auth`` fixed, also on enrol, remove, assign-mentor and delete.
The two analytics routes under ``/api/batches/:id/analytics`` are in :mod:`.analytics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey, Key
from ..models import Batch, BatchMessage, MutationResult
from ..realtime import MutationContext, Rule, Write, membership_keys, scoped
from ._base import AsyncResource, SyncResource, async_endpoint, body, segment, sync_endpoint

__all__ = ["AsyncBatches", "Batches", "DifficultyLevel"]

DifficultyLevel: TypeAlias = Literal["Beginner", "Intermediate", "Advanced"] | str

_BATCH = Payload(TypeAdapter(Batch), "Batch", keys=("batch",), bare=True)
_BATCHES = Payload(TypeAdapter(list[Batch]), "list of Batch", keys=("batches",), bare=True)
_BATCH_WRITE = MutationPayload(_BATCH)
# A chat message is always bare: its own `message` field is the text, not a named payload.
_MESSAGE = Payload(TypeAdapter(BatchMessage), "BatchMessage", bare=True)
_MESSAGES = Payload(TypeAdapter(list[BatchMessage]), "list of BatchMessage", bare=True)
_LISTINGS: tuple[Key, ...] = (
    CacheKey.BATCHES,
    CacheKey.USER_BATCHES,
    CacheKey.AVAILABLE_BATCHES,
)
"""Every user's batch listings: a batch's fields show in each of them."""


def _edited_keys(context: MutationContext) -> Sequence[Key]:
    """An edit changes the batch and the listings; new ``tasks`` also reach the tasks (their
    ``batch``), every enrolled user's dashboard and progress, and the batch's progress and
    analytics."""
    batch_id = context.batch_id
    keys: list[Key] = [*_LISTINGS, scoped(CacheKey.BATCH, batch_id)]
    if context.request.get("tasks"):
        keys += [
            CacheKey.TASKS,
            CacheKey.DASHBOARD,
            CacheKey.USER_PROGRESS,
            scoped(CacheKey.BATCH_PROGRESS, batch_id),
            scoped(CacheKey.ANALYTICS, batch_id),
        ]
    return keys


def _deleted_keys(context: MutationContext) -> Sequence[Key]:
    """A deleted batch leaves every listing, and takes its members' progress (so their
    dashboards), its chat, its feedback and its tasks' ``batch`` with it; its categories and
    its own reads change too."""
    batch_id = context.batch_id
    return [
        *_LISTINGS,
        scoped(CacheKey.BATCH, batch_id),
        scoped(CacheKey.CATEGORIES, batch_id),
        scoped(CacheKey.BATCH_PROGRESS, batch_id),
        scoped(CacheKey.ACTIVITY, batch_id),
        scoped(CacheKey.ANALYTICS, batch_id),
        scoped(CacheKey.BATCH_MESSAGES, batch_id),
        CacheKey.DASHBOARD,
        CacheKey.USER_PROGRESS,
        CacheKey.USER_ANALYTICS,
        CacheKey.FEEDBACK,
        CacheKey.TASKS,
    ]


CREATE = Write(
    "batches.create",
    "POST",
    "/api/batches",
    _BATCH_WRITE,
    # A new batch has no members yet: only the listings change (its admin's users may now
    # enrol in it).
    Rule(Event.BATCH_CREATED, lambda c: [CacheKey.BATCHES, CacheKey.AVAILABLE_BATCHES]),
)
EDIT = Write(
    "batches.edit",
    "PUT",
    "/api/batches/:id",
    _BATCH_WRITE,
    Rule(Event.DATA_REFRESH, _edited_keys),
    ids={"batch_id": ":id", "tasks": "tasks"},
    repeatable=True,
)
DELETE = Write(
    "batches.delete",
    "DELETE",
    "/api/batches/:id",
    _BATCH_WRITE,
    Rule(Event.DATA_REFRESH, _deleted_keys),
    ids={"batch_id": ":id"},
    repeatable=True,
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
    repeatable=True,
)
ASSIGN_MENTOR = Write(
    "batches.assign_mentor",
    "POST",
    "/api/batches/:id/assign-mentor",
    _BATCH_WRITE,
    Rule(Event.DATA_REFRESH, lambda c: [*_LISTINGS, scoped(CacheKey.BATCH, c.batch_id)]),
    ids={"batch_id": ":id"},
    repeatable=True,
)
POST_MESSAGE = Write(
    "batches.post_message",
    "POST",
    "/api/batches/:batchId/messages",
    MutationPayload(_MESSAGE),
    Rule(Event.DATA_REFRESH, lambda c: [scoped(CacheKey.BATCH_MESSAGES, c.batch_id)]),
    ids={"batch_id": ":batchId"},
)


def _path(batch_id: str, *rest: str) -> str:
    return "/".join(("/api/batches", segment(batch_id), *rest))


def _optional_list(values: Sequence[str] | None) -> list[str] | None:
    return list(values) if values is not None else None


def list_batches() -> Call[list[Batch]]:
    """The batches the token's user may see: a superadmin's all, an admin's own, a mentor's
    mentored, a user's enrolled ones (the real service gives a user ``[]``, defect
    ``user_batches_empty``). People are populated, then filtered: ``admin`` is None unless an
    admin, ``mentor`` None unless a mentor, ``users`` holds only learners."""
    return Call("GET", "/api/batches", _BATCHES)


def enrolled_batches() -> Call[list[Batch]]:
    """The batches the token's user is enrolled in, populated and filtered as :meth:`list`."""
    return Call("GET", "/api/batches/user", _BATCHES)


def available_batches() -> Call[list[Batch]]:
    """The batches of the token's user's admin that the user is not enrolled in yet. The real
    service answers 500 when the user's ``parentId`` is an admin's short code rather than
    its id (defect ``parent_id_code``)."""
    return Call("GET", "/api/batches/available", _BATCHES)


def get_batch(batch_id: str) -> Call[Batch]:
    """One batch, with admin, mentor, users and tasks populated (unfiltered); no token
    needed. :class:`~gamify_client.NotFoundError` when there is none."""
    return Call("GET", _path(batch_id), _BATCH)


def _batch_fields(
    *,
    name: str | None,
    description: str | None,
    mentor: str | None,
    admin: str | None,
    industry_focus: str | None,
    difficulty_level: DifficultyLevel | None,
    estimated_duration: float | None,
    learning_objectives: Sequence[str] | None,
    tasks: Sequence[str] | None,
) -> dict[str, Any]:
    return body(
        {
            "name": name,
            "description": description,
            "mentor": mentor,
            "admin": admin,
            "industryFocus": industry_focus,
            "difficultyLevel": difficulty_level,
            "estimatedDuration": estimated_duration,
            "learningObjectives": _optional_list(learning_objectives),
            "tasks": _optional_list(tasks),
        }
    )


def create_batch(
    *,
    name: str,
    mentor: str,
    description: str | None = None,
    admin: str | None = None,
    industry_focus: str | None = None,
    difficulty_level: DifficultyLevel | None = None,
    estimated_duration: float | None = None,
    learning_objectives: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> Call[MutationResult[Batch]]:
    """Create a batch mentored by ``mentor`` (a mentor's id); needs an admin's token (the
    admin becomes the batch's) or a superadmin's (who names the ``admin``); others get
    :class:`~gamify_client.PermissionDeniedError`. The listed ``tasks`` are not changed.
    Never retried once sent."""
    fields = _batch_fields(
        name=name,
        description=description,
        mentor=mentor,
        admin=admin,
        industry_focus=industry_focus,
        difficulty_level=difficulty_level,
        estimated_duration=estimated_duration,
        learning_objectives=learning_objectives,
        tasks=tasks,
    )
    return CREATE.call("/api/batches", json=fields)


def edit_batch(
    batch_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    mentor: str | None = None,
    admin: str | None = None,
    industry_focus: str | None = None,
    difficulty_level: DifficultyLevel | None = None,
    estimated_duration: float | None = None,
    learning_objectives: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> Call[MutationResult[Batch]]:
    """Change a batch (a superadmin or the batch's admin); fields left out, or empty, stay as
    they are. ``tasks`` replaces the batch's task list: the reference backend enrols every
    member in the new tasks, the real service does not (defect
    ``edit_batch_tasks_unsynced``)."""
    fields = _batch_fields(
        name=name,
        description=description,
        mentor=mentor,
        admin=admin,
        industry_focus=industry_focus,
        difficulty_level=difficulty_level,
        estimated_duration=estimated_duration,
        learning_objectives=learning_objectives,
        tasks=tasks,
    )
    context = {"batch_id": batch_id, "tasks": _optional_list(tasks)}
    return EDIT.call(_path(batch_id), json=fields, context=context)


def delete_batch(batch_id: str) -> Call[MutationResult[Batch]]:
    """Delete the batch (staff); returns it as it was. The reference backend deletes its
    progress, chat and feedback too; the real service leaves them (defect ``no_cascade``)."""
    return DELETE.call(_path(batch_id), context={"batch_id": batch_id})


def enroll_user(batch_id: str, user_id: str) -> Call[MutationResult[Batch]]:
    """Enrol a learner (designation ``user``) in the batch: a learner may enrol only itself,
    staff anyone. Their progress starts with one entry per task. Enrolling twice is a
    :class:`~gamify_client.BadRequestError`. The real service enrols and then answers 500
    (defect ``enroll_populate_500``): that :class:`~gamify_client.InternalServerError` is
    raised and the enrol is never retried, since a repeat only answers 400."""
    return ENROLL.call(
        _path(batch_id, "enroll"),
        json={"userId": user_id},
        context={"batch_id": batch_id, "user_id": user_id},
    )


def remove_user(batch_id: str, user_id: str) -> Call[MutationResult[Batch]]:
    """Take a learner out of the batch (the learner itself or staff); their progress there is
    marked ``dropped``. The batch id goes in the body too, where the real service reads it
    (defect ``batch_id_in_body``)."""
    return REMOVE.call(
        _path(batch_id, "remove"),
        json={"batchId": batch_id, "userId": user_id},
        context={"batch_id": batch_id, "user_id": user_id},
    )


def assign_mentor(batch_id: str, mentor_id: str) -> Call[MutationResult[Batch]]:
    """Make ``mentor_id`` (a mentor) the batch's mentor (staff). The batch id goes in the
    body too, where the real service reads it (defect ``batch_id_in_body``)."""
    return ASSIGN_MENTOR.call(
        _path(batch_id, "assign-mentor"),
        json={"batchId": batch_id, "mentorId": mentor_id},
        context={"batch_id": batch_id},
    )


def batch_messages(batch_id: str) -> Call[list[BatchMessage]]:
    """The batch's chat, oldest first, each ``sender`` populated. The reference backend lets
    only members (and the batch's admin and mentor, and superadmins) read it."""
    return Call("GET", _path(batch_id, "messages"), _MESSAGES)


def post_message(batch_id: str, *, message: str) -> Call[MutationResult[BatchMessage]]:
    """Post to the batch's chat as the token's user (a member). The real service always
    answers 500 here (defect ``batch_message_500``) and stores nothing."""
    return POST_MESSAGE.call(
        _path(batch_id, "messages"), json={"message": message}, context={"batch_id": batch_id}
    )


class Batches(SyncResource):
    """Batches: listings, read, create, edit, delete, membership, mentor, chat."""

    list = sync_endpoint(list_batches)
    enrolled = sync_endpoint(enrolled_batches)
    available = sync_endpoint(available_batches)
    get = sync_endpoint(get_batch)
    create = sync_endpoint(create_batch)
    edit = sync_endpoint(edit_batch)
    delete = sync_endpoint(delete_batch)
    enroll = sync_endpoint(enroll_user)
    remove = sync_endpoint(remove_user)
    assign_mentor = sync_endpoint(assign_mentor)
    messages = sync_endpoint(batch_messages)
    post_message = sync_endpoint(post_message)


class AsyncBatches(AsyncResource):
    """Batches, awaited: listings, read, create, edit, delete, membership, mentor, chat."""

    list = async_endpoint(list_batches)
    enrolled = async_endpoint(enrolled_batches)
    available = async_endpoint(available_batches)
    get = async_endpoint(get_batch)
    create = async_endpoint(create_batch)
    edit = async_endpoint(edit_batch)
    delete = async_endpoint(delete_batch)
    enroll = async_endpoint(enroll_user)
    remove = async_endpoint(remove_user)
    assign_mentor = async_endpoint(assign_mentor)
    messages = async_endpoint(batch_messages)
    post_message = async_endpoint(post_message)
