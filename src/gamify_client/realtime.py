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

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar, cast

import httpx
from pydantic import BaseModel

from ._call import Call
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
    TaskProgress,
    User,
    UserBatchProgress,
    ref_id,
)
from .refresh import DataRefreshManager

__all__ = [
    "WRITES",
    "AppliedMutation",
    "MutationContext",
    "MutationListener",
    "RealtimeSync",
    "Rule",
    "Write",
    "WriteLink",
    "membership_keys",
    "scoped",
    "submission_keys",
    "submission_patches",
    "task_created_patches",
    "user_update_patches",
]

Patch = Callable[[Any], Any]
"""Old cached value to new; it gets None when nothing is cached and then returns None."""


@dataclass(frozen=True, slots=True, init=False)
class MutationContext:
    """A finished write: the endpoint, the ids its request named and its parsed result.

    The ids are read once, when the context is made: a rule asks for them several times, on
    the path from a write's answer to its observers."""

    mutation: str
    request: Mapping[str, Any]
    result: MutationResult[Any]
    user_id: str | None
    batch_id: str | None
    task_id: str | None

    def __init__(
        self, mutation: str, request: Mapping[str, Any], result: MutationResult[Any]
    ) -> None:
        get = request.get
        named = result.real_time
        if named is None:
            named = _NAMES_NOTHING
        # The document is asked for its batch only when no id names one.
        batch_id = _either_id(get("batch_id"), named.batch_id)
        set_field = object.__setattr__
        set_field(self, "mutation", mutation)
        set_field(self, "request", request)
        set_field(self, "result", result)
        set_field(self, "user_id", _either_id(get("user_id"), named.user_id))
        set_field(self, "batch_id", batch_id or _either_id(_data_batch(result), None))
        set_field(self, "task_id", _either_id(get("task_id"), named.task_id))

    @property
    def real_time(self) -> RealTimeData | None:
        return self.result.real_time


_NAMES_NOTHING = RealTimeData()
"""What a write without ``realTimeData`` names: no id at all."""


def _data_batch(result: MutationResult[Any]) -> Any:
    # Only documents that carry a batch are asked: a missing attribute on a pydantic model
    # costs an exception.
    data = result.data
    batch = data.__dict__.get("batch") if isinstance(data, BaseModel) else None
    return batch.id if isinstance(batch, Batch) else batch


def _either_id(first: Any, second: Any) -> str | None:
    """The first of two candidates that is an id (a non-empty string), or None."""
    if isinstance(first, str) and first:
        return first
    if isinstance(second, str) and second:
        return second
    return None


def scoped(family: CacheKey, *ids: str | None) -> Key:
    """The narrowest key the known ids allow: the family itself when an id is missing."""
    # Every write names a dozen keys this way: no list is built on the way.
    for index, value in enumerate(ids):
        if value is None:
            return (family, *ids[:index]) if index else family
    return (family, *ids) if ids else family


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


_M = TypeVar("_M", bound=BaseModel)


_new = object.__new__


def _slot(name: str) -> tuple[Callable[[BaseModel], Any], Callable[[BaseModel, Any], None]]:
    """How to read and write one of BaseModel's own slots, straight through its descriptor."""
    descriptor = BaseModel.__dict__[name]
    return descriptor.__get__, descriptor.__set__


_get_dict, _set_dict = _slot("__dict__")
_get_extra, _set_extra = _slot("__pydantic_extra__")
_get_fields_set, _set_fields_set = _slot("__pydantic_fields_set__")
_get_private, _set_private = _slot("__pydantic_private__")
_ABSENT = object()


def evolve(model: _M, changes: Mapping[str, Any]) -> _M:
    """``model.model_copy(update=changes)`` on the path from a write's answer to its observers:
    the same result (nothing validated, the changed fields marked set), made with a fraction of
    the work, since a patch copies a handful of models per write. ``model`` itself comes back
    when every change equals what it holds, so a patch that changes nothing returns the very
    object it was given, and whoever stores the result can tell a change by identity."""
    current = _get_dict(model)
    for name, value in changes.items():
        held = current.get(name, _ABSENT)
        if held is not value and held != value:
            return _copied(model, changes)
    return model


