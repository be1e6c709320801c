"""A client's default ``dispatch``: set once (constructor or ``client.dispatch``), used by every
query the client makes without its own, for both clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.timers import Scheduler


@pytest.fixture
def token(backend: GamifyBackend, demo: DemoData) -> str:
    return backend.token_for(demo.users[0].id)


@pytest.fixture
def make_client(
    backend: GamifyBackend, config: ClientConfig, token: str
) -> Iterator[Callable[..., GamifyClient]]:
    made: list[GamifyClient] = []

    def make(**options: object) -> GamifyClient:
        client = GamifyClient(
            config=config,
            token=token,
            http_client=httpx.Client(transport=backend.transport()),
            scheduler=Scheduler(threaded=False),
            **options,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_the_constructors_dispatch_runs_the_callbacks_of_every_query(
    make_client: Callable[..., GamifyClient],
) -> None:
    inbox: list[Callable[[], None]] = []
    client = make_client(dispatch=inbox.append)
    assert client.dispatch == inbox.append
    tasks = client.use_tasks_data()
    batches = client.use_batches_data()
    heard: list[str] = []
    tasks.subscribe(lambda _q: heard.append("tasks"))
    batches.subscribe(lambda _q: heard.append("batches"))

    client.scheduler.run_due()

    assert heard == []
    assert len(inbox) == 2
    for callback in inbox:
        callback()
    assert sorted(heard) == ["batches", "tasks"]


def test_a_querys_own_dispatch_wins_and_none_means_called_directly(
    make_client: Callable[..., GamifyClient],
) -> None:
    client_inbox: list[Callable[[], None]] = []
    own_inbox: list[Callable[[], None]] = []
    client = make_client(dispatch=client_inbox.append)
    own = client.use_tasks_data(dispatch=own_inbox.append)
    direct = client.use_batches_data(dispatch=None)
    heard: list[str] = []
    own.subscribe(lambda _q: heard.append("own"))
    direct.subscribe(lambda _q: heard.append("direct"))

    client.scheduler.run_due()

    assert heard == ["direct"]
    assert len(own_inbox) == 1
    assert client_inbox == []


def test_setting_client_dispatch_changes_the_queries_made_afterwards(
    make_client: Callable[..., GamifyClient],
) -> None:
    client = make_client()
    assert client.dispatch is None
    before = client.use_tasks_data()
    inbox: list[Callable[[], None]] = []
    client.dispatch = inbox.append
    after = client.use_batches_data()
    heard: list[str] = []
    before.subscribe(lambda _q: heard.append("before"))
    after.subscribe(lambda _q: heard.append("after"))

    client.scheduler.run_due()

    assert heard == ["before"]
    assert len(inbox) == 1
    with client.with_options(timeout=5) as copy:
        assert copy.dispatch == inbox.append


async def test_the_async_clients_dispatch_runs_the_callbacks_of_its_queries(
    backend: GamifyBackend, config: ClientConfig, token: str
) -> None:
    inbox: list[Callable[[], None]] = []
    async with AsyncGamifyClient(
        config=config,
        token=token,
        http_client=httpx.AsyncClient(transport=backend.transport()),
        dispatch=inbox.append,
    ) as client:
        async with client.with_options(timeout=5) as copy:
            assert copy.dispatch == inbox.append
        async with client.use_tasks_data() as tasks:
            heard: list[int] = []
            tasks.subscribe(lambda q: heard.append(len(q.data or [])))
            await tasks.refresh()
            assert heard == []
            assert len(inbox) == 1
            inbox[0]()
            assert heard == [4]
