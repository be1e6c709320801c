"""Categories: ``/api/categories``. A category belongs to a batch and holds its tasks.

Reads need no token; the fixed service lets only an admin, a superadmin or a mentor create,
edit or delete one (the real service checks nothing, defect ``missing_auth``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey, Key
from ..models import Category, MutationResult
from ..realtime import MutationContext, Patch, Rule, Write, scoped
from ._base import AsyncResource, SyncResource, async_endpoint, body, segment, sync_endpoint

__all__ = ["AsyncCategories", "Categories"]

_CATEGORY = Payload(TypeAdapter(Category), "Category", keys=("category",), bare=True)
_CATEGORIES = Payload(
    TypeAdapter(list[Category]), "list of Category", keys=("categories",), bare=True
)
_CATEGORY_WRITE = MutationPayload(_CATEGORY)


def _category_id(c: MutationContext) -> str | None:
    value = c.request.get("category_id")
    return value if isinstance(value, str) else None


def _with_category(category: Category) -> Patch:
    def patch(categories: Any) -> Any:
        if not isinstance(categories, list) or any(
            isinstance(known, Category) and known.id == category.id for known in categories
        ):
            return categories
        return [*categories, category]

    return patch


def _created_patches(c: MutationContext) -> Sequence[tuple[Key, Patch]]:
    # The batch's cached listing shows the new category at once.
    category = c.result.data
    if not isinstance(category, Category) or c.batch_id is None:
        return ()
    return [((CacheKey.CATEGORIES, c.batch_id), _with_category(category))]


def _edited_keys(c: MutationContext) -> list[Key]:
    # A category shows in the listings, with its tasks, in every task of GET /api/task/all
    # (populated) and in the survey responses that name it.
    return [
        CacheKey.CATEGORIES,
        scoped(CacheKey.CATEGORY_TASKS, _category_id(c)),
        CacheKey.TASKS,
        CacheKey.SURVEYS,
    ]


def _deleted_keys(c: MutationContext) -> list[Key]:
    # Its tasks go with it: out of every task list, batch, progress, dashboard and analytics.
    return [
        *_edited_keys(c),
        CacheKey.BATCH,
        CacheKey.BATCHES,
        CacheKey.USER_BATCHES,
        CacheKey.AVAILABLE_BATCHES,
        CacheKey.DASHBOARD,
        CacheKey.BATCH_PROGRESS,
        CacheKey.USER_PROGRESS,
        CacheKey.USER_ANALYTICS,
        CacheKey.ANALYTICS,
        CacheKey.ACTIVITY,
        CacheKey.NOTIFICATIONS,
    ]


CREATE = Write(
    "categories.create",
    "POST",
    "/api/categories/create",
    _CATEGORY_WRITE,
    # The listing of every category holds it too, so the whole family goes.
    Rule(Event.DATA_REFRESH, lambda c: [CacheKey.CATEGORIES], _created_patches),
    ids={"batch_id": "batch"},
)
DELETE = Write(
    "categories.delete",
    "DELETE",
    "/api/categories/delete/:id",
    _CATEGORY_WRITE,
    Rule(Event.DATA_REFRESH, _deleted_keys),
    ids={"category_id": ":id"},
    repeatable=True,
)
EDIT = Write(
    "categories.edit",
    "PATCH",
    "/api/categories/edit/:id",
    _CATEGORY_WRITE,
    Rule(Event.DATA_REFRESH, _edited_keys),
    ids={"category_id": ":id"},
    repeatable=True,
)


def list_categories(batch_id: str | None = None) -> Call[list[Category]]:
    """Every category, or those of one batch; ``tasks`` are ids."""
    params = {"batchId": batch_id} if batch_id is not None else None
    return Call("GET", "/api/categories/all", _CATEGORIES, params=params)


def get_category(category_id: str, *, batch_id: str | None = None) -> Call[Category]:
    """One category with its tasks populated (deleted tasks left out).
    :class:`~gamify_client.NotFoundError` when there is none; with ``batch_id``,
    :class:`~gamify_client.PermissionDeniedError` when it belongs to another batch."""
    params = {"batchId": batch_id} if batch_id is not None else None
    path = f"/api/categories/all/tasks/{segment(category_id)}"
    return Call("GET", path, _CATEGORY, params=params)


def create_category(
    *, name: str, batch: str, emoji: str | None = None, color: str | None = None
) -> Call[MutationResult[Category]]:
    """Create a category in ``batch`` (not checked to exist). Without ``emoji`` the fixed
    service uses "📁"; the real one requires it and answers 500 (defect
    ``category_emoji_required``). Never retried once sent: a repeat makes a second one."""
    fields = {"name": name, "emoji": emoji, "batch": batch, "color": color}
    return CREATE.call("/api/categories/create", json=body(fields), context={"batch_id": batch})


def edit_category(
    category_id: str,
    *,
    name: str | None = None,
    emoji: str | None = None,
    color: str | None = None,
) -> Call[MutationResult[Category]]:
    """Change the given fields of a category; the others stay."""
    fields = body({"name": name, "emoji": emoji, "color": color})
    path = f"/api/categories/edit/{segment(category_id)}"
    return EDIT.call(path, json=fields, context={"category_id": category_id})


def delete_category(category_id: str) -> Call[MutationResult[Category]]:
    """Delete a category and every task in it; returns the category as it was. The fixed
    service answers 404 before deleting anything and removes the tasks from batches and
    progress; the real one deletes the tasks first, even before its 404, and leaves their ids
    behind (defect ``no_cascade``)."""
    path = f"/api/categories/delete/{segment(category_id)}"
    return DELETE.call(path, context={"category_id": category_id})


class Categories(SyncResource):
    """Categories: list, read with tasks, create, edit, delete."""

    list = sync_endpoint(list_categories)
    get = sync_endpoint(get_category)
    create = sync_endpoint(create_category)
    edit = sync_endpoint(edit_category)
    delete = sync_endpoint(delete_category)


class AsyncCategories(AsyncResource):
    """Categories, awaited: list, read with tasks, create, edit, delete."""

    list = async_endpoint(list_categories)
    get = async_endpoint(get_category)
    create = async_endpoint(create_category)
    edit = async_endpoint(edit_category)
    delete = async_endpoint(delete_category)