def _copied(model: _M, changes: Mapping[str, Any]) -> _M:
    """``model`` with ``changes``, copied without comparing them to what it holds: for a
    caller that knows they differ (a nested model that :func:`evolve` already copied), so
    that two models are never compared field by field to find what is known."""
    # The models define no ``__new__``: object's is called directly, and BaseModel's slots
    # are read and written through their descriptors, without a lookup along the class's MRO
    # each time (its cache is cold by the time a write's answer arrives).
    copied = _new(model.__class__)
    _set_dict(copied, {**_get_dict(model), **changes})
    _set_extra(copied, _get_extra(model))
    _set_fields_set(copied, {*_get_fields_set(model), *changes})
    _set_private(copied, _get_private(model))
    return copied


def _progressed(
    progress: UserBatchProgress, summary: BatchProgressSummary | None, task_id: str | None
) -> UserBatchProgress:
    """``progress`` with the batch summary of a submission's ``realTimeData`` (when there is
    one) and the submitted task marked completed, copied once; ``progress`` itself when that
    changes nothing."""
    changes: dict[str, Any] = {}
    if summary is not None:
        metrics = progress.progress_metrics
        summarised = evolve(
            metrics,
            {
                "completed_tasks": summary.completed_tasks,
                "total_tasks": summary.total_tasks,
                "completion_percentage": summary.completion_percentage,
                "total_points_earned": summary.total_points_earned,
            },
        )
        if summarised is not metrics:
            changes["progress_metrics"] = summarised
    if task_id is not None:
        entries = progress.task_progress
        index = _TASK_POSITIONS.index(progress, task_id)
        if index is not None and entries[index].status != "completed":
            entries = list(entries)
            entries[index] = _copied(entries[index], {"status": "completed"})
            changes["task_progress"] = entries
    if not changes:
        return progress
    progressed = _copied(progress, changes)
    # The copy lists the same tasks in the same order: it finds them where its original did.
    _TASK_POSITIONS.inherit(progressed, progress)
    return progressed


_POPULATED_TASK_ID = attrgetter("task_id.id")


class _Positions(weakref.ref["UserBatchProgress"]):
    """A progress report, held weakly, with where each of its tasks sits in its task list."""

    __slots__ = ("length", "positions", "report_id")

    report_id: int
    positions: dict[str, int]
    length: int


class _TaskPositions:
    """Where each task sits in a progress report's task list (every task of the batch),
    remembered per report while it lives, so that a burst of writes to one user's progress
    searches the list once rather than once per write; each patched copy inherits the
    positions of the report it was copied from. A report is held weakly, by identity."""

    __slots__ = ("_forget", "_known")

    def __init__(self) -> None:
        self._known: dict[int, _Positions] = {}
        known = self._known

        def forget(held: weakref.ref[UserBatchProgress]) -> None:
            # A newer report with the same id may have replaced this one's positions already.
            # Only names bound here: it may run while the interpreter shuts down.
            report_id = held.report_id  # type: ignore[attr-defined]
            if known.get(report_id) is held:
                del known[report_id]

        self._forget = forget

    def index(self, progress: UserBatchProgress, task_id: str) -> int | None:
        """Where ``task_id`` sits in ``progress.task_progress``, or None."""
        entries = progress.task_progress
        held = self._known.get(id(progress))
        if held is not None and held() is progress and held.length == len(entries):
            index = held.positions.get(task_id)
            if index is None:
                return None
            # Checked again, cheaply, in case the list was changed in place since.
            if ref_id(entries[index].task_id) == task_id:
                return index
        positions = _positions(entries)
        self._remember(progress, positions)
        return positions.get(task_id)

    def inherit(self, copy: UserBatchProgress, original: UserBatchProgress) -> None:
        """``copy`` lists its tasks as ``original`` does."""
        held = self._known.get(id(original))
        if held is not None and held() is original:
            self._remember(copy, held.positions)

    def _remember(self, progress: UserBatchProgress, positions: dict[str, int]) -> None:
        held = _Positions(progress, self._forget)
        held.report_id = id(progress)
        held.positions = positions
        held.length = len(progress.task_progress)
        self._known[held.report_id] = held


