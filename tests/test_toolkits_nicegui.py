"""``examples/nicegui_dashboard.py`` served as its users run it and driven in headless Chromium
(Debian's ``chromium``, started through Playwright's Python API): a submit from another client
must show in two open tabs within a second, a screenshot (PNG) is taken, and closing a tab must
release that tab's queries."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gamify_client import GamifyClient
from gamify_client.testing import DemoData, GamifyBackend

from ._child import ChildProcess

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nicegui_dashboard.py"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LINE_DEADLINE = 30.0
"""Seconds to wait for a line the example is expected to print."""
PAGE_DEADLINE_MS = 10_000
"""How long a tab may take to show its first data."""
LIVE_DEADLINE_S = 1.0
"""How soon after a submit every open tab must show it."""


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Debian chromium binary; skips, saying why, when the package is not installed."""
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return path


@pytest.fixture
def served() -> Iterator[tuple[str, GamifyBackend, DemoData]]:
    """A seeded reference backend on a loopback port: the "deployment" of ``--base-url``."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    with backend.serve() as base_url:
        yield base_url, backend, demo
    backend.close()


def example_environment() -> dict[str, str]:
    """The test's environment, less the variable by which NiceGUI would think it runs inside
    pytest (and wait for a test port): the example runs as its users run it."""
    return {name: value for name, value in os.environ.items() if name != "PYTEST_CURRENT_TEST"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def example(served: tuple[str, GamifyBackend, DemoData]) -> Iterator[tuple[ChildProcess, str]]:
    """The example serving its page against ``served``, logged in as the first learner; gives
    the process and the page's address, and stops the process after the test."""
    base_url, _backend, demo = served
    learner = demo.users[0]
    port = free_port()
    child = ChildProcess(
        [
            sys.executable,
            str(EXAMPLE),
            *("--base-url", base_url, "--email", learner.email, "--password", learner.password),
            *("--admin-id", demo.admin_id, "--batch-id", demo.batch_id),
            *("--port", str(port), "--reconnect-timeout", "0.5"),
        ],
        example_environment(),
        what="the NiceGUI example",
    )
    try:
        child.wait_for(
            lambda line: line.startswith("Pages served on "), "its address", LINE_DEADLINE
        )
        yield child, f"http://127.0.0.1:{port}/"
        assert child.finish(LINE_DEADLINE, signum=signal.SIGINT) == 0, child.lines
    finally:
        child.kill()


@pytest.fixture
def browser(chromium: str) -> Iterator[Any]:
    """Headless Chromium through Playwright, with the system's binary (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def submit(base_url: str, backend: GamifyBackend, user_id: str, task_id: str) -> None:
    """A submission through a client that shares nothing with the example's."""
    with GamifyClient(base_url=base_url, token=backend.token_for(user_id)) as other:
        other.tasks.submit(task_id, user_id=user_id, submission_type="Link", value="https://x.io")


def wait_for_line(child: ChildProcess, text: str) -> None:
    child.wait_for(lambda line: text in line, repr(text), LINE_DEADLINE)


def test_a_submit_shows_in_every_open_tab_within_a_second_and_a_closed_tab_lets_go(
    example: tuple[ChildProcess, str],
    browser: Any,
    served: tuple[str, GamifyBackend, DemoData],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    child, address = example
    base_url, backend, demo = served
    learner = demo.users[0]
    context = browser.new_context(viewport={"width": 900, "height": 900})
    tabs = [context.new_page(), context.new_page()]
    for tab in tabs:
        tab.goto(address)
        expect(tab.locator("#xp")).to_have_text("0", timeout=PAGE_DEADLINE_MS)
        expect(tab.locator("#name")).to_have_text("Uma User")
    wait_for_line(child, "(2 open)")

    submit(base_url, backend, learner.id, demo.task_ids[0])
    submitted = time.monotonic()

    for tab in tabs:
        remaining_ms = max(1.0, (submitted + LIVE_DEADLINE_S - time.monotonic()) * 1000)
        expect(tab.locator("#xp")).to_have_text("100", timeout=remaining_ms)
    assert time.monotonic() - submitted < LIVE_DEADLINE_S
    for tab in tabs:
        expect(tab.locator("#streak")).to_have_text("1 day")
        expect(tab.locator("#completion")).to_have_text("25%")
        expect(tab.locator("#tasks tbody tr").first).to_contain_text("Done")
        expect(tab.locator("#students tbody tr").first).to_contain_text("Uma User")
    expect(tabs[0].locator("#students tbody tr").first).to_contain_text("100")

    image = tmp_path / "nicegui_dashboard.png"
    tabs[0].screenshot(path=str(image), full_page=True)
    assert image.read_bytes().startswith(b"\x89PNG")

    tabs[1].close()
    wait_for_line(child, "Tab closed: its queries are closed (1 open).")
    # The remaining tab still follows the backend.
    submit(base_url, backend, learner.id, demo.task_ids[1])
    expect(tabs[0].locator("#xp")).to_have_text("250", timeout=PAGE_DEADLINE_MS)
    context.close()
    wait_for_line(child, "Tab closed: its queries are closed (0 open).")


def test_the_example_serves_its_reference_backend_with_simulated_activity(
    browser: Any,
) -> None:
    from playwright.sync_api import expect

    port = free_port()
    child = ChildProcess(
        [sys.executable, str(EXAMPLE), "--port", str(port), "--simulate-after", "0.5"],
        example_environment(),
        what="the NiceGUI example",
    )
    try:
        wait_for_line(child, "Pages served on ")
        assert child.lines[0].startswith("Reference backend on http://127.0.0.1:")
        tab = browser.new_page()
        tab.goto(f"http://127.0.0.1:{port}/")
        wait_for_line(child, "Another client submitted a task: +100 XP.")
        expect(tab.locator("#xp")).to_have_text("100", timeout=PAGE_DEADLINE_MS)
        expect(tab.locator("#students")).to_contain_text("Leo Learner")
        tab.close()
        assert child.finish(LINE_DEADLINE, signum=signal.SIGINT) == 0, child.lines
    finally:
        child.kill()
