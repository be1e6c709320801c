"""Reachability and auth checks: ``GET /`` answers, and protected routes refuse requests
without a token or with a bad one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._scenario import Scenario

LIVENESS_TEXT = "API is working!"
_PROTECTED_ROUTES = ("/api/batches", "/api/batch-progress/dashboard/me")


@check("liveness", f"GET / answers 200 with the text {LIVENESS_TEXT!r}.")
def _liveness(scenario: Scenario) -> str:
    response = scenario.session.probe()
    text = response.text.strip()
    if response.status_code != 200 or text != LIVENESS_TEXT:
        raise CheckFailed(
            f"expected 200 {LIVENESS_TEXT!r}, saw {response.status_code} {text[:80]!r}"
        )
    return f"200 {text!r}"


def _expect_statuses(
    scenario: Scenario, problems: Problems, headers: dict[str, str], expected: int, how: str
) -> None:
    session = scenario.session
    for path in _PROTECTED_ROUTES:
        status = session.http.get(f"{session.base_url}{path}", headers=headers).status_code
        if status != expected:
            problems.add(f"GET {path} {how}: expected {expected}, saw {status}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _forged_token() -> str:
    """A well-formed HS256 JWT for a made-up superadmin, signed with a key no server knows."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "id": secrets.token_hex(12),
        "designation": "superadmin",
        "iat": now,
        "exp": now + 3600,
    }
    payload = _b64(json.dumps(claims).encode())
    key = secrets.token_bytes(32)
    signature = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


@check("auth.no_token_401", "Protected routes answer 401 when no token is sent.")
def _no_token(scenario: Scenario) -> str:
    problems = Problems()
    how = "without a token"
    _expect_statuses(scenario, problems, {}, 401, how)
    problems.raise_any()
    return f"401 from {', '.join(_PROTECTED_ROUTES)} {how}"


@check(
    "auth.bad_token_403",
    "Protected routes answer 403 to a malformed token and to a well-formed one with a "
    "forged signature (the server verifies signatures, not just the token's shape).",
)
def _bad_token(scenario: Scenario) -> str:
    problems = Problems()
    for token, how in (
        ("not-a-token", "with a malformed token"),
        (_forged_token(), "with a forged token"),
    ):
        _expect_statuses(scenario, problems, {"Authorization": f"Bearer {token}"}, 403, how)
    problems.raise_any()
    return "403 to a malformed and to a forged token"


CHECKS: tuple[Check, ...] = (_liveness, _no_token, _bad_token)
"""This module's checks, in the order they run."""
