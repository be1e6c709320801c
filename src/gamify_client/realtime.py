"""Mutation-driven sync: after every successful write, one declarative rule says what changed.

Each rule names, for one endpoint:

- the cache patches applied at once from ``realTimeData`` (new XP, streak, the batch progress
  summary), so every view shows the write before any refetch;
- the keys it invalidates, scoped by the ids in the request and in ``realTimeData``
  (``(batch-progress, batchId)``, ``(user-progress, userId, batchId)``, the user's dashboard),
  where the real frontend invalidates whole families;
- the event it emits, with its payload (the parsed ``realTimeData``, or the document).

Invalidation waits ``task_completion_delay`` (the seed's 500 ms for the backend to settle);
the patches make the wait invisible. A failed write never reaches this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._logging import logger
from .config import ClientConfig
from .events import Event, EventManager
from .keys import CacheKey, Key
from .models import (
    Batch,
    BatchProgressReport,
    BatchProgressSummary,
    Dashboard,
    MutationResult,
    RealTimeData,
    Task,
    User,
    UserBatchProgress,
)
from .refresh import DataRefreshManager

__all__ = [
    "RULES",
    "AppliedMutation",
    "MutationContext",
    "MutationListener",
    "RealtimeSync",
    "Rule",
]

Patch = Callable[[Any], Any]
"""Old cached value to new; it gets None when nothing is cached and then returns None."""


@dataclass(frozen=True, slots=True)
class MutationContext:
    """A finished write: the endpoint, the ids its request named and its parsed result."""

    mutation: str
    request: Mapping[str, Any]
    result: MutationResult[Any]

    @property
    def real_time(self) -> RealTimeData | None:
        return self.result.real_time

    @property
    def user_id(self) -> str | None:
        return _first_id(self.request.get("user_id"), _rt(self, "user_id"))

    @property
    def batch_id(self) -> str | None:
        return _first_id(self.request.get("batch_id"), _rt(self, "batch_id"), _data_batch(self))

    @property
    def task_id(self) -> str | None:
        return _first_id(self.request.get("task_id"), _rt(self, "task_id"))


def _rt(context: MutationContext, name: str) -> Any:
    return getattr(context.real_time, name, None) if context.real_time is not None else None


def _data_batch(context: MutationContext) -> Any:
    batch = getattr(context.result.data, "batch", None)
    return batch.id if isinstance(batch, Batch) else batch


def _first_id(*candidates: Any) -> str | None:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _ref_id(reference: object) -> str | None:
    if isinstance(reference, str):
        return reference
    return getattr(reference, "id", None)


def _scoped(family: CacheKey, *ids: str | None) -> Key:
    """The narrowest key the known ids allow: the family itself when an id is missing."""
    present = []
    for value in ids:
        if value is None:
            break
        present.append(value)
    return (family, *present) if present else family


@dataclass(frozen=True, slots=True)
class Rule:
    """What one endpoint's success means for the cache and the listeners."""

    event: Event
    invalidates: Callable[[MutationContext], Sequence[Key]]
    patches: Callable[[MutationContext], Sequence[tuple[Key, Patch]]] = field(
        default=lambda _context: ()
    )
    payload: Callable[[MutationContext], Any] = field(
        default=lambda context: (
            context.real_time if context.real_time is not None else context.result.data
        )
    )


# Patches: pure functions from the cached value to the patched one.


def _with_summary(progress: UserBatchProgress, summary: BatchProgressSummary) -> UserBatchProgress:
    metrics = progress.progress_metrics.model_copy(
        update={
            "completed_tasks": summary.completed_tasks,
            "total_tasks": summary.total_tasks,
            "completion_percentage": summary.completion_percentage,
            "total_points_earned": summary.total_points_earned,
        }
    )
    return progress.model_copy(update={"progress_metrics": metrics})


def _with_task_completed(progress: UserBatchProgress, task_id: str | None) -> UserBatchProgress:
    if task_id is None:
        return progress
    entries = [
        entry.model_copy(update={"status": "completed"})
        if _ref_id(entry.task_id) == task_id
        else entry
        for entry in progress.task_progress
    ]
    return progress.model_copy(update={"task_progress": entries})


