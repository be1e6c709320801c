"""The documents the real service stores, made and shown the way Mongoose does.

New documents get the schema's defaults, ``createdAt``/``updatedAt`` and ``__v``; array
entries get their own ``_id``. :func:`populate` is Mongoose's ``populate(path, select)``:
the referenced document (only ``_id`` and the selected fields when a selection is given),
or None when the reference leads nowhere.
"""

from __future__ import annotations

import marshal
from typing import Any

from ._routing import Context
from ._store import Collection, Doc, DocumentStore

USER_FIELDS_HIDDEN = ("password",)


def stamp(ctx: Context, doc: Doc) -> Doc:
    """``doc`` with an ``_id`` first and the timestamps Mongoose adds on create."""
    return {
        "_id": ctx.new_id(),
        **doc,
        "createdAt": ctx.timestamp,
        "updatedAt": ctx.timestamp,
        "__v": 0,
    }


def touch(ctx: Context, doc: Doc) -> Doc:
    """Mark ``doc`` as updated now (``updatedAt``), as a Mongoose save does."""
    doc["updatedAt"] = ctx.timestamp
    return doc


def public_user(user: Doc) -> Doc:
    """A user as routes show it: every field but the password hash."""
    return {key: value for key, value in user.items() if key not in USER_FIELDS_HIDDEN}


def new_user(
    ctx: Context,
    *,
    username: str,
    email: str,
    password_hash: str,
    designation: str,
    parent_id: str | None,
    admin_id: str | None,
) -> Doc:
    """A user document with the schema's defaults."""
    doc: Doc = {
        "username": username,
        "email": email,
        "password": password_hash,
        "designation": designation,
        "parentId": parent_id,
    }
    if admin_id is not None:
        doc["adminId"] = admin_id
    doc.update(
        avatar="",
        xps=0,
        restricted=False,
        theme="light",
        emailNotifications=True,
        inAppNotifications=True,
        completedTasks=[],
        inProgressTasks=[],
    )
    return stamp(ctx, doc)


def new_submission(
    ctx: Context, *, user_id: str, task_id: str, submission_type: str, value: str
) -> Doc:
    """A submission of ``task_id`` by ``user_id``, not graded yet."""
    return stamp(
        ctx,
        {
            "userId": user_id,
            "taskId": task_id,
            "submissionType": submission_type,
            "value": value,
            "submittedAt": ctx.timestamp,
            "status": "submitted",
        },
    )


def populate(
    store: DocumentStore,
    collection: Collection,
    ref: Any,
    select: tuple[str, ...] | None = None,
) -> Doc | None:
    """The document ``ref`` points to, trimmed to ``_id`` and ``select`` when given."""
    if not isinstance(ref, str):
        return None
    if select is None:
        doc = store.get(collection, ref)
        if doc is None:
            return None
        return public_user(doc) if collection is Collection.USERS else doc
    # A few fields of the store's shared copy, picked without copying the whole document (the
    # dashboard populates some thirty references per answer); only a list or an object is
    # copied, since the caller may change what it gets.
    shared = store.peek(collection, ref)
    if shared is None:
        return None
    picked = {"_id": shared["_id"]}
    for name in select:
        if name in shared:
            value = shared[name]
            if isinstance(value, (list, dict)):
                value = marshal.loads(marshal.dumps(value))
            picked[name] = value
    if collection is Collection.USERS:
        for hidden in USER_FIELDS_HIDDEN:
            picked.pop(hidden, None)
    return picked


def populate_each(
    store: DocumentStore,
    collection: Collection,
    refs: list[Any],
    select: tuple[str, ...] | None = None,
) -> list[Doc]:
    """:func:`populate` over an array of references, dropping those that lead nowhere."""
    found = (populate(store, collection, ref, select) for ref in refs)
    return [doc for doc in found if doc is not None]
