"""``client.categories``: every route of ``/api/categories`` on both clients, against the real
service's payloads (respx) and against the reference backend, with the area's defects on."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from gamify_client import (
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from gamify_client.keys import CacheKey
from gamify_client.models import Category, MutationResult, Task
from gamify_client.realtime import WRITES, MutationContext
from gamify_client.resources import categories as category_endpoints
from gamify_client.testing import DemoData, GamifyBackend

from . import _api_support
from ._api_support import (
    Api,
    ApiFactory,
    error_body,
    last_request,
    sent_json,
)

# The shared fixtures, by name.
make_api = _api_support.make_api
router = _api_support.router

BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
CATEGORY_ID = "65f0c1a2b3c4d5e6f7a8b920"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
MISSING_ID = "0123456789abcdef01234567"


def category_doc(**changes: Any) -> dict[str, Any]:
    """A category as the real service stores it: no timestamps."""
    doc: dict[str, Any] = {
        "_id": CATEGORY_ID,
        "name": "Backend",
        "emoji": "🛠️",
        "color": "#3b82f6",
        "tasks": [TASK_ID],
        "batch": BATCH_ID,
        "__v": 0,
    }
    doc.update(changes)
    return doc


def task_doc() -> dict[str, Any]:
    return {
        "_id": TASK_ID,
        "name": "Build a REST API",
        "description": "CRUD",
        "details": "Express",
        "category": CATEGORY_ID,
        "difficulty": "Easy",
        "points": 100,
        "__v": 0,
    }


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    return make_api()


# The real service's payloads.


def test_list_of_one_batch_has_task_ids(api: Api, router: respx.MockRouter) -> None:
    route = router.get("/api/categories/all").respond(200, json=[category_doc()])

    categories = api(lambda c: c.categories.list(batch_id=BATCH_ID))

    assert dict(last_request(route).url.params) == {"batchId": BATCH_ID}
    assert categories[0].tasks == [TASK_ID]


def test_get_populates_the_tasks(api: Api, router: respx.MockRouter) -> None:
    route = router.get(f"/api/categories/all/tasks/{CATEGORY_ID}").respond(
        200, json=category_doc(tasks=[task_doc()])
    )

    category = api(lambda c: c.categories.get(CATEGORY_ID, batch_id=BATCH_ID))

    assert dict(last_request(route).url.params) == {"batchId": BATCH_ID}
    assert isinstance(category, Category)
    assert isinstance(category.tasks[0], Task)
    assert category.tasks[0].name == "Build a REST API"


def test_get_of_another_batch_is_forbidden(api: Api, router: respx.MockRouter) -> None:
    router.get(f"/api/categories/all/tasks/{CATEGORY_ID}").respond(
        403, json={"message": "Category does not belong to this batch"}
    )

    with pytest.raises(PermissionDeniedError, match="does not belong"):
        api(lambda c: c.categories.get(CATEGORY_ID, batch_id=MISSING_ID))


def test_create_without_emoji_sends_none(api: Api, router: respx.MockRouter) -> None:
    route = router.post("/api/categories/create").respond(
        201, json=category_doc(emoji="📁", tasks=[])
    )

    result = api(lambda c: c.categories.create(name="Backend", batch=BATCH_ID, color="#fff"))

    assert sent_json(route) == {"name": "Backend", "batch": BATCH_ID, "color": "#fff"}
    assert isinstance(result, MutationResult)
    assert result.data.emoji == "📁"


def test_create_real_500_without_emoji(api: Api, router: respx.MockRouter) -> None:
    error = {
        "errors": {"emoji": {"name": "ValidatorError", "kind": "required", "path": "emoji"}},
        "_message": "Category validation failed",
        "name": "ValidationError",
        "message": "Category validation failed: emoji: Path `emoji` is required.",
    }
    router.post("/api/categories/create").respond(
        500, json={"message": "Failed to create category", "error": error}
    )

    with pytest.raises(InternalServerError, match="Failed to create category") as caught:
        api(lambda c: c.categories.create(name="Backend", batch=BATCH_ID))
    assert error_body(caught.value)["error"]["name"] == "ValidationError"


def test_create_without_batch_is_a_bad_request(api: Api, router: respx.MockRouter) -> None:
    router.post("/api/categories/create").respond(
        400, json={"message": "Batch is required for category"}
    )

    with pytest.raises(BadRequestError, match="Batch is required"):
        api(lambda c: c.categories.create(name="Backend", batch=""))


def test_edit_sends_only_the_given_fields(api: Api, router: respx.MockRouter) -> None:
    route = router.patch(f"/api/categories/edit/{CATEGORY_ID}").respond(
        200, json=category_doc(name="APIs")
    )

    result = api(lambda c: c.categories.edit(CATEGORY_ID, name="APIs"))

    assert sent_json(route) == {"name": "APIs"}
    assert result.data.name == "APIs"


def test_edit_missing_is_not_found(api: Api, router: respx.MockRouter) -> None:
    router.patch(f"/api/categories/edit/{CATEGORY_ID}").respond(
        404, json={"message": "Category not found"}
    )

    with pytest.raises(NotFoundError, match="Category not found"):
        api(lambda c: c.categories.edit(CATEGORY_ID, color="#000"))


def test_delete_returns_the_category(api: Api, router: respx.MockRouter) -> None:
    route = router.delete(f"/api/categories/delete/{CATEGORY_ID}").respond(200, json=category_doc())

    result = api(lambda c: c.categories.delete(CATEGORY_ID))

    assert last_request(route).content == b""
    assert result.data.id == CATEGORY_ID


# The writes' rules.


def test_edit_and_delete_are_repeatable_create_is_not() -> None:
    assert WRITES["categories.edit"].repeatable
    assert WRITES["categories.delete"].repeatable
    assert not WRITES["categories.create"].repeatable


def test_delete_invalidates_what_its_tasks_were_part_of() -> None:
    context = MutationContext(
        "categories.delete", {"category_id": CATEGORY_ID}, MutationResult(data=None)
    )
    keys = category_endpoints.DELETE.rule.invalidates(context)
    assert (CacheKey.CATEGORY_TASKS, CATEGORY_ID) in keys
    for family in (
        CacheKey.CATEGORIES,
        CacheKey.TASKS,
        CacheKey.BATCH,
        CacheKey.DASHBOARD,
        CacheKey.BATCH_PROGRESS,
        CacheKey.USER_PROGRESS,
    ):
        assert family in keys


def test_create_patches_the_batchs_cached_listing(api: Api) -> None:
    old = Category.model_validate(category_doc(_id=TASK_ID))
    api.client.refresh_manager.set((CacheKey.CATEGORIES, BATCH_ID), [old])
    with respx.mock(base_url="http://gamify.test") as mock:
        mock.post("/api/categories/create").respond(201, json=category_doc())
        api(lambda c: c.categories.create(name="Backend", batch=BATCH_ID))

    entry = api.client.refresh_manager.peek((CacheKey.CATEGORIES, BATCH_ID))
    assert entry is not None
    assert [category.id for category in entry.data] == [TASK_ID, CATEGORY_ID]


# Against the reference backend.


def _as(make_api: ApiFactory, backend: GamifyBackend, user_id: str | None) -> Api:
    token = backend.token_for(user_id) if user_id is not None else None
    return make_api(backend=backend, token=token)


@pytest.fixture
def demo(backend: GamifyBackend) -> DemoData:
    return backend.seed_demo()


def test_backend_category_lifecycle(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    admin = _as(make_api, backend, demo.admin.id)
    created = admin(lambda c: c.categories.create(name="Cloud", batch=demo.batch_id))
    assert (created.data.emoji, created.data.tasks, created.data.created_at) == ("📁", [], None)
    listed = admin(lambda c: c.categories.list(batch_id=demo.batch_id))
    assert created.data.id in [category.id for category in listed]

    edited = admin(lambda c: c.categories.edit(created.data.id, color="#123456"))
    assert (edited.data.name, edited.data.color) == ("Cloud", "#123456")
    with pytest.raises(PermissionDeniedError):
        admin(lambda c: c.categories.get(created.data.id, batch_id=MISSING_ID))

    with pytest.raises(BadRequestError, match="name is required"):
        admin(lambda c: c.categories.create(name="", batch=demo.batch_id))
    with pytest.raises(BadRequestError, match="Batch is required"):
        admin(lambda c: c.categories.create(name="X", batch=""))


def test_backend_delete_cascades_to_tasks_batches_and_progress(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    admin = _as(make_api, backend, demo.admin.id)
    learner = _as(make_api, backend, demo.users[0].id)
    category_id = demo.category_ids[0]
    doomed = set(demo.task_ids[:2])

    deleted = admin(lambda c: c.categories.delete(category_id))

    assert deleted.data.id == category_id
    remaining = {task.id for task in admin(lambda c: c.tasks.list())}
    assert remaining == set(demo.task_ids[2:])
    progress = learner(lambda c: c.progress.user(demo.users[0].id, demo.batch_id))
    assert progress.progress_metrics.total_tasks == 2
    assert not doomed & {getattr(e.task_id, "id", e.task_id) for e in progress.task_progress}
    batch = admin(lambda c: c.batches.get(demo.batch_id))
    assert {getattr(task, "id", task) for task in batch.tasks} == set(demo.task_ids[2:])
    with pytest.raises(NotFoundError, match="Category not found"):
        admin(lambda c: c.categories.delete(category_id))


def test_backend_delete_of_a_missing_category_deletes_nothing(
    make_api: ApiFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    admin = _as(make_api, backend, demo.admin.id)
    with pytest.raises(NotFoundError, match="Category not found"):
        admin(lambda c: c.categories.delete(MISSING_ID))
    assert len(admin(lambda c: c.tasks.list())) == len(demo.task_ids)


def test_backend_fixed_auth(make_api: ApiFactory, backend: GamifyBackend, demo: DemoData) -> None:
    anonymous = _as(make_api, backend, None)
    learner = _as(make_api, backend, demo.users[0].id)
    mentor = _as(make_api, backend, demo.mentor.id)
    # The real frontend's course page sends no credential: it keeps working. A learner's
    # token is refused.
    created = anonymous(lambda c: c.categories.create(name="X", batch=demo.batch_id))
    assert created.data.name == "X"
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.categories.create(name="Y", batch=demo.batch_id))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.categories.delete(demo.category_ids[0]))
    with pytest.raises(PermissionDeniedError):
        learner(lambda c: c.categories.edit(demo.category_ids[0], name="Mine"))
    assert mentor(lambda c: c.categories.edit(demo.category_ids[0], name="Web")).data.name == "Web"
    # Reads stay open: the course pages send no credential.
    assert len(anonymous(lambda c: c.categories.list())) == 3


# Each defect of the area, switched on.


@pytest.fixture
def real(request: pytest.FixtureRequest) -> Any:
    backend = GamifyBackend(defects=tuple(request.param))
    yield backend
    backend.close()


@pytest.mark.parametrize("real", [["category_emoji_required"]], indirect=True)
def test_defect_category_emoji_required(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo = real.seed_demo()
    admin = _as(make_api, real, demo.admin.id)
    with pytest.raises(InternalServerError, match="Failed to create category") as caught:
        admin(lambda c: c.categories.create(name="Cloud", batch=demo.batch_id))
    assert error_body(caught.value)["error"]["errors"]["emoji"]["kind"] == "required"
    made = admin(lambda c: c.categories.create(name="Cloud", emoji="☁️", batch=demo.batch_id))
    assert made.data.emoji == "☁️"


@pytest.mark.parametrize("real", [["no_cascade", "create_ignores_fields"]], indirect=True)
def test_defect_no_cascade_deletes_tasks_before_its_404(
    make_api: ApiFactory, real: GamifyBackend
) -> None:
    demo = real.seed_demo()
    admin = _as(make_api, real, demo.admin.id)
    learner = _as(make_api, real, demo.users[0].id)
    # A task of a category that does not exist: the real delete removes it, then answers 404.
    stray = admin(
        lambda c: c.tasks.create(
            name="Stray", description="d", details="x", category=MISSING_ID, difficulty="Easy"
        )
    ).data
    with pytest.raises(NotFoundError, match="Category not found"):
        admin(lambda c: c.categories.delete(MISSING_ID))
    assert stray.id not in {task.id for task in admin(lambda c: c.tasks.list())}

    admin(lambda c: c.categories.delete(demo.category_ids[0]))
    # Nothing else is cleaned: the progress still counts the deleted tasks.
    progress = learner(lambda c: c.progress.user(demo.users[0].id, demo.batch_id))
    assert progress.progress_metrics.total_tasks == len(demo.task_ids)


@pytest.mark.parametrize("real", [["validation_500"]], indirect=True)
def test_defect_validation_500(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo = real.seed_demo()
    admin = _as(make_api, real, demo.admin.id)
    with pytest.raises(InternalServerError, match="Failed to create category"):
        admin(lambda c: c.categories.create(name="", batch=demo.batch_id))
    with pytest.raises(InternalServerError, match="Failed to create category"):
        admin(lambda c: c.categories.create(name="X", batch="not-an-id"))


@pytest.mark.parametrize("real", [["missing_auth"]], indirect=True)
def test_defect_missing_auth(make_api: ApiFactory, real: GamifyBackend) -> None:
    demo = real.seed_demo()
    anonymous = _as(make_api, real, None)
    made = anonymous(lambda c: c.categories.create(name="Open", batch=demo.batch_id))
    assert anonymous(lambda c: c.categories.delete(made.data.id)).data.id == made.data.id