def _patch_dashboard(real_time: RealTimeData, task_id: str | None) -> Patch:
    def patch(dashboard: Any) -> Any:
        if not isinstance(dashboard, Dashboard):
            return dashboard
        stats: dict[str, Any] = {}
        profile: dict[str, Any] = {}
        if real_time.new_total_xp is not None:
            stats["user_total_xp"] = real_time.new_total_xp
            profile["total_xp"] = real_time.new_total_xp
        if real_time.current_streak is not None:
            stats["current_streak"] = real_time.current_streak
        batches = list(dashboard.batch_progress)
        summary = real_time.batch_progress
        for index, progress in enumerate(batches):
            if summary is None or _ref_id(progress.batch_id) != real_time.batch_id:
                continue
            old = progress.progress_metrics
            stats["total_completed_tasks"] = dashboard.overall_stats.total_completed_tasks + (
                summary.completed_tasks - old.completed_tasks
            )
            stats["total_points_earned"] = dashboard.overall_stats.total_points_earned + (
                summary.total_points_earned - old.total_points_earned
            )
            batches[index] = _with_task_completed(_with_summary(progress, summary), task_id)
        return dashboard.model_copy(
            update={
                "overall_stats": dashboard.overall_stats.model_copy(update=stats),
                "user_profile": dashboard.user_profile.model_copy(update=profile),
                "batch_progress": batches,
            }
        )

    return patch


def _patch_user_progress(real_time: RealTimeData, task_id: str | None) -> Patch:
    def patch(progress: Any) -> Any:
        if not isinstance(progress, UserBatchProgress) or real_time.batch_progress is None:
            return progress
        return _with_task_completed(_with_summary(progress, real_time.batch_progress), task_id)

    return patch


def _patch_batch_report(real_time: RealTimeData, user_id: str, task_id: str | None) -> Patch:
    def patch(report: Any) -> Any:
        if not isinstance(report, BatchProgressReport) or real_time.batch_progress is None:
            return report
        students = [
            _with_task_completed(_with_summary(progress, real_time.batch_progress), task_id)
            if _ref_id(progress.user_id) == user_id
            else progress
            for progress in report.students_progress
        ]
        students.sort(key=lambda p: p.progress_metrics.completion_percentage, reverse=True)
        return report.model_copy(update={"students_progress": students})

    return patch


def _patch_user_xp(xps: int) -> Patch:
    def patch(user: Any) -> Any:
        return user.model_copy(update={"xps": xps}) if isinstance(user, User) else user

    return patch


def _patch_append_task(task: Task) -> Patch:
    def patch(tasks: Any) -> Any:
        if not isinstance(tasks, list) or any(_ref_id(known) == task.id for known in tasks):
            return tasks
        return [*tasks, task]

    return patch


# The rules, one per write.


def _submission_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    real_time, user_id = context.real_time, context.user_id
    if real_time is None or user_id is None:
        return ()
    task_id, batch_id = context.task_id, context.batch_id
    patches: list[tuple[Key, Patch]] = [
        ((CacheKey.DASHBOARD, user_id), _patch_dashboard(real_time, task_id)),
    ]
    if real_time.new_total_xp is not None:
        patches.append(((CacheKey.USER_PROFILE, user_id), _patch_user_xp(real_time.new_total_xp)))
    if batch_id is not None:
        patches.append(
            ((CacheKey.USER_PROGRESS, user_id, batch_id), _patch_user_progress(real_time, task_id))
        )
        patches.append(
            ((CacheKey.BATCH_PROGRESS, batch_id), _patch_batch_report(real_time, user_id, task_id))
        )
    return patches


def _submission_keys(context: MutationContext) -> Sequence[Key]:
    user_id, batch_id = context.user_id, context.batch_id
    return [
        _scoped(CacheKey.DASHBOARD, user_id),
        CacheKey.TASKS,
        _scoped(CacheKey.BATCH_PROGRESS, batch_id),
        _scoped(CacheKey.USER_PROGRESS, user_id, batch_id),
        _scoped(CacheKey.USER_PROFILE, user_id),
    ]


def _task_created_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    task = context.result.data
    return [(CacheKey.TASKS, _patch_append_task(task))] if isinstance(task, Task) else ()


def _membership_keys(context: MutationContext) -> Sequence[Key]:
    user_id, batch_id = context.user_id, context.batch_id
    return [
        CacheKey.BATCHES,
        _scoped(CacheKey.DASHBOARD, user_id),
        _scoped(CacheKey.BATCH_PROGRESS, batch_id),
        _scoped(CacheKey.USER_PROGRESS, user_id),
    ]


def _user_update_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    user = context.result.data
    if not isinstance(user, User):
        return ()
    return [((CacheKey.USER_PROFILE, user.id), _patch_user_xp(user.xps))]


