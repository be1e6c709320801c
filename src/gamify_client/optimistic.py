"""Optimistic updates: a write's predicted effect, shown at once, until the server answers.

A prediction turns a write that is about to be sent into new values for the cached keys it
will change (a submit's XP, completed task, progress metrics and activity; an enrolment; a
task's or a batch's edit). Each key shows them as a :class:`~gamify_client.refresh.Layer` over
its server data, marked optimistic. When the write succeeds the layer goes (the answer landed
in the server data underneath); when it fails for good, :meth:`OptimisticUpdate.rollback`
removes that layer only, so a change that arrived meanwhile stays. A fetch whose answer
contradicts a pending layer drops it: the server's truth wins and ``optimisticConflict`` says so.

A layer holds absolute values at paths into the data (``overall_stats.user_total_xp = 130``),
computed once from what was shown when the write began: applied again over newer server data,
it never counts a write twice, and it names exactly the fields whose change is a conflict.
A list that the write only adds items to or removes items from is merged instead, with what
others did to it meanwhile, and never conflicts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel
from pydantic.alias_generators import to_snake

from ._call import Call
from ._logging import logger
from .errors import APIConnectionError, APIStatusError
from .events import Event, EventManager
from .keys import CacheKey, Key, format_key
from .models import (
    ActivityLogEntry,
    Batch,
    BatchProgressReport,
    Dashboard,
    Task,
    User,
    UserBatchProgress,
    ref_id,
)
from .realtime import evolve
from .refresh import DataRefreshManager

__all__ = [
    "PREDICTIONS",
    "OptimisticConflict",
    "OptimisticRollback",
    "OptimisticUpdate",
    "Prediction",
    "PredictionContext",
    "begin_optimistic",
]

Path = tuple[object, ...]
"""Where a value sits in cached data: field names of models, indexes of lists, dict keys."""

_MISSING = object()


# Paths into immutable data: what changed, what is there, and a copy with one value replaced.


def changed_paths(before: Any, after: Any) -> Iterator[Path]:
    """The paths at which ``after`` differs from ``before``, as deep as both keep one shape
    (models of one type, lists of one length, dicts with the same keys). Shared sub-objects
    are skipped at once, so a copy made by ``evolve`` costs what it changed."""
    return (path for path, _, _ in _differences(before, after, ()))


def _differences(before: Any, after: Any, prefix: Path) -> Iterator[tuple[Path, Any, Any]]:
    """Each changed path with the value there in ``before`` and in ``after``."""
    if before is after:
        return
    if isinstance(before, BaseModel) and type(before) is type(after):
        old, new = before.__dict__, after.__dict__
        names = old if old.keys() == new.keys() else old.keys() | new.keys()
        for name in names:
            path = (*prefix, name)
            yield from _differences(old.get(name, _MISSING), new.get(name, _MISSING), path)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old_item, new_item) in enumerate(zip(before, after, strict=True)):
            yield from _differences(old_item, new_item, (*prefix, index))
        return
    if isinstance(before, dict) and isinstance(after, dict) and before.keys() == after.keys():
        for name in before:
            yield from _differences(before[name], after[name], (*prefix, name))
        return
    if before != after:
        yield prefix, before, after


def _child(data: Any, step: object) -> Any:
    """The part of ``data`` at one step of a path, or the sentinel."""
    if isinstance(data, BaseModel):
        return data.__dict__.get(step, _MISSING)  # type: ignore[call-overload]
    if isinstance(data, list):
        return data[step] if isinstance(step, int) and 0 <= step < len(data) else _MISSING
    if isinstance(data, dict):
        return data.get(step, _MISSING)
    return _MISSING


def value_at(data: Any, path: Path) -> Any:
    """The value at ``path``, or a private sentinel when the data has no such place."""
    for step in path:
        data = _child(data, step)
        if data is _MISSING:
            break
    return data


def with_value(data: Any, path: Path, value: Any) -> Any:
    """A copy of ``data`` with ``value`` at ``path``; ``data`` itself when there is no such
    place (a list grew shorter, a model lost the field) or the value is there already."""
    if not path:
        return value
    step = path[0]
    child = _child(data, step)
    if child is _MISSING:
        return data
    new_child = with_value(child, path[1:], value)
    if new_child is child:
        return data
    if isinstance(data, BaseModel):
        return evolve(data, {cast(str, step): new_child})
    if isinstance(data, list):
        copied = list(data)
        copied[cast(int, step)] = new_child
        return copied
    return {**data, step: new_child}


# The events an optimistic update can end with, besides its write's own.


@dataclass(frozen=True, slots=True)
class OptimisticRollback:
    """The payload of ``optimisticRollback``: a write failed for good and its predicted
    change was taken off ``keys``; ``error`` is why."""

    mutation: str
    keys: tuple[Key, ...]
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class OptimisticConflict:
    """The payload of ``optimisticConflict``: fetched server data for ``key`` contradicted the
    change predicted for ``mutation`` (another user or process wrote the same fields), so the
    key shows the server's data."""

    mutation: str
    key: Key


