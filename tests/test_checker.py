"""The checker against the reference backend: every check passes on a faithful deployment,
and each injected defect fails exactly the checks that name it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gamify_client.checker import (
    CHECKS,
    CheckReport,
    CheckResult,
    DeploymentUnreachableError,
    run_checks,
)
from gamify_client.testing import KNOWN_DEFECTS, Defect, GamifyBackend

IN_PROCESS_URL = "http://gamify.test"
ALL_NAMES = [check.name for check in CHECKS]
NEW_CHECKS = (
    "enroll.succeeds",
    "enroll.shows_in_enrolled_batches",
    "enroll.shows_in_dashboard",
    "category.create_without_emoji",
    "category.create_reflected_in_list",
    "category.task_reflected_in_category",
    "grade.shows_in_task_management",
    "grade.shows_in_performance",
    "grade.shows_in_learner_progress",
    "grade.entry_without_submission",
    "feedback.shows_in_received",
    "feedback.keeps_task",
    "feedback.shows_in_satisfaction",
    "feedback.mentor_shows_in_mentor_feedback",
)
"""The checks of the enrol, category, grading and feedback writes."""
SETUP_CHECKS = {"liveness", "auth.no_token_401", "auth.bad_token_403"}


def check_in_process(backend: GamifyBackend, **options: Any) -> CheckReport:
    """Run the checks over the backend's in-process transport (no socket)."""
    with httpx.Client(transport=backend.transport()) as http:
        return run_checks(IN_PROCESS_URL, http_client=http, **options)


def failed(report: CheckReport) -> dict[str, str]:
    return {result.name: result.detail for result in report.failures}


def test_every_check_passes_against_the_reference_backend_over_a_socket(
    backend: GamifyBackend,
) -> None:
    with backend.serve() as base_url:
        report = run_checks(base_url)

    assert failed(report) == {}
    assert report.passed
    assert [result.name for result in report.results] == ALL_NAMES
    assert report.base_url == base_url
    assert report.cleanup_problems == ()


