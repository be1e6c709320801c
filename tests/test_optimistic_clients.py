"""Optimistic writes of both clients against the reference backend: the prediction reaches
observers before the answer, a 400 rolls back exactly that change (a change that arrived
meanwhile stays), and two clients writing the same task settle on the server's truth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gamify_client import (
    BadRequestError,
    CacheKey,
    ClientConfig,
    Event,
    GamifyError,
)
from gamify_client.models import Dashboard, Task
from gamify_client.optimistic import OptimisticConflict, OptimisticRollback
from gamify_client.realtime import evolve
from gamify_client.resources.tasks import edit_task, submit_task
from gamify_client.testing import DemoData, GamifyBackend

from ._flavours import FLAVOURS, Client, Handler, Harness, open_harness


@pytest.fixture(params=FLAVOURS)
def harness(
    request: pytest.FixtureRequest, backend: GamifyBackend, config: ClientConfig
) -> Iterator[Harness]:
    yield from open_harness(request, backend, config)


def _events(client: Client) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    client.events.subscribe_all(lambda event, payload: seen.append((event, payload)))
    return seen


def _submit_type(tasks: list[Task], task_id: str) -> str:
    return next(task.submission_types[0] for task in tasks if task.id == task_id)


def test_a_submit_shows_its_xp_before_the_answer_and_a_400_takes_back_only_that(
    harness: Harness, demo: DemoData
) -> None:
    user_id, task_id = demo.users[0].id, demo.task_ids[0]
    client = harness.client(user_id, optimistic=True)
    key = (CacheKey.DASHBOARD, user_id)
    manager = client.refresh_manager
    tasks = harness.run(client.tasks.list)
    manager.set(CacheKey.TASKS, tasks)
    manager.set(key, harness.run(client.progress.dashboard))
    points = next(task.points for task in tasks if task.id == task_id)
    observed: list[int] = []
    manager.subscribe(
        key, lambda data: observed.append(data.overall_stats.user_total_xp), invalidations=False
    )
    events = _events(client)
    during: list[Any] = []

    def meanwhile(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/submit"):
            return None
        during.append(manager.peek(key))
        # Another change of the same dashboard arrives while the write is out.
        manager.update(
            key,
            lambda d: evolve(
                d, {"user_profile": evolve(d.user_profile, {"username": "elsewhere"})}
            ),
        )
        return httpx.Response(400, json={"success": False, "message": "Task already submitted"})

    harness.intercept = meanwhile
    with pytest.raises(BadRequestError):
        harness.run(
            lambda: client.tasks.submit(
                task_id, user_id=user_id, submission_type=_submit_type(tasks, task_id), value="v"
            )
        )

    seen_then = during[0]
    assert seen_then.optimistic
    assert seen_then.data.overall_stats.user_total_xp == points
    # Observers held the prediction, then the other change, then the rollback.
    assert observed == [points, points, 0]
    after = manager.peek(key)
    assert after is not None and not after.optimistic
    dashboard = after.data
    assert isinstance(dashboard, Dashboard)
    assert dashboard.overall_stats.user_total_xp == 0
    assert dashboard.user_profile.username == "elsewhere"
    assert all(p.progress_metrics.completed_tasks == 0 for p in dashboard.batch_progress)
    rollbacks = [payload for event, payload in events if event == Event.OPTIMISTIC_ROLLBACK]
    assert len(rollbacks) == 1 and isinstance(rollbacks[0], OptimisticRollback)
    assert key in rollbacks[0].keys and isinstance(rollbacks[0].error, BadRequestError)
    # A definitive 400: nothing to refetch, the key is not invalidated.
    assert not after.is_invalidated


def _server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="<html>oops</html>")


def _answer_lost(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("lost", request=request)


def _never_sent(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("answer", "refetched"),
    [(_server_error, True), (_answer_lost, True), (_never_sent, False)],
    ids=["500", "answer-lost", "never-sent"],
)
def test_a_failure_that_may_have_applied_the_write_also_refetches(
    harness: Harness, demo: DemoData, answer: Handler, refetched: bool
) -> None:
    admin = harness.client(demo.admin.id, optimistic=True, max_retries=0)
    admin.refresh_manager.set(CacheKey.TASKS, harness.run(admin.tasks.list))
    events = _events(admin)
    harness.intercept = lambda request: answer(request) if request.method == "PATCH" else None

    with pytest.raises(GamifyError):
        harness.run(lambda: admin.tasks.edit(demo.task_ids[0], name="Maybe"))

    entry = admin.refresh_manager.peek(CacheKey.TASKS)
    assert entry is not None and not entry.optimistic
    assert "Maybe" not in _task_name(admin).values()
    assert entry.is_invalidated is refetched
    assert [e for e, _ in events] == [Event.OPTIMISTIC_ROLLBACK]


def test_a_successful_write_ends_on_the_server_answer_and_a_query_shows_the_flag(
    harness: Harness, demo: DemoData
) -> None:
    user_id, task_id = demo.users[0].id, demo.task_ids[0]
    client = harness.client(user_id, optimistic=True)
    tasks = harness.run(client.tasks.list)
    client.refresh_manager.set(CacheKey.TASKS, tasks)
    query = harness.run(client.use_dashboard_data)
    harness.run(query.refresh)
    flags: list[bool] = []

    def watch(request: httpx.Request) -> None:
        if request.url.path.endswith("/submit"):
            flags.append(query.is_optimistic)

    harness.intercept = watch
    result = harness.run(
        lambda: client.tasks.submit(
            task_id, user_id=user_id, submission_type=_submit_type(tasks, task_id), value="v"
        )
    )

    assert flags == [True]
    assert not query.is_optimistic
    entry = client.refresh_manager.peek((CacheKey.DASHBOARD, user_id))
    assert entry is not None
    assert entry.data.overall_stats.user_total_xp == result.real_time.new_total_xp


def test_online_writes_are_not_optimistic_unless_asked(harness: Harness, demo: DemoData) -> None:
    admin = harness.client(demo.admin.id)
    tasks = harness.run(admin.tasks.list)
    admin.refresh_manager.set(CacheKey.TASKS, tasks)
    task_id = demo.task_ids[0]
    shown: list[bool] = []

    def watch(request: httpx.Request) -> None:
        if request.method == "PATCH":
            shown.append(admin.refresh_manager.peek(CacheKey.TASKS).optimistic)  # type: ignore[union-attr]

    harness.intercept = watch
    harness.run(lambda: admin.tasks.edit(task_id, name="Plain"))
    harness.run(lambda: admin.with_options(optimistic=True).tasks.edit(task_id, name="Eager"))

    assert shown == [False, True]
    # The answer patched nothing here: the prediction stays as the data until the refetch.
    entry = admin.refresh_manager.peek(CacheKey.TASKS)
    assert entry is not None and not entry.optimistic
    assert _task_name(admin)[task_id] == "Eager"


def _task_name(client: Client) -> Any:
    tasks = client.refresh_manager.peek(CacheKey.TASKS)
    assert tasks is not None
    return {task.id: task.name for task in tasks.data}


def test_two_clients_editing_one_task_settle_on_the_server_truth(
    harness: Harness, demo: DemoData
) -> None:
    task_id = demo.task_ids[0]
    first = harness.client(demo.admin.id, optimistic=True)
    second = harness.client(demo.superadmin.id, optimistic=True)
    first_events, second_events = _events(first), _events(second)
    queries = [harness.run(client.use_tasks_data) for client in (first, second)]
    for query in queries:
        harness.run(query.refresh)

    # The second client's edit waits in its queue (offline): its prediction shows.
    queued = second._optimistic_begin(edit_task(task_id, name="From second"))
    assert queued is not None and _task_name(second)[task_id] == "From second"
    # Meanwhile the first edits the same task, online.
    harness.run(lambda: first.tasks.edit(task_id, name="From first"))
    # The second refetches: the server disagrees with its pending prediction.
    harness.run(queries[1].refresh)

    assert _task_name(second)[task_id] == "From first"
    assert not queries[1].is_optimistic
    conflicts = [p for e, p in second_events if e == Event.OPTIMISTIC_CONFLICT]
    assert conflicts == [OptimisticConflict("tasks.edit", CacheKey.TASKS)]
    assert not [e for e, _ in first_events if e == Event.OPTIMISTIC_CONFLICT]

    # The queued edit is sent at last (last writer wins); both refetch and agree with the server.
    harness.run(
        lambda: second.with_options(optimistic=False).tasks.edit(task_id, name="From second")
    )
    queued.settle()
    for query in queries:
        harness.run(query.refresh)
    truth = harness.run(lambda: first.tasks.get(task_id)).name
    assert truth == "From second"
    assert _task_name(first)[task_id] == _task_name(second)[task_id] == truth


def test_a_queued_write_sent_later_is_not_predicted_twice(harness: Harness, demo: DemoData) -> None:
    user_id, task_id = demo.users[0].id, demo.task_ids[0]
    client = harness.client(user_id, optimistic=True)
    manager = client.refresh_manager
    tasks = harness.run(client.tasks.list)
    manager.set(CacheKey.TASKS, tasks)
    key = (CacheKey.DASHBOARD, user_id)
    manager.set(key, harness.run(client.progress.dashboard))
    points = next(task.points for task in tasks if task.id == task_id)
    kind = _submit_type(tasks, task_id)
    call = submit_task(task_id, user_id=user_id, submission_type=kind, value="v")
    queued = client._optimistic_begin(call)
    assert queued is not None
    at_send: list[int] = []

    def watch(request: httpx.Request) -> None:
        if request.url.path.endswith("/submit"):
            at_send.append(manager.peek(key).data.overall_stats.user_total_xp)  # type: ignore[union-attr]

    harness.intercept = watch
    harness.run(lambda: client._request(call))

    assert at_send == [points]
    assert queued.pending  # its sender settles it
    queued.settle()
    entry = manager.peek(key)
    assert entry is not None and not entry.optimistic
    assert entry.data.overall_stats.user_total_xp == points