class _ListEdit:
    """A predicted change of a list that only adds or removes items (a member joins, an
    activity line is logged, a batch leaves a listing): it merges with what others did to
    the same list, so it never conflicts."""

    __slots__ = ("added", "at_front", "removed")

    def __init__(self, before: list[Any], predicted: list[Any]) -> None:
        self.added = [item for item in predicted if item not in before]
        self.removed = [item for item in before if item not in predicted]
        self.at_front = bool(self.added) and predicted[0] is self.added[0]

    @staticmethod
    def between(before: Any, predicted: Any) -> _ListEdit | None:
        """The edit when ``predicted`` is ``before`` with items added or removed, else None."""
        if not (isinstance(before, list) and isinstance(predicted, list)):
            return None
        edit = _ListEdit(before, predicted)
        kept = [item for item in before if item not in edit.removed]
        rebuilt = edit.added + kept if edit.at_front else kept + edit.added
        return edit if rebuilt == predicted else None

    def merged(self, now: list[Any]) -> list[Any]:
        kept = [item for item in now if item not in self.removed]
        new = [item for item in self.added if item not in now]
        return new + kept if self.at_front else kept + new


class _Layer:
    """One write's predicted values on one key (a :class:`~gamify_client.refresh.Layer`)."""

    __slots__ = ("basis", "changes", "over_basis", "update")

    def __init__(
        self,
        update: OptimisticUpdate,
        basis: Any,
        changes: Sequence[tuple[Path, Any, Any, Any]],
        over_basis: Any = None,
    ) -> None:
        self.update = update
        # The server data the prediction was made over: if it is still there when the write
        # succeeds, the answer did not patch this key.
        self.basis = basis
        # The prediction itself when it was made over the server data alone: applying the
        # layer to that data again gives it back without any copying.
        self.over_basis = over_basis
        # (path, the server's value then, the predicted value, the list edit to merge or
        # None); a list edit is this write's own, from what was shown when it began.
        self.changes = tuple(
            (path, server, predicted, _ListEdit.between(shown, predicted))
            for path, server, shown, predicted in changes
        )

    def apply(self, base: Any) -> Any:
        if base is self.basis and self.over_basis is not None:
            return self.over_basis
        for path, _, predicted, edit in self.changes:
            now = value_at(base, path) if edit is not None else None
            value = edit.merged(now) if edit is not None and isinstance(now, list) else predicted
            base = with_value(base, path, value)
        return base

    def conflicts(self, base: Any) -> bool:
        # The server's value moved, and not to the one predicted: someone else wrote there.
        # A list edit merges with theirs instead.
        for path, before, predicted, edit in self.changes:
            now = value_at(base, path)
            if edit is None and now != before and now != predicted:
                return True
        return False

    def dropped(self, key: Key) -> None:
        self.update._conflicted(key, self)


