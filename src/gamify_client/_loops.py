"""Which asyncio event loop, if any, runs in this thread."""

from __future__ import annotations

import asyncio


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None outside a coroutine."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
