"""Feedback: ``/api/feedback``: ratings (1 to 5) with a comment from one user to another in
a batch, to a mentor or on a task, and the views of what a user received and sent."""

from __future__ import annotations

from pydantic import TypeAdapter

from .. import models
from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey, Key
from ..models import MutationResult
from ..realtime import MutationContext, Rule, Write, scoped
from ._base import AsyncResource, SyncResource, async_endpoint, body, segment, sync_endpoint

__all__ = ["AsyncFeedback", "Feedback"]

_FEEDBACK = Payload(TypeAdapter(models.Feedback), "Feedback", keys=("feedback",), bare=True)
_FEEDBACK_LIST = Payload(
    TypeAdapter(list[models.Feedback]), "list of Feedback", keys=("feedback",), bare=True
)
# The real service sends the number 0 without feedback and a string ("4.50") otherwise
# (defect ``satisfaction_string``); both read as a float.
_SATISFACTION = Payload(TypeAdapter(float), "average rating", keys=("averageRating",))
_GIVEN = MutationPayload(_FEEDBACK)


def _sender(context: MutationContext) -> str | None:
    sender = context.request.get("from_user_id")
    if isinstance(sender, str) and sender:
        return sender
    given = getattr(context.result.data, "from_user", None)
    return given if isinstance(given, str) else getattr(given, "id", None)


def _feedback_keys(context: MutationContext) -> list[Key]:
    """New feedback changes every feedback view of its recipient (received, mentor, task,
    timeline, satisfaction), the sender's ``sent`` view, the recipient's progress reports
    (their newest mentor feedback) and the batch's analytics (ratings, Q&A)."""
    recipient, sender = context.user_id, _sender(context)
    keys: list[Key] = [
        scoped(CacheKey.FEEDBACK, recipient),
        scoped(CacheKey.USER_ANALYTICS, recipient),
        scoped(CacheKey.ANALYTICS, context.batch_id),
    ]
    if sender is not None and recipient is not None:
        keys.append((CacheKey.FEEDBACK, sender, "sent"))
    return keys


_FEEDBACK_RULE = Rule(Event.DATA_REFRESH, _feedback_keys)

SUBMIT = Write(
    "feedback.submit",
    "POST",
    "/api/feedback/submit",
    _GIVEN,
    _FEEDBACK_RULE,
    ids={"user_id": "toUser", "batch_id": "batch", "from_user_id": "fromUser", "task_id": "task"},
)
SUBMIT_MENTOR = Write(
    "feedback.submit_mentor",
    "POST",
    "/api/feedback/mentor/:userId",
    _GIVEN,
    _FEEDBACK_RULE,
    ids={"user_id": ":userId", "batch_id": "batch"},
)
SUBMIT_TASK = Write(
    "feedback.submit_task",
    "POST",
    "/api/feedback/task/:userId",
    _GIVEN,
    _FEEDBACK_RULE,
    ids={"user_id": ":userId", "batch_id": "batch", "task_id": "task"},
)


def submit_feedback(
    *,
    to_user: str,
    batch: str,
    content: str,
    rating: float,
    from_user: str | None = None,
    task: str | None = None,
) -> Call[MutationResult[models.Feedback]]:
    """Give ``to_user`` feedback in ``batch``: a rating from 1 to 5 and a comment. The
    sender is the token's user (staff may name another ``from_user``; the real service
    trusts the body, defect ``missing_auth``). The real service drops ``task`` (defect
    ``feedback_task_dropped``). Each call adds feedback, so it is never retried once sent."""
    fields = {
        "fromUser": from_user,
        "toUser": to_user,
        "batch": batch,
        "content": content,
        "rating": rating,
        "task": task,
    }
    return SUBMIT.call(
        "/api/feedback/submit",
        json=body(fields),
        context={"user_id": to_user, "batch_id": batch, "from_user_id": from_user, "task_id": task},
    )


def _user_view(view: str, user_id: str) -> str:
    return f"/api/feedback/{view}/{segment(user_id)}"


def list_received(user_id: str) -> Call[list[models.Feedback]]:
    """Every feedback the user received, ``from_user`` and ``batch`` populated. Open to
    anyone (a learner's dashboard reads its mentor's ratings)."""
    return Call("GET", _user_view("to", user_id), _FEEDBACK_LIST)


def list_sent(user_id: str) -> Call[list[models.Feedback]]:
    """Every feedback the user gave, ``to_user`` and ``batch`` populated. The fixed backend
    answers only that user or staff."""
    return Call("GET", _user_view("from", user_id), _FEEDBACK_LIST)


def list_mentor(user_id: str) -> Call[list[models.Feedback]]:
    """The feedback the user received without a task, newest first."""
    return Call("GET", _user_view("mentor", user_id), _FEEDBACK_LIST)


def list_task(user_id: str) -> Call[list[models.Feedback]]:
    """The feedback the user received on tasks, newest first, ``task`` populated."""
    return Call("GET", _user_view("task", user_id), _FEEDBACK_LIST)


def list_timeline(user_id: str) -> Call[list[models.Feedback]]:
    """Every feedback the user received, newest first, ``task`` populated."""
    return Call("GET", _user_view("timeline", user_id), _FEEDBACK_LIST)


def get_satisfaction(user_id: str) -> Call[float]:
    """The mean rating the user received, to two decimals; 0.0 without any. A float whether
    the server sends a number or, as the real service does, a string."""
    return Call("GET", _user_view("satisfaction", user_id), _SATISFACTION)


def submit_mentor_feedback(
    user_id: str, *, batch: str, rating: float, content: str
) -> Call[MutationResult[models.Feedback]]:
    """Give ``user_id`` feedback without a task, from the token's user (needs a token).
    Never retried once sent."""
    return SUBMIT_MENTOR.call(
        _user_view("mentor", user_id),
        json={"batch": batch, "rating": rating, "content": content},
        context={"user_id": user_id, "batch_id": batch},
    )


def submit_task_feedback(
    user_id: str, *, batch: str, task: str, rating: float, content: str
) -> Call[MutationResult[models.Feedback]]:
    """Give ``user_id`` feedback on ``task``, from the token's user (needs a token). Never
    retried once sent."""
    return SUBMIT_TASK.call(
        _user_view("task", user_id),
        json={"batch": batch, "task": task, "rating": rating, "content": content},
        context={"user_id": user_id, "batch_id": batch, "task_id": task},
    )


class Feedback(SyncResource):
    """Feedback: give it, and read what a user received and sent."""

    submit = sync_endpoint(submit_feedback)
    received = sync_endpoint(list_received)
    sent = sync_endpoint(list_sent)
    mentor = sync_endpoint(list_mentor)
    task = sync_endpoint(list_task)
    timeline = sync_endpoint(list_timeline)
    satisfaction = sync_endpoint(get_satisfaction)
    submit_mentor = sync_endpoint(submit_mentor_feedback)
    submit_task = sync_endpoint(submit_task_feedback)


class AsyncFeedback(AsyncResource):
    """Feedback, awaited: give it, and read what a user received and sent."""

    submit = async_endpoint(submit_feedback)
    received = async_endpoint(list_received)
    sent = async_endpoint(list_sent)
    mentor = async_endpoint(list_mentor)
    task = async_endpoint(list_task)
    timeline = async_endpoint(list_timeline)
    satisfaction = async_endpoint(get_satisfaction)
    submit_mentor = async_endpoint(submit_mentor_feedback)
    submit_task = async_endpoint(submit_task_feedback)