class OptimisticUpdate:
    """The handle of one write's optimistic change, from :func:`begin_optimistic`.

    Exactly one of :meth:`settle` (the write succeeded, its answer applied) and
    :meth:`rollback` (it failed for good) takes effect; later calls do nothing.
    """

    def __init__(
        self,
        mutation: str,
        manager: DataRefreshManager,
        events: EventManager,
    ) -> None:
        self.mutation = mutation
        self._manager = manager
        self._events = events
        self._layers: dict[Key, _Layer] = {}
        self._lock = threading.Lock()
        self._done = False

    @property
    def keys(self) -> tuple[Key, ...]:
        """The keys that show this write's predicted change right now."""
        with self._lock:
            return tuple(self._layers)

    @property
    def pending(self) -> bool:
        """True until :meth:`settle` or :meth:`rollback`."""
        return not self._done

    def _show(self, key: Key, shown: Any, predicted: Any) -> None:
        basis = self._manager.server_data(key)
        # Other layers may show under this one: a conflict is judged against the server's data.
        changes = [
            (path, before if shown is basis else value_at(basis, path), before, after)
            for path, before, after in _differences(shown, predicted, ())
        ]
        if not changes:
            return
        layer = _Layer(self, basis, changes, predicted if shown is basis else None)
        with self._lock:
            self._layers[key] = layer
        if not self._manager.add_layer(key, layer):
            with self._lock:
                self._layers.pop(key, None)

    def _take_layers(self) -> dict[Key, _Layer] | None:
        with self._lock:
            if self._done:
                return None
            self._done = True
            layers, self._layers = self._layers, {}
        return layers

    def settle(self, result: Any = None) -> None:
        """The write succeeded and its answer was applied: stop showing the prediction. A key
        the answer patched shows the server's data; one it did not keeps the predicted values
        as its data until the refetch the write's rule asks for."""
        layers = self._take_layers()
        for key, layer in (layers or {}).items():
            patched = self._manager.server_data(key) is not layer.basis
            self._manager.remove_layer(key, layer, keep=not patched)

    def rollback(self, error: BaseException | None = None) -> None:
        """The write failed for good: take its predicted change off every key (changes that
        arrived meanwhile stay) and emit ``optimisticRollback``. When the failure leaves open
        whether the server applied it (an answer lost after the request left, a 5xx, no
        error given), the keys are also invalidated, so that they refetch the truth."""
        layers = self._take_layers()
        if not layers:
            return
        for key, layer in layers.items():
            self._manager.remove_layer(key, layer)
        if _may_have_applied(error):
            for key in layers:
                self._manager.invalidate(key)
        self._events.emit(
            Event.OPTIMISTIC_ROLLBACK, OptimisticRollback(self.mutation, tuple(layers), error)
        )

    def _conflicted(self, key: Key, layer: _Layer) -> None:
        with self._lock:
            if self._layers.get(key) is not layer:
                return
            del self._layers[key]
        logger.info(
            "fetched %s contradicts the pending %s: the server wins", format_key(key), self.mutation
        )
        self._events.emit(Event.OPTIMISTIC_CONFLICT, OptimisticConflict(self.mutation, key))

    def __repr__(self) -> str:
        state = "pending" if self.pending else "done"
        return f"OptimisticUpdate({self.mutation!r}, {state}, keys={len(self._layers)})"


def _may_have_applied(error: BaseException | None) -> bool:
    """False only when the server surely did not apply the write: it refused it (a 4xx) or
    the request never left."""
    if isinstance(error, APIStatusError):
        return error.status_code >= 500
    if isinstance(error, APIConnectionError):
        return error.request_sent
    return True


# Predictions: one per write whose effect the client can compute from what it holds.


@dataclass(frozen=True, slots=True)
class PredictionContext:
    """What a prediction reads: the ids the write names, its body's fields, the id of the
    client's user (listings are keyed by who asks) and the cache as observers see it."""

    ids: Mapping[str, Any]
    fields: Mapping[str, Any]
    viewer: str | None
    shown: Callable[[Key], Any]

    def id(self, name: str) -> str | None:
        value = self.ids.get(name)
        return value if isinstance(value, str) and value else None


Prediction = Callable[[PredictionContext], Sequence[tuple[Key, Callable[[Any], Any]]]]
"""A write's prediction: for each key it changes, a pure function from what the key shows to
what it will show (returning the same object means no change)."""


def _task_points(context: PredictionContext, task_id: str) -> tuple[int, str | None]:
    """The task's points and batch, from the cached task list."""
    tasks = context.shown(CacheKey.TASKS)
    for task in tasks if isinstance(tasks, list) else ():
        if isinstance(task, Task) and task.id == task_id:
            return task.points, ref_id(task.batch)
    return 0, None


