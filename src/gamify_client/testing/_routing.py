"""Routing a request to its handler, with the real service's middleware around it.

Order of work, as in the Express app: CORS (which answers every ``OPTIONS`` itself), body
parsing (a malformed JSON body gets 400 and one over its limit 413, whatever the route: Express's
HTML page on the real service, ``{message}`` once fixed; see ``_bodies``), route lookup
(Express's HTML 404 when none matches), the token check on protected routes (no token:
401, a bad or expired one: 403), then the handler inside one store transaction. An id
that is not 24 hex digits makes the handler fail the way Mongoose's ``CastError`` makes
the real one fail: 500 with the route's ``{message, error}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

from ._answers import AnswerCache, RequestKey
from ._auth import InvalidTokenError, TokenClaims, VerifiedTokens
from ._bodies import (
    BodyTooLargeError,
    MalformedBodyError,
    ParsedBody,
    UploadedFile,
    parse_body,
)
from ._defects import Defects
from ._events_stream import EventStream
from ._express import (
    BackendResponse,
    bad_request_page,
    json_response,
    not_found_page,
    payload_too_large_page,
    preflight_response,
    with_cors,
)
from ._ids import ObjectIdFactory, is_object_id, iso
from ._store import Collection, DocumentStore
from ._uploads import UploadFolder

logger = logging.getLogger("gamify_client.testing")

Handler = Callable[["Context"], BackendResponse]
FailureStyle = Literal["error_object", "error_message", "server_error", "error_only"]
Guard = Literal["jwt", "ra"]
"""The real service's two token checks (CONTRACT.md, "Authentication"):

- ``jwt`` (``authenticateJWT``): the ``authToken`` cookie first, else the Bearer header; no
  token 401 ``No token provided``, a bad one 403 ``Invalid token``.
- ``ra`` (``requireAuth``): the ``Authorization`` header's second word only (the cookie too once
  ``requireauth_header_only`` is fixed); no token 401 ``No token provided, authorization
  denied.``, a bad one 401 ``Invalid or expired token.``.
"""

STAFF = ("admin", "superadmin")
"""The roles that may act for any user and read anyone's data (once ``missing_auth`` is fixed)."""

DEFAULT_JWT_SECRET = b"your-secret-key-here"
"""The real service's signing secret without ``JWT_SECRET`` (defect ``default_jwt_secret``)."""


class HttpError(Exception):
    """Ends a handler with ``status`` and the JSON ``payload``; its writes are rolled back."""

    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(status, payload)
        self.status = status
        self.payload = payload


class ClockError(ValueError):
    """The backend's clock returned a naive datetime: a bug of the harness, never a 500."""


class CastError(Exception):
    """A value that should be an ObjectId is not one (Mongoose's ``CastError``)."""

    def __init__(self, value: object, model: str, path: str) -> None:
        self.value = value
        self.model = model
        self.path = path
        type_name = "string" if isinstance(value, str) else type(value).__name__
        self.type_name = type_name
        super().__init__(
            f'Cast to ObjectId failed for value "{value}" (type {type_name}) '
            f'at path "{path}" for model "{model}"'
        )

    def as_error_object(self) -> dict[str, Any]:
        """The error as ``res.json({error})`` serialises a Mongoose ``CastError``."""
        return {
            "stringValue": f'"{self.value}"',
            "valueType": self.type_name,
            "kind": "ObjectId",
            "value": self.value,
            "path": self.path,
            "reason": {},
            "name": "CastError",
            "message": str(self),
        }


@dataclass(frozen=True)
class Failure:
    """How a route's ``catch`` block answers: its message and how it shows the error."""

    message: str
    style: FailureStyle = "error_message"

    def response(self, error: Exception) -> BackendResponse:
        """The 500 answer the route gives when ``error`` escapes its handler."""
        if self.style == "server_error":
            return json_response(500, {"error": "Server error"})
        if self.style == "error_only":
            return json_response(500, {"error": self.message})
        if self.style == "error_object":
            detail: Any = error.as_error_object() if isinstance(error, CastError) else {}
        else:
            detail = str(error)
        return json_response(500, {"message": self.message, "error": detail})