def test_the_checks_named_in_the_brief_exist() -> None:
    assert {
        "liveness",
        "auth.no_token_401",
        "auth.bad_token_403",
        "batch.create_reflected_in_batches",
        "batch.enroll_reflected_in_progress",
        "task.create_reflected_in_tasks",
        "task.create_reflected_in_batch_progress",
        "task.create_reflected_in_every_dashboard",
        "task.create_real_time_data",
        "submit.xp_updated",
        "submit.xp_added_once",
        "submit.streak",
        "submit.completion_percentage",
        "submit.activity_logged",
        "submit.real_time_data",
        "submit.second_submit_rejected",
        *NEW_CHECKS,
    } <= set(ALL_NAMES)
    assert len(set(ALL_NAMES)) == len(ALL_NAMES)
    assert all(check.proves for check in CHECKS)


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        pytest.param(
            "xp_not_updated",
            {
                "submit.xp_updated": "expected xps to grow from 0 by the task's 120 points to 120, "
                "saw 0",
                "submit.xp_added_once": "added 0 times",
                "progress_submit.updates_xp_and_progress": "xps: expected 120, saw 0",
            },
            id="xp_not_updated",
        ),
        pytest.param(
            "double_xp",
            {
                "submit.xp_added_once": "expected xps 0 + 120 = 120, saw 240 "
                "(the points were added 2 times)"
            },
            id="double_xp",
        ),
        pytest.param(
            "submit_no_streak",
            {"submit.real_time_data": "currentStreak: expected 1, saw no currentStreak at all"},
            id="submit_no_streak",
        ),
        pytest.param(
            "task_create_500",
            {
                "task.create_succeeds": "saw 500 'Failed to create task'; yet the task was written",
                "task.create_real_time_data": "the create answered 500",
            },
            id="task_create_500",
        ),
        pytest.param(
            "enroll_populate_500",
            {
                "enroll.succeeds": "expected 200 with success: true and the batch, saw 500 "
                "'Failed to enroll user'; yet the user was enrolled"
            },
            id="enroll_populate_500",
        ),
        pytest.param(
            "no_success_flag",
            {"enroll.succeeds": "expected success: true in the answer"},
            id="no_success_flag",
        ),
        pytest.param(
            "user_batches_empty",
            {
                "enroll.shows_in_enrolled_batches": "GET /api/batches after the enrolment: "
                "expected batch"
            },
            id="user_batches_empty",
        ),
        pytest.param(
            "category_emoji_required",
            {
                # 400 while validation_500 is fixed, 500 as on the real service with it on.
                "category.create_without_emoji": "every category the frontend creates fails "
                "this way"
            },
            id="category_emoji_required",
        ),
        pytest.param(
            "tracker_status_labels",
            {
                "grade.shows_in_task_management": "the row's status before grading: expected "
                "'Submitted', saw 'Graded'; the row's status after grading: expected 'Graded', "
                "saw 'In Progress'"
            },
            id="tracker_status_labels",
        ),
        pytest.param(
            "grade_by_submission_only",
            {
                "grade.entry_without_submission": "POST /api/mentor/grade-submission answered "
                "404: Submission not found"
            },
            id="grade_by_submission_only",
        ),
        pytest.param(
            "feedback_task_dropped",
            {
                "feedback.keeps_task": "GET /api/feedback/task/:userId: expected the task "
                "feedback, saw it missing; GET /api/feedback/mentor/:userId: expected the task "
                "feedback absent, saw it counted as mentor feedback"
            },
            id="feedback_task_dropped",
        ),
        pytest.param(
            "graded_not_completed",
            {
                "grade.shows_in_learner_progress": "completedTasks (graded counts as "
                "completed): expected 1, saw 0",
                "progress_submit.updates_xp_and_progress": "completionPercentage: expected 33",
            },
            id="graded_not_completed",
        ),
        pytest.param(
            "satisfaction_string",
            {"feedback.shows_in_satisfaction": "expected the number 4.5, saw '4.50'"},
            id="satisfaction_string",
        ),
    ],
)
def test_a_defect_fails_exactly_its_checks_over_a_socket(
    defect: Defect, expected: dict[str, str]
) -> None:
    with GamifyBackend(defects=[defect]) as backend, backend.serve() as base_url:
        report = run_checks(base_url)

    failures = failed(report)
    assert set(failures) == set(expected)
    for name, fragment in expected.items():
        assert fragment in failures[name]
    assert len(report.results) == len(CHECKS)


def test_a_create_that_answers_500_after_writing_is_found_and_never_repeated(
    backend: GamifyBackend,
) -> None:
    backend.defects.add("task_create_500")

    report = check_in_process(backend, cleanup=False)

    creates = [r for r in backend.requests if r.method == "POST" and r.path == "/api/task/create"]
    assert len(creates) == 3  # two tasks before enrolment, then the checked one; no retries
    names = [task["name"] for task in backend_tasks(backend)]
    assert len(names) == len(set(names)) == 3
    assert "it is in GET /api/task/all as" in failed(report)["task.create_succeeds"]


def predicted_real_service_failures() -> dict[str, str]:
    """The FAIL lines docs/cli.md predicts for the real service, by check name."""
    text = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("### Against the real service", 1)[1].split("### ", 1)[0]
    return dict(re.findall(r"^FAIL ([\w.]+): (.*)$", section, re.MULTILINE))


def test_the_real_services_defects_fail_the_checks_the_docs_predict() -> None:
    real_service = sorted(KNOWN_DEFECTS - {"xp_not_updated"})
    with GamifyBackend(defects=real_service) as backend:
        report = check_in_process(backend)

    predicted = predicted_real_service_failures()
    failures = failed(report)
    assert set(failures) == set(predicted)
    assert len(predicted) == 16
    for name, detail in predicted.items():
        # Ids differ from run to run; the rest of each line is what the run says.
        assert re.sub("[0-9a-f]{24}", "<id>", failures[name]) == re.sub(
            "[0-9a-f]{24}", "<id>", detail
        )