def _completed(progress: UserBatchProgress, task_id: str, points: int) -> UserBatchProgress:
    """The progress with the task completed and its metrics counted, or itself when the task
    is not in it or was completed already."""
    entries = list(progress.task_progress)
    for index, entry in enumerate(entries):
        if ref_id(entry.task_id) != task_id:
            continue
        if entry.status == "completed":
            return progress
        entries[index] = evolve(entry, {"status": "completed", "points_earned": points})
        metrics = progress.progress_metrics
        completed = metrics.completed_tasks + 1
        total = metrics.total_tasks
        percentage = int(100 * completed / total + 0.5) if total else 0
        new_metrics = evolve(
            metrics,
            {
                "completed_tasks": completed,
                "total_points_earned": metrics.total_points_earned + points,
                "completion_percentage": percentage,
            },
        )
        return evolve(progress, {"task_progress": entries, "progress_metrics": new_metrics})
    return progress


def _completed_in(
    rows: list[UserBatchProgress], owner: str, wanted: str | None, task_id: str, points: int
) -> list[UserBatchProgress]:
    """``rows`` with the task completed in those whose ``owner`` (``user_id``, ``batch_id``)
    is ``wanted``; ``rows`` itself when none changed."""
    changed = [
        _completed(row, task_id, points) if ref_id(getattr(row, owner)) == wanted else row
        for row in rows
    ]
    return rows if all(new is old for new, old in zip(changed, rows, strict=True)) else changed


def _predict_submit(context: PredictionContext) -> Sequence[tuple[Key, Callable[[Any], Any]]]:
    user_id, task_id = context.id("user_id"), context.id("task_id")
    if user_id is None or task_id is None:
        return ()
    points, task_batch = _task_points(context, task_id)
    batch_id = context.id("batch_id") or task_batch

    def dashboard(shown: Any) -> Any:
        if not isinstance(shown, Dashboard):
            return shown
        batches = _completed_in(shown.batch_progress, "batch_id", batch_id, task_id, points)
        if batches is shown.batch_progress and batch_id is not None:
            return shown
        stats = shown.overall_stats
        new_stats = evolve(
            stats,
            {
                "user_total_xp": stats.user_total_xp + points,
                "total_points_earned": stats.total_points_earned + points,
                "total_completed_tasks": stats.total_completed_tasks + 1,
            },
        )
        profile = evolve(shown.user_profile, {"total_xp": shown.user_profile.total_xp + points})
        return evolve(
            shown,
            {"overall_stats": new_stats, "user_profile": profile, "batch_progress": batches},
        )

    def profile(shown: Any) -> Any:
        return evolve(shown, {"xps": shown.xps + points}) if isinstance(shown, User) else shown

    predictions: list[tuple[Key, Callable[[Any], Any]]] = [
        ((CacheKey.DASHBOARD, user_id), dashboard),
        ((CacheKey.USER_PROFILE, user_id), profile),
    ]
    if batch_id is None:
        return predictions

    def user_progress(shown: Any) -> Any:
        if not isinstance(shown, UserBatchProgress):
            return shown
        return _completed(shown, task_id, points)

    def batch_report(shown: Any) -> Any:
        if not isinstance(shown, BatchProgressReport):
            return shown
        students = _completed_in(shown.students_progress, "user_id", user_id, task_id, points)
        return evolve(shown, {"students_progress": students})

    def activity(shown: Any) -> Any:
        if not isinstance(shown, list):
            return shown
        entry = ActivityLogEntry(
            action="task_completed",
            task_id=task_id,
            description="Task completed",
            timestamp=datetime.now(UTC),
            user=user_id,
        )
        return [entry, *shown]

    predictions += [
        ((CacheKey.USER_PROGRESS, user_id, batch_id), user_progress),
        ((CacheKey.BATCH_PROGRESS, batch_id), batch_report),
        ((CacheKey.ACTIVITY, batch_id), activity),
    ]
    return predictions