@dataclass(frozen=True)
class Route:
    """One route: method, Express path pattern, handler, its ``catch`` block's answer, the
    token check the real service runs (``auth``) and the one the fixed backend adds where the
    real service has none (``fixed_auth``, dropped while ``missing_auth`` is switched on)."""

    method: str
    pattern: str
    handler: Handler
    failure: Failure
    auth: Guard | None = None
    fixed_auth: Guard | None = None
    absent_with: str | None = None
    """A defect under which the real service never reaches this route (an earlier route
    takes its path), so the route is skipped while that defect is switched on."""
    cached: bool = False
    """Its answer is kept while no write commits (see ``_answers``): it depends only on the
    documents, the request's parameters and query, the caller and the day, and carries the
    request's timestamp only where the route puts it."""
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        body = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", self.pattern.rstrip("/"))
        object.__setattr__(self, "regex", re.compile(f"^{body}/?$", re.IGNORECASE))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves ``method path``, else None."""
        if method != self.method:
            return None
        found = self.regex.match(path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


_PathKey = tuple[str, str]


def _path_key(path: str) -> _PathKey:
    """A path's first two segments, case-folded as the routes' patterns match them."""
    parts = path.split("/", 3)
    first = parts[1].casefold() if len(parts) > 1 else ""
    second = parts[2].casefold() if len(parts) > 2 else ""
    return first, second


class RouteTable:
    """Routes in matching order, looked up by method and the path's first two segments, so a
    request tries only the routes that could serve it instead of every pattern of the service.

    A route whose pattern has a parameter among its first two segments is a candidate for any
    value there; the candidates keep the table's order, so the first match is the one a scan
    of all the routes would find.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        keyed = [(route, self._pattern_key(route.pattern)) for route in self.routes]
        literal_keys = {(route.method, key) for route, key in keyed if None not in key}
        firsts = {(route.method, key[0]) for route, key in keyed if key[0] is not None}

        def serving(method: str, first: str | None, second: str | None) -> tuple[Route, ...]:
            return tuple(
                route
                for route, (own_first, own_second) in keyed
                if route.method == method
                and own_first in (first, None)
                and own_second in (second, None)
            )

        self._by_both = {(method, key): serving(method, *key) for method, key in literal_keys}
        self._by_first = {(method, first): serving(method, first, None) for method, first in firsts}
        self._by_method = {route.method: serving(route.method, None, None) for route in self.routes}

    @staticmethod
    def _pattern_key(pattern: str) -> tuple[str | None, str | None]:
        first, second = _path_key(pattern.rstrip("/") or "/")
        return (
            None if first.startswith(":") else first,
            None if second.startswith(":") else second,
        )

    def candidates(self, method: str, path: str) -> tuple[Route, ...]:
        """The routes that may serve ``method path``, in matching order."""
        first, second = _path_key(path)
        found = self._by_both.get((method, (first, second)))
        if found is None:
            found = self._by_first.get((method, first))
        if found is None:
            found = self._by_method.get(method, ())
        return found


@dataclass
class BackendState:
    """Everything a handler may touch: the documents, the clock, ids, the secret, defects,
    and the stream every successful write is published to."""

    store: DocumentStore
    clock: Callable[[], datetime]
    ids: ObjectIdFactory
    secret: bytes
    defects: Defects
    event_stream: EventStream = field(default_factory=EventStream)
    debug: bool = False
    """Debug mode: the real service's debug route answers (defect ``debug_route_public``
    opens it in any mode)."""
    uploads: UploadFolder = field(default_factory=UploadFolder)
    """Where file submissions are stored (a temporary directory, made on the first upload)."""
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    """The token check, remembering the tokens it found genuine."""
    answers: AnswerCache = field(default_factory=AnswerCache)
    """The kept answers of the routes marked :attr:`Route.cached`."""

    @property
    def token_secret(self) -> bytes:
        """The secret tokens are signed with: the public default while ``default_jwt_secret``
        is switched on."""
        return DEFAULT_JWT_SECRET if "default_jwt_secret" in self.defects else self.secret


