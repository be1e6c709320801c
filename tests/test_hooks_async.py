"""Live queries of the asyncio client: the same rules as the blocking one, on the event loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from gamify_client import (
    AsyncGamifyClient,
    CacheKey,
    ClientConfig,
    GamifyClient,
    InternalServerError,
)
from gamify_client.events import EventManager
from gamify_client.hooks import AsyncQuery
from gamify_client.models import Dashboard
from gamify_client.refresh import DataRefreshManager
from gamify_client.timers import AsyncScheduler
from tests.test_hooks import DASHBOARD, TASKS, FakeClock, Org, new_org

MakeClient = Callable[..., AsyncGamifyClient]


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds; fail after ten seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.001)


async def drive(client: AsyncGamifyClient, condition: Callable[[], bool]) -> None:
    """Run the client's hand-driven scheduler, as its task would, until ``condition()``."""

    def ran_and_held() -> bool:
        client.scheduler.run_due()
        return condition()

    await until(ran_and_held)


def total_tasks(query: AsyncQuery[Dashboard]) -> int | None:
    return None if query.data is None else query.data.overall_stats.total_tasks_across_all_batches


@pytest.fixture
def org() -> Org:
    return new_org()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_client(org: Org, clock: FakeClock) -> AsyncIterator[MakeClient]:
    """Async clients on the reference backend; ``manual=True`` gives a scheduler that the test
    drives with ``client.scheduler.run_due()`` on the fake clock."""
    made: list[AsyncGamifyClient] = []

    def make(
        *,
        user_id: str | None = None,
        manual: bool = False,
        config: ClientConfig | None = None,
        refresh_manager: DataRefreshManager | None = None,
        events: EventManager | None = None,
    ) -> AsyncGamifyClient:
        scheduler = AsyncScheduler(clock=clock, autorun=False) if manual else None
        client = AsyncGamifyClient(
            config=config or org.config(),
            token=org.token(user_id),
            http_client=httpx.AsyncClient(transport=org.backend.transport()),
            refresh_manager=refresh_manager,
            events=events,
            scheduler=scheduler,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
    org.backend.close()


async def create_task(org: Org, client: AsyncGamifyClient) -> None:
    await client.tasks.create(
        name="Extra task",
        description="More work",
        details="Details",
        category=org.demo.category_ids[0],
        difficulty="Easy",
        batch=org.demo.batch_id,
    )


async def test_a_query_returns_at_once_and_fetches_in_a_task(
    org: Org, make_client: MakeClient
) -> None:
    client = make_client()
    query = client.use_dashboard_data()
    assert (query.data, query.loading) == (None, True)
    assert org.requests(DASHBOARD) == 0
    assert await query.wait_for(timeout=10) is query
    assert total_tasks(query) == 4
    assert not query.loading
    assert org.requests(DASHBOARD) == 1


async def test_creating_a_query_needs_a_running_loop(org: Org) -> None:
    client = AsyncGamifyClient(config=org.config(), token=org.token())

    def outside_the_loop() -> None:
        client.use_tasks_data()

    with pytest.raises(RuntimeError, match="running event loop"):
        await asyncio.to_thread(outside_the_loop)
    await client.close()


async def test_dashboard_updates_after_an_admin_creates_a_task_on_another_client(
    org: Org, make_client: MakeClient
) -> None:
    manager, events = DataRefreshManager(), EventManager()
    admin = make_client(user_id=org.demo.admin.id, refresh_manager=manager, events=events)
    user = make_client(refresh_manager=manager, events=events)
    dashboard = await user.use_dashboard_data().wait_for(timeout=10)
    await create_task(org, admin)
    await dashboard.wait_for(lambda q: total_tasks(q) == 5, timeout=10)
    assert org.requests(DASHBOARD) == 2


async def test_dashboard_holds_the_new_xp_when_the_users_own_submit_returns(
    org: Org, make_client: MakeClient
) -> None:
    client = make_client()
    dashboard = await client.use_dashboard_data().wait_for(timeout=10)
    await client.tasks.submit(
        org.demo.task_ids[0], user_id=org.user_id, submission_type="Text Entry", value="done"
    )
    assert dashboard.data is not None
    assert dashboard.data.overall_stats.user_total_xp == 100
    await until(lambda: org.requests(DASHBOARD) == 2 and not dashboard.loading)
    assert dashboard.data.overall_stats.total_completed_tasks == 1


async def test_a_write_reaches_every_query_of_its_key_and_a_waiter_on_the_loop(
    org: Org, make_client: MakeClient
) -> None:
    client = make_client()
    queries = [client.use_dashboard_data() for _ in range(20)]
    for query in queries:
        await query.wait_for(timeout=10)
    heard: list[int] = []
    for number, query in enumerate(queries):
        query.subscribe(lambda _q, number=number: heard.append(number))
    waiter = asyncio.create_task(
        queries[-1].wait_for(
            lambda q: q.data is not None and q.data.overall_stats.user_total_xp == 100,
            timeout=10,
        )
    )
    await asyncio.sleep(0)

    await client.tasks.submit(
        org.demo.task_ids[0], user_id=org.user_id, submission_type="Text Entry", value="done"
    )

    assert [query.data.overall_stats.user_total_xp for query in queries if query.data] == [100] * 20
    # The patch reaches the queries in the order they were made, each once.
    assert heard[:20] == list(range(20))
    assert await waiter is queries[-1]


async def test_polls_on_the_injected_clock(
    org: Org, clock: FakeClock, make_client: MakeClient
) -> None:
    client = make_client(manual=True)
    outsider = make_client(user_id=org.demo.admin.id)
    dashboard = await client.use_dashboard_data().wait_for(timeout=10)
    clock.advance(29)
    await drive(client, lambda: not dashboard.is_stale)
    await create_task(org, outsider)
    assert org.requests(DASHBOARD) == 1
    clock.advance(1)
    await drive(client, lambda: total_tasks(dashboard) == 5)
    assert org.requests(DASHBOARD) == 2
    dashboard.close()
    assert client.scheduler.pending() == 0


async def test_one_timer_task_serves_every_query_of_the_loop(
    org: Org, make_client: MakeClient
) -> None:
    client = make_client()
    user, batch = org.user_id, org.demo.batch_id
    queries: list[AsyncQuery[Any]] = []
    for _ in range(20):
        queries += [
            client.use_dashboard_data(),
            client.use_tasks_data(),
            client.use_batches_data(),
            client.use_batch_progress_data(batch),
            client.use_user_progress_data(user, batch),
        ]
    for query in queries:
        await query.wait_for(timeout=10)
    # The fetches end; what stays is the one timer task.
    await until(lambda: asyncio.all_tasks() == {asyncio.current_task(), client.scheduler.task})
    assert client.scheduler.pending() == 5
    for query in queries:
        query.close()
    await until(lambda: client.scheduler.task is None)


async def test_updates_yields_each_change_once(make_client: MakeClient) -> None:
    client = make_client()
    query = await client.use_tasks_data(select=len).wait_for(timeout=10)
    seen: list[int | None] = []
    updates = query.updates()
    manager = client.refresh_manager

    async def consume() -> None:
        async for changed in updates:
            seen.append(changed.data)
            if len(seen) == 2:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    manager.set(CacheKey.TASKS, [1])
    await until(lambda: seen == [1])
    # Three changes while the consumer is away: one yield, with the latest state.
    manager.set(CacheKey.TASKS, [1, 2])
    manager.set(CacheKey.TASKS, [1, 2, 3])
    manager.set(CacheKey.TASKS, [1, 2, 3, 4])
    await consumer
    assert seen == [1, 4]


async def test_updates_end_when_the_query_closes(make_client: MakeClient) -> None:
    client = make_client()
    query = client.use_tasks_data()
    seen: list[bool] = []

    async def consume() -> None:
        async for changed in query.updates():
            seen.append(changed.loading)
            changed.close()

    await asyncio.wait_for(consume(), timeout=10)
    assert seen == [False]
    assert query.closed


async def test_focus_refetches_each_stale_key_once(
    org: Org, clock: FakeClock, make_client: MakeClient
) -> None:
    client = make_client(manual=True)
    queries = [client.use_tasks_data() for _ in range(30)]
    queries += [client.use_dashboard_data() for _ in range(30)]
    await drive(client, lambda: all(q.data is not None and not q.fetching for q in queries))
    client.set_focused(False)
    clock.advance(60)
    client.set_focused(True)
    await until(lambda: len(org.backend.requests) == 4 and not queries[0].is_stale)
    assert (org.requests(TASKS), org.requests(DASHBOARD)) == (2, 2)


async def test_an_error_keeps_the_data_and_the_next_refresh_recovers(
    org: Org, make_client: MakeClient
) -> None:
    client = make_client()
    query = await client.use_tasks_data().wait_for(timeout=10)
    good = query.data
    org.backend.faults.add(500, route=TASKS)
    with pytest.raises(InternalServerError) as raised:
        await query.refresh()
    assert query.error is raised.value
    assert query.data is good
    assert await query.refresh() == good
    assert query.error is None


async def test_wait_for_raises_the_error_or_times_out(org: Org, make_client: MakeClient) -> None:
    client = make_client()
    org.backend.faults.add(500, route=TASKS)
    with pytest.raises(InternalServerError):
        await client.use_tasks_data().wait_for(timeout=10)
    with pytest.raises(TimeoutError):
        await client.use_dashboard_data(enabled=False).wait_for(timeout=0.01)


async def test_dispatch_runs_every_callback_and_none_runs_after_close(
    make_client: MakeClient,
) -> None:
    client = make_client()
    queue: list[Callable[[], None]] = []
    query = client.use_tasks_data(dispatch=queue.append)
    heard: list[int] = []
    query.subscribe(lambda q: heard.append(len(q.data or [])))
    await query.wait_for(timeout=10)
    assert heard == []
    assert len(queue) == 1
    queue.pop()()
    assert heard == [4]
    client.refresh_manager.set(CacheKey.TASKS, [])
    assert len(queue) == 1
    query.close()
    queue.pop()()
    assert heard == [4]


async def test_changes_from_another_thread_reach_the_query_on_its_loop(
    org: Org, make_client: MakeClient
) -> None:
    manager = DataRefreshManager()
    client = make_client(refresh_manager=manager)
    query = await client.use_dashboard_data().wait_for(timeout=10)
    loop_thread = threading.get_ident()
    threads: list[int] = []
    query.subscribe(lambda _q: threads.append(threading.get_ident()))
    sync_client = GamifyClient(
        config=org.config(),
        token=org.token(),
        http_client=httpx.Client(transport=org.backend.transport()),
        refresh_manager=manager,
    )

    def submit() -> None:
        sync_client.tasks.submit(
            org.demo.task_ids[0], user_id=org.user_id, submission_type="Text Entry", value="x"
        )

    await asyncio.to_thread(submit)
    sync_client.close()
    await query.wait_for(
        lambda q: q.data is not None and q.data.overall_stats.user_total_xp == 100, timeout=10
    )
    assert threads
    assert set(threads) == {loop_thread}


async def test_an_unreferenced_query_is_collected_with_its_timer_and_subscription(
    make_client: MakeClient,
) -> None:
    client = make_client()
    query = await client.use_tasks_data().wait_for(timeout=10)
    assert client.scheduler.pending() == 1
    gone = weakref.ref(query)
    del query
    gc.collect()
    assert gone() is None
    await until(lambda: client.refresh_manager.stats().observers == 0)
    assert client.scheduler.pending() == 0
    assert client.focus.listener_count() == 0


async def test_async_with_and_client_close_close_the_queries(make_client: MakeClient) -> None:
    client = make_client()
    async with client.use_tasks_data() as scoped:
        await scoped.wait_for(timeout=10)
    assert scoped.closed
    kept = client.use_dashboard_data()
    await client.close()
    assert kept.closed
    assert client.refresh_manager.stats().observers == 0
    with pytest.raises(RuntimeError, match="closed"):
        await kept.refresh()
    with pytest.raises(RuntimeError, match="closed"):
        client.use_tasks_data()


async def test_the_disabled_query_waits_for_enabled(org: Org, make_client: MakeClient) -> None:
    client = make_client()
    query = client.use_tasks_data(enabled=False)
    await asyncio.sleep(0)
    assert org.requests(TASKS) == 0
    query.enabled = True
    await query.wait_for(timeout=10)
    assert org.requests(TASKS) == 1


async def run_in_fresh_loop(factory: Callable[[], Awaitable[None]]) -> None:
    await asyncio.to_thread(asyncio.run, factory())  # type: ignore[arg-type]


async def test_a_client_serves_a_new_loop_once_the_old_one_is_gone(org: Org) -> None:
    client = AsyncGamifyClient(
        config=org.config(),
        token=org.token(),
        http_client=httpx.AsyncClient(transport=org.backend.transport()),
    )

    async def use_once() -> None:
        query = await client.use_tasks_data().wait_for(timeout=10)
        assert query.data is not None

    await run_in_fresh_loop(use_once)
    await run_in_fresh_loop(use_once)
    await client.close()
