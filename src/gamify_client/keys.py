"""Cache keys: the names of the data the SDK keeps fresh.

A key is a :class:`CacheKey` member, or a tuple that starts with one and narrows it
(``(CacheKey.BATCH_PROGRESS, batch_id)``). Invalidating a key invalidates every tuple key
that starts with it, so ``CacheKey.BATCH_PROGRESS`` reaches every batch's progress.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias


class CacheKey(StrEnum):
    """The data families the backend serves, named as the seed's ``CACHE_KEYS``."""

    DASHBOARD = "dashboard"
    TASKS = "tasks"
    BATCHES = "batches"
    BATCH_PROGRESS = "batch-progress"
    USER_PROGRESS = "user-progress"
    USER_PROFILE = "user-profile"
    USERS = "users"
    """The users listing, keyed by who asks: ``(users, caller_id)``."""
    USER_BATCHES = "user-batches"
    """The batches a user is enrolled in: ``(user-batches, user_id)``."""
    AVAILABLE_BATCHES = "available-batches"
    """The batches a user may enrol in: ``(available-batches, user_id)``."""
    BATCH = "batch"
    """One batch, populated: ``(batch, batch_id)``."""
    CATEGORIES = "categories"
    """The categories, all or one batch's: ``(categories, batch_id or None)``."""
    CATEGORY_TASKS = "category-tasks"
    """A category with its tasks: ``(category-tasks, category_id)``."""
    SUBMISSIONS = "submissions"
    """A user's submission of a task: ``(submissions, task_id, user_id)``."""
    ACTIVITY = "activity"
    """A batch's activity: ``(activity, batch_id)``."""
    ANALYTICS = "analytics"
    """A batch's analytics reports, admin's and mentor's: ``(analytics, batch_id, report)``."""
    USER_ANALYTICS = "user-analytics"
    """A user's own analytics (progress reports, student analytics):
    ``(user-analytics, user_id, ...)``."""
    FEEDBACK = "feedback"
    """Feedback about or from a user: ``(feedback, user_id, view)``."""
    NOTIFICATIONS = "notifications"
    """A user's notifications: ``(notifications, user_id)``."""
    BATCH_MESSAGES = "batch-messages"
    """A batch's chat: ``(batch-messages, batch_id)``."""
    SURVEYS = "surveys"
    """A user's survey responses: ``(surveys, user_id)``."""


Key: TypeAlias = CacheKey | tuple[object, ...]
"""A cache key: a family, or a tuple whose first item is a family."""


def key_parts(key: Key) -> tuple[object, ...]:
    """The key as a tuple, so that a bare family and its tuple form compare alike."""
    return key if isinstance(key, tuple) else (key,)


def key_starts_with(key: Key, prefix: Key) -> bool:
    """Whether ``prefix`` names ``key`` or a family or scope that contains it."""
    parts, head = key_parts(key), key_parts(prefix)
    return parts[: len(head)] == head


def format_key(key: Key) -> str:
    """The key as the colon-joined text the frontend uses (``batch-progress:<id>``)."""
    return ":".join(str(part) for part in key_parts(key))
