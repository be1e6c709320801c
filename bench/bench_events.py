"""Event manager: the cost of an emit.

``emit_ratio`` is ``EventManager.emit`` with 10 listeners over a bare ``blinker.Signal.send``
with 10 receivers, measured in the same run (target: at most 1.5).
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

import blinker

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


def emit_ratio() -> float:
    """The median over ROUNDS of best-of-REPEATS ``emit`` / bare ``send``, interleaved."""
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
    ratios = [_best(emit) / _best(bare_send) for _ in range(ROUNDS)]
    return statistics.median(ratios)


def main() -> None:
    """Print ``emit_ratio``."""
    print(f"emit_ratio: {emit_ratio():.2f}")


if __name__ == "__main__":
    main()
