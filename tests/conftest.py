"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gamify_client import ClientConfig
from gamify_client.testing import DemoData, GamifyBackend

BASE_URL = "http://gamify.test"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """pytest-qt imports Qt's GUI modules as pytest starts, and that fails on a machine without
    Qt's system libraries (libEGL, libxkbcommon, ...), which would stop the whole suite. There
    the plugin is dropped before it starts; tests/test_toolkits_qt.py then skips and names the
    missing package."""
    try:
        import PySide6.QtGui  # noqa: F401
    except ImportError:
        plugin = pluginmanager.get_plugin("pytest-qt")
        if plugin is not None:
            pluginmanager.unregister(plugin)


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


@pytest.fixture
def backend() -> Iterator[GamifyBackend]:
    """A fresh reference backend (a module may override it, e.g. with a movable clock)."""
    with GamifyBackend() as backend:
        yield backend


@pytest.fixture
def demo(backend: GamifyBackend) -> DemoData:
    """The demo organisation seeded into ``backend``."""
    return backend.seed_demo()


@pytest.fixture
def api(backend: GamifyBackend) -> Iterator[httpx.Client]:
    """Raw httpx to ``backend`` in-process, for tests of the backend itself."""
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as client:
        yield client
