"""``/api/categories``: the categories of a batch's course, each holding its tasks.

The real service checks no token here (defect ``missing_auth``); fixed, creating, editing and
deleting a category needs an admin, a superadmin or a mentor, and reads stay open (the course
pages read them without a credential).
"""

from __future__ import annotations

from typing import Any

from ._documents import populate_each
from ._express import BackendResponse, json_response
from ._routes_tasks import (
    FieldCaster,
    categories_listing,
    new_document,
    purge_task_references,
    require_json_body,
    require_manager,
    task_batches,
)
from ._routing import Context, Failure, HttpError, Route, js_falsy, object_id
from ._store import Collection, Doc

DEFAULT_EMOJI = "📁"
"""The emoji of a category created without one (defect ``category_emoji_required`` fixed)."""

_NOT_FOUND = {"message": "Category not found"}


def _category_id(ctx: Context) -> str:
    return object_id(ctx.params["id"], "Category")


def list_categories(ctx: Context) -> BackendResponse:
    """``GET /api/categories/all?batchId``: every category, or the batch's when given; ``tasks``
    as ids."""
    batch_id = ctx.query.get("batchId")
    if batch_id:
        found = ctx.store.find(
            Collection.CATEGORIES, batch=object_id(batch_id, "Category", "batch")
        )
    else:
        found = ctx.store.find(Collection.CATEGORIES)
    return json_response(200, found)


def get_category_tasks(ctx: Context) -> BackendResponse:
    """``GET /api/categories/all/tasks/:id?batchId``: the category with its tasks populated;
    403 when ``batchId`` names another batch."""
    category = ctx.store.get(Collection.CATEGORIES, _category_id(ctx))
    if category is None:
        raise HttpError(404, _NOT_FOUND)
    batch_id = ctx.query.get("batchId")
    if batch_id and str(category.get("batch")) != batch_id:
        raise HttpError(403, {"message": "Category does not belong to this batch"})
    category["tasks"] = populate_each(ctx.store, Collection.TASKS, category["tasks"])
    return json_response(200, category)


def _text_field(cast: FieldCaster, fields: dict[str, Any], name: str) -> str | None:
    return None if js_falsy(fields.get(name)) else cast.string(name, fields[name])


def create_category(ctx: Context) -> BackendResponse:
    """``POST /api/categories/create`` ``{name, batch, emoji?, color?}``: 201 with the bare
    category.

    ``batch`` is required (400) but not checked to exist. Fixed, a missing ``name`` is 400 and
    a missing ``emoji`` is :data:`DEFAULT_EMOJI`; under ``category_emoji_required`` both are
    required by the schema and their absence is the route's 500, as on the real service.
    """
    require_manager(ctx, "create categories", anonymous=True)
    require_json_body(ctx, html500=False)
    fields = ctx.fields
    if js_falsy(fields.get("batch")):
        raise HttpError(400, {"message": "Batch is required for category"})
    cast = FieldCaster(ctx, "Category", "Failed to create category")
    name = _text_field(cast, fields, "name")
    emoji = _text_field(cast, fields, "emoji")
    schema_requires = ctx.has_defect("category_emoji_required")
    if name is None:
        if schema_requires or ctx.has_defect("validation_500"):
            raise cast.required("name")
        raise HttpError(400, {"message": "Category name is required"})
    if emoji is None:
        if schema_requires:
            raise cast.required("emoji")
        emoji = DEFAULT_EMOJI
    doc: Doc = {"name": name, "emoji": emoji}
    color = _text_field(cast, fields, "color")
    if color is not None:
        doc["color"] = color
    doc.update(tasks=[], batch=object_id(fields["batch"], "Category", "batch"))
    return json_response(201, ctx.store.insert(Collection.CATEGORIES, new_document(ctx, doc)))


def delete_category(ctx: Context) -> BackendResponse:
    """``DELETE /api/categories/delete/:id``: 200 with the deleted category; its tasks go too.

    Fixed, a missing category is 404 before anything is deleted, and the deleted tasks leave
    every batch and progress (metrics recomputed). Under ``no_cascade`` the tasks are deleted
    first, even when the 404 follows, and nothing else is cleaned, as on the real service.
    """
    require_manager(ctx, "delete categories", anonymous=True)
    category_id = _category_id(ctx)
    store = ctx.store
    if ctx.has_defect("no_cascade"):
        # Task.category has no index; this is the real service's deleteMany({category}).
        for task in store.find(Collection.TASKS):
            if task.get("category") == category_id:
                store.delete(Collection.TASKS, task["_id"])
        category = store.delete(Collection.CATEGORIES, category_id)
        if category is None:
            # Not an HttpError: the real service keeps the deletions it made before this 404.
            return json_response(404, _NOT_FOUND)
        return json_response(200, category)

    category = store.get(Collection.CATEGORIES, category_id)
    if category is None:
        raise HttpError(404, _NOT_FOUND)
    batch_id = category.get("batch")
    candidates = [store.get(Collection.TASKS, ref) for ref in category["tasks"]]
    if isinstance(batch_id, str):
        candidates.extend(store.find(Collection.TASKS, batch=batch_id))
    tasks = {
        task["_id"]: task
        for task in candidates
        if task is not None and task.get("category") == category_id
    }
    for task_id in tasks:
        store.delete(Collection.TASKS, task_id)
    store.delete(Collection.CATEGORIES, category_id)
    deleted = list(tasks.values())
    purge_task_references(ctx, set(tasks), task_batches(deleted), categories_listing(ctx, deleted))
    return json_response(200, category)


def edit_category(ctx: Context) -> BackendResponse:
    """``PATCH /api/categories/edit/:id`` ``{name?, emoji?, color?}``: 200 with the category;
    the fields left out stay as they were, so a repeat is harmless."""
    require_manager(ctx, "edit categories", anonymous=True)
    require_json_body(ctx, html500=False)
    cast = FieldCaster(ctx, "Category", "Failed to edit category")
    changes = {
        name: cast.string(name, ctx.fields[name])
        for name in ("name", "emoji", "color")
        if ctx.fields.get(name) is not None
    }
    store = ctx.store
    category = store.get(Collection.CATEGORIES, _category_id(ctx))
    if category is None:
        raise HttpError(404, _NOT_FOUND)
    category.update(changes)
    return json_response(200, store.save(Collection.CATEGORIES, category))


def _failure(message: str) -> Failure:
    return Failure(message, "error_object")


# The writes ask no token even when fixed: the real frontend's course page sends none. A
# token, when there is one, is checked (a learner's is refused).
ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/categories/all", list_categories, _failure("Failed to fetch categories")),
    Route(
        "GET",
        "/api/categories/all/tasks/:id",
        get_category_tasks,
        _failure("Failed to fetch category and tasks"),
    ),
    Route(
        "POST",
        "/api/categories/create",
        create_category,
        _failure("Failed to create category"),
    ),
    Route(
        "DELETE",
        "/api/categories/delete/:id",
        delete_category,
        _failure("Failed to delete category"),
    ),
    Route(
        "PATCH",
        "/api/categories/edit/:id",
        edit_category,
        _failure("Failed to edit category"),
    ),
)
"""This area's routes, in the real service's matching order."""
