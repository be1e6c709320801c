"""Categories: ``/api/categories``. A task needs one; a category belongs to a batch."""

from __future__ import annotations

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey
from ..models import Category, MutationResult
from ..realtime import Rule, Write
from ._base import AsyncResource, SyncResource, async_endpoint, body, sync_endpoint

__all__ = ["AsyncCategories", "Categories"]

_CATEGORIES = Payload(
    TypeAdapter(list[Category]), "list of Category", keys=("categories",), bare=True
)
_CATEGORY_WRITE = MutationPayload(Payload(TypeAdapter(Category), "Category", keys=("category",)))

CREATE = Write(
    "categories.create",
    "POST",
    "/api/categories/create",
    _CATEGORY_WRITE,
    Rule(Event.DATA_REFRESH, lambda c: [CacheKey.CATEGORIES]),
    ids={"batch_id": "batch"},
)


def list_categories(batch_id: str | None = None) -> Call[list[Category]]:
    """Every category, or those of one batch."""
    params = {"batchId": batch_id} if batch_id is not None else None
    return Call("GET", "/api/categories/all", _CATEGORIES, params=params)


def create_category(
    *, name: str, emoji: str, batch: str, color: str | None = None
) -> Call[MutationResult[Category]]:
    """Create a category in ``batch``."""
    fields = {"name": name, "emoji": emoji, "batch": batch, "color": color}
    return CREATE.call("/api/categories/create", json=body(fields), context={"batch_id": batch})


class Categories(SyncResource):
    """Categories: list and create."""

    list = sync_endpoint(list_categories)
    create = sync_endpoint(create_category)


class AsyncCategories(AsyncResource):
    """Categories, awaited: list and create."""

    list = async_endpoint(list_categories)
    create = async_endpoint(create_category)
