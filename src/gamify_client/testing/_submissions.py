"""Completing a task, shared by both submit routes.

A completion happens once per user and task: the user's ``xps`` grows by the task's
points, the completion is recorded on the user (which is what the streak counts), the
task counts the user in ``completedBy``, and the user's progress in the task's batch (made
if missing) marks the entry ``completed``, logs ``task_completed`` and recomputes its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._documents import touch
from ._progress import add_activity, new_progress, recompute_metrics, user_streak
from ._routing import Context, HttpError
from ._store import Collection, Doc, DocumentStore


@dataclass(frozen=True)
class Completion:
    """What a completion changed, for the routes to report."""

    progress: Doc | None
    new_total_xp: int
    current_streak: int


def batch_containing(store: DocumentStore, task: Doc) -> Doc | None:
    """The first batch whose ``tasks`` holds ``task`` (``Batch.findOne({tasks: id})``), for
    reading only: the store's shared copy (see ``DocumentStore.peek``)."""
    task_id = task["_id"]
    own = (
        store.peek(Collection.BATCHES, task["batch"])
        if isinstance(task.get("batch"), str)
        else None
    )
    if own is not None and task_id in own["tasks"]:
        return own
    return next((b for b in store.peek_found(Collection.BATCHES) if task_id in b["tasks"]), None)


def refuse_repeat(store: DocumentStore, user: Doc, task_id: str) -> None:
    """Answer 400 ``Task already submitted`` if the user has completed ``task_id`` before."""
    found = store.peek_found(Collection.SUBMISSIONS, userId=user["_id"], taskId=task_id)
    previous = found[0] if found else None
    done_before = any(entry["task"] == task_id for entry in user["completedTasks"])
    if previous is not None or done_before:
        raise HttpError(400, {"message": "Task already submitted", "submission": previous})


def complete_task(
    ctx: Context,
    *,
    user: Doc,
    task: Doc,
    batch: Doc | None,
    points: int,
    xp_awards: int,
    submission_id: str | None,
    grade: Any,
    activity_metadata: dict[str, Any],
) -> Completion:
    """Record that ``user`` completed ``task``; ``xp_awards`` is how often the points count."""
    store = ctx.store
    user["completedTasks"].append(
        {"task": task["_id"], "completedAt": ctx.timestamp, "_id": ctx.new_id()}
    )
    user["xps"] = (user.get("xps") or 0) + points * xp_awards
    store.save(Collection.USERS, touch(ctx, user))

    if user["_id"] not in task["completedBy"]:
        task["completedBy"].append(user["_id"])
        task["completedCount"] = task.get("completedCount", 0) + 1
        store.save(Collection.TASKS, touch(ctx, task))

    progress = None
    if batch is not None:
        progress = _mark_completed(ctx, user, task, batch, points, submission_id, grade)
        add_activity(
            ctx,
            progress,
            "task_completed",
            task["_id"],
            f"Completed task: {task['name']}",
            activity_metadata,
        )
        recompute_metrics(ctx, progress)
        store.save(Collection.PROGRESS, progress)
    return Completion(
        progress=progress,
        new_total_xp=user["xps"],
        current_streak=user_streak(user, ctx.now),
    )


def _mark_completed(
    ctx: Context,
    user: Doc,
    task: Doc,
    batch: Doc,
    points: int,
    submission_id: str | None,
    grade: Any,
) -> Doc:
    store = ctx.store
    progress = store.find_one(Collection.PROGRESS, userId=user["_id"], batchId=batch["_id"])
    if progress is None:
        progress = new_progress(
            ctx, user_id=user["_id"], batch_id=batch["_id"], task_ids=batch["tasks"]
        )
        store.insert(Collection.PROGRESS, progress)
    entry = next((e for e in progress["taskProgress"] if e["taskId"] == task["_id"]), None)
    if entry is None:
        entry = {"taskId": task["_id"], "attempts": 0, "_id": ctx.new_id()}
        progress["taskProgress"].append(entry)
    entry["status"] = "completed"
    if submission_id is not None:
        entry["submissionId"] = submission_id
    entry["submittedAt"] = ctx.timestamp
    entry["pointsEarned"] = points
    entry["attempts"] = entry.get("attempts", 0) + 1
    if grade is not None:
        entry["grade"] = grade
    return progress


def batch_progress_summary(progress: Doc | None) -> Doc | None:
    """The ``batchProgress`` of a submit's ``realTimeData``: four of the progress metrics."""
    if progress is None:
        return None
    metrics = progress["progressMetrics"]
    return {
        name: metrics[name]
        for name in ("completedTasks", "totalTasks", "completionPercentage", "totalPointsEarned")
    }
