"""``/api/categories``: list and create the categories a task belongs to."""

from __future__ import annotations

from ._documents import stamp
from ._express import BackendResponse, json_response
from ._routing import Context, Failure, Route, object_id, require_fields
from ._store import Collection, Doc


def list_categories(ctx: Context) -> BackendResponse:
    """``GET /api/categories/all?batchId``: every category, or the batch's when given."""
    batch_id = ctx.query.get("batchId")
    if batch_id:
        found = ctx.store.find(
            Collection.CATEGORIES, batch=object_id(batch_id, "Category", "batch")
        )
    else:
        found = ctx.store.find(Collection.CATEGORIES)
    return json_response(200, found)


def create_category(ctx: Context) -> BackendResponse:
    """``POST /api/categories/create``: 201 with the bare category."""
    fields = ctx.fields
    require_fields(fields, "name", "emoji", "batch")
    doc: Doc = {"name": fields["name"], "emoji": fields["emoji"]}
    if fields.get("color") is not None:
        doc["color"] = fields["color"]
    doc.update(tasks=[], batch=object_id(fields["batch"], "Category", "batch"))
    return json_response(201, ctx.store.insert(Collection.CATEGORIES, stamp(ctx, doc)))


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/categories/all",
        list_categories,
        Failure("Failed to fetch categories"),
    ),
    Route(
        "POST",
        "/api/categories/create",
        create_category,
        Failure("Failed to create category"),
    ),
)
"""This area's routes, in the real service's matching order."""
