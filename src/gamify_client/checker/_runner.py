"""Which checks run, in what order, and running them: one result each, then the clean-up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx

from .._logging import safe_url
from ..config import ClientConfig
from ..errors import GamifyError
from . import (
    _auth,
    _batches,
    _categories,
    _enrolment,
    _feedback,
    _grading,
    _progress_submit,
    _submissions,
    _tasks,
)
from ._check import Check
from ._failures import CheckFailed, describe
from ._report import CheckReport, CheckResult
from ._scenario import Scenario
from ._session import Login, Session

CHECKS: tuple[Check, ...] = (
    *_auth.CHECKS,
    *_batches.CHECKS,
    *_tasks.CHECKS,
    *_submissions.CHECKS,
    *_progress_submit.CHECKS,
    # Last: their learners enrol after the checked task exists, so the task checks count
    # only the run's first users.
    *_enrolment.CHECKS,
    *_categories.CHECKS,
    *_grading.CHECKS,
    *_feedback.CHECKS,
)
"""Every check, in the order :func:`run_checks` runs them."""


def _select(names: Iterable[str] | None) -> tuple[Check, ...]:
    """The checks named (all when ``names`` is None); ``ValueError`` for an unknown name."""
    if names is None:
        return CHECKS
    wanted = set(names)
    unknown = wanted - {check.name for check in CHECKS}
    if unknown:
        known = ", ".join(check.name for check in CHECKS)
        raise ValueError(f"unknown check(s) {sorted(unknown)}; known: {known}")
    # The order stays that of CHECKS: later checks read state that earlier writes made.
    return tuple(check for check in CHECKS if check.name in wanted)


def _run_one(check: Check, scenario: Scenario) -> CheckResult:
    """Run one check; a failure, an API error or no answer becomes a failed result."""
    started = time.perf_counter()
    try:
        seen = check.run(scenario)
    except CheckFailed as failure:
        return CheckResult(check.name, False, failure.detail, time.perf_counter() - started)
    except GamifyError as error:
        return CheckResult(check.name, False, describe(error), time.perf_counter() - started)
    except httpx.TransportError as error:
        where = safe_url(scenario.session.base_url)
        detail = f"no answer from {where}: {error or type(error).__name__}"
        return CheckResult(check.name, False, detail, time.perf_counter() - started)
    return CheckResult(check.name, True, seen, time.perf_counter() - started)


def run_checks(
    base_url: str,
    *,
    token: str | None = None,
    admin_email: str | None = None,
    admin_password: str | None = None,
    timeout: float = 10.0,
    checks: Iterable[str] | None = None,
    cleanup: bool = True,
    http_client: httpx.Client | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> CheckReport:
    """Run the checks (all, or those named in ``checks``) against ``base_url``.

    By default the run registers its own throwaway accounts; pass an admin's ``token``, or
    ``admin_email`` and ``admin_password``, to act as that admin instead. ``on_result`` is
    called after each check. With ``cleanup`` the tasks and batch the run made are deleted
    at the end. Raises :class:`DeploymentUnreachableError` when ``GET /`` gets no HTTP answer,
    and ``ValueError`` for contradictory options, an unknown check or a malformed URL.
    """
    if (admin_email is None) != (admin_password is None):
        raise ValueError("admin_email and admin_password go together")
    if token is not None and admin_email is not None:
        raise ValueError("give either a token or an admin email and password, not both")
    selected = _select(checks)
    config = ClientConfig(
        base_url=base_url, timeout=timeout, max_retries=0, task_completion_delay=0
    )
    http = http_client or httpx.Client(timeout=timeout)
    started = time.perf_counter()
    session = Session(config, http, Login(token, admin_email, admin_password))
    scenario = Scenario(session)
    try:
        session.probe()
        results = []
        for check in selected:
            result = _run_one(check, scenario)
            results.append(result)
            if on_result is not None:
                on_result(result)
        problems = scenario.clean_up() if cleanup else ()
    finally:
        session.close()
        if http_client is None:
            http.close()
    return CheckReport(config.base_url, tuple(results), time.perf_counter() - started, problems)
