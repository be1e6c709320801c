"""Finding things in the backend's documents, whose references may be id strings or
populated documents, and the contract's percentage rule."""

from __future__ import annotations

import math

from ..models import Dashboard, TaskProgress, UserBatchProgress, ref_id

__all__ = ["batch_entry", "expected_percentage", "ref_id", "task_entry", "task_status"]


def expected_percentage(completed: int, total: int) -> int:
    """``Math.round(100 * completed / total)``, 0 without tasks: the contract's rule."""
    return math.floor(100 * completed / total + 0.5) if total else 0


def task_entry(progress: UserBatchProgress, task_id: str) -> TaskProgress | None:
    """The progress's entry for the task, if it has one."""
    return next((e for e in progress.task_progress if ref_id(e.task_id) == task_id), None)


def task_status(progress: UserBatchProgress | None, task_id: str) -> str:
    """The status of the task's entry in the progress, or ``"no entry"``."""
    entry = task_entry(progress, task_id) if progress is not None else None
    return entry.status if entry is not None else "no entry"


def batch_entry(dashboard: Dashboard, batch_id: str) -> UserBatchProgress | None:
    """The dashboard's progress in the batch, if it shows one."""
    return next((p for p in dashboard.batch_progress if ref_id(p.batch_id) == batch_id), None)