@dataclass
class Context:
    """One request as a handler sees it, with the state and one reading of the clock."""

    state: BackendState
    params: dict[str, str]
    query: dict[str, str]
    body: ParsedBody
    claims: TokenClaims | None
    now: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers, names in lower case."""

    @property
    def store(self) -> DocumentStore:
        """The document store, inside this request's transaction."""
        return self.state.store

    @property
    def fields(self) -> dict[str, Any]:
        """``req.body``."""
        return self.body.fields

    @property
    def file(self) -> UploadedFile | None:
        """``req.file``: the part named ``file`` of a multipart body."""
        return next((f for f in self.body.files if f.field_name == "file"), None)

    @cached_property
    def timestamp(self) -> str:
        """The request's time as the service writes dates."""
        return iso(self.now)

    def new_id(self) -> str:
        """A fresh ObjectId stamped with the request's time."""
        return self.state.ids.new(self.now)

    def has_defect(self, name: str) -> bool:
        """True when the defect ``name`` is switched on."""
        return name in self.state.defects

    def verified_claims(self) -> TokenClaims:
        """The verified token's claims; only a protected route's handler may ask."""
        if self.claims is None:
            raise RuntimeError("the route does not check a token")
        return self.claims

    @property
    def caller(self) -> TokenClaims | None:
        """Who sent the request: the claims of a valid token, on any route, or None."""
        return self.claims

    @property
    def is_staff(self) -> bool:
        """The caller is an admin or a superadmin."""
        return self.claims is not None and self.claims.designation in STAFF

    def forbid_unless(self, allowed: bool, message: str) -> None:
        """Answer 403 ``{message}`` unless ``allowed``; a check of the fixed backend, so it
        does nothing while ``missing_auth`` is switched on."""
        if not allowed and not self.has_defect("missing_auth"):
            raise HttpError(403, {"message": message})

    def require_self_or(
        self, user_id: object, roles: tuple[str, ...] = STAFF, *, message: str | None = None
    ) -> None:
        """Only ``user_id`` themself or one of ``roles`` may act for ``user_id`` (403
        otherwise); nothing while ``missing_auth`` is switched on."""
        claims = self.claims
        allowed = claims is not None and (
            claims.user_id == str(user_id) or claims.designation in roles
        )
        self.forbid_unless(allowed, message or "You can only act for yourself")

    def acting_user(self, body_value: object) -> object:
        """The user a write acts for: the token's user once ``missing_auth`` is fixed (staff may
        still name another), else whatever the body says, as the real service trusts it."""
        if self.has_defect("missing_auth") or self.claims is None:
            return body_value
        if self.is_staff and body_value not in (None, ""):
            return body_value
        return self.claims.user_id


def js_falsy(value: object) -> bool:
    """``!value`` in JavaScript: missing, null, false, 0 and "" (but not [] or {})."""
    if isinstance(value, (list, dict)):
        return False
    return not value


def require_fields(fields: Mapping[str, Any], *names: str) -> None:
    """Answer 400 ``Missing required fields.`` unless every field in ``names`` is truthy."""
    if any(js_falsy(fields.get(name)) for name in names):
        raise HttpError(400, {"message": "Missing required fields."})


def object_id(value: object, model: str, path: str = "_id") -> str:
    """``value`` if it is an ObjectId, else a :class:`CastError` as Mongoose raises it."""
    if is_object_id(value):
        return value
    raise CastError(value, model, path)


