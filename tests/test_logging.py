"""Debug logging shows requests and responses and never the token."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from gamify_client import ClientConfig, GamifyClient
from gamify_client._logging import logger, redacted_headers

from .conftest import BASE_URL

SECRET = "eyJhbGciOiJIUzI1NiJ9.secret-token.signature"


def test_debug_lines_show_requests_and_redact_the_token(
    config: ClientConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gamify_client")
    with respx.mock:
        respx.post(f"{BASE_URL}/api/user/login").mock(
            return_value=httpx.Response(
                200,
                json={"message": "ok", "userId": "u" * 24, "token": SECRET, "designation": "admin"},
            )
        )
        respx.get(f"{BASE_URL}/api/task/all").mock(return_value=httpx.Response(200, json=[]))
        with GamifyClient(
            config=config, default_headers={"Cookie": f"authToken={SECRET}"}
        ) as client:
            client.login(email="a@b.c", password="pw")
            client.tasks.list()
    text = caplog.text
    assert "request GET http://gamify.test/api/task/all" in text
    assert "status=200" in text
    assert "[redacted]" in text
    assert SECRET not in text
    assert "pw" not in text.replace("pwd", "")


def test_debug_setting_turns_on_a_handler(config: ClientConfig) -> None:
    before = list(logger.handlers)
    try:
        GamifyClient(config=config.replace(debug=True)).close()
        GamifyClient(config=config.replace(debug=True)).close()
        added = [h for h in logger.handlers if h not in before]
        assert len(added) == 1
        assert logger.level == logging.DEBUG
    finally:
        for handler in list(logger.handlers):
            if handler not in before:
                logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_redaction_is_case_insensitive() -> None:
    headers = [("authorization", "Bearer x"), ("COOKIE", "a=b"), ("Accept", "*/*")]
    assert redacted_headers(headers) == {
        "authorization": "[redacted]",
        "COOKIE": "[redacted]",
        "Accept": "*/*",
    }


def test_debug_logging_works_with_an_in_process_transport(
    config: ClientConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gamify_client")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    with GamifyClient(config=config, http_client=httpx.Client(transport=transport)) as client:
        assert client.tasks.list() == []
    assert "status=200 in an unknown time" in caplog.text
