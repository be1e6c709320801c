"""Ratios measured in interleaved rounds, each printed with its A/A control.

A ratio compares our side with a baseline. Each round times three samples: ours, the
baseline, and the baseline again (the control), in an order that rotates from round to round,
so that a burst of load from elsewhere on the machine falls on every side alike. The ratio is
the median over the rounds of ours over the baseline of the same round; the A/A figure is the
median of the control over the baseline: the same code measured twice, so it shows how far
noise alone moves a ratio (1.00 when the machine is quiet). A ratio closer to 1 than its A/A
figure is to 1 cannot be told from noise.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Ratio", "Side", "measure_ratio", "measure_ratio_async"]


class Side(Enum):
    """What one sample of a round times."""

    OURS = "ours"
    BASELINE = "baseline"
    CONTROL = "control"


_SIDES = (Side.OURS, Side.BASELINE, Side.CONTROL)


def _rounds(rounds: int) -> Iterator[tuple[Side, ...]]:
    """The order of the sides in each round: every side takes every position equally often."""
    for number in range(rounds):
        shift = number % len(_SIDES)
        yield _SIDES[shift:] + _SIDES[:shift]


@dataclass
class Ratio:
    """The samples of one ratio, one per side and round, and the figures they give."""

    name: str
    samples: dict[Side, list[float]] = field(default_factory=lambda: {s: [] for s in _SIDES})

    def add(self, side: Side, seconds: float) -> None:
        """Record one sample (any unit, the same for every side)."""
        self.samples[side].append(seconds)

    def _median_over_baseline(self, side: Side) -> float:
        pairs = zip(self.samples[side], self.samples[Side.BASELINE], strict=True)
        return statistics.median(mine / base for mine, base in pairs)

    @property
    def value(self) -> float:
        """Ours over the baseline: the median of the rounds' ratios."""
        return self._median_over_baseline(Side.OURS)

    @property
    def control(self) -> float:
        """The baseline's second sample over its first: the A/A figure."""
        return self._median_over_baseline(Side.CONTROL)

    def lines(self, digits: int = 3) -> str:
        """``name: value`` and ``name_aa: control``, one line each."""
        return f"{self.name}: {self.value:.{digits}f}\n{self.name}_aa: {self.control:.{digits}f}"


def measure_ratio(
    name: str, ours: Callable[[], float], baseline: Callable[[], float], rounds: int
) -> Ratio:
    """Time ``ours`` and ``baseline`` (each returns one sample) in ``rounds`` interleaved
    rounds, the baseline twice per round."""
    ratio = Ratio(name)
    for order in _rounds(rounds):
        for side in order:
            ratio.add(side, ours() if side is Side.OURS else baseline())
    return ratio


async def measure_ratio_async(
    name: str,
    ours: Callable[[], Awaitable[float]],
    baseline: Callable[[], Awaitable[float]],
    rounds: int,
) -> Ratio:
    """:func:`measure_ratio` for coroutine functions, on the running loop."""
    ratio = Ratio(name)
    for order in _rounds(rounds):
        for side in order:
            ratio.add(side, await (ours() if side is Side.OURS else baseline()))
    return ratio