def _positions(entries: list[TaskProgress]) -> dict[str, int]:
    """Each task's index in a progress report's task list, read at C speed when the tasks are
    populated, as the services send them; the first entry wins, as a search would find it."""
    try:
        ids: list[str | None] = list(map(_POPULATED_TASK_ID, entries))
    except AttributeError:
        # Some entries name their task by id, or lost it (deleted): one by one.
        ids = [ref_id(entry.task_id) for entry in entries]
    positions: dict[str | None, int] = dict(
        zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True)
    )
    positions.pop(None, None)
    return cast(dict[str, int], positions)


_TASK_POSITIONS = _TaskPositions()


# Each write's patches take what the write names first and the cached value last; a rule
# binds the former with ``partial`` (one C call per patch, where a closure is a Python call
# and a cell per name).


def _patch_dashboard(real_time: RealTimeData, task_id: str | None, dashboard: Any) -> Any:
    if not isinstance(dashboard, Dashboard):
        return dashboard
    stats: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    if real_time.new_total_xp is not None:
        stats["user_total_xp"] = real_time.new_total_xp
        profile["total_xp"] = real_time.new_total_xp
    if real_time.current_streak is not None:
        stats["current_streak"] = real_time.current_streak
    changes: dict[str, Any] = {}
    summary = real_time.batch_progress
    if summary is not None:
        listed = dashboard.batch_progress
        for index, progress in enumerate(listed):
            if ref_id(progress.batch_id) != real_time.batch_id:
                continue
            old = progress.progress_metrics
            totals = dashboard.overall_stats
            stats["total_completed_tasks"] = totals.total_completed_tasks + (
                summary.completed_tasks - old.completed_tasks
            )
            stats["total_points_earned"] = totals.total_points_earned + (
                summary.total_points_earned - old.total_points_earned
            )
            progressed = _progressed(progress, summary, task_id)
            if progressed is not progress:
                batches = changes.setdefault("batch_progress", list(listed))
                batches[index] = progressed
    # Only what changed is copied; a nested copy is known to differ, so it is not compared.
    for name, model, nested in (
        ("overall_stats", dashboard.overall_stats, stats),
        ("user_profile", dashboard.user_profile, profile),
    ):
        evolved = evolve(model, nested)
        if evolved is not model:
            changes[name] = evolved
    return _copied(dashboard, changes) if changes else dashboard


def _patch_user_progress(real_time: RealTimeData, task_id: str | None, progress: Any) -> Any:
    if not isinstance(progress, UserBatchProgress) or real_time.batch_progress is None:
        return progress
    return _progressed(progress, real_time.batch_progress, task_id)


def _patch_batch_report(
    real_time: RealTimeData, user_id: str, task_id: str | None, report: Any
) -> Any:
    if not isinstance(report, BatchProgressReport) or real_time.batch_progress is None:
        return report
    students = [
        _progressed(progress, real_time.batch_progress, task_id)
        if ref_id(progress.user_id) == user_id
        else progress
        for progress in report.students_progress
    ]
    students.sort(key=lambda p: p.progress_metrics.completion_percentage, reverse=True)
    return evolve(report, {"students_progress": students})


def _patch_user_xp(xps: int, user: Any) -> Any:
    return evolve(user, {"xps": xps}) if isinstance(user, User) else user


def _patch_append_task(task: Task, tasks: Any) -> Any:
    if not isinstance(tasks, list) or any(ref_id(known) == task.id for known in tasks):
        return tasks
    return [*tasks, task]


