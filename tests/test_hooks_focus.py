"""The focus and online managers: flags with listeners, wired by a frontend."""

from __future__ import annotations

import pytest

from gamify_client.focus import FocusManager, OnlineManager


def test_both_flags_start_true_and_notify_only_on_change() -> None:
    focus, online = FocusManager(), OnlineManager()
    assert focus.focused
    assert online.online
    heard: list[tuple[str, bool]] = []
    focus.subscribe(lambda value: heard.append(("focus", value)))
    online.subscribe(lambda value: heard.append(("online", value)))
    focus.set_focused(True)
    online.set_online(False)
    online.set_online(False)
    focus.set_focused(False)
    online.set_online(True)
    assert heard == [("online", False), ("focus", False), ("online", True)]
    assert not focus.focused
    assert online.online


def test_unsubscribe_is_idempotent() -> None:
    focus = FocusManager()
    heard: list[bool] = []
    unsubscribe = focus.subscribe(heard.append)
    assert focus.listener_count() == 1
    unsubscribe()
    unsubscribe()
    assert focus.listener_count() == 0
    focus.set_focused(False)
    assert heard == []


def test_a_raising_listener_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    online = OnlineManager()
    heard: list[bool] = []

    def broken(_value: bool) -> None:
        raise RuntimeError("broken listener")

    online.subscribe(broken)
    online.subscribe(heard.append)
    online.set_online(False)
    assert heard == [False]
    assert "online listener raised" in caplog.text
