"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from gamify_client import ClientConfig

BASE_URL = "http://gamify.test"


@pytest.fixture(autouse=True)
def _no_gamify_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's GAMIFY_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith("GAMIFY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def config() -> ClientConfig:
    """Settings for tests: a fake host, no write delay, instant retries."""
    return ClientConfig(
        base_url=BASE_URL, task_completion_delay=0, retry_backoff=0, retry_backoff_max=0
    )