# Building blocks of the rules that the resources declare beside their endpoints.


def submission_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    """A submission's patches: XP, streak and batch progress from ``realTimeData``."""
    real_time, user_id = context.real_time, context.user_id
    if real_time is None or user_id is None:
        return ()
    task_id, batch_id = context.task_id, context.batch_id
    patches: list[tuple[Key, Patch]] = [
        ((CacheKey.DASHBOARD, user_id), partial(_patch_dashboard, real_time, task_id)),
    ]
    if real_time.new_total_xp is not None:
        patches.append(
            ((CacheKey.USER_PROFILE, user_id), partial(_patch_user_xp, real_time.new_total_xp))
        )
    if batch_id is not None:
        patches.append(
            (
                (CacheKey.USER_PROGRESS, user_id, batch_id),
                partial(_patch_user_progress, real_time, task_id),
            )
        )
        patches.append(
            (
                (CacheKey.BATCH_PROGRESS, batch_id),
                partial(_patch_batch_report, real_time, user_id, task_id),
            )
        )
    return patches


def submission_keys(context: MutationContext) -> Sequence[Key]:
    """What a submission changes: the user's dashboard, profile and progress, the batch's
    progress and analytics, the task lists."""
    user_id, batch_id = context.user_id, context.batch_id
    return [
        scoped(CacheKey.DASHBOARD, user_id),
        CacheKey.TASKS,
        scoped(CacheKey.BATCH_PROGRESS, batch_id),
        scoped(CacheKey.USER_PROGRESS, user_id, batch_id),
        scoped(CacheKey.USER_PROFILE, user_id),
    ]


def task_created_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    """A new task joins the cached task list at once."""
    task = context.result.data
    return [(CacheKey.TASKS, partial(_patch_append_task, task))] if isinstance(task, Task) else ()


def membership_keys(context: MutationContext) -> Sequence[Key]:
    """What enrolling a user in a batch, or removing them, changes: that user's dashboard,
    enrolled and available batches, progress and analytics; the batch itself, its progress,
    activity (an enrolment logs a milestone) and analytics; and every batch listing (each
    shows the batch's members)."""
    user_id, batch_id = context.user_id, context.batch_id
    return [
        CacheKey.BATCHES,
        scoped(CacheKey.DASHBOARD, user_id),
        scoped(CacheKey.USER_BATCHES, user_id),
        scoped(CacheKey.AVAILABLE_BATCHES, user_id),
        scoped(CacheKey.USER_PROGRESS, user_id),
        scoped(CacheKey.USER_ANALYTICS, user_id),
        scoped(CacheKey.BATCH, batch_id),
        scoped(CacheKey.BATCH_PROGRESS, batch_id),
        scoped(CacheKey.ACTIVITY, batch_id),
        scoped(CacheKey.ANALYTICS, batch_id),
    ]


def user_update_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    """A user document in the answer replaces the cached profile's XP."""
    user = context.result.data
    if not isinstance(user, User):
        return ()
    return [((CacheKey.USER_PROFILE, user.id), partial(_patch_user_xp, user.xps))]


_T = TypeVar("_T")

WRITES: dict[str, Write[Any]] = {}
"""Every write the SDK knows, by name; each :class:`Write` adds itself when it is made."""


