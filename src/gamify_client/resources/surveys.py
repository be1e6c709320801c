"""Surveys: ``/api/survey``, a user's answers to a category's survey. Both routes need a
token (guard ``RA``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey
from ..models import MutationResult, SurveyResponse
from ..realtime import Rule, Write, scoped
from ._base import (
    AsyncResource,
    SyncResource,
    async_endpoint,
    body,
    segment,
    sync_endpoint,
    wire_time,
)

__all__ = ["AsyncSurveys", "Surveys"]

_RESPONSE = Payload(TypeAdapter(SurveyResponse), "SurveyResponse", keys=("response",))
_RESPONSES = Payload(
    TypeAdapter(list[SurveyResponse]), "list of SurveyResponse", keys=("responses",), bare=True
)

SUBMIT = Write(
    "surveys.submit",
    "POST",
    "/api/survey/response",
    MutationPayload(_RESPONSE),
    Rule(Event.DATA_REFRESH, lambda c: [scoped(CacheKey.SURVEYS, c.user_id)]),
    ids={"user_id": "userId"},
)


def list_responses(user_id: str) -> Call[list[SurveyResponse]]:
    """The user's survey responses, newest first, ``category_id`` populated
    (``{_id, name, emoji}``). Once defect ``missing_auth`` is fixed, only the user or staff
    may read them."""
    return Call("GET", f"/api/survey/responses/{segment(user_id)}", _RESPONSES)


def submit_response(
    *,
    user_id: str,
    category_id: str,
    answers: Sequence[float],
    timestamp: datetime | str | None = None,
) -> Call[MutationResult[SurveyResponse]]:
    """Save the user's answers (numbers) to a category's survey; the server stamps the time
    unless given. Never retried once sent: each call saves another response."""
    fields = {
        "userId": user_id,
        "categoryId": category_id,
        "answers": list(answers),
        "timestamp": wire_time(timestamp) if timestamp is not None else None,
    }
    return SUBMIT.call("/api/survey/response", json=body(fields), context={"user_id": user_id})


class Surveys(SyncResource):
    """Surveys: a user's responses, and submitting one."""

    responses = sync_endpoint(list_responses)
    submit = sync_endpoint(submit_response)


class AsyncSurveys(AsyncResource):
    """Surveys, awaited: a user's responses, and submitting one."""

    responses = async_endpoint(list_responses)
    submit = async_endpoint(submit_response)
