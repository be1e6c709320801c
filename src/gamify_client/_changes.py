"""Whether new data replaces old: the test that decides who is called back."""

from __future__ import annotations

from typing import Any


def differs(old: Any, new: Any) -> bool:
    """Whether ``new`` replaces ``old``; identity first (unchanged answers share their objects),
    and a comparison that fails counts as a change."""
    if old is new:
        return False
    try:
        return bool(old != new)
    except Exception:
        return True
