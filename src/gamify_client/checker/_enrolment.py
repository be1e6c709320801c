"""Enrolment checks (``POST /api/batches/:id/enroll``, as the frontend's user journey makes
it: a user enrols themselves): the enrol succeeds, the batch moves from the user's
available batches to their enrolled ones, and their dashboard shows it at once."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Batch, Dashboard
from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._lookups import batch_entry, ref_id
from ._scenario import Enrolment, Scenario
from ._steps import Read, read

_ROLE = "enrollee"


@dataclass(frozen=True, slots=True)
class SelfEnrolment:
    """A fresh user's enrolment at their own request, with what they saw just before it."""

    enrolment: Enrolment
    available_before: Read[list[Batch]]
    enrolled_before: Read[list[Batch]]
    dashboard_before: Read[Dashboard]


def self_enrolled(scenario: Scenario) -> SelfEnrolment:
    """The fresh user, enrolled by their own request once the batch's first tasks exist."""
    return scenario.once("enrol a new user at their own request", lambda: _self_enrol(scenario))


def _self_enrol(scenario: Scenario) -> SelfEnrolment:
    scenario.fillers()
    user = scenario.learner(_ROLE)
    batches = user.client.batches
    available = read("the user's available batches", batches.available)
    enrolled = read("the user's enrolled batches", batches.enrolled)
    dashboard = read("the user's dashboard", user.client.progress.dashboard)
    return SelfEnrolment(scenario.enrol(user, user), available, enrolled, dashboard)


def _ids(batches: list[Batch]) -> list[str]:
    return [batch.id for batch in batches]


@check(
    "enroll.succeeds",
    "A user's own POST /api/batches/:id/enroll answers 200 with success: true and the batch "
    "listing them. The real frontend refreshes its views only on success: true, and a "
    "client that retries the real service's 500 gets 400 'User is already enrolled'.",
)
def _enrol_succeeds(scenario: Scenario) -> str:
    enrolment = self_enrolled(scenario).enrolment
    if enrolment.failure is not None:
        raise CheckFailed(
            "expected 200 with success: true and the batch, saw "
            f"{enrolment.failure.status_code} {enrolment.failure.message!r}; yet the user was "
            "enrolled (GET /api/batches/:id lists them), so a client that retries this POST "
            "gets 400 'User is already enrolled in this batch'"
        )
    assert enrolment.result is not None
    body = enrolment.result.body
    problems = Problems()
    has_success = isinstance(body, dict) and "success" in body
    if not has_success or body["success"] is not True:
        shown = f"success: {body['success']!r}" if has_success else "no success field"
        problems.add(
            f"expected success: true in the answer (the frontend waits for it before it "
            f"refreshes), saw {shown}"
        )
    members = [ref_id(user) for user in enrolment.result.data.users]
    if enrolment.user.user_id not in members:
        problems.add(f"the answer's batch users: expected the user among them, saw {members}")
    problems.raise_any()
    return f"success: true, {len(members)} users in the answer's batch"


@check(
    "enroll.shows_in_enrolled_batches",
    "After enrolling, the batch shows at once in the user's GET /api/batches/user and "
    "GET /api/batches, and no longer in their GET /api/batches/available, where it was "
    "listed before.",
)
def _enrol_in_listings(scenario: Scenario) -> str:
    enrolled = self_enrolled(scenario)
    batches = enrolled.enrolment.user.client.batches
    batch_id = scenario.batch().id
    problems = Problems()
    if batch_id not in _ids(enrolled.available_before.get()):
        problems.add(
            "GET /api/batches/available before the enrolment: expected the batch of the "
            "user's admin, saw it missing"
        )
    if batch_id in _ids(enrolled.enrolled_before.get()):
        problems.add("GET /api/batches/user before the enrolment: expected no batch, saw it")
    for route, listed in (
        ("GET /api/batches/user", _ids(batches.enrolled())),
        ("GET /api/batches", _ids(batches.list())),
    ):
        if batch_id not in listed:
            problems.add(
                f"{route} after the enrolment: expected batch {batch_id}, saw {len(listed)} "
                "batches without it"
            )
    if batch_id in _ids(batches.available()):
        problems.add(
            "GET /api/batches/available after the enrolment: expected the batch gone, saw it"
        )
    problems.raise_any()
    return "moved from available to enrolled batches"


@check(
    "enroll.shows_in_dashboard",
    "After enrolling, the user's dashboard counts one more batch and shows its progress: one "
    "not_started entry per task of the batch.",
)
def _enrol_in_dashboard(scenario: Scenario) -> str:
    enrolled = self_enrolled(scenario)
    user = enrolled.enrolment.user
    before = enrolled.dashboard_before.get()
    after = user.client.progress.dashboard()
    batch = scenario.anonymous.batches.get(scenario.batch().id)
    task_ids = sorted(filter(None, (ref_id(task) for task in batch.tasks)))
    problems = Problems()
    problems.expect(
        "overallStats.totalBatches",
        before.overall_stats.total_batches + 1,
        after.overall_stats.total_batches,
    )
    progress = batch_entry(after, batch.id)
    if progress is None:
        problems.add("batchProgress: expected the batch's progress, saw none")
    else:
        entries = sorted(filter(None, (ref_id(e.task_id) for e in progress.task_progress)))
        problems.expect("the batch's task entries", task_ids, entries)
        statuses = sorted({e.status for e in progress.task_progress} - {"not_started"})
        if statuses:
            problems.add(f"the batch's entries: expected every one not_started, saw {statuses}")
    problems.raise_any()
    return f"dashboard shows the batch with {len(task_ids)} not_started entries"


CHECKS: tuple[Check, ...] = (_enrol_succeeds, _enrol_in_listings, _enrol_in_dashboard)
"""This module's checks, in the order they run."""