def test_an_enrol_that_answers_500_after_writing_is_never_repeated(
    backend: GamifyBackend,
) -> None:
    backend.defects.add("enroll_populate_500")

    report = check_in_process(backend)

    enrols = [r for r in backend.requests if r.method == "POST" and r.path.endswith("/enroll")]
    assert len(enrols) == 6  # the two users and the four learners, each once
    assert set(failed(report)) == {"enroll.succeeds"}
    assert "so a client that retries this POST gets 400" in failed(report)["enroll.succeeds"]


@pytest.mark.parametrize("name", NEW_CHECKS)
def test_each_new_check_passes_alone_with_the_setup_it_needs(
    backend: GamifyBackend, name: str
) -> None:
    report = check_in_process(backend, checks=[name])

    assert failed(report) == {}
    assert [r.name for r in report.results] == [name]
    assert report.cleanup_problems == ()
    assert backend_tasks(backend) == []


def backend_tasks(backend: GamifyBackend) -> list[dict[str, object]]:
    with httpx.Client(transport=backend.transport()) as http:
        tasks: list[dict[str, object]] = http.get(f"{IN_PROCESS_URL}/api/task/all").json()
    return tasks


def test_the_run_deletes_the_tasks_and_the_batch_it_made(backend: GamifyBackend) -> None:
    report = check_in_process(backend)

    assert report.passed
    assert backend_tasks(backend) == []
    deletes = [r.path for r in backend.requests if r.method == "DELETE"]
    assert len(deletes) == 6  # three tasks, two categories and the batch
    assert [path.split("/")[2] for path in deletes] == ["task"] * 3 + ["categories"] * 2 + [
        "batches"
    ]


def test_keeping_the_data_leaves_it_in_place(backend: GamifyBackend) -> None:
    check_in_process(backend, cleanup=False)

    assert len(backend_tasks(backend)) == 3
    assert not [r for r in backend.requests if r.method == "DELETE"]


def test_a_failed_delete_is_reported_not_raised(backend: GamifyBackend) -> None:
    backend.faults.add(500, route="/api/batches/", method="DELETE", body={"message": "nope"})

    report = check_in_process(backend)

    assert report.passed
    assert len(report.cleanup_problems) == 1
    assert report.cleanup_problems[0].startswith("could not delete batch ")
    assert "answered 500: nope" in report.cleanup_problems[0]


def test_a_selected_check_runs_the_setup_it_needs_and_nothing_else(
    backend: GamifyBackend,
) -> None:
    report = check_in_process(backend, checks=["submit.xp_added_once"])

    assert [(r.name, r.passed) for r in report.results] == [("submit.xp_added_once", True)]
    assert not [r for r in backend.requests if r.path == "/api/batch-progress/submit-task"]


def test_selected_checks_keep_the_registry_order(backend: GamifyBackend) -> None:
    report = check_in_process(backend, checks=["submit.streak", "liveness"])

    assert [r.name for r in report.results] == ["liveness", "submit.streak"]


def test_an_unknown_check_name_is_refused(backend: GamifyBackend) -> None:
    with pytest.raises(ValueError, match=r"unknown check\(s\) \['nope'\]"):
        check_in_process(backend, checks=["nope"])


def test_acting_as_an_existing_admin_by_token(backend: GamifyBackend) -> None:
    seed = backend.seed_demo()

    report = check_in_process(backend, token=backend.token_for(seed.admin.id))

    assert failed(report) == {}
    logins = [r for r in backend.requests if r.path == "/api/user/login"]
    # The mentor, the two users and the four learners; the admin came with its token.
    assert len(logins) == 7


def test_acting_as_an_existing_admin_by_email_and_password(backend: GamifyBackend) -> None:
    seed = backend.seed_demo()

    report = check_in_process(
        backend, admin_email=seed.admin.email, admin_password=seed.admin.password
    )

    assert failed(report) == {}
    registered = [r for r in backend.requests if r.path == "/api/user/register"]
    assert len(registered) == 7  # no admin of its own