RULES: Mapping[str, Rule] = {
    "tasks.create": Rule(
        Event.TASK_CREATED,
        # A new task in a batch reaches every enrolled user's dashboard and progress, and the
        # batch's own task list.
        lambda c: [
            CacheKey.DASHBOARD,
            CacheKey.TASKS,
            _scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            CacheKey.USER_PROGRESS,
            *([CacheKey.BATCHES] if c.batch_id is not None else []),
        ],
        _task_created_patches,
    ),
    "tasks.submit": Rule(Event.TASK_COMPLETED, _submission_keys, _submission_patches),
    "progress.submit_task": Rule(Event.TASK_COMPLETED, _submission_keys, _submission_patches),
    "tasks.start": Rule(Event.PROGRESS_UPDATE, lambda c: [CacheKey.TASKS]),
    "tasks.assign": Rule(
        Event.TASK_ASSIGNED, lambda c: [CacheKey.TASKS, CacheKey.DASHBOARD, CacheKey.USER_PROGRESS]
    ),
    "tasks.edit": Rule(
        Event.DATA_REFRESH, lambda c: [CacheKey.TASKS, CacheKey.DASHBOARD, CacheKey.USER_PROGRESS]
    ),
    "tasks.delete": Rule(
        Event.DATA_REFRESH,
        lambda c: [
            CacheKey.TASKS,
            CacheKey.DASHBOARD,
            CacheKey.BATCH_PROGRESS,
            CacheKey.USER_PROGRESS,
        ],
    ),
    "batches.create": Rule(
        Event.BATCH_CREATED,
        lambda c: [CacheKey.BATCHES, CacheKey.DASHBOARD, CacheKey.BATCH_PROGRESS],
    ),
    "batches.enroll": Rule(Event.BATCH_ENROLLED, _membership_keys),
    "batches.remove": Rule(Event.DATA_REFRESH, _membership_keys),
    "batches.delete": Rule(
        Event.DATA_REFRESH,
        lambda c: [
            CacheKey.BATCHES,
            CacheKey.DASHBOARD,
            _scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            CacheKey.USER_PROGRESS,
            CacheKey.TASKS,
        ],
    ),
    "progress.initialize": Rule(
        Event.PROGRESS_UPDATE,
        lambda c: [
            _scoped(CacheKey.DASHBOARD, c.user_id),
            _scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            _scoped(CacheKey.USER_PROGRESS, c.user_id, c.batch_id),
        ],
    ),
    "users.update_points": Rule(
        Event.USER_UPDATE,
        lambda c: [
            _scoped(CacheKey.USER_PROFILE, c.user_id),
            _scoped(CacheKey.DASHBOARD, c.user_id),
        ],
        _user_update_patches,
    ),
}


@dataclass(frozen=True, slots=True)
class AppliedMutation:
    """A write whose rule was applied: what a bridge to other processes publishes.

    ``remote`` is True when the write happened in another process and reached this one
    through a bridge; such a write is never announced to the listeners again.
    """

    mutation: str
    request: Mapping[str, Any]
    result: MutationResult[Any]
    event: Event
    keys: tuple[Key, ...]
    remote: bool = False


MutationListener = Callable[[AppliedMutation], None]

Schedule = Callable[[float, Callable[[], None]], object]
"""Runs a callable after a delay in seconds (the client's timer thread or event loop)."""


class RealtimeSync:
    """Applies :data:`RULES` after each successful write of a client."""

    def __init__(
        self,
        refresh_manager: DataRefreshManager,
        events: EventManager,
        config: ClientConfig,
        schedule: Schedule,
    ) -> None:
        self._manager = refresh_manager
        self._events = events
        self._delay = config.task_completion_delay
        self._schedule = schedule
        self._listeners: dict[int, MutationListener] = {}
        self._next_listener = 0

    def subscribe(self, listener: MutationListener) -> Callable[[], None]:
        """Call ``listener`` after each local write's rule was applied (not for remote ones);
        returns an idempotent unsubscribe. A listener that raises is logged."""
        token = self._next_listener
        self._next_listener += 1
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    def after_mutation(
        self,
        mutation: str,
        request: Mapping[str, Any],
        result: Any,
        *,
        remote: bool = False,
    ) -> list[Key]:
        """Patch, emit and invalidate for one finished write; returns the keys invalidated
        (now, or after the delay). ``remote`` marks a write from another process."""
        rule = RULES.get(mutation)
        if rule is None or not isinstance(result, MutationResult):
            return []
        context = MutationContext(mutation, request, result)
        for key, patch in rule.patches(context):
            self._manager.update(key, patch)
        keys = list(rule.invalidates(context))
        self._events.emit(rule.event, rule.payload(context))
        if self._delay > 0:
            self._schedule(self._delay, lambda: self._invalidate(keys))
        else:
            self._invalidate(keys)
        if not remote and self._listeners:
            applied = AppliedMutation(mutation, request, result, rule.event, tuple(keys))
            for listener in list(self._listeners.values()):
                try:
                    listener(applied)
                except Exception:
                    logger.exception("a mutation listener raised; the others still run")
        return keys

    def _invalidate(self, keys: Sequence[Key]) -> None:
        for key in keys:
            try:
                self._manager.invalidate(key)
            except Exception:
                logger.exception("invalidating %s after a write failed", key)
