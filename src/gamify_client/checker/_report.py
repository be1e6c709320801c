"""What a run gives back: one :class:`CheckResult` per check, gathered in a :class:`CheckReport`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: on a failure ``detail`` says what was expected and what was
    seen; on a pass, what was seen. ``duration`` is in seconds."""

    name: str
    passed: bool
    detail: str
    duration: float

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready values."""
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "duration": round(self.duration, 4),
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check's result, in the order they ran, and what cleaning up could not undo."""

    base_url: str
    results: tuple[CheckResult, ...]
    duration: float
    cleanup_problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that failed."""
        return tuple(result for result in self.results if not result.passed)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values (what ``gamify check --json`` prints)."""
        failed = len(self.failures)
        return {
            "base_url": self.base_url,
            "passed": self.passed,
            "summary": {
                "total": len(self.results),
                "passed": len(self.results) - failed,
                "failed": failed,
            },
            "duration": round(self.duration, 4),
            "checks": [result.to_dict() for result in self.results],
            "cleanup_problems": list(self.cleanup_problems),
        }
