"""The ASGI app driven directly, the server's missing-extra error, and the token helpers."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gamify_client.testing import GamifyBackend
from gamify_client.testing._auth import (
    InvalidTokenError,
    check_password,
    hash_password,
    issue_token,
    verify_token,
)

Message = MutableMapping[str, Any]


class Exchange:
    """A fake ASGI server side: feeds one request, keeps what the app sends."""

    def __init__(self, body: bytes = b"") -> None:
        self._incoming: list[Message] = [{"type": "http.request", "body": body}]
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return self._incoming.pop(0) if self._incoming else {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def http_scope(method: str, path: str, query: bytes = b"", headers: Any = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": list(headers),
    }


async def test_asgi_app_answers_with_content_length() -> None:
    with GamifyBackend() as backend:
        exchange = Exchange()
        await backend.asgi_app()(http_scope("GET", "/"), exchange.receive, exchange.send)
    start, body = exchange.sent
    assert start["status"] == 200
    assert (b"content-length", b"15") in start["headers"]
    assert body["body"] == b"API is working!"


async def test_answers_with_the_same_headers_each_get_their_own_content_length() -> None:
    with GamifyBackend() as backend:
        app = backend.asgi_app()
        sent: list[tuple[list[tuple[bytes, bytes]], bytes]] = []
        for seed in (False, True, False):
            if seed:
                backend.seed_demo()
            exchange = Exchange()
            await app(http_scope("GET", "/api/task/all"), exchange.receive, exchange.send)
            start, body = exchange.sent
            sent.append((list(start["headers"]), body["body"]))
    lengths = [dict(headers)[b"content-length"] for headers, _ in sent]
    assert lengths == [str(len(body)).encode() for _, body in sent]
    assert lengths[0] != lengths[1] == lengths[2]
    assert all([name for name, _ in headers].count(b"content-length") == 1 for headers, _ in sent)


async def test_each_answer_gets_its_own_header_values() -> None:
    with GamifyBackend() as backend:
        app = backend.asgi_app()
        echoed = []
        for key in (b"first", b"second", b"first"):
            exchange = Exchange()
            scope = http_scope("GET", "/", headers=[(b"idempotency-key", key)])
            await app(scope, exchange.receive, exchange.send)
            echoed.append(dict(exchange.sent[0]["headers"])[b"idempotency-key"])
    assert echoed == [b"first", b"second", b"first"]


async def test_asgi_app_reads_query_and_repeated_cookie_headers() -> None:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        token = backend.token_for(demo.users[0].id).encode()
        exchange = Exchange()
        scope = http_scope(
            "GET",
            "/api/batch-progress/dashboard/me",
            headers=[(b"cookie", b"theme=dark"), (b"cookie", b"authToken=" + token)],
        )
        await backend.asgi_app()(scope, exchange.receive, exchange.send)
    assert exchange.sent[0]["status"] == 200
    payload = json.loads(exchange.sent[1]["body"])
    assert payload["dashboard"]["userProfile"]["username"] == demo.users[0].name


async def test_drop_without_a_known_transport_leaves_the_response_unfinished() -> None:
    with GamifyBackend() as backend:
        backend.faults.add(drop=True)
        exchange = Exchange()
        await backend.asgi_app()(http_scope("GET", "/"), exchange.receive, exchange.send)
    assert len(exchange.sent) == 1
    assert exchange.sent[0]["type"] == "http.response.start"
    assert (b"content-length", b"1") in exchange.sent[0]["headers"]


async def test_asgi_lifespan_is_acknowledged() -> None:
    messages: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    with GamifyBackend() as backend:
        await backend.asgi_app()({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_serve_without_uvicorn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with (
        GamifyBackend() as backend,
        pytest.raises(ImportError, match=r"pip install 'gamify-client\[server\]'"),
        backend.serve(),
    ):
        pass


NOW = datetime(2024, 1, 1, tzinfo=UTC)
SECRET = b"k" * 32


def test_token_round_trip() -> None:
    token = issue_token("a" * 24, "mentor", secret=SECRET, now=NOW)
    claims = verify_token(token, secret=SECRET, now=NOW + timedelta(hours=23))
    assert (claims.user_id, claims.designation) == ("a" * 24, "mentor")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


@pytest.mark.parametrize(
    ("token_of", "now"),
    [
        (lambda t: t, NOW + timedelta(days=1)),
        (lambda t: t + "x", NOW),
        (lambda t: t.replace(".", "", 1), NOW),
        (lambda t: "e30." + t.split(".", 1)[1], NOW),
    ],
    ids=["expired", "bad-signature", "malformed", "swapped-header"],
)
def test_bad_tokens_are_rejected(token_of: Any, now: datetime) -> None:
    token = issue_token("a" * 24, "user", secret=SECRET, now=NOW)
    with pytest.raises(InvalidTokenError):
        verify_token(token_of(token), secret=SECRET, now=now)


def test_token_from_another_secret_is_rejected() -> None:
    token = issue_token("a" * 24, "user", secret=b"other", now=NOW)
    with pytest.raises(InvalidTokenError):
        verify_token(token, secret=SECRET, now=NOW)


def test_password_hash_checks() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("pbkdf2_sha256$")
    assert check_password("s3cret", stored)
    assert not check_password("S3cret", stored)
    assert not check_password("s3cret", "garbage")
