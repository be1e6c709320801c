"""The demo's last words: what each write reached, and what it cost."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ._tracker import MutationOutcome, format_ms


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """The day in figures.

    ``refetches`` counts the fetches the writes caused (each one request), ``deduplicated``
    the fetches that joined one already in flight for the same key instead of sending their
    own request, ``views`` the last line each view showed.
    """

    outcomes: tuple[MutationOutcome, ...]
    refetches: int
    deduplicated: int
    duration: float
    views: tuple[str, ...]

    @property
    def all_updated(self) -> bool:
        """Every write succeeded and every view it affects showed it."""
        return all(outcome.complete for outcome in self.outcomes)

    @property
    def median_latency(self) -> float | None:
        """The median time from a write's answer until every view it affects showed it."""
        latencies = [o.latency for o in self.outcomes if o.latency is not None]
        return statistics.median(latencies) if latencies else None

    def lines(self, *, with_views: bool = True) -> list[str]:
        """The summary, as lines of text; ``with_views`` starts with the views' last lines."""
        lines = []
        if with_views:
            lines = ["Dashboards at the end of the day:", *(f"  {view}" for view in self.views)]
        if self.all_updated:
            lines.append("Every write reached every view it affects:")
        else:
            missed = sum(not outcome.complete for outcome in self.outcomes)
            lines.append(f"{missed} of {len(self.outcomes)} writes did not reach every view:")
        lines += [f"  {outcome.line()}" for outcome in self.outcomes]
        median = self.median_latency
        lines.append(
            f"Done in {self.duration:.1f} s: {len(self.outcomes)} mutations, "
            f"{self.refetches} refetches, {self.deduplicated} requests saved by deduplication."
        )
        if median is not None:
            lines.append(
                f"Median time from a mutation's response until every affected view showed it: "
                f"{format_ms(median)}."
            )
        return lines
