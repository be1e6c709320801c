"""``gamify check``: prove that a deployment keeps the contract's real-time promises.

:func:`run_checks` plays the seed's ``test_realtime_updates.js`` against any base URL (the
real Express service or the reference backend) with real assertions: it registers its own
throwaway admin, mentor and users, makes a batch, a category and tasks, submits, enrols,
grades and sends feedback, and after every write reads the data back through every route
that must show it at once. Each check gives one :class:`CheckResult`; a failed one says
what it expected and what it saw.

The real service's known defects (``CONTRACT.md``) make their checks fail on purpose, among
them ``task.create_succeeds`` (a create that answers 500 after writing),
``submit.xp_added_once`` (double XP), ``enroll.succeeds`` (an enrol that answers 500 after
writing), ``grade.entry_without_submission`` (grading finds only entries with a
Submission) and ``feedback.shows_in_satisfaction`` (the average rating as a string); the
CLI page lists all sixteen.
"""

from __future__ import annotations

from ._check import Check
from ._failures import CheckFailed, DeploymentUnreachableError
from ._report import CheckReport, CheckResult
from ._runner import CHECKS, run_checks

__all__ = [
    "CHECKS",
    "Check",
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "DeploymentUnreachableError",
    "run_checks",
]
