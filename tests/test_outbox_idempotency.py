"""The reference backend's ``Idempotency-Key``: same key, same answer, written once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.testing._express import BackendResponse, json_response
from gamify_client.testing._idempotency import IdempotencyKeys

BASE_URL = "http://gamify.test"


@pytest.fixture
def admin(backend: GamifyBackend, demo: DemoData) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {backend.token_for(demo.admin.id)}"}
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL, headers=headers) as client:
        yield client


def _post(client: httpx.Client, path: str, body: object, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, json=body, headers=headers)


def test_the_same_key_gets_the_first_answer_and_writes_once(
    admin: httpx.Client, demo: DemoData
) -> None:
    path = f"/api/batches/{demo.batch_id}/messages"
    first = _post(admin, path, {"message": "once"}, "k-1")
    again = _post(admin, path, {"message": "once"}, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"] == "k-1"
    messages = admin.get(path).json()
    listed = messages if isinstance(messages, list) else messages.get("messages", [])
    assert [m["message"] for m in listed].count("once") == 1


def test_another_key_or_no_key_writes_again(admin: httpx.Client, demo: DemoData) -> None:
    path = f"/api/batches/{demo.batch_id}/messages"
    ids = {
        _post(admin, path, {"message": "twice"}, "k-a").json()["_id"],
        _post(admin, path, {"message": "twice"}, "k-b").json()["_id"],
        _post(admin, path, {"message": "twice"}, None).json()["_id"],
    }
    assert len(ids) == 3


def test_the_same_key_with_another_body_is_refused(admin: httpx.Client, demo: DemoData) -> None:
    path = f"/api/batches/{demo.batch_id}/messages"
    assert _post(admin, path, {"message": "a"}, "k-2").status_code == 201
    refused = _post(admin, path, {"message": "b"}, "k-2")
    assert refused.status_code == 422
    assert "already used" in refused.json()["message"]


def test_a_refusal_is_kept_too(backend: GamifyBackend, demo: DemoData) -> None:
    """The first answer is kept whatever its status: a repeat cannot turn a refusal into a
    write that the first attempt never made."""
    user = demo.users[0]
    headers = {"Authorization": f"Bearer {backend.token_for(user.id)}"}
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL, headers=headers) as c:
        path = f"/api/task/{demo.task_ids[0]}/submit"
        refused = _post(c, path, {"userId": user.id}, "k-3")
        assert refused.status_code == 400
        assert _post(c, path, {"userId": user.id}, "k-3").json() == refused.json()


def test_reads_are_never_stored_but_the_key_is_echoed(admin: httpx.Client) -> None:
    response = admin.get("/api/task/all", headers={"Idempotency-Key": "k-read"})
    assert response.status_code == 200
    assert response.headers["Idempotency-Key"] == "k-read"
    assert (
        "Idempotent-Replayed"
        not in admin.get("/api/task/all", headers={"Idempotency-Key": "k-read"}).headers
    )


def test_a_disabled_table_ignores_the_header_like_the_real_service(
    backend: GamifyBackend, admin: httpx.Client, demo: DemoData
) -> None:
    backend.idempotency.enabled = False
    path = f"/api/batches/{demo.batch_id}/messages"
    first = _post(admin, path, {"message": "x"}, "k-4")
    second = _post(admin, path, {"message": "x"}, "k-4")
    assert first.json()["_id"] != second.json()["_id"]
    assert "Idempotency-Key" not in first.headers


def _counting() -> tuple[list[int], Callable[[], BackendResponse]]:
    calls: list[int] = []

    def handle() -> BackendResponse:
        calls.append(1)
        return json_response(201, {"n": len(calls)})

    return calls, handle


def test_keys_expire_after_their_time() -> None:
    now = [0.0]
    keys = IdempotencyKeys(ttl=10.0, clock=lambda: now[0])
    calls, handle = _counting()
    keys.answer("POST", "/x", {"idempotency-key": "k"}, b"{}", handle)
    now[0] = 9.0
    keys.answer("POST", "/x", {"idempotency-key": "k"}, b"{}", handle)
    assert len(calls) == 1
    now[0] = 21.0
    keys.answer("POST", "/x", {"idempotency-key": "k"}, b"{}", handle)
    assert len(calls) == 2


def test_the_table_is_bounded() -> None:
    keys = IdempotencyKeys(capacity=3)
    calls, handle = _counting()
    for n in range(10):
        keys.answer("POST", "/x", {"idempotency-key": f"k{n}"}, b"{}", handle)
    assert len(keys) == 3 and len(calls) == 10
    # The oldest were dropped: k0 is handled again, k9 is not.
    keys.answer("POST", "/x", {"idempotency-key": "k9"}, b"{}", handle)
    assert len(calls) == 10


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
    second=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
    key=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
)
def test_any_body_repeats_its_answer_and_any_other_body_is_refused(
    first: dict[str, object], second: dict[str, object], key: str
) -> None:
    keys = IdempotencyKeys()
    calls, handle = _counting()
    one, two = json.dumps(first).encode(), json.dumps(second).encode()
    answer = keys.answer("POST", "/x", {"idempotency-key": key}, one, handle)
    repeat = keys.answer("POST", "/x", {"idempotency-key": key}, one, handle)
    other = keys.answer("POST", "/x", {"idempotency-key": key}, two, handle)
    assert len(calls) == 1
    assert repeat.body == answer.body and repeat.status == 201
    assert other.status == (201 if one == two else 422)
