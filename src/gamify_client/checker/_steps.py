"""Setup steps that run once and reads taken before a write. Each keeps its failure, so only
the checks that need it fail, all with the same detail, and the others still run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from ..errors import GamifyError
from ._failures import CheckFailed, describe

T = TypeVar("T")


class Steps:
    """The outcome of each setup step a run has needed so far, by what the step does."""

    def __init__(self) -> None:
        self._outcomes: dict[str, object] = {}
        self._failures: dict[str, str] = {}

    def once(self, what: str, produce: Callable[[], T]) -> T:
        """Run the step ``what`` the first time it is needed; afterwards give its result, or
        fail again with its first failure."""
        if what in self._failures:
            raise CheckFailed(self._failures[what])
        if what not in self._outcomes:
            try:
                self._outcomes[what] = produce()
            except CheckFailed as failure:
                self._failures[what] = failure.detail
                raise
            except GamifyError as error:
                self._failures[what] = f"could not {what}: {describe(error)}"
                raise CheckFailed(self._failures[what]) from error
        return cast(T, self._outcomes[what])

    def succeeded(self, what: str) -> bool:
        """True when the step ``what`` has run and succeeded."""
        return what in self._outcomes


@dataclass(frozen=True, slots=True)
class Read(Generic[T]):
    """A read taken before a write, kept with its error so only the checks that need it fail."""

    what: str
    value: T | None = None
    error: str | None = None

    def get(self) -> T:
        """The value read, or :class:`CheckFailed` naming why it could not be read."""
        if self.error is not None:
            raise CheckFailed(f"could not read {self.what} before the write: {self.error}")
        return cast(T, self.value)


def read(what: str, fetch: Callable[[], T]) -> Read[T]:
    """Fetch ``what`` now, keeping an API error for later instead of raising it."""
    try:
        return Read(what, value=fetch())
    except GamifyError as error:
        return Read(what, error=describe(error))
