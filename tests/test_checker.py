"""The checker against the reference backend: every check passes on a faithful deployment,
and each injected defect fails exactly the checks that name it."""

from __future__ import annotations

import re
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
from gamify_client.testing import Defect, GamifyBackend

IN_PROCESS_URL = "http://gamify.test"
ALL_NAMES = [check.name for check in CHECKS]


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


def backend_tasks(backend: GamifyBackend) -> list[dict[str, object]]:
    with httpx.Client(transport=backend.transport()) as http:
        tasks: list[dict[str, object]] = http.get(f"{IN_PROCESS_URL}/api/task/all").json()
    return tasks


def test_the_run_deletes_the_tasks_and_the_batch_it_made(backend: GamifyBackend) -> None:
    report = check_in_process(backend)

    assert report.passed
    assert backend_tasks(backend) == []
    deletes = [r.path for r in backend.requests if r.method == "DELETE"]
    assert len(deletes) == 4  # three tasks and the batch


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
    assert len(logins) == 3  # the mentor and the two users; the admin came with its token


def test_acting_as_an_existing_admin_by_email_and_password(backend: GamifyBackend) -> None:
    seed = backend.seed_demo()

    report = check_in_process(
        backend, admin_email=seed.admin.email, admin_password=seed.admin.password
    )

    assert failed(report) == {}
    registered = [r for r in backend.requests if r.path == "/api/user/register"]
    assert len(registered) == 3  # no admin of its own


def test_a_token_that_is_not_an_admins_fails_the_setup_checks_only(
    backend: GamifyBackend,
) -> None:
    seed = backend.seed_demo()

    report = check_in_process(backend, token=backend.token_for(seed.mentor.id))

    failures = failed(report)
    assert {"liveness", "auth.no_token_401", "auth.bad_token_403"}.isdisjoint(failures)
    assert set(failures) == set(ALL_NAMES) - {"liveness", "auth.no_token_401", "auth.bad_token_403"}
    assert all("gamify check needs an admin" in detail for detail in failures.values())


def test_a_failed_setup_step_fails_the_checks_that_need_it_with_its_cause(
    backend: GamifyBackend,
) -> None:
    backend.faults.add(503, route="/api/batches", method="POST", body={"message": "down"})

    report = check_in_process(backend)

    failures = failed(report)
    assert set(failures) == set(ALL_NAMES) - {"liveness", "auth.no_token_401", "auth.bad_token_403"}
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
