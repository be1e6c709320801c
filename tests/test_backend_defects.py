"""The real service's defects, switched back on in the reference backend."""

from __future__ import annotations

import httpx
import pytest

from gamify_client.testing import KNOWN_DEFECTS, DemoData, GamifyBackend

from ._api_support import seeded_admin_headers

BASE = "http://gamify.test"


def submit(api: httpx.Client, task_id: str, user_id: str) -> httpx.Response:
    return api.post(
        f"/api/task/{task_id}/submit",
        json={"userId": user_id, "submissionType": "Text Entry", "value": "done"},
        headers=seeded_admin_headers(api),
    )


def xps_of(api: httpx.Client, user_id: str) -> int:
    xps: int = api.get(f"/api/user/{user_id}").json()["xps"]
    return xps


def test_known_defects_are_the_contracts_46_and_xp_not_updated() -> None:
    assert len(KNOWN_DEFECTS) == 47
    assert {"xp_not_updated", "double_xp", "submit_no_streak", "task_create_500"} < KNOWN_DEFECTS
    assert {"missing_auth", "no_cascade", "debug_route_public"} < KNOWN_DEFECTS


def test_unknown_defect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown defect"):
        GamifyBackend(defects={"typo"})  # type: ignore[arg-type]


def test_xp_not_updated_on_both_submit_routes(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.defects.add("xp_not_updated")
    user = demo.users[0]
    assert submit(api, demo.task_ids[0], user.id).json()["realTimeData"]["newTotalXP"] == 0
    progress = api.post(
        "/api/batch-progress/submit-task",
        json={"userId": user.id, "taskId": demo.task_ids[1], "batchId": demo.batch_id},
        headers={"Authorization": f"Bearer {backend.token_for(user.id)}"},
    )
    assert progress.status_code == 200
    assert xps_of(api, user.id) == 0


def test_double_xp_for_a_task_in_a_batch(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.defects.add("double_xp")
    body = submit(api, demo.task_ids[0], demo.users[0].id).json()
    assert body["progress"]["newTotalXP"] == 200
    assert xps_of(api, demo.users[0].id) == 200


def test_submit_no_streak_in_submit_real_time_data(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.defects.add("submit_no_streak")
    real_time = submit(api, demo.task_ids[0], demo.users[0].id).json()["realTimeData"]
    assert "currentStreak" not in real_time
    assert real_time["newTotalXP"] == 100


def test_task_create_500_answers_500_after_writing(
    backend: GamifyBackend, api: httpx.Client
) -> None:
    demo = backend.seed_demo()
    backend.defects.add("task_create_500")
    response = api.post(
        "/api/task/create",
        json={
            "name": "Ghost",
            "description": "d",
            "details": "d",
            "category": demo.category_ids[0],
            "difficulty": "Easy",
            "batch": demo.batch_id,
        },
        headers=seeded_admin_headers(api),
    )
    assert response.status_code == 500
    assert response.json() == {"message": "Failed to create task", "error": {}}
    names = [task["name"] for task in api.get("/api/task/all").json()]
    assert names.count("Ghost") == 1


def test_defects_can_be_switched_off(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    backend.defects.add("xp_not_updated")
    assert "xp_not_updated" in backend.defects
    backend.defects.discard("xp_not_updated")
    assert len(backend.defects) == 0
    backend.defects.add("double_xp")
    backend.defects.add("submit_no_streak")
    backend.defects.clear()
    assert list(backend.defects) == []
    assert submit(api, demo.task_ids[0], demo.users[0].id).json()["progress"]["newTotalXP"] == 100


def test_seed_demo_works_whatever_defects_are_on() -> None:
    with GamifyBackend(defects={"task_create_500", "xp_not_updated"}) as backend:
        assert len(backend.seed_demo().task_ids) == 4
        assert set(backend.defects) == {"task_create_500", "xp_not_updated"}
