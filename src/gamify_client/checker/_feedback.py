"""Feedback checks: feedback a learner sends their mentor (``POST /api/feedback/submit``, as
the dashboard sends it) and feedback the mentor sends a learner (``POST
/api/feedback/mentor/:userId``, as the analytics page sends it) show at once in the
recipient's feedback lists and satisfaction."""

from __future__ import annotations

from dataclasses import dataclass

from ._accounts import Account
from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._lookups import ref_id
from ._scenario import Scenario

_RATING = 4
_TASK_RATING = 5
_MENTOR_RATING = 3


def _mean(ratings: list[float]) -> float:
    """The mean rating to two decimals, as satisfaction gives it; :class:`CheckFailed` when
    there is none to average."""
    if not ratings:
        raise CheckFailed("expected received feedback to average, saw none")
    return round(sum(ratings) / len(ratings), 2)


@dataclass(frozen=True, slots=True)
class Sent:
    """Feedback the learner sent the mentor: one general, one about a task."""

    learner: Account
    general_id: str
    task_feedback_id: str
    task_id: str


def sent(scenario: Scenario) -> Sent:
    """The learner's two feedbacks to the batch's mentor, sent once."""
    return scenario.once("send the mentor feedback", lambda: _send(scenario))


def _send(scenario: Scenario) -> Sent:
    accounts, batch = scenario.accounts(), scenario.batch()
    task = scenario.fillers()[0].task
    learner = scenario.enrolled_learner("feedback-learner")
    feedback = learner.client.feedback
    general = feedback.submit(
        from_user=learner.user_id,
        to_user=accounts.mentor.user_id,
        batch=batch.id,
        content="Clear explanations, quick answers.",
        rating=_RATING,
    )
    about_task = feedback.submit(
        from_user=learner.user_id,
        to_user=accounts.mentor.user_id,
        batch=batch.id,
        task=task.id,
        content="The task's brief was easy to follow.",
        rating=_TASK_RATING,
    )
    return Sent(learner, general.data.id, about_task.data.id, task.id)


def mentor_sent(scenario: Scenario) -> tuple[Account, str]:
    """The feedback learner, and the id of the feedback the mentor sent them."""
    return scenario.once("send the learner mentor feedback", lambda: _send_mentor(scenario))


def _send_mentor(scenario: Scenario) -> tuple[Account, str]:
    mentor, batch = scenario.accounts().mentor, scenario.batch()
    learner = scenario.enrolled_learner("feedback-learner")
    result = mentor.client.feedback.submit_mentor(
        learner.user_id,
        batch=batch.id,
        rating=_MENTOR_RATING,
        content="Good progress this week; keep the pace.",
    )
    return learner, result.data.id


@check(
    "feedback.shows_in_received",
    "Feedback a learner sends their mentor (POST /api/feedback/submit) shows at once in the "
    "mentor's GET /api/feedback/to/:userId, with its sender, batch, rating and content.",
)
def _in_received(scenario: Scenario) -> str:
    done, mentor = sent(scenario), scenario.accounts().mentor
    received = {f.id: f for f in mentor.client.feedback.received(mentor.user_id)}
    problems = Problems()
    for what, feedback_id, rating in (
        ("the general feedback", done.general_id, _RATING),
        ("the task feedback", done.task_feedback_id, _TASK_RATING),
    ):
        shown = received.get(feedback_id)
        if shown is None:
            problems.add(f"{what}: expected it among the mentor's, saw {len(received)} without it")
            continue
        problems.expect(
            f"{what} (sender, batch, rating)",
            (done.learner.user_id, scenario.batch().id, rating),
            (ref_id(shown.from_user), ref_id(shown.batch), shown.rating),
        )
    problems.raise_any()
    return f"both feedbacks among the mentor's {len(received)}"


@check(
    "feedback.keeps_task",
    "Feedback sent with a task through POST /api/feedback/submit keeps it: it shows in the "
    "recipient's task feedback (GET /api/feedback/task/:userId) with the task, not in their "
    "mentor feedback (GET /api/feedback/mentor/:userId).",
)
def _keeps_task(scenario: Scenario) -> str:
    done, mentor = sent(scenario), scenario.accounts().mentor
    feedback = mentor.client.feedback
    about_tasks = {f.id: f for f in feedback.task(mentor.user_id)}
    general = {f.id for f in feedback.mentor(mentor.user_id)}
    problems = Problems()
    shown = about_tasks.get(done.task_feedback_id)
    if shown is None:
        problems.add("GET /api/feedback/task/:userId: expected the task feedback, saw it missing")
    else:
        problems.expect("its task", done.task_id, ref_id(shown.task))
    if done.task_feedback_id in general:
        problems.add(
            "GET /api/feedback/mentor/:userId: expected the task feedback absent, saw it "
            "counted as mentor feedback"
        )
    if done.general_id not in general:
        problems.add("GET /api/feedback/mentor/:userId: expected the general feedback, saw none")
    problems.raise_any()
    return "the task feedback with its task, the general one as mentor feedback"


@check(
    "feedback.shows_in_satisfaction",
    "The recipient's GET /api/feedback/satisfaction/:userId answers averageRating as a JSON "
    "number: the mean rating of the feedback they received.",
)
def _in_satisfaction(scenario: Scenario) -> str:
    sent(scenario)
    mentor = scenario.accounts().mentor
    ratings = [f.rating for f in mentor.client.feedback.received(mentor.user_id)]
    expected = _mean(ratings)
    body = scenario.session.get_json(
        f"/api/feedback/satisfaction/{mentor.user_id}", mentor.client.token
    )
    average = body.get("averageRating") if isinstance(body, dict) else None
    if isinstance(average, bool) or not isinstance(average, int | float):
        raise CheckFailed(
            f"averageRating: expected the number {expected:g}, saw {average!r} (a client "
            "that adds or compares it gets a string)"
        )
    if round(average, 2) != expected:
        raise CheckFailed(f"averageRating: expected {expected:g}, saw {average:g}")
    return f"averageRating {average:g} over {len(ratings)} ratings"


@check(
    "feedback.mentor_shows_in_mentor_feedback",
    "Feedback the mentor sends a learner (POST /api/feedback/mentor/:userId) shows at once "
    "in the learner's mentor feedback and timeline, from the mentor and without a task, and "
    "in their satisfaction.",
)
def _mentor_feedback(scenario: Scenario) -> str:
    learner, feedback_id = mentor_sent(scenario)
    mentor = scenario.accounts().mentor
    feedback = learner.client.feedback
    problems = Problems()
    for route, listed in (
        ("GET /api/feedback/mentor/:userId", feedback.mentor(learner.user_id)),
        ("GET /api/feedback/timeline/:userId", feedback.timeline(learner.user_id)),
    ):
        shown = next((f for f in listed if f.id == feedback_id), None)
        if shown is None:
            problems.add(f"{route}: expected the mentor's feedback, saw {len(listed)} without it")
            continue
        problems.expect(
            f"{route} (sender, rating, task)",
            (mentor.user_id, _MENTOR_RATING, None),
            (ref_id(shown.from_user), shown.rating, ref_id(shown.task)),
        )
    expected = _mean([f.rating for f in feedback.received(learner.user_id)])
    problems.expect("satisfaction", expected, round(feedback.satisfaction(learner.user_id), 2))
    problems.raise_any()
    return f"in the learner's mentor feedback, satisfaction {expected:g}"


CHECKS: tuple[Check, ...] = (_in_received, _keeps_task, _in_satisfaction, _mentor_feedback)
"""This module's checks, in the order they run."""
