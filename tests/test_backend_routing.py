"""The reference backend's route lookup and token check (``testing._routing``, ``_auth``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamify_client.testing._auth import InvalidTokenError, VerifiedTokens, issue_token
from gamify_client.testing._routes import ROUTE_TABLE, ROUTES
from gamify_client.testing._routing import Route

METHODS = sorted({route.method for route in ROUTES} | {"HEAD"})
_SEGMENTS = sorted(
    {part for route in ROUTES for part in route.pattern.split("/") if part}
    | {"6650f0c2a1b2c3d4e5f60001", "x", "", "API", "Task", "\u017f", "batch-progress"}
)


def _first_by_scan(method: str, path: str) -> Route | None:
    """The route a scan of every pattern, in order, picks: what the table must agree with."""
    return next((route for route in ROUTES if route.match(method, path) is not None), None)


def _first_by_table(method: str, path: str) -> Route | None:
    candidates = ROUTE_TABLE.candidates(method, path)
    return next((route for route in candidates if route.match(method, path) is not None), None)


@given(
    method=st.sampled_from(METHODS),
    segments=st.lists(st.sampled_from(_SEGMENTS) | st.text(max_size=6), max_size=5),
    trailing_slash=st.booleans(),
)
def test_the_table_finds_the_route_a_full_scan_finds(
    method: str, segments: list[str], trailing_slash: bool
) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing_slash else "")
    assert _first_by_table(method, path) is _first_by_scan(method, path)


def test_every_route_is_found_by_its_own_path() -> None:
    for route in ROUTES:
        path = route.pattern.replace(":", "")
        assert _first_by_table(route.method, path) is _first_by_scan(route.method, path)
        assert _first_by_table(route.method, path) is not None


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
SECRET = b"s" * 32


def test_a_remembered_token_is_still_refused_once_it_expires() -> None:
    tokens = VerifiedTokens()
    token = issue_token("u1", "user", secret=SECRET, now=NOW)
    assert tokens.verify(token, secret=SECRET, now=NOW).user_id == "u1"
    assert tokens.verify(token, secret=SECRET, now=NOW + timedelta(hours=23)).user_id == "u1"
    with pytest.raises(InvalidTokenError):
        tokens.verify(token, secret=SECRET, now=NOW + timedelta(days=1))


def test_a_remembered_token_is_refused_under_another_secret() -> None:
    tokens = VerifiedTokens()
    token = issue_token("u1", "admin", secret=SECRET, now=NOW)
    assert tokens.verify(token, secret=SECRET, now=NOW).designation == "admin"
    with pytest.raises(InvalidTokenError):
        tokens.verify(token, secret=b"other", now=NOW)


def test_remembered_tokens_are_bounded_and_a_forgotten_one_is_checked_again() -> None:
    tokens = VerifiedTokens(size=2)
    issued = [issue_token(f"u{number}", "user", secret=SECRET, now=NOW) for number in range(4)]
    for token in issued:
        tokens.verify(token, secret=SECRET, now=NOW)

    assert len(tokens._genuine) == 2
    assert tokens.verify(issued[0], secret=SECRET, now=NOW).user_id == "u0"
    with pytest.raises(InvalidTokenError):
        tokens.verify(issued[0], secret=b"other", now=NOW)


def test_a_forged_token_is_refused_every_time() -> None:
    tokens = VerifiedTokens(size=2)
    token = issue_token("u1", "user", secret=SECRET, now=NOW)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(3):
        with pytest.raises(InvalidTokenError):
            tokens.verify(forged, secret=SECRET, now=NOW)
    for number in range(5):
        other = issue_token(f"u{number}", "user", secret=SECRET, now=NOW)
        assert tokens.verify(other, secret=SECRET, now=NOW).user_id == f"u{number}"
