"""A check: its name, what it proves, and the function that runs it against a scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._scenario import Scenario


@dataclass(frozen=True, slots=True)
class Check:
    """A named check, what it proves, and the function that runs it (it returns what it
    saw, or raises :class:`CheckFailed`)."""

    name: str
    proves: str
    run: Callable[[Scenario], str] = field(repr=False)


def check(name: str, proves: str) -> Callable[[Callable[[Scenario], str]], Check]:
    """Make the decorated function the check ``name``, which proves ``proves``."""

    def make(run: Callable[[Scenario], str]) -> Check:
        return Check(name, proves, run)

    return make
