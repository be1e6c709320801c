"""How a check fails: the exceptions, the detail that names a failed request, and a
collector that fails a check with every mismatch it found at once."""

from __future__ import annotations

from ..errors import APIStatusError, GamifyError, ResponseValidationError


class DeploymentUnreachableError(Exception):
    """No HTTP answer at all came from the base URL, so no check could run."""


class CheckFailed(Exception):
    """Raised inside a check: ``detail`` says what was expected and what was seen."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def describe(error: GamifyError) -> str:
    """What went wrong, naming the request: the detail a failed check shows."""
    if isinstance(error, APIStatusError):
        request = error.response.request
        return f"{request.method} {request.url.path} answered {error.status_code}: {error.message}"
    if isinstance(error, ResponseValidationError):
        request = error.response.request
        return (
            f"{request.method} {request.url.path} answered {error.status_code} with a body "
            f"that breaks the contract: {error.message}"
        )
    return str(error)


class Problems:
    """The mismatches one check found, in the order found; :meth:`raise_any` fails the check
    with all of them, so one run shows every broken promise, not just the first."""

    def __init__(self) -> None:
        self._found: list[str] = []

    def add(self, detail: str) -> None:
        """Note a mismatch described in full."""
        self._found.append(detail)

    def expect(self, what: str, expected: object, seen: object) -> None:
        """Note a mismatch when ``seen`` differs from ``expected``."""
        if expected != seen:
            self._found.append(f"{what}: expected {expected!r}, saw {seen!r}")

    def raise_any(self) -> None:
        """Raise :class:`CheckFailed` with every mismatch noted, if there is one."""
        if self._found:
            raise CheckFailed("; ".join(self._found))