def test_a_token_that_is_not_an_admins_fails_the_setup_checks_only(
    backend: GamifyBackend,
) -> None:
    seed = backend.seed_demo()

    report = check_in_process(backend, token=backend.token_for(seed.mentor.id))

    failures = failed(report)
    assert SETUP_CHECKS.isdisjoint(failures)
    assert set(failures) == set(ALL_NAMES) - SETUP_CHECKS
    assert all("gamify check needs an admin" in detail for detail in failures.values())


def test_a_failed_setup_step_fails_the_checks_that_need_it_with_its_cause(
    backend: GamifyBackend,
) -> None:
    backend.faults.add(503, route="/api/batches", method="POST", body={"message": "down"})

    report = check_in_process(backend)

    failures = failed(report)
    assert set(failures) == set(ALL_NAMES) - SETUP_CHECKS
    assert set(failures.values()) == {
        "could not create a batch: POST /api/batches answered 503: down"
    }
    batch_creates = [r for r in backend.requests if r.method == "POST" and r.path == "/api/batches"]
    assert len(batch_creates) == 1


def test_a_liveness_answer_that_is_not_the_contracts_fails_only_liveness(
    backend: GamifyBackend,
) -> None:
    backend.faults.add(404, route=re.compile(r"^/$"), method="GET", body=b"Cannot GET /")

    report = check_in_process(backend)

    assert failed(report) == {"liveness": "expected 200 'API is working!', saw 404 'Cannot GET /'"}


def test_a_server_that_ignores_tokens_fails_the_auth_checks(backend: GamifyBackend) -> None:
    backend.faults.add(200, route="/api/batches", method="GET", body=[], times=3)

    report = check_in_process(backend, checks=["auth.no_token_401", "auth.bad_token_403"])

    failures = failed(report)
    assert (
        failures["auth.no_token_401"] == "GET /api/batches without a token: expected 401, saw 200"
    )
    assert failures["auth.bad_token_403"] == (
        "GET /api/batches with a malformed token: expected 403, saw 200; "
        "GET /api/batches with a forged token: expected 403, saw 200"
    )


