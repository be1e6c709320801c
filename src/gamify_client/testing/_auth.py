"""Tokens and passwords: HS256 JWTs and salted PBKDF2 hashes, with the standard library.

Tokens carry the real service's claims ``{id, designation, iat, exp}`` and stay valid for
one day. Password hashing uses a low iteration count on purpose: this backend serves tests,
and a fast hash keeps them fast.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOKEN_LIFETIME_SECONDS = 24 * 60 * 60
_PBKDF2_ITERATIONS = 1_000
_HEADER = {"alg": "HS256", "typ": "JWT"}


class InvalidTokenError(Exception):
    """The token is malformed, badly signed or expired."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its bearer."""

    user_id: str
    designation: str
    expires: int
    """When the token stops being valid: its ``exp`` claim, in seconds since the epoch."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: bytes, secret: bytes) -> str:
    return _b64encode(hmac.new(secret, signing_input, hashlib.sha256).digest())


def issue_token(user_id: str, designation: str, *, secret: bytes, now: datetime) -> str:
    """A one-day HS256 token for ``user_id``, issued at ``now``."""
    issued_at = int(now.timestamp())
    claims = {
        "id": user_id,
        "designation": designation,
        "iat": issued_at,
        "exp": issued_at + TOKEN_LIFETIME_SECONDS,
    }
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_sign(signing_input, secret)}"


def verify_token(token: str, *, secret: bytes, now: datetime) -> TokenClaims:
    """The claims of ``token``; raises :class:`InvalidTokenError` unless it is genuine and live."""
    return _live(_genuine(token, secret), now)


def _live(claims: TokenClaims, now: datetime) -> TokenClaims:
    if now.timestamp() >= claims.expires:
        raise InvalidTokenError("jwt expired")
    return claims


class VerifiedTokens:
    """:func:`verify_token` that remembers the genuine tokens it has checked (the ``size``
    checked last), so a client's every request does not pay for the signature and two JSON
    decodes again; only the expiry is checked each time."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._genuine: dict[tuple[str, bytes], TokenClaims] = {}
        """Oldest checked first; a plain dict, since a read of one is atomic and needs no lock."""
        self._lock = threading.Lock()

    def verify(self, token: str, *, secret: bytes, now: datetime) -> TokenClaims:
        """What :func:`verify_token` answers for ``token``."""
        key = (token, secret)
        known = self._genuine.get(key)
        if known is None:
            known = _genuine(token, secret)
            with self._lock:
                self._genuine[key] = known
                if len(self._genuine) > self._size:
                    del self._genuine[next(iter(self._genuine))]
        return _live(known, now)


def _genuine(token: str, secret: bytes) -> TokenClaims:
    """The claims of ``token``; raises :class:`InvalidTokenError` unless it is well formed and
    signed with ``secret``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("jwt malformed")
    header_part, payload_part, signature = parts
    expected = _sign(f"{header_part}.{payload_part}".encode("ascii"), secret)
    if not hmac.compare_digest(expected, signature):
        raise InvalidTokenError("invalid signature")
    try:
        header: Any = json.loads(_b64decode(header_part))
        claims: Any = json.loads(_b64decode(payload_part))
    except ValueError as err:
        raise InvalidTokenError("jwt malformed") from err
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidTokenError("invalid algorithm")
    if not isinstance(claims, dict):
        raise InvalidTokenError("jwt malformed")
    expires = claims.get("exp")
    if not isinstance(expires, int):
        raise InvalidTokenError("jwt expired")
    user_id, designation = claims.get("id"), claims.get("designation")
    if not isinstance(user_id, str) or not isinstance(designation, str):
        raise InvalidTokenError("jwt malformed")
    return TokenClaims(user_id=user_id, designation=designation, expires=expires)


def hash_password(password: str) -> str:
    """A salted PBKDF2-SHA256 hash of ``password``, self-describing for :func:`check_password`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${_PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), bytes.fromhex(salt), int(iterations)
    )
    return hmac.compare_digest(candidate.hex(), digest)
