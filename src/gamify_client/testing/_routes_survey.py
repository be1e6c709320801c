"""``/api/survey``: survey responses. Both routes check the ``RA`` token. The real service
trusts the body's ``userId`` and lets anyone read anyone's responses; fixed (defect
``missing_auth``), a user writes and reads only their own (staff may act for anyone). Bad
bodies are 400 ``{message}`` when fixed, 500 ``{error}`` under ``validation_500``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ._documents import populate
from ._express import BackendResponse, json_response
from ._ids import iso, parse_iso
from ._routes_analytics import cast_number
from ._routing import CastError, Context, Failure, HttpError, Route, object_id
from ._store import Collection, Doc

_FETCH_FAILURE = "Failed to fetch survey responses"
_SAVE_FAILURE = "Failed to save survey response"


def _refuse(ctx: Context, message: str, failure: str) -> HttpError:
    """A bad request: 400 ``{message}``, or the route's 500 under ``validation_500``."""
    if ctx.has_defect("validation_500"):
        return HttpError(500, {"error": failure})
    return HttpError(400, {"message": message})


def _id_or_refuse(ctx: Context, value: object, model: str, path: str, failure: str) -> str:
    """``value`` as an ObjectId; a malformed one is the route's 500 under ``validation_500``
    and, fixed, the dispatcher's 404 (path) or 400 (body)."""
    try:
        return object_id(value, model, path)
    except CastError:
        if ctx.has_defect("validation_500"):
            raise HttpError(500, {"error": failure}) from None
        raise


def list_responses(ctx: Context) -> BackendResponse:
    """``GET /api/survey/responses/:userId``: newest first, ``categoryId`` populated
    ``{_id, name, emoji}``."""
    user_id = _id_or_refuse(ctx, ctx.params["userId"], "User", "userId", _FETCH_FAILURE)
    ctx.require_self_or(user_id, message="You can only read your own survey responses")
    responses = sorted(
        ctx.store.find(Collection.SURVEY_RESPONSES, userId=user_id),
        key=lambda response: str(response.get("timestamp") or ""),
        reverse=True,
    )
    for response in responses:
        response["categoryId"] = populate(
            ctx.store, Collection.CATEGORIES, response.get("categoryId"), ("name", "emoji")
        )
    return json_response(200, {"responses": responses})


def _answers(ctx: Context, value: object) -> list[int | float]:
    if value is None:
        raise _refuse(ctx, "answers is required", _SAVE_FAILURE)
    # Mongoose wraps a single value given for an array path.
    items = value if isinstance(value, list) else [value]
    try:
        return [cast_number(item, "answers") for item in items]
    except HttpError:
        raise _refuse(ctx, "Invalid answers: numbers are required", _SAVE_FAILURE) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamp(ctx: Context, value: object) -> str:
    """A Date path's cast: an ISO text or milliseconds since the epoch; now when absent."""
    if value is None:
        return ctx.timestamp
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return iso(_EPOCH + timedelta(milliseconds=value))
        if isinstance(value, str):
            at = parse_iso(value.strip())
            return iso(at if at.tzinfo is not None else at.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        pass
    raise _refuse(ctx, "Invalid timestamp", _SAVE_FAILURE)


def save_response(ctx: Context) -> BackendResponse:
    """``POST /api/survey/response``: save a user's answers to a category's survey."""
    fields = ctx.fields
    # Fixed, the token names the user, so only the real service needs the body's userId.
    required = ("userId", "categoryId") if ctx.has_defect("missing_auth") else ("categoryId",)
    for name in required:
        if fields.get(name) in (None, ""):
            raise _refuse(ctx, f"{name} is required", _SAVE_FAILURE)
    user_id = _id_or_refuse(
        ctx, ctx.acting_user(fields.get("userId")), "User", "userId", _SAVE_FAILURE
    )
    ctx.require_self_or(user_id, message="You can only answer surveys for yourself")
    category_id = _id_or_refuse(
        ctx, fields.get("categoryId"), "Category", "categoryId", _SAVE_FAILURE
    )
    response: Doc = {
        "userId": user_id,
        "categoryId": category_id,
        "answers": _answers(ctx, fields.get("answers")),
        "timestamp": _timestamp(ctx, fields.get("timestamp")),
        "_id": ctx.new_id(),
        "__v": 0,
    }
    ctx.store.insert(Collection.SURVEY_RESPONSES, response)
    return json_response(200, {"success": True, "response": response})


ROUTES: tuple[Route, ...] = (
    Route(
        "GET", "/api/survey/responses/:userId", list_responses, Failure(_FETCH_FAILURE), auth="ra"
    ),
    Route("POST", "/api/survey/response", save_response, Failure(_SAVE_FAILURE), auth="ra"),
)
"""This area's routes, in the real service's matching order."""
