"""``python -m bench``: which modules it knows and how it refuses a name it does not."""

from __future__ import annotations

import subprocess
import sys

import pytest
from bench.__main__ import _modules, main


def test_every_bench_module_is_known_by_its_short_name() -> None:
    known = _modules()
    assert known == sorted(known)
    assert {"scale", "server", "propagation"} <= set(known)
    assert not any(name.startswith("bench_") for name in known)


def test_an_unknown_module_is_refused_with_the_known_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench", "scale", "nosuch"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert "nosuch" in str(exit_info.value) and "'scale'" in str(exit_info.value)


def test_the_command_line_refuses_an_unknown_module() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 1
    assert "unknown benchmark module(s): nosuch" in finished.stderr