def _cookie_token(headers: Mapping[str, str]) -> str | None:
    for pair in headers.get("cookie", "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == "authToken" and value:
            return unquote(value)
    return None


def _header_token(headers: Mapping[str, str]) -> str | None:
    # Both guards take the header's second word whatever its scheme says.
    words = headers.get("authorization", "").split(" ")
    return words[1] if len(words) > 1 and words[1] else None


def _token(guard: Guard | None, headers: Mapping[str, str], defects: Defects) -> str | None:
    if guard == "ra" and "requireauth_header_only" in defects:
        return _header_token(headers)
    # authenticateJWT reads the cookie first: a stale cookie wins over a good header.
    return _cookie_token(headers) or _header_token(headers)


_NO_TOKEN: Mapping[Guard, tuple[int, dict[str, str]]] = {
    "jwt": (401, {"message": "No token provided"}),
    "ra": (401, {"message": "No token provided, authorization denied."}),
}
_BAD_TOKEN: Mapping[Guard, tuple[int, dict[str, str]]] = {
    "jwt": (403, {"message": "Invalid token"}),
    "ra": (401, {"message": "Invalid or expired token."}),
}
_RESTRICTED = {"message": "Account is restricted"}


def _guard_of(route: Route, defects: Defects) -> Guard | None:
    if route.auth is not None:
        return route.auth
    return None if "missing_auth" in defects else route.fixed_auth


def _claims(
    state: BackendState, guard: Guard | None, headers: Mapping[str, str], now: datetime
) -> TokenClaims | BackendResponse | None:
    """The caller's claims, the guard's refusal, or None for an unguarded anonymous call."""
    token = _token(guard, headers, state.defects)
    if token is None:
        if guard is None:
            return None
        status, payload = _NO_TOKEN[guard]
        return json_response(status, payload)
    try:
        claims = state.verified_tokens.verify(token, secret=state.token_secret, now=now)
    except InvalidTokenError:
        if guard is None:
            return None
        status, payload = _BAD_TOKEN[guard]
        return json_response(status, payload)
    if guard is not None and "restricted_ignored" not in state.defects:
        user = state.store.peek(Collection.USERS, claims.user_id)
        if user is not None and user.get("restricted") is True:
            return json_response(403, _RESTRICTED)
    return claims


def body_refused(state: BackendState, status: Literal[400, 413]) -> BackendResponse:
    """The answer to a body the parser refuses: Express's HTML page on the real service
    (``validation_500``), a JSON ``{message}`` once fixed."""
    if "validation_500" in state.defects:
        return bad_request_page() if status == 400 else payload_too_large_page()
    message = "Malformed request body" if status == 400 else "Request body too large"
    return json_response(status, {"message": message})


def dispatch(
    state: BackendState,
    routes: RouteTable,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> BackendResponse:
    """Answer one request exactly as the real service's middleware and routes would;
    ``headers`` has its names in lower case."""
    method = method.upper()
    if method == "OPTIONS":
        return preflight_response(headers)
    request: RequestKey | None = None
    if method == "GET" and not body:
        # A poll repeats its request exactly: its kept answer is found before any of the work
        # that would lead to it (see ``_answers``).
        request = (path, query, tuple(headers.items()))
        store = state.store
        with store.transaction():
            repeated = state.answers.repeat(request, state.clock(), store.generation, state.defects)
        if repeated is not None:
            return repeated
    return with_cors(_answer(state, routes, method, path, query, headers, body, request), headers)


def _answer(
    state: BackendState,
    routes: RouteTable,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    request: RequestKey | None,
) -> BackendResponse:
    try:
        parsed = parse_body(headers.get("content-type", ""), body)
    except BodyTooLargeError:
        return body_refused(state, 413)
    except MalformedBodyError:
        return body_refused(state, 400)
    for route in routes.candidates(method, path):
        if route.absent_with is not None and route.absent_with in state.defects:
            continue
        params = route.match(method, path)
        if params is not None:
            break
    else:
        return not_found_page(method, path)
    try:
        with state.store.transaction():
            # The clock is read under the lock, so timestamps follow the order of the writes.
            now = state.clock()
            claims = _claims(state, _guard_of(route, state.defects), headers, now)
            if isinstance(claims, BackendResponse):
                return claims
            fields = dict(parse_qsl(query)) if query else {}
            context = Context(state, params, fields, parsed, claims, now, headers)
            if route.cached:
                response = state.answers.answer(route, context, route.handler, request)
            else:
                response = route.handler(context)
            # Inside the transaction, so events are numbered in the order of the writes.
            state.event_stream.record_write(route, context, headers, response)
            return response
    except HttpError as err:
        return json_response(err.status, err.payload)
    except CastError as err:
        if "validation_500" in state.defects:
            return route.failure.response(err)
        if err.value in params.values():
            return json_response(404, {"message": f"{err.model} not found"})
        return json_response(400, {"message": f"Invalid {err.path}"})
    except ClockError:
        raise
    except Exception as err:
        logger.exception("%s %s failed", method, path)
        return route.failure.response(err)
