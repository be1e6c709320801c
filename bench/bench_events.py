"""Event manager: the cost of an emit.

``emit_ratio`` is ``EventManager.emit`` with 10 listeners over a bare ``blinker.Signal.send``
with 10 receivers, measured in interleaved rounds (target: at most 1.5); ``emit_ratio_aa`` is
its A/A control (see ``bench/_interleave.py``).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import blinker

from bench._interleave import Ratio, measure_ratio
from gamify_client.events import Event, EventManager

LISTENERS = 10
ROUNDS = 7
REPEATS = 5
EMITS = 20_000
PAYLOAD = {"taskId": "65f1c0ffee0000000000beef", "pointsEarned": 100}


def _best(timer: timeit.Timer) -> float:
    """The fastest of REPEATS runs of EMITS calls, in seconds per call."""
    return min(timer.repeat(repeat=REPEATS, number=EMITS)) / EMITS


def _make_receiver() -> Callable[..., None]:
    """A new blinker receiver that does nothing (blinker keys receivers by identity)."""

    def receive(sender: Any, **payload: Any) -> None:
        pass

    return receive


def _listener(payload: Any) -> None:
    """A listener that does nothing."""


def emit_ratio() -> Ratio:
    """Best-of-REPEATS ``emit`` over bare ``send``, in ROUNDS interleaved rounds."""
    bare = blinker.Signal()
    events = EventManager()
    for _ in range(LISTENERS):
        bare.connect(_make_receiver(), weak=False)
        events.subscribe(Event.TASK_COMPLETED, _listener)
    bare_send = timeit.Timer(
        "send(None, payload=payload)", globals={"send": bare.send, "payload": PAYLOAD}
    )
    emit = timeit.Timer(
        "emit(event, payload)",
        globals={"emit": events.emit, "event": Event.TASK_COMPLETED, "payload": PAYLOAD},
    )
    return measure_ratio("emit_ratio", lambda: _best(emit), lambda: _best(bare_send), ROUNDS)


def main() -> None:
    """Print ``emit_ratio`` and its A/A control."""
    print(emit_ratio().lines(digits=2))


if __name__ == "__main__":
    main()
