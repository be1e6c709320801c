"""Surveys: ``/api/survey``, against the real service's payloads (respx) and the reference
backend, for the sync and the async client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from gamify_client import (
    AuthenticationError,
    BadRequestError,
    CacheKey,
    Event,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.models import Category, SurveyResponse
from gamify_client.testing import DemoData, GamifyBackend
from tests import _api_support
from tests._api_support import Api, ApiFactory

BASE_URL = "http://gamify.test"
USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
CATEGORY_ID = "65f0c1a2b3c4d5e6f7a8b920"
RESPONSE_ID = "65f0c1a2b3c4d5e6f7a8b980"
OLDER_ID = "65f0c1a2b3c4d5e6f7a8b981"
AT = "2024-03-15T08:41:03.256Z"


make_api = _api_support.make_api
router = _api_support.router


def response_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": RESPONSE_ID,
        "userId": USER_ID,
        "categoryId": {"_id": CATEGORY_ID, "name": "Backend", "emoji": "🛠️"},
        "answers": [4, 5, 3],
        "timestamp": AT,
        "__v": 0,
    }
    doc.update(changes)
    return doc


# --- respx ---------------------------------------------------------------------------------------


def test_responses_parse_the_real_list(make_api: ApiFactory, router: respx.MockRouter) -> None:
    older = response_doc(_id=OLDER_ID, categoryId=None, timestamp="2024-03-01T00:00:00.000Z")
    route = router.get(f"/api/survey/responses/{USER_ID}").respond(
        200, json={"responses": [response_doc(), older]}
    )

    responses = make_api(token="t")(lambda c: c.surveys.responses(USER_ID))

    assert route.calls.last.request.headers["authorization"] == "Bearer t"
    assert [r.id for r in responses] == [RESPONSE_ID, OLDER_ID]
    assert isinstance(responses[0].category_id, Category)
    assert responses[0].category_id.emoji == "🛠️"
    assert responses[0].answers == [4, 5, 3]
    # A deleted category populates as null.
    assert responses[1].category_id is None


def test_submit_sends_the_answers_and_parses_the_response(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    saved = response_doc(categoryId=CATEGORY_ID)
    route = router.post("/api/survey/response").respond(
        200, json={"success": True, "response": saved}
    )

    result = make_api(token="t")(
        lambda c: c.surveys.submit(
            user_id=USER_ID, category_id=CATEGORY_ID, answers=[4, 5, 3], timestamp=AT
        )
    )

    assert json.loads(route.calls.last.request.content) == {
        "userId": USER_ID,
        "categoryId": CATEGORY_ID,
        "answers": [4, 5, 3],
        "timestamp": AT,
    }
    assert isinstance(result.data, SurveyResponse)
    assert (result.data.id, result.data.category_id) == (RESPONSE_ID, CATEGORY_ID)


def test_submit_invalidates_the_users_responses_only(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    router.post("/api/survey/response").respond(
        200, json={"success": True, "response": response_doc(categoryId=CATEGORY_ID)}
    )
    api = make_api(token="t")
    manager = api.client.refresh_manager
    manager.set((CacheKey.SURVEYS, USER_ID), [])
    manager.set((CacheKey.SURVEYS, RESPONSE_ID), [])
    seen: list[Any] = []
    api.client.events.subscribe(Event.DATA_REFRESH, seen.append)

    api(lambda c: c.surveys.submit(user_id=USER_ID, category_id=CATEGORY_ID, answers=[1]))

    mine, other = (manager.peek((CacheKey.SURVEYS, i)) for i in (USER_ID, RESPONSE_ID))
    assert mine is not None and mine.is_invalidated
    assert other is not None and not other.is_invalidated
    assert [item.id for item in seen] == [RESPONSE_ID]


def test_a_failed_save_is_an_error_and_never_resent(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    route = router.post("/api/survey/response").respond(
        500, json={"error": "Failed to save survey response"}
    )

    with pytest.raises(InternalServerError, match="Failed to save survey response"):
        make_api(token="t", max_retries=2)(
            lambda c: c.surveys.submit(user_id=USER_ID, category_id="x", answers=[1])
        )

    assert route.call_count == 1


def test_no_token_is_an_authentication_error(
    make_api: ApiFactory, router: respx.MockRouter
) -> None:
    router.get(f"/api/survey/responses/{USER_ID}").respond(
        401, json={"message": "No token provided, authorization denied."}
    )

    with pytest.raises(AuthenticationError, match="authorization denied"):
        make_api()(lambda c: c.surveys.responses(USER_ID))


# --- the reference backend ----------------------------------------------------------------------


@pytest.fixture
def as_user(make_api: ApiFactory, backend: GamifyBackend, demo: DemoData) -> Callable[[int], Api]:
    def make(index: int) -> Api:
        return make_api(backend=backend, token=backend.token_for(demo.users[index].id))

    return make


def test_a_saved_response_is_read_back_newest_first(
    as_user: Callable[[int], Api], demo: DemoData
) -> None:
    learner = as_user(0)
    me, (first, second) = demo.users[0].id, demo.category_ids

    learner(
        lambda c: c.surveys.submit(
            user_id=me, category_id=first, answers=[3, 4], timestamp="2024-01-02T00:00:00.000Z"
        )
    )
    saved = learner(lambda c: c.surveys.submit(user_id=me, category_id=second, answers=["5"]))

    assert saved.data.answers == [5]
    responses = learner(lambda c: c.surveys.responses(me))
    assert responses[0].id == saved.data.id
    assert [r.category_id.name for r in responses] == ["Data Analysis", "Web Development"]
    assert responses[1].timestamp.year == 2024


def test_only_the_user_or_staff_read_and_write_responses(
    as_user: Callable[[int], Api],
    make_api: ApiFactory,
    demo: DemoData,
    backend: GamifyBackend,
) -> None:
    learner, other = as_user(0), demo.users[1].id
    admin = make_api(backend=backend, token=backend.token_for(demo.admin.id))
    admin(lambda c: c.surveys.submit(user_id=other, category_id=demo.category_ids[0], answers=[2]))

    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.surveys.responses(other))
    # Fixed: the token names who answers, whatever the body says.
    mine = learner(
        lambda c: c.surveys.submit(user_id=other, category_id=demo.category_ids[0], answers=[1])
    )
    assert mine.data.user_id == demo.users[0].id
    assert len(admin(lambda c: c.surveys.responses(other))) == 1

    backend.defects.add("missing_auth")

    assert len(learner(lambda c: c.surveys.responses(other))) == 1
    trusted = learner(
        lambda c: c.surveys.submit(user_id=other, category_id=demo.category_ids[0], answers=[1])
    )
    assert trusted.data.user_id == other


@pytest.mark.parametrize(
    "fields",
    [
        {"answers": ["many"]},
        {"answers": [{"score": 1}]},
        {"timestamp": "yesterday"},
        {"category_id": "nope"},
    ],
)
def test_bad_input_is_a_bad_request_or_the_real_500(
    as_user: Callable[[int], Api], demo: DemoData, backend: GamifyBackend, fields: dict[str, Any]
) -> None:
    learner = as_user(0)
    arguments: dict[str, Any] = {
        "user_id": demo.users[0].id,
        "category_id": demo.category_ids[0],
        "answers": [1],
        **fields,
    }

    with pytest.raises(BadRequestError):
        learner(lambda c: c.surveys.submit(**arguments))

    backend.defects.add("validation_500")

    with pytest.raises(InternalServerError, match="Failed to save survey response"):
        learner(lambda c: c.surveys.submit(**arguments))
    assert learner(lambda c: c.surveys.responses(demo.users[0].id)) == []


def test_a_malformed_user_id_is_not_found_or_the_real_500(
    as_user: Callable[[int], Api], backend: GamifyBackend
) -> None:
    learner = as_user(0)

    with pytest.raises(NotFoundError, match="User not found"):
        learner(lambda c: c.surveys.responses("me"))

    backend.defects.add("validation_500")

    with pytest.raises(InternalServerError, match="Failed to fetch survey responses"):
        learner(lambda c: c.surveys.responses("me"))


def test_missing_fields_are_a_bad_request(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    headers = {"authorization": f"Bearer {backend.token_for(demo.users[0].id)}"}

    answer = api.post("/api/survey/response", json={"answers": [1]}, headers=headers)

    assert answer.status_code == 400
    assert "categoryId" in answer.json()["message"]
