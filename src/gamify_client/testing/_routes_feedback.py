"""``/api/feedback``: feedback between users, per batch and task.

As in the real service only the two per-user submits check a token (``requireAuth``); the
fixed backend also wants one on ``POST /submit``, where the sender is then the token's user
(staff may name another), and lets only that user or staff read the feedback a user sent or
their mentor, task, timeline and satisfaction views (defect ``missing_auth``). The feedback
a user received (``GET /to/:userId``) stays open: a learner's dashboard reads its mentor's.
Each defect of this area is fixed unless its switch is on: ``satisfaction_string``,
``feedback_task_dropped``, ``user_hash_leak``, ``validation_500``, ``missing_auth``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._documents import populate
from ._express import BackendResponse, json_response
from ._routing import Context, Failure, HttpError, Route, object_id
from ._store import Collection, Doc

_RATING_RANGE = (1, 5)


class MongooseError(Exception):
    """A body Mongoose refuses: the route's 500 under ``validation_500``, else 400."""


def _refuse(ctx: Context, path: str, text: str) -> None:
    """400 ``{message: text}``; under ``validation_500`` the route's 500, its error worded as
    Mongoose words a ValidationError."""
    if ctx.has_defect("validation_500"):
        raise MongooseError(f"Feedback validation failed: {path}: {text}")
    raise HttpError(400, {"message": text})


# --- bodies -----------------------------------------------------------------------------------


def _reference(ctx: Context, path: str, value: Any, *, required: bool = True) -> str | None:
    """An ObjectId path: missing is a refusal when ``required``, a malformed one a CastError."""
    if value is None or value == "":
        if required:
            _refuse(ctx, path, f"Path `{path}` is required.")
        return None
    return object_id(value, "Feedback", path)


def _content(ctx: Context, value: Any) -> str:
    """A String path: text, or a number or boolean cast to text; never an object or array."""
    text = ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(int(value)) if float(value).is_integer() else str(value)
    elif value is not None:
        _refuse(ctx, "content", "Cast to string failed for path `content`")
    if not text:
        _refuse(ctx, "content", "Path `content` is required.")
    return text


def _rating(ctx: Context, value: Any) -> float | int:
    """A Number path from 1 to 5: a finite number or a numeric string."""
    if value is None or value == "":
        _refuse(ctx, "rating", "Path `rating` is required.")
        return 0
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        _refuse(ctx, "rating", f'Cast to Number failed for value "{value}" at path "rating"')
        return 0
    low, high = _RATING_RANGE
    if number < low:
        _refuse(
            ctx, "rating", f"Path `rating` ({value}) is less than minimum allowed value ({low})."
        )
    if number > high:
        _refuse(
            ctx, "rating", f"Path `rating` ({value}) is more than maximum allowed value ({high})."
        )
    return int(number) if number.is_integer() else number


def _create(
    ctx: Context, *, from_user: object, to_user: object, task: object, task_required: bool
) -> BackendResponse:
    """Validate the body as the Feedback schema does, store the feedback, answer 201 with it."""
    fields = ctx.fields
    doc: Doc = {
        "_id": ctx.new_id(),
        "fromUser": _reference(ctx, "fromUser", from_user),
        "toUser": _reference(ctx, "toUser", to_user),
        "batch": _reference(ctx, "batch", fields.get("batch")),
        "content": _content(ctx, fields.get("content")),
        "rating": _rating(ctx, fields.get("rating")),
    }
    task_id = _reference(ctx, "task", task, required=task_required)
    if task_id is not None:
        doc["task"] = task_id
    doc.update(createdAt=ctx.timestamp, __v=0)
    ctx.store.insert(Collection.FEEDBACK, doc)
    return json_response(201, doc)


def submit(ctx: Context) -> BackendResponse:
    """``POST /api/feedback/submit``: 201 with the bare Feedback. The real service drops
    ``task`` (defect ``feedback_task_dropped``) and trusts the body's ``fromUser``."""
    fields = ctx.fields
    task = None if ctx.has_defect("feedback_task_dropped") else fields.get("task")
    return _create(
        ctx,
        from_user=ctx.acting_user(fields.get("fromUser")),
        to_user=fields.get("toUser"),
        task=task,
        task_required=False,
    )


def _sender(ctx: Context) -> object:
    """The token's user: ``requireAuth`` guards the route, so there always is one."""
    return ctx.verified_claims().user_id


def submit_mentor(ctx: Context) -> BackendResponse:
    """``POST /api/feedback/mentor/:userId``: feedback to the path's user from the token's,
    without a task."""
    to_user = object_id(ctx.params["userId"], "User", "toUser")
    return _create(ctx, from_user=_sender(ctx), to_user=to_user, task=None, task_required=False)


def submit_task(ctx: Context) -> BackendResponse:
    """``POST /api/feedback/task/:userId``: feedback on a task, to the path's user from the
    token's. The real service stores one without a ``task`` too (a mentor feedback then);
    the fixed backend wants the task's id."""
    to_user = object_id(ctx.params["userId"], "User", "toUser")
    return _create(
        ctx,
        from_user=_sender(ctx),
        to_user=to_user,
        task=ctx.fields.get("task"),
        task_required=not ctx.has_defect("validation_500"),
    )