@dataclass(eq=False)
class Write(Generic[_T]):
    """One write endpoint, described once: its name, its route, how its answer is parsed,
    its real-time :class:`Rule`, and where its request names the ids the rule scopes by.

    Making a ``Write`` registers it in :data:`WRITES` (a second one of the same name is an
    error), so a client, a bridge to other processes and the reference backend's event stream
    all read the same object. A mutating endpoint builder returns :meth:`call`, so it cannot
    be written without its rule.

    ``ids`` maps a context name (``"task_id"``) to where the request carries it: ``":id"`` for
    a path parameter of ``route``, or a body field name (``"userId"``).

    ``repeatable`` says that sending the write again changes nothing more (CONTRACT.md's side
    effects decide, not the HTTP method: ``PUT /api/task/start/:id`` counts every call), so it
    may be retried after it may have reached the server.
    """

    name: str
    method: str
    route: str
    parse: Callable[[httpx.Response], MutationResult[_T]]
    rule: Rule
    ids: Mapping[str, str] = field(default_factory=dict)
    repeatable: bool = False

    def __post_init__(self) -> None:
        if self.name in WRITES:
            raise ValueError(f"a write named {self.name!r} exists already")
        WRITES[self.name] = self

    def call(
        self,
        path: str,
        *,
        context: Mapping[str, Any] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Call[MutationResult[_T]]:
        """The call for this write at ``path`` (``route`` with its ids filled in)."""
        return Call(
            self.method,
            path,
            self.parse,
            params=params,
            json=json,
            files=files,
            data=data,
            mutation=self,
            context=dict(context or {}),
        )

    def request_ids(
        self, path_params: Mapping[str, str], fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The ids a request names, read as :attr:`ids` says (the server side's view)."""
        found: dict[str, Any] = {}
        for name, source in self.ids.items():
            if source.startswith(":"):
                found[name] = path_params.get(source[1:])
            else:
                found[name] = fields.get(source)
        return found


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


class WriteLink(Protocol):
    """What a link to other processes (a Redis bridge, a push listener) needs of a client, all
    of it public: hear the client's own writes, apply another process's, and know whether a
    write of the client is on its way."""

    def on_mutation(self, listener: MutationListener) -> Callable[[], None]: ...

    def apply_remote_write(
        self, write: Write[Any], request: Mapping[str, Any], result: Any
    ) -> list[Key]: ...

    @property
    def writes_in_flight(self) -> int: ...


_NOT_A_WRITE = nullcontext()

Schedule = Callable[[float, Callable[[], None]], object]
"""Runs a callable after a delay in seconds (the client's timer thread or event loop)."""


class RealtimeSync:
    """Applies each write's :class:`Rule` after it succeeded in a client."""

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
        self._writes_in_flight = 0
        self._in_flight_lock = threading.Lock()

    @property
    def writes_in_flight(self) -> int:
        """How many writes of the client are being sent or settled right now."""
        return self._writes_in_flight

    def sending(self, write: Write[Any] | None) -> AbstractContextManager[None]:
        """Count a call as a write in flight until its rule was applied (or it failed), so
        that a listener can tell the server's copy of it from another process's write. A read
        gets a shared context that does nothing: it is on the path of every GET."""
        return _NOT_A_WRITE if write is None else self._counting()

    @contextmanager
    def _counting(self) -> Iterator[None]:
        with self._in_flight_lock:
            self._writes_in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._writes_in_flight -= 1

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
        write: Write[Any],
        request: Mapping[str, Any],
        result: Any,
        *,
        remote: bool = False,
    ) -> list[Key]:
        """Patch, emit and invalidate for one finished write; returns the keys invalidated
        (now, or after the delay). ``remote`` marks a write from another process."""
        if not isinstance(result, MutationResult):
            return []
        rule, mutation = write.rule, write.name
        context = MutationContext(mutation, request, result)
        for key, patch in rule.patches(context):
            # The patches return the cached object itself when they change nothing (see
            # ``evolve``): comparing the old and new values whole is not needed.
            self._manager.update(key, patch, compare=False, cached_only=True)
        keys = list(rule.invalidates(context))
        self._events.emit(rule.event, rule.payload(context))
        if self._delay > 0:
            self._schedule(self._delay, partial(self._invalidate, keys))
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
        # One pass for all of a write's keys: the live queries hear them at once.
        try:
            self._manager.invalidate_keys(keys)
            return
        except Exception:
            logger.exception("invalidating %s after a write failed; one by one instead", keys)
        for key in keys:
            try:
                self._manager.invalidate(key)
            except Exception:
                logger.exception("invalidating %s after a write failed", key)
