"""The reference backend's routes, through its in-process transport, with raw httpx."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamify_client.testing import (
    DEMO_PASSWORD,
    DemoData,
    GamifyBackend,
    RecordedRequest,
    RequestLog,
    SeedError,
)
from gamify_client.testing._ids import iso
from gamify_client.testing._recorder import DEFAULT_REQUEST_LOG_LIMIT

from ._api_support import seeded_admin_headers

BASE = "http://gamify.test"
MISSING_ID = "0123456789abcdef01234567"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api: httpx.Client, email: str, designation: str, admin_id: str | None = None) -> str:
    payload: dict[str, Any] = {
        "email": email,
        "password": DEMO_PASSWORD,
        "designation": designation,
    }
    if admin_id is not None:
        payload["adminId"] = admin_id
    response = api.post("/api/user/login", json=payload)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def admin_token(api: httpx.Client, demo: DemoData) -> str:
    return login(api, demo.admin.email, "admin")


def user_token(api: httpx.Client, demo: DemoData, index: int = 0) -> str:
    return login(api, demo.users[index].email, "user", demo.admin_id)


def create_task(api: httpx.Client, demo: DemoData, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "Extra task",
        "description": "Something more",
        "details": "Do it well",
        "category": demo.category_ids[0],
        "difficulty": "Easy",
        "batch": demo.batch_id,
        **overrides,
    }
    response = api.post("/api/task/create", json=payload, headers=seeded_admin_headers(api))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def submit(api: httpx.Client, task_id: str, user_id: str) -> httpx.Response:
    return api.post(
        f"/api/task/{task_id}/submit",
        json={"userId": user_id, "submissionType": "Link", "value": "https://example.org/report"},
        headers=seeded_admin_headers(api),
    )


def progress_of(api: httpx.Client, demo: DemoData, user_index: int = 0) -> dict[str, Any]:
    user = demo.users[user_index]
    response = api.get(
        f"/api/batch-progress/user/{user.id}/{demo.batch_id}",
        headers=bearer(user_token(api, demo, user_index)),
    )
    assert response.status_code == 200
    progress: dict[str, Any] = response.json()["progress"]
    return progress


def xps_of(api: httpx.Client, user_id: str) -> int:
    xps: int = api.get(f"/api/user/{user_id}").json()["xps"]
    return xps


# --- service-wide behaviour -------------------------------------------------------------


def test_root_answers_liveness_text(api: httpx.Client) -> None:
    response = api.get("/")
    assert response.status_code == 200
    assert response.text == "API is working!"
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_route_gets_express_html_404(api: httpx.Client) -> None:
    response = api.get("/api/x")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!DOCTYPE html>")
    assert "<pre>Cannot GET /api/x</pre>" in response.text


def test_dashboard_by_user_id_route_does_not_exist(api: httpx.Client, demo: DemoData) -> None:
    response = api.get(f"/api/batch-progress/dashboard/{demo.users[0].id}")
    assert response.status_code == 404
    assert "Cannot GET" in response.text


def test_malformed_json_body_gets_400_and_service_keeps_serving(api: httpx.Client) -> None:
    response = api.post(
        "/api/task/create",
        content=b'{"name": "oops",',
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()) == (400, {"message": "Malformed request body"})
    assert api.get("/").status_code == 200


def test_malformed_path_id_is_not_found_and_a_malformed_body_id_is_a_bad_request(
    api: httpx.Client, demo: DemoData
) -> None:
    assert api.get("/api/task/not-an-id").json() == {"message": "Task not found"}
    assert api.get("/api/task/not-an-id").status_code == 404
    response = api.get(
        "/api/task/submissions",
        params={"taskId": "x", "userId": "y"},
        headers=seeded_admin_headers(api),
    )
    assert (response.status_code, response.json()) == (400, {"message": "Invalid userId"})


def test_malformed_id_answers_500_cast_error_with_validation_500(
    backend: GamifyBackend, api: httpx.Client
) -> None:
    backend.defects.add("validation_500")
    response = api.get("/api/task/not-an-id")
    assert response.status_code == 500
    body = response.json()
    assert body["message"] == "Failed to fetch task"
    assert body["error"]["name"] == "CastError"
    assert body["error"]["value"] == "not-an-id"


def test_malformed_id_on_batch_route_gives_error_message(
    backend: GamifyBackend, api: httpx.Client
) -> None:
    backend.defects.add("validation_500")
    response = api.get("/api/batches/xyz")
    assert response.status_code == 500
    assert response.json() == {
        "message": "Failed to fetch batch",
        "error": 'Cast to ObjectId failed for value "xyz" (type string) at path "_id" '
        'for model "Batch"',
    }


def test_ids_and_timestamps_look_like_mongo(api: httpx.Client, demo: DemoData) -> None:
    task = api.get(f"/api/task/{demo.task_ids[0]}").json()
    assert re.fullmatch(r"[0-9a-f]{24}", task["_id"])
    # Tasks have no timestamps (their schema has none); batches have their own createdAt.
    assert "createdAt" not in task
    batch = api.get(f"/api/batches/{demo.batch_id}").json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", batch["createdAt"])
    assert task["__v"] == 0


def test_cors_allows_listed_origin_with_credentials(api: httpx.Client) -> None:
    response = api.get("/", headers={"Origin": "http://localhost:5173"})
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]


def test_cors_ignores_other_origins(api: httpx.Client) -> None:
    response = api.get("/", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_preflight_answers_204(api: httpx.Client) -> None:
    response = api.options(
        "/api/task/create",
        headers={
            "Origin": "http://127.0.0.1:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert response.headers["access-control-allow-methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert response.headers["access-control-allow-headers"] == "content-type,authorization"
    assert response.headers["access-control-allow-credentials"] == "true"


def test_handle_is_the_io_free_core(backend: GamifyBackend) -> None:
    response = backend.handle("GET", "/")
    status, headers, body = response
    assert (status, body) == (200, b"API is working!")
    assert ("X-Powered-By", "Express") in headers
    assert response.header("x-powered-by") == "Express"
    assert response.header("retry-after") is None
    assert len(backend.requests) == 0


@given(
    at=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_dates_are_written_as_the_service_writes_them(at: datetime) -> None:
    reference = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    assert iso(at) == reference


def test_the_request_log_keeps_the_newest_requests_up_to_its_limit() -> None:
    with (
        GamifyBackend(request_log_limit=2) as backend,
        httpx.Client(transport=backend.transport(), base_url="http://gamify.test") as client,
    ):
        for path in ("/", "/api/task/all", "/missing"):
            client.get(path)

        assert backend.requests.limit == 2
        assert [entry.path for entry in backend.requests] == ["/api/task/all", "/missing"]
        assert backend.requests.count("GET") == 2


def test_the_request_log_keeps_every_request_without_a_limit() -> None:
    log = RequestLog(limit=None)
    for number in range(DEFAULT_REQUEST_LOG_LIMIT + 1):
        log.append(RecordedRequest("GET", f"/{number}", "", 200, datetime.now(UTC)))

    assert log.limit is None
    assert len(log) == DEFAULT_REQUEST_LOG_LIMIT + 1
    assert log[0].path == "/0"
    assert RequestLog().limit == DEFAULT_REQUEST_LOG_LIMIT
    with pytest.raises(ValueError, match="at least 1"):
        RequestLog(limit=0)


# --- users and auth -------------------------------------------------------------------------


def test_register_admin_gets_short_admin_id(api: httpx.Client) -> None:
    response = api.post(
        "/api/user/register",
        json={"name": "Ann", "email": "ann@x.io", "password": "pw", "designation": "admin"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["message"]
    assert re.fullmatch(r"[0-9a-f]{24}", body["userId"])
    assert re.fullmatch(r"ADM\d{3}", body["adminId"])


def test_register_user_has_no_admin_id_and_duplicates_are_refused(
    api: httpx.Client, demo: DemoData
) -> None:
    payload = {
        "name": "Bo",
        "email": "bo@x.io",
        "password": "pw",
        "designation": "user",
        "parentId": demo.admin.id,
    }
    first = api.post("/api/user/register", json=payload)
    assert first.status_code == 201
    assert "adminId" not in first.json()
    again = api.post("/api/user/register", json=payload)
    assert again.status_code == 400
    assert again.json() == {"message": "User already exists"}


def test_register_missing_field_is_400(api: httpx.Client) -> None:
    response = api.post("/api/user/register", json={"name": "Cy", "designation": "user"})
    assert response.status_code == 400
    assert response.json() == {"message": "Missing required fields."}


def test_login_returns_one_day_token_with_contract_claims(
    api: httpx.Client, demo: DemoData
) -> None:
    response = api.post(
        "/api/user/login",
        json={"email": demo.admin.email, "password": DEMO_PASSWORD, "designation": "admin"},
    )
    body = response.json()
    assert set(body) == {"message", "userId", "token", "designation"}
    assert body["userId"] == demo.admin.id
    payload_part = body["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4)))
    assert set(claims) == {"id", "designation", "iat", "exp"}
    assert claims["id"] == demo.admin.id
    assert claims["designation"] == "admin"
    assert claims["exp"] - claims["iat"] == 24 * 60 * 60


def test_user_login_needs_its_admins_admin_id(api: httpx.Client, demo: DemoData) -> None:
    user = demo.users[0]
    base = {"email": user.email, "password": DEMO_PASSWORD, "designation": "user"}
    assert api.post("/api/user/login", json=base).status_code == 400
    wrong = api.post("/api/user/login", json={**base, "adminId": "ADM000X"})
    assert wrong.status_code == 400
    right = api.post("/api/user/login", json={**base, "adminId": demo.admin_id})
    assert right.status_code == 200
    assert right.json()["designation"] == "user"


def test_login_with_bad_password_is_400(api: httpx.Client, demo: DemoData) -> None:
    response = api.post(
        "/api/user/login",
        json={"email": demo.admin.email, "password": "nope", "designation": "admin"},
    )
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid  password"}


def test_get_user_hides_password(api: httpx.Client, demo: DemoData) -> None:
    user = api.get(f"/api/user/{demo.users[0].id}").json()
    assert user["_id"] == demo.users[0].id
    assert user["parentId"] == demo.admin.id
    assert user["xps"] == 0
    assert "password" not in user


def test_get_unknown_user_is_404(api: httpx.Client) -> None:
    response = api.get(f"/api/user/{MISSING_ID}")
    assert response.status_code == 404
    assert response.json() == {"message": "User not found"}


def test_points_route_checks_token(api: httpx.Client, demo: DemoData) -> None:
    path = f"/api/user/{demo.users[0].id}/points"
    assert api.patch(path, json={"xps": 5}).status_code == 401
    assert api.patch(path, json={"xps": 5}, headers=bearer("not.a.token")).status_code == 401
    ok = api.patch(path, json={"xps": 5}, headers=bearer(admin_token(api, demo)))
    assert ok.status_code == 200
    assert ok.json()["user"]["xps"] == 5


def test_auth_cookie_works_like_bearer(api: httpx.Client, demo: DemoData) -> None:
    token = user_token(api, demo)
    response = api.get("/api/batch-progress/dashboard/me", headers={"Cookie": f"authToken={token}"})
    assert response.status_code == 200


def test_no_token_is_401_and_bad_token_403(api: httpx.Client, demo: DemoData) -> None:
    missing = api.get("/api/batch-progress/dashboard/me")
    assert missing.status_code == 401
    assert "message" in missing.json()
    forged = user_token(api, demo)[:-2] + "xx"
    bad = api.get("/api/batch-progress/dashboard/me", headers=bearer(forged))
    assert bad.status_code == 403
    assert "message" in bad.json()


def test_token_for_mints_a_working_token(backend: GamifyBackend, api: httpx.Client) -> None:
    demo = backend.seed_demo()
    token = backend.token_for(demo.users[1].id)
    response = api.get("/api/batch-progress/dashboard/me", headers=bearer(token))
    assert response.json()["dashboard"]["userProfile"]["username"] == demo.users[1].name


# --- tasks ----------------------------------------------------------------------------------


def test_task_list_is_bare_array_with_category_and_batch_populated(
    api: httpx.Client, demo: DemoData
) -> None:
    tasks = api.get("/api/task/all").json()
    assert isinstance(tasks, list)
    assert [task["_id"] for task in tasks] == list(demo.task_ids)
    assert tasks[0]["category"]["name"] == "Web Development"
    assert tasks[0]["batch"]["_id"] == demo.batch_id


def test_get_task_and_unknown_task(api: httpx.Client, demo: DemoData) -> None:
    task = api.get(f"/api/task/{demo.task_ids[0]}").json()
    assert task["category"] == demo.category_ids[0]
    assert task["batch"] == demo.batch_id
    missing = api.get(f"/api/task/{MISSING_ID}")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Task not found"}


def test_create_task_with_batch_reaches_every_enrolled_user(
    api: httpx.Client, demo: DemoData
) -> None:
    body = create_task(api, demo, points=40)
    assert body["success"] is True
    task = body["task"]
    assert task["points"] == 40
    assert task["type"] == "Mini-project"
    assert task["submissionTypes"] == ["File Upload"]
    real_time = body["realTimeData"]
    assert real_time["taskId"] == task["_id"]
    assert real_time["batchId"] == demo.batch_id
    assert real_time["totalUsersAffected"] == 3
    batch = api.get(f"/api/batches/{demo.batch_id}").json()
    assert task["_id"] in [t["_id"] for t in batch["tasks"]]
    for index in range(3):
        progress = progress_of(api, demo, index)
        entry = progress["taskProgress"][-1]
        assert entry["taskId"]["_id"] == task["_id"]
        assert entry["status"] == "not_started"
        assert progress["progressMetrics"]["totalTasks"] == 5


def test_create_task_without_batch(api: httpx.Client, demo: DemoData) -> None:
    body = create_task(api, demo, batch=None)
    assert "batchId" not in body["realTimeData"]
    assert body["realTimeData"]["totalUsersAffected"] == 0
    assert "batch" not in body["task"]


def test_create_task_missing_field_is_400(api: httpx.Client, demo: DemoData) -> None:
    response = api.post(
        "/api/task/create",
        json={"name": "x", "category": demo.category_ids[0]},
        headers=seeded_admin_headers(api),
    )
    assert response.status_code == 400
    assert response.json() == {"message": "Missing required fields."}


def test_create_task_appends_to_category(api: httpx.Client, demo: DemoData) -> None:
    task_id = create_task(api, demo)["task"]["_id"]
    categories = api.get("/api/categories/all", params={"batchId": demo.batch_id}).json()
    assert task_id in categories[0]["tasks"]


def test_start_edit_assign_delete_task(api: httpx.Client, demo: DemoData) -> None:
    task_id = demo.task_ids[0]
    staff = seeded_admin_headers(api)
    assert api.put(f"/api/task/start/{task_id}", headers=staff).json()["inProgressCount"] == 1
    edited = api.patch(
        f"/api/task/edit/{task_id}", json={"details": "new", "difficulty": "Hard"}, headers=staff
    )
    assert (edited.json()["details"], edited.json()["difficulty"]) == ("new", "Hard")
    assigned = api.patch(
        f"/api/task/assign/{task_id}", json={"assignedTo": [demo.users[0].id]}, headers=staff
    )
    assert assigned.json()["assignedTo"] == [demo.users[0].id]
    missing = api.patch(f"/api/task/edit/{MISSING_ID}", json={"details": "x"}, headers=staff)
    assert (missing.status_code, missing.json()) == (404, {"error": "Task not found"})
    deleted = api.delete(f"/api/task/delete/{task_id}", headers=staff)
    assert deleted.json()["_id"] == task_id
    assert api.get(f"/api/task/{task_id}").status_code == 404


def test_submit_adds_points_once_and_reports_real_time_data(
    api: httpx.Client, demo: DemoData
) -> None:
    user = demo.users[0]
    response = submit(api, demo.task_ids[1], user.id)
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["submission"]["status"] == "completed"
    assert body["progress"] == {
        "pointsEarned": 150,
        "totalXPS": 150,
        "taskCompleted": True,
        "newTotalXP": 150,
    }
    real_time = body["realTimeData"]
    assert real_time["taskStatus"] == "completed"
    assert real_time["batchId"] == demo.batch_id
    assert real_time["newTotalXP"] == 150
    assert real_time["currentStreak"] == 1
    assert real_time["batchProgress"] == {
        "completedTasks": 1,
        "totalTasks": 4,
        "completionPercentage": 25,
        "totalPointsEarned": 150,
    }
    assert real_time["activityLog"][-1]["action"] == "task_completed"
    assert xps_of(api, user.id) == 150
    entry = progress_of(api, demo)["taskProgress"][1]
    assert entry["status"] == "completed"
    assert entry["pointsEarned"] == 150
    assert entry["submissionId"]["submissionType"] == "Link"


def test_second_submit_is_refused_with_the_first_submission(
    api: httpx.Client, demo: DemoData
) -> None:
    user = demo.users[0]
    first = submit(api, demo.task_ids[0], user.id).json()
    again = submit(api, demo.task_ids[0], user.id)
    assert again.status_code == 400
    body = again.json()
    assert body["message"] == "Task already submitted"
    assert body["submission"]["_id"] == first["submission"]["id"]
    assert xps_of(api, user.id) == 100


def test_submit_missing_field_and_unknown_task(api: httpx.Client, demo: DemoData) -> None:
    missing = api.post(
        f"/api/task/{demo.task_ids[0]}/submit",
        json={"userId": demo.users[0].id},
        headers=seeded_admin_headers(api),
    )
    assert missing.status_code == 400
    unknown = submit(api, MISSING_ID, demo.users[0].id)
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Task not found"})


def test_submit_multipart_file(api: httpx.Client, demo: DemoData) -> None:
    response = api.post(
        f"/api/task/{demo.task_ids[2]}/submit",
        data={"userId": demo.users[1].id},
        files={"file": ("report.pdf", b"%PDF-1.4", "application/pdf")},
        headers=seeded_admin_headers(api),
    )
    assert response.status_code == 201
    assert response.json()["submission"]["submissionType"] == "File Upload"
    found = api.get(
        "/api/task/submissions",
        params={"taskId": demo.task_ids[2], "userId": demo.users[1].id},
        headers=seeded_admin_headers(api),
    ).json()
    assert found["submission"]["value"].startswith("/uploads/")
    assert found["submission"]["value"].endswith("-report.pdf")


def test_submissions_query(api: httpx.Client, demo: DemoData) -> None:
    params = {"taskId": demo.task_ids[0], "userId": demo.users[0].id}
    staff = seeded_admin_headers(api)
    found = api.get("/api/task/submissions", params=params, headers=staff)
    assert found.json() == {"submission": None}
    submit(api, demo.task_ids[0], demo.users[0].id)
    submission = api.get("/api/task/submissions", params=params, headers=staff).json()
    assert submission["submission"]["status"] == "submitted"
    assert api.get("/api/task/submissions", headers=staff).status_code == 400


def test_submit_task_outside_any_batch(api: httpx.Client, demo: DemoData) -> None:
    task_id = create_task(api, demo, batch=None, points=30)["task"]["_id"]
    real_time = submit(api, task_id, demo.users[0].id).json()["realTimeData"]
    assert real_time["batchId"] is None
    assert real_time["batchProgress"] is None
    assert real_time["activityLog"] == []
    assert xps_of(api, demo.users[0].id) == 30


# --- categories -----------------------------------------------------------------------------


def test_categories_create_and_filter(api: httpx.Client, demo: DemoData) -> None:
    staff = seeded_admin_headers(api)
    created = api.post(
        "/api/categories/create",
        json={"name": "Ops", "emoji": "🛠", "batch": demo.batch_id},
        headers=staff,
    )
    assert created.status_code == 201
    assert created.json()["tasks"] == []
    assert len(api.get("/api/categories/all", params={"batchId": demo.batch_id}).json()) == 3
    assert len(api.get("/api/categories/all", params={"batchId": MISSING_ID}).json()) == 0
    assert len(api.get("/api/categories/all").json()) == 3
    missing = api.post(
        "/api/categories/create", json={"name": "No batch", "emoji": "x"}, headers=staff
    )
    assert missing.status_code == 400


# --- batches --------------------------------------------------------------------------------


def test_batch_create_checks_token_and_role(api: httpx.Client, demo: DemoData) -> None:
    payload = {"name": "B2", "description": "d", "mentor": demo.mentor.id}
    assert api.post("/api/batches", json=payload).status_code == 401
    refused = api.post("/api/batches", json=payload, headers=bearer(user_token(api, demo)))
    assert refused.status_code == 403
    created = api.post("/api/batches", json=payload, headers=bearer(admin_token(api, demo)))
    assert created.status_code == 201
    batch = created.json()
    assert batch["success"] is True
    assert batch["admin"] == demo.admin.id
    assert batch["status"] == "active"
    assert batch["users"] == []


def test_superadmin_creates_batch_for_an_admin(api: httpx.Client, demo: DemoData) -> None:
    token = login(api, demo.superadmin.email, "superadmin")
    payload = {"name": "B3", "description": "d", "mentor": demo.mentor.id, "admin": demo.admin.id}
    created = api.post("/api/batches", json=payload, headers=bearer(token))
    assert created.json()["admin"] == demo.admin.id
    bad_mentor = api.post(
        "/api/batches", json={**payload, "mentor": demo.users[0].id}, headers=bearer(token)
    )
    assert bad_mentor.status_code == 400


def test_batch_list_is_filtered_by_role(api: httpx.Client, demo: DemoData) -> None:
    def names(token: str) -> list[str]:
        return [batch["name"] for batch in api.get("/api/batches", headers=bearer(token)).json()]

    assert names(admin_token(api, demo)) == ["Demo Cohort"]
    assert names(login(api, demo.mentor.email, "mentor")) == ["Demo Cohort"]
    assert names(user_token(api, demo)) == ["Demo Cohort"]
    assert names(login(api, demo.superadmin.email, "superadmin")) == ["Demo Cohort"]
    api.post(
        f"/api/batches/{demo.batch_id}/remove",
        json={"userId": demo.users[0].id},
        headers=bearer(admin_token(api, demo)),
    )
    assert names(user_token(api, demo)) == []
    assert api.get("/api/batches").status_code == 401


def test_batch_list_populates_people(api: httpx.Client, demo: DemoData) -> None:
    batch = api.get("/api/batches", headers=bearer(admin_token(api, demo))).json()[0]
    assert batch["admin"]["_id"] == demo.admin.id
    assert batch["mentor"]["_id"] == demo.mentor.id
    assert [user["_id"] for user in batch["users"]] == [user.id for user in demo.users]
    assert all("password" not in user for user in batch["users"])


def test_get_batch_populates_and_unknown_is_404(api: httpx.Client, demo: DemoData) -> None:
    batch = api.get(f"/api/batches/{demo.batch_id}").json()
    assert [task["_id"] for task in batch["tasks"]] == list(demo.task_ids)
    assert batch["mentor"]["username"] == demo.mentor.name
    missing = api.get(f"/api/batches/{MISSING_ID}")
    assert (missing.status_code, missing.json()) == (404, {"message": "Batch not found"})


def test_enroll_creates_progress_with_milestone(api: httpx.Client, demo: DemoData) -> None:
    created = api.post(
        "/api/user/register",
        json={
            "name": "Nia New",
            "email": "nia@x.io",
            "password": DEMO_PASSWORD,
            "designation": "user",
            "parentId": demo.admin.id,
        },
    )
    user_id = created.json()["userId"]
    staff = bearer(admin_token(api, demo))
    enroll = f"/api/batches/{demo.batch_id}/enroll"
    response = api.post(enroll, json={"userId": user_id}, headers=staff)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "message", "batch"}
    assert user_id in [user["_id"] for user in body["batch"]["users"]]
    token = login(api, "nia@x.io", "user", demo.admin_id)
    progress = api.get(
        f"/api/batch-progress/user/{user_id}/{demo.batch_id}", headers=bearer(token)
    ).json()["progress"]
    assert len(progress["taskProgress"]) == 4
    assert {entry["status"] for entry in progress["taskProgress"]} == {"not_started"}
    assert progress["activityLog"][0]["action"] == "milestone_reached"
    again = api.post(enroll, json={"userId": user_id}, headers=staff)
    assert again.status_code == 400


def test_only_users_can_be_enrolled(api: httpx.Client, demo: DemoData) -> None:
    response = api.post(
        f"/api/batches/{demo.batch_id}/enroll",
        json={"userId": demo.mentor.id},
        headers=bearer(admin_token(api, demo)),
    )
    assert response.status_code == 400


def test_remove_and_delete_batch(api: httpx.Client, demo: DemoData) -> None:
    staff = bearer(admin_token(api, demo))
    removed = api.post(
        f"/api/batches/{demo.batch_id}/remove", json={"userId": demo.users[2].id}, headers=staff
    )
    assert removed.status_code == 200
    assert demo.users[2].id not in removed.json()["users"]
    deleted = api.delete(f"/api/batches/{demo.batch_id}", headers=staff)
    assert deleted.status_code == 200
    assert deleted.json()["message"]
    assert deleted.json()["batch"]["_id"] == demo.batch_id
    assert api.get(f"/api/batches/{demo.batch_id}").status_code == 404
    assert api.delete(f"/api/batches/{demo.batch_id}", headers=staff).status_code == 404


# --- batch progress -------------------------------------------------------------------------


def test_dashboard_has_every_contract_field(api: httpx.Client, demo: DemoData) -> None:
    submit(api, demo.task_ids[0], demo.users[0].id)
    response = api.get("/api/batch-progress/dashboard/me", headers=bearer(user_token(api, demo)))
    body = response.json()
    assert body["success"] is True
    dashboard = body["dashboard"]
    assert set(dashboard) == {
        "overallStats",
        "batchProgress",
        "recentSubmissions",
        "userProfile",
        "lastUpdated",
    }
    assert dashboard["overallStats"] == {
        "totalBatches": 1,
        "totalTasksAcrossAllBatches": 4,
        "totalCompletedTasks": 1,
        "totalSubmittedTasks": 1,
        "totalPointsEarned": 100,
        "userTotalXP": 100,
        "currentStreak": 1,
        "averageCompletionRate": 25,
    }
    assert dashboard["batchProgress"][0]["batchId"]["name"] == "Demo Cohort"
    assert dashboard["recentSubmissions"][0]["taskId"]["points"] == 100
    assert dashboard["userProfile"] == {"username": demo.users[0].name, "totalXP": 100}


def test_user_progress_default_is_zeroed(api: httpx.Client, demo: DemoData) -> None:
    response = api.get(
        f"/api/batch-progress/user/{demo.mentor.id}/{demo.batch_id}",
        headers=bearer(admin_token(api, demo)),
    )
    progress = response.json()["progress"]
    assert progress["progressMetrics"]["completionPercentage"] == 0
    assert progress["activityLog"] == []


def test_all_progress_of_a_user(api: httpx.Client, demo: DemoData) -> None:
    path = f"/api/batch-progress/user/{demo.users[0].id}"
    assert api.get(path).status_code == 401
    progress = api.get(path, headers=bearer(user_token(api, demo))).json()["progress"]
    assert [p["batchId"]["_id"] for p in progress] == [demo.batch_id]


def test_batch_progress_sorted_by_completion(api: httpx.Client, demo: DemoData) -> None:
    submit(api, demo.task_ids[0], demo.users[2].id)
    submit(api, demo.task_ids[1], demo.users[2].id)
    submit(api, demo.task_ids[0], demo.users[1].id)
    body = api.get(f"/api/batch-progress/batch/{demo.batch_id}").json()
    assert body["success"] is True
    assert body["batch"]["_id"] == demo.batch_id
    order = [p["userId"]["_id"] for p in body["studentsProgress"]]
    assert order == [demo.users[2].id, demo.users[1].id, demo.users[0].id]
    assert [p["progressMetrics"]["completionPercentage"] for p in body["studentsProgress"]] == [
        50,
        25,
        0,
    ]


def test_activity_feed_newest_first_with_limit(api: httpx.Client, demo: DemoData) -> None:
    submit(api, demo.task_ids[3], demo.users[0].id)
    path = f"/api/batch-progress/activity/{demo.batch_id}"
    activities = api.get(path).json()["activities"]
    assert len(activities) == 4
    newest = activities[0]
    assert newest["action"] == "task_completed"
    assert newest["taskId"]["name"] == "Churn case study"
    assert newest["user"]["username"] == demo.users[0].name
    assert len(api.get(path, params={"limit": 2}).json()["activities"]) == 2


def test_initialize_progress_once(api: httpx.Client, demo: DemoData) -> None:
    payload = {"userId": demo.mentor.id, "batchId": demo.batch_id}
    api.headers.update(bearer(admin_token(api, demo)))
    created = api.post("/api/batch-progress/initialize", json=payload)
    assert created.status_code == 201
    assert created.json()["success"] is True
    assert len(created.json()["progress"]["taskProgress"]) == 4
    again = api.post("/api/batch-progress/initialize", json=payload)
    assert again.status_code == 400


def test_submit_task_route(api: httpx.Client, demo: DemoData) -> None:
    user = demo.users[1]
    payload = {
        "userId": user.id,
        "taskId": demo.task_ids[2],
        "batchId": demo.batch_id,
        "submissionData": {"grade": 90},
    }
    api.headers.update(bearer(user_token(api, demo, 1)))
    response = api.post("/api/batch-progress/submit-task", json=payload)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["taskProgress"]["status"] == "graded"
    assert data["taskProgress"]["grade"] == 90
    assert data["progressMetrics"]["gradedTasks"] == 1
    assert data["currentStreak"] == 1
    assert data["isFirstTaskOfDay"] is True
    assert (data["pointsEarned"], data["newTotalXP"]) == (200, 200)
    assert body["realTimeData"]["currentStreak"] == 1
    assert body["realTimeData"]["batchProgress"]["completedTasks"] == 1
    assert xps_of(api, user.id) == 200
    again = api.post("/api/batch-progress/submit-task", json=payload)
    assert again.status_code == 200, "a repeat is an attempt, worth no XP"
    assert xps_of(api, user.id) == 200
    later = dict(payload, taskId=demo.task_ids[3])
    assert (
        api.post("/api/batch-progress/submit-task", json=later).json()["data"]["isFirstTaskOfDay"]
        is False
    )


def test_submit_task_route_missing_field(api: httpx.Client, demo: DemoData) -> None:
    response = api.post(
        "/api/batch-progress/submit-task",
        json={"userId": demo.users[0].id},
        headers=bearer(user_token(api, demo)),
    )
    assert response.status_code == 400


# --- demo data and storage ------------------------------------------------------------------


def test_seed_demo_builds_an_enrolled_batch(api: httpx.Client, demo: DemoData) -> None:
    assert demo.admin_id.startswith("ADM")
    assert len(demo.users) == 3
    assert len(demo.category_ids) == 2
    assert len(demo.task_ids) == 4
    batch = api.get(f"/api/batches/{demo.batch_id}").json()
    assert [user["_id"] for user in batch["users"]] == [user.id for user in demo.users]
    for index in range(3):
        assert len(progress_of(api, demo, index)["taskProgress"]) == 4


def test_seed_demo_twice_raises(backend: GamifyBackend, demo: DemoData) -> None:
    with pytest.raises(SeedError):
        backend.seed_demo()


def test_file_database_keeps_data(tmp_path: Any) -> None:
    path = tmp_path / "gamify.sqlite"
    secret = b"s" * 32
    with GamifyBackend(path, secret=secret) as first:
        demo = first.seed_demo()
    with (
        GamifyBackend(path, secret=secret) as second,
        httpx.Client(transport=second.transport(), base_url=BASE) as api,
    ):
        assert len(api.get("/api/task/all").json()) == 4
        assert login(api, demo.admin.email, "admin")