# --- reads ------------------------------------------------------------------------------------


def _person(ctx: Context, ref: object) -> Doc | None:
    """A whole populated user: the real service serialises the password hash as well
    (defect ``user_hash_leak``)."""
    if ctx.has_defect("user_hash_leak") and isinstance(ref, str):
        return ctx.store.get(Collection.USERS, ref)
    return populate(ctx.store, Collection.USERS, ref)


def _shown(ctx: Context, feedback: Doc, people: tuple[str, ...], task: bool) -> Doc:
    """``feedback`` with ``people``, its batch and, when ``task``, its task populated."""
    for path in people:
        feedback[path] = _person(ctx, feedback.get(path))
    feedback["batch"] = populate(ctx.store, Collection.BATCHES, feedback.get("batch"))
    if task and "task" in feedback:
        feedback["task"] = populate(ctx.store, Collection.TASKS, feedback["task"])
    return feedback


def _newest_first(feedbacks: list[Doc]) -> list[Doc]:
    # Oldest first (ties in the order stored), then reversed: of two given in the same
    # millisecond the one stored later comes first, so the order is always the giving order.
    return sorted(feedbacks, key=lambda f: str(f["createdAt"]))[::-1]


def _user_param(ctx: Context, *, guarded: bool) -> str:
    user_id = object_id(ctx.params["userId"], "Feedback", "userId")
    if guarded:
        ctx.require_self_or(user_id, message="You can only read your own feedback")
    return user_id


def _view(
    *,
    index: str,
    people: tuple[str, ...],
    task: bool = False,
    keep: Callable[[Doc], bool] = lambda _feedback: True,
    newest_first: bool = False,
    guarded: bool = True,
) -> Callable[[Context], BackendResponse]:
    """A read of one user's feedback: found by ``index`` (``toUser`` or ``fromUser``), kept
    by ``keep``, populated, optionally newest first."""

    def handler(ctx: Context) -> BackendResponse:
        user_id = _user_param(ctx, guarded=guarded)
        found = [f for f in ctx.store.find(Collection.FEEDBACK, **{index: user_id}) if keep(f)]
        if newest_first:
            found = _newest_first(found)
        return json_response(200, [_shown(ctx, f, people, task) for f in found])

    return handler


def _has_task(feedback: Doc) -> bool:
    return feedback.get("task") is not None


def _to_fixed_2(value: float) -> Decimal:
    """``Number.prototype.toFixed(2)``: the nearest, halves away from zero."""
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def satisfaction(ctx: Context) -> BackendResponse:
    """``GET /api/feedback/satisfaction/:userId``: ``{averageRating}``, the mean rating of the
    feedback the user received to two decimals, 0 without any. The real service sends it as
    a string (``"4.50"``, defect ``satisfaction_string``)."""
    user_id = _user_param(ctx, guarded=True)
    ratings = [f.get("rating") or 0 for f in ctx.store.find(Collection.FEEDBACK, toUser=user_id)]
    if not ratings:
        return json_response(200, {"averageRating": 0})
    average = _to_fixed_2(sum(ratings) / len(ratings))
    shown: str | float = str(average) if ctx.has_defect("satisfaction_string") else float(average)
    return json_response(200, {"averageRating": shown})


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/feedback/submit",
        submit,
        Failure("Failed to submit feedback"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/feedback/to/:userId",
        _view(index="toUser", people=("fromUser",), guarded=False),
        Failure("Failed to fetch feedback"),
    ),
    Route(
        "GET",
        "/api/feedback/from/:userId",
        _view(index="fromUser", people=("toUser",)),
        Failure("Failed to fetch feedback"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/feedback/mentor/:userId",
        _view(
            index="toUser",
            people=("fromUser",),
            keep=lambda f: "task" not in f,
            newest_first=True,
        ),
        Failure("Failed to fetch mentor feedback"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/feedback/task/:userId",
        _view(index="toUser", people=("fromUser",), task=True, keep=_has_task, newest_first=True),
        Failure("Failed to fetch task feedback"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/feedback/timeline/:userId",
        _view(index="toUser", people=("fromUser",), task=True, newest_first=True),
        Failure("Failed to fetch feedback timeline"),
        fixed_auth="jwt",
    ),
    Route(
        "GET",
        "/api/feedback/satisfaction/:userId",
        satisfaction,
        Failure("Failed to fetch student satisfaction"),
        fixed_auth="jwt",
    ),
    Route(
        "POST",
        "/api/feedback/mentor/:userId",
        submit_mentor,
        Failure("Failed to submit mentor feedback"),
        auth="ra",
    ),
    Route(
        "POST",
        "/api/feedback/task/:userId",
        submit_task,
        Failure("Failed to submit task feedback"),
        auth="ra",
    ),
)
"""This area's routes, in the real service's matching order."""