def _edited(
    model_type: type[BaseModel], document_id: str, fields: Mapping[str, Any]
) -> Callable[[Any], Any]:
    """A prediction of an edit: the document (alone, or in a list) with the plain fields of
    the request changed. References that the server populates (a mentor, a task list) are
    left for the answer."""
    changes = {to_snake(name): value for name, value in fields.items() if name in _PLAIN_FIELDS}

    def edit(document: Any) -> Any:
        if isinstance(document, model_type) and getattr(document, "id", None) == document_id:
            known = {name: value for name, value in changes.items() if name in document.__dict__}
            return evolve(document, known)
        return document

    def change(shown: Any) -> Any:
        if isinstance(shown, list):
            edited = [edit(item) for item in shown]
            return shown if all(a is b for a, b in zip(edited, shown, strict=True)) else edited
        return edit(shown)

    return change


# Fields whose value in a request is the value the document holds afterwards.
_PLAIN_FIELDS = frozenset(
    {
        "name",
        "description",
        "details",
        "difficulty",
        "type",
        "points",
        "badge",
        "resources",
        "submissionTypes",
        "industryFocus",
        "difficultyLevel",
        "estimatedDuration",
        "learningObjectives",
    }
)


def _predict_task_edit(context: PredictionContext) -> Sequence[tuple[Key, Callable[[Any], Any]]]:
    task_id = context.id("task_id")
    if task_id is None:
        return ()
    return [(CacheKey.TASKS, _edited(Task, task_id, context.fields))]


def _predict_batch_edit(context: PredictionContext) -> Sequence[tuple[Key, Callable[[Any], Any]]]:
    batch_id = context.id("batch_id")
    if batch_id is None:
        return ()
    edit = _edited(Batch, batch_id, context.fields)
    return [((CacheKey.BATCH, batch_id), edit), ((CacheKey.BATCHES, context.viewer), edit)]


def _predict_enroll(context: PredictionContext) -> Sequence[tuple[Key, Callable[[Any], Any]]]:
    batch_id, user_id = context.id("batch_id"), context.id("user_id")
    if batch_id is None or user_id is None:
        return ()

    def joined(batch: Any) -> Any:
        if not isinstance(batch, Batch) or batch.id != batch_id:
            return batch
        if any(ref_id(member) == user_id for member in batch.users):
            return batch
        return evolve(batch, {"users": [*batch.users, user_id]})

    def member(shown: Any) -> Any:
        if isinstance(shown, list):
            return [joined(batch) for batch in shown]
        return joined(shown)

    def available(shown: Any) -> Any:
        if not isinstance(shown, list):
            return shown
        return [batch for batch in shown if ref_id(batch) != batch_id]

    return [
        ((CacheKey.BATCH, batch_id), member),
        ((CacheKey.BATCHES, context.viewer), member),
        ((CacheKey.AVAILABLE_BATCHES, user_id), available),
    ]


PREDICTIONS: dict[str, Prediction] = {
    "tasks.submit": _predict_submit,
    "progress.submit_task": _predict_submit,
    "tasks.edit": _predict_task_edit,
    "tasks.update": _predict_task_edit,
    "batches.edit": _predict_batch_edit,
    "batches.enroll": _predict_enroll,
}
"""The writes with a prediction, by :class:`~gamify_client.realtime.Write` name; a write
without one simply shows nothing before its answer."""


def begin_optimistic(
    call: Call[Any],
    manager: DataRefreshManager,
    events: EventManager,
    *,
    viewer: str | None = None,
) -> OptimisticUpdate | None:
    """Show the predicted effect of ``call`` on every cached key it changes, now; the handle
    to settle or roll it back, or None when nothing was shown (the write has no prediction,
    or no key it changes holds data). Keys with no data are left alone: they will fetch the
    server's."""
    write = call.mutation
    prediction = None if write is None else PREDICTIONS.get(write.name)
    if write is None or prediction is None:
        return None
    fields = call.json if isinstance(call.json, Mapping) else (call.data or {})

    def shown(key: Key) -> Any:
        entry = manager.peek(key)
        return None if entry is None else entry.data

    context = PredictionContext(call.context, fields, viewer, shown)
    update = OptimisticUpdate(write.name, manager, events)
    for key, predict in prediction(context):
        current = shown(key)
        if current is None:
            continue
        try:
            predicted = predict(current)
        except Exception:
            logger.exception("the prediction of %s for %s raised; none shown", write.name, key)
            continue
        if predicted is not current:
            update._show(key, current, predicted)
    return update if update.keys else None
