"""Batch progress: ``/api/batch-progress``: dashboards, per-user and per-batch progress,
activity, notifications, and the second submit route. (The real service's debug route,
``GET /api/batch-progress/test/:userId``, is left out on purpose.)"""

from __future__ import annotations

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey, Key
from ..models import (
    ActivityLogEntry,
    BatchProgressReport,
    Dashboard,
    MutationResult,
    Notification,
    SubmitTaskOutcome,
    UserBatchProgress,
)
from ..realtime import (
    MutationContext,
    Rule,
    Write,
    scoped,
    submission_keys,
    submission_patches,
)
from ._base import AsyncResource, SyncResource, async_endpoint, segment, sync_endpoint

__all__ = ["AsyncProgress", "Progress"]

_DASHBOARD = Payload(TypeAdapter(Dashboard), "Dashboard", keys=("dashboard",))
_PROGRESS = Payload(TypeAdapter(UserBatchProgress), "UserBatchProgress", keys=("progress",))
_PROGRESS_LIST = Payload(
    TypeAdapter(list[UserBatchProgress]), "list of UserBatchProgress", keys=("progress",)
)
_BATCH_REPORT = Payload(TypeAdapter(BatchProgressReport), "batch progress")
_ACTIVITIES = Payload(
    TypeAdapter(list[ActivityLogEntry]), "list of ActivityLogEntry", keys=("activities",)
)
_NOTIFICATIONS = Payload(
    TypeAdapter(list[Notification]), "list of Notification", keys=("notifications",)
)
_INITIALIZED = MutationPayload(_PROGRESS)


def _log_keys(context: MutationContext) -> list[Key]:
    """A progress write also logs an activity and may change the user's notifications."""
    return [
        scoped(CacheKey.ACTIVITY, context.batch_id),
        scoped(CacheKey.NOTIFICATIONS, context.user_id),
    ]


_SUBMITTED = MutationPayload(Payload(TypeAdapter(SubmitTaskOutcome), "task submission"))

INITIALIZE = Write(
    "progress.initialize",
    "POST",
    "/api/batch-progress/initialize",
    _INITIALIZED,
    Rule(
        Event.PROGRESS_UPDATE,
        lambda c: [
            scoped(CacheKey.DASHBOARD, c.user_id),
            scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            scoped(CacheKey.USER_PROGRESS, c.user_id, c.batch_id),
            *_log_keys(c),
        ],
    ),
    ids={"user_id": "userId", "batch_id": "batchId"},
)
SUBMIT_TASK = Write(
    "progress.submit_task",
    "POST",
    "/api/batch-progress/submit-task",
    _SUBMITTED,
    Rule(
        Event.TASK_COMPLETED,
        lambda c: [*submission_keys(c), *_log_keys(c)],
        submission_patches,
    ),
    ids={"user_id": "userId", "task_id": "taskId", "batch_id": "batchId"},
)


def get_dashboard() -> Call[Dashboard]:
    """The token's user's dashboard: totals, XP, streak, each batch's progress and the ten
    newest submissions. Needs a token."""
    return Call("GET", "/api/batch-progress/dashboard/me", _DASHBOARD)


def get_user_progress(user_id: str, batch_id: str) -> Call[UserBatchProgress]:
    """A user's progress in one batch (zeroed, with ``id`` None, before any exists). A task
    or batch deleted since shows as ``task_id`` / ``batch_id`` None."""
    path = f"/api/batch-progress/user/{segment(user_id)}/{segment(batch_id)}"
    return Call("GET", path, _PROGRESS)


def list_user_progress(user_id: str) -> Call[list[UserBatchProgress]]:
    """A user's progress in every batch they are in."""
    return Call("GET", f"/api/batch-progress/user/{segment(user_id)}", _PROGRESS_LIST)


def get_batch_progress(batch_id: str) -> Call[BatchProgressReport]:
    """A batch and every student's progress in it, most complete first."""
    return Call("GET", f"/api/batch-progress/batch/{segment(batch_id)}", _BATCH_REPORT)


def get_activity(batch_id: str, *, limit: int | None = None) -> Call[list[ActivityLogEntry]]:
    """The batch's recent activity (the server's default limit is 50)."""
    params = {"limit": limit} if limit is not None else None
    path = f"/api/batch-progress/activity/{segment(batch_id)}"
    return Call("GET", path, _ACTIVITIES, params=params)


def list_notifications(user_id: str) -> Call[list[Notification]]:
    """The user's notifications: overdue tasks (``high``) and graded ones (``medium``), at
    most 20, high first then newest. The fixed backend answers only that user or staff."""
    path = f"/api/batch-progress/notifications/{segment(user_id)}"
    return Call("GET", path, _NOTIFICATIONS)


def initialize_progress(*, user_id: str, batch_id: str) -> Call[MutationResult[UserBatchProgress]]:
    """Start a user's progress in a batch: one ``not_started`` entry per batch task and a
    ``milestone_reached`` activity. Doing it twice is a BadRequestError, an unknown batch a
    NotFoundError. Needs a token on the fixed backend (that user or staff)."""
    return INITIALIZE.call(
        "/api/batch-progress/initialize",
        json={"userId": user_id, "batchId": batch_id},
        context={"user_id": user_id, "batch_id": batch_id},
    )


def submit_task_progress(
    *, user_id: str, task_id: str, batch_id: str, grade: float | None = None
) -> Call[MutationResult[SubmitTaskOutcome]]:
    """Record a task as done through the progress route (``graded`` with a grade); returns
    the new XP, streak and metrics. No Submission is made. Every call logs an attempt; the
    points come once per user and task (the real service adds them on every call, defect
    ``repeat_xp``), so it is never retried once sent. Needs a token on the fixed backend."""
    payload: dict[str, object] = {"userId": user_id, "taskId": task_id, "batchId": batch_id}
    if grade is not None:
        payload["submissionData"] = {"grade": grade}
    return SUBMIT_TASK.call(
        "/api/batch-progress/submit-task",
        json=payload,
        context={"user_id": user_id, "task_id": task_id, "batch_id": batch_id},
    )


class Progress(SyncResource):
    """Progress: dashboard, per user, per batch, activity, notifications, initialise,
    submit."""

    dashboard = sync_endpoint(get_dashboard)
    user = sync_endpoint(get_user_progress)
    user_batches = sync_endpoint(list_user_progress)
    batch = sync_endpoint(get_batch_progress)
    activity = sync_endpoint(get_activity)
    notifications = sync_endpoint(list_notifications)
    initialize = sync_endpoint(initialize_progress)
    submit_task = sync_endpoint(submit_task_progress)


class AsyncProgress(AsyncResource):
    """Progress, awaited: dashboard, per user, per batch, activity, notifications,
    initialise, submit."""

    dashboard = async_endpoint(get_dashboard)
    user = async_endpoint(get_user_progress)
    user_batches = async_endpoint(list_user_progress)
    batch = async_endpoint(get_batch_progress)
    activity = async_endpoint(get_activity)
    notifications = async_endpoint(list_notifications)
    initialize = async_endpoint(initialize_progress)
    submit_task = async_endpoint(submit_task_progress)
