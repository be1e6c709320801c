"""Live queries in the seams: offline invalidations, the token's user changing, server
bookkeeping that changes in every answer, slow keys side by side, and many queries on one key.
Each test here failed before the key's state moved into one state machine in the cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gamify_client import CacheKey, GamifyClient
from gamify_client.models import Dashboard
from gamify_client.timers import Scheduler
from tests import test_hooks
from tests.test_hooks import DASHBOARD, TASKS, FakeClock, Org

# The blocking live-query tests' own fixtures: a seeded backend and a clock moved by hand.
org = test_hooks.org
clock = test_hooks.clock


@pytest.fixture
def make_client(org: Org, clock: FakeClock) -> Iterator[Callable[..., GamifyClient]]:
    made: list[GamifyClient] = []

    def make(
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        manual: bool = True,
    ) -> GamifyClient:
        client = GamifyClient(
            config=org.config(),
            token=token,
            http_client=httpx.Client(transport=transport or org.backend.transport()),
            scheduler=Scheduler(clock=clock, threaded=False) if manual else None,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_a_key_invalidated_while_offline_is_refetched_on_reconnect(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(token=org.token())
    # Neither stale time nor the reconnect option would refetch it: only the invalidation does.
    tasks = client.use_tasks_data(
        refetch_interval=None, stale_time=3600, refetch_on_reconnect=False
    )
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1

    client.set_online(False)
    tasks.invalidate()
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    entry = client.refresh_manager.peek(CacheKey.TASKS)
    assert entry is not None
    assert entry.fetch_status == "paused"

    client.set_online(True)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2
    entry = client.refresh_manager.peek(CacheKey.TASKS)
    assert entry is not None
    assert (entry.fetch_status, entry.is_invalidated) == ("idle", False)


def test_a_reconnect_is_not_throttled_like_focus(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(token=org.token())
    tasks = client.use_tasks_data(refetch_interval=None, stale_time=3600)
    client.scheduler.run_due()
    assert tasks.data is not None
    client.set_focused(False)
    client.set_focused(True)  # a focus refetch window starts now
    client.set_online(False)
    client.refresh_manager.invalidate(CacheKey.TASKS)
    client.set_online(True)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2


def test_a_dashboard_made_before_login_follows_the_login(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client()
    dashboard = client.use_dashboard_data(refetch_interval=None)
    assert dashboard.key == (CacheKey.DASHBOARD, None)
    client.scheduler.run_due()
    assert dashboard.data is None
    assert dashboard.error is not None  # no token yet: 401

    client.token = org.token()

    assert dashboard.key == (CacheKey.DASHBOARD, org.user_id)
    client.scheduler.run_due()
    assert isinstance(dashboard.data, Dashboard)
    assert dashboard.error is None
    # The user's own submit then reaches it, as it reaches any dashboard of theirs.
    client.tasks.submit(
        org.demo.task_ids[0], user_id=org.user_id, submission_type="Link", value="x"
    )
    client.scheduler.run_due()
    assert dashboard.data.overall_stats.user_total_xp == 100
    # Logging out moves it back to the anonymous key; nothing is left on the user's key.
    client.token = None
    assert dashboard.key == (CacheKey.DASHBOARD, None)
    observed = client.refresh_manager.peek((CacheKey.DASHBOARD, org.user_id))
    assert observed is None or observed.observers == 0


def test_unchanged_dashboard_polls_call_nobody(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(token=org.token())
    dashboard = client.use_dashboard_data(refetch_interval=1.0)
    client.scheduler.run_due()
    assert dashboard.data is not None
    first = dashboard.data
    calls: list[Any] = []
    dashboard.subscribe(calls.append)

    for _ in range(20):
        clock.advance(1.0)
        client.scheduler.run_due()

    assert org.requests(DASHBOARD) == 21
    # Every answer carried a new lastUpdated; nothing else changed, so nobody was called.
    assert calls == []
    assert dashboard.data is first


class _MeetingTransport(httpx.BaseTransport):
    """Holds each request until ``parties`` requests are in flight at once: requests sent one
    after another never meet, and the barrier breaks."""

    def __init__(self, inner: httpx.BaseTransport, parties: int) -> None:
        self._inner = inner
        self._barrier = threading.Barrier(parties, timeout=10)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/batch-progress/user/"):
            self._barrier.wait()
        return self._inner.handle_request(request)


def test_five_slow_keys_are_fetched_side_by_side(
    org: Org, make_client: Callable[..., GamifyClient]
) -> None:
    admin = org.backend.token_for(org.demo.admin.id)
    transport = _MeetingTransport(org.backend.transport(), parties=5)
    client = make_client(token=admin, transport=transport, manual=False)
    users = [user.id for user in org.demo.users][:3]
    batch = org.demo.batch_id
    keys = [(user, batch) for user in users] + [(users[0], "0" * 24), (users[1], "1" * 24)]
    queries = [client.use_user_progress_data(user, batch_id) for user, batch_id in keys]

    for query in queries:
        query.wait_for(lambda q: q.data is not None or q.error is not None, timeout=15)

    assert [query.error for query in queries] == [None] * 5


def test_a_hundred_queries_on_one_key_keep_one_poll_timer_and_one_fetch(
    org: Org, clock: FakeClock, make_client: Callable[..., GamifyClient]
) -> None:
    client = make_client(token=org.token())
    queries = [client.use_tasks_data(refetch_interval=1.0 + index) for index in range(100)]
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    assert client.scheduler.pending() == 1
    for query in queries[:99]:
        query.close()
    # The shortest interval left is the last query's.
    clock.advance(99.0)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 1
    clock.advance(1.0)
    client.scheduler.run_due()
    assert org.requests(TASKS) == 2
    assert client.scheduler.pending() == 1