class AcceptsTheSecondSubmit(httpx.BaseTransport):
    """The backend, except that the second task submit is answered 201 without effect."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.submits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/submit"):
            self.submits += 1
            if self.submits == 2:
                receipt = {"id": "6b06d4c8da186326582983f9", "status": "completed"}
                return httpx.Response(201, json={"success": True, "submission": receipt})
        return self.inner.handle_request(request)


def test_an_accepted_second_submit_fails_its_check(backend: GamifyBackend) -> None:
    transport = AcceptsTheSecondSubmit(backend.transport())
    with httpx.Client(transport=transport) as http:
        report = run_checks(
            IN_PROCESS_URL, http_client=http, checks=["submit.second_submit_rejected"]
        )

    assert failed(report) == {
        "submit.second_submit_rejected": "expected 400 'Task already submitted', saw the "
        "second submit accepted (xps 120 -> 120)"
    }


class StaleReads(httpx.BaseTransport):
    """The backend behind a cache that keeps the first answer to each matching GET: a
    deployment whose reads miss the writes made after them."""

    def __init__(self, inner: httpx.BaseTransport, pattern: str) -> None:
        self.inner = inner
        self.pattern = re.compile(pattern)
        self.kept: dict[str, tuple[int, bytes]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or not self.pattern.search(request.url.path):
            return self.inner.handle_request(request)
        url = str(request.url)
        if url not in self.kept:
            response = self.inner.handle_request(request)
            self.kept[url] = (response.status_code, response.read())
        status, content = self.kept[url]
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})


def stale(pattern: str) -> Callable[[GamifyBackend], httpx.BaseTransport]:
    return lambda backend: StaleReads(backend.transport(), pattern)


def answering(pattern: str, body: object) -> Callable[[GamifyBackend], httpx.BaseTransport]:
    """Every GET whose path matches answers 200 ``body`` instead."""

    def make(backend: GamifyBackend) -> httpx.BaseTransport:
        backend.faults.add(200, route=re.compile(pattern), method="GET", body=body, times=None)
        return backend.transport()

    return make


@pytest.mark.parametrize(
    ("name", "deployment", "fragment"),
    [
        pytest.param(
            "enroll.shows_in_dashboard",
            stale(r"^/api/batch-progress/dashboard/me$"),
            "overallStats.totalBatches: expected 1, saw 0; batchProgress: expected the "
            "batch's progress, saw none",
            id="stale-dashboard",
        ),
        pytest.param(
            "category.create_reflected_in_list",
            answering(r"^/api/categories/all$", []),
            "GET /api/categories/all?batchId=: expected category",
            id="categories-missing",
        ),
        pytest.param(
            "category.task_reflected_in_category",
            answering(
                r"^/api/categories/all/tasks/",
                {"_id": "6b06d4c8da186326582983f9", "name": "empty", "tasks": []},
            ),
            "GET /api/categories/all/tasks/:id: expected task",
            id="category-tasks-missing",
        ),
        pytest.param(
            "grade.shows_in_performance",
            stale(r"/performance$"),
            "the learner's score: expected 85, saw 0.0; the task's quizScores (average, "
            "attempts): expected (85, 1), saw (0.0, 1)",
            id="stale-performance",
        ),
        pytest.param(
            "feedback.shows_in_received",
            answering(r"^/api/feedback/to/", []),
            "the general feedback: expected it among the mentor's, saw 0 without it",
            id="received-missing",
        ),
        pytest.param(
            "feedback.mentor_shows_in_mentor_feedback",
            answering(r"^/api/feedback/mentor/", []),
            "GET /api/feedback/mentor/:userId: expected the mentor's feedback, saw 0 without it",
            id="mentor-feedback-missing",
        ),
    ],
)
def test_a_read_that_misses_the_write_fails_its_check(
    backend: GamifyBackend,
    name: str,
    deployment: Callable[[GamifyBackend], httpx.BaseTransport],
    fragment: str,
) -> None:
    with httpx.Client(transport=deployment(backend)) as http:
        report = run_checks(IN_PROCESS_URL, http_client=http, checks=[name])

    failures = failed(report)
    assert list(failures) == [name]
    assert fragment in failures[name]


def test_an_unreachable_deployment_raises_before_any_check() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    seen: list[CheckResult] = []
    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as http,
        pytest.raises(DeploymentUnreachableError, match=r"cannot reach http://gamify\.test"),
    ):
        run_checks(IN_PROCESS_URL, http_client=http, on_result=seen.append)
    assert seen == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"admin_email": "a@example.com"}, "go together"),
        ({"admin_password": "secret"}, "go together"),
        (
            {"token": "t", "admin_email": "a@example.com", "admin_password": "p"},
            "not both",
        ),
    ],
)
def test_contradictory_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_checks(IN_PROCESS_URL, **options)


def test_a_malformed_url_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        run_checks("localhost:3001")


def test_results_stream_to_the_callback_in_order(backend: GamifyBackend) -> None:
    seen: list[CheckResult] = []

    report = check_in_process(backend, on_result=seen.append)

    assert tuple(seen) == report.results


def test_the_report_as_a_dict(backend: GamifyBackend) -> None:
    backend.defects.add("double_xp")

    as_dict = check_in_process(backend).to_dict()

    assert as_dict["base_url"] == IN_PROCESS_URL
    assert as_dict["passed"] is False
    assert as_dict["summary"] == {"total": len(CHECKS), "passed": len(CHECKS) - 1, "failed": 1}
    assert as_dict["cleanup_problems"] == []
    entry = next(c for c in as_dict["checks"] if c["name"] == "submit.xp_added_once")
    assert entry["passed"] is False
    assert entry["detail"].startswith("expected xps 0 + 120 = 120, saw 240")
    assert set(entry) == {"name", "passed", "detail", "duration"}
