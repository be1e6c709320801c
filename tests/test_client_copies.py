"""``with_options`` copies and a client's public hooks: a copy shares its parent's scheduler,
managers and real-time sync, so it owns no thread and its writes reach the parent's links;
a closed client says so with a typed error."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from gamify_client import AsyncGamifyClient, ClientClosedError, ClientConfig, GamifyClient
from gamify_client.realtime import AppliedMutation
from gamify_client.testing import DemoData, GamifyBackend

BASE_URL = "http://gamify.test"


@pytest.fixture
def org() -> Iterator[tuple[GamifyBackend, DemoData]]:
    backend = GamifyBackend()
    yield backend, backend.seed_demo()
    backend.close()


def _config(backend: GamifyBackend, user_id: str) -> ClientConfig:
    return ClientConfig(
        base_url=BASE_URL,
        token=backend.token_for(user_id),
        task_completion_delay=0.05,
        max_retries=0,
    )


def test_copies_own_no_thread_and_their_writes_reach_the_parents_listeners(
    org: tuple[GamifyBackend, DemoData],
) -> None:
    backend, demo = org
    parent = GamifyClient(
        config=_config(backend, demo.admin.id),
        http_client=httpx.Client(transport=backend.transport()),
    )
    heard: list[AppliedMutation] = []
    parent.on_mutation(heard.append)
    parent.scheduler.start()
    before = threading.active_count()

    for index, user in enumerate(demo.users):
        copy = parent.with_options(token=backend.token_for(user.id))
        copy.tasks.submit(demo.task_ids[index], user_id=user.id, submission_type="Link", value="x")
        assert copy.scheduler is parent.scheduler
        assert (copy.focus, copy.online) == (parent.focus, parent.online)
        copy.close()

    assert threading.active_count() == before
    assert [applied.mutation for applied in heard] == ["tasks.submit"] * len(demo.users)
    # The parent's scheduler still runs: closing a copy closed nothing of the parent's.
    assert parent.tasks.list()
    parent.close()


def test_a_copy_follows_the_parents_focus(org: tuple[GamifyBackend, DemoData]) -> None:
    backend, demo = org
    with GamifyClient(
        config=_config(backend, demo.admin.id),
        http_client=httpx.Client(transport=backend.transport()),
    ) as parent:
        copy = parent.with_options(timeout=3)
        parent.set_focused(False)
        assert not copy.focus.focused
        copy.close()


def test_a_closed_client_raises_a_typed_error(org: tuple[GamifyBackend, DemoData]) -> None:
    backend, demo = org
    client = GamifyClient(
        config=_config(backend, demo.admin.id),
        http_client=httpx.Client(transport=backend.transport()),
    )
    client.close()
    with pytest.raises(ClientClosedError, match="the client is closed"):
        client.tasks.list()


async def test_a_closed_async_client_raises_a_typed_error(
    org: tuple[GamifyBackend, DemoData],
) -> None:
    backend, demo = org
    client = AsyncGamifyClient(
        config=_config(backend, demo.admin.id),
        http_client=httpx.AsyncClient(transport=backend.transport()),
    )
    await client.close()
    with pytest.raises(ClientClosedError, match="the client is closed"):
        await client.tasks.list()


async def test_async_copies_share_the_sync_and_reach_the_parents_listeners(
    org: tuple[GamifyBackend, DemoData],
) -> None:
    backend, demo = org
    async with AsyncGamifyClient(
        config=_config(backend, demo.admin.id),
        http_client=httpx.AsyncClient(transport=backend.transport()),
    ) as parent:
        heard: list[str] = []
        parent.on_mutation(lambda applied: heard.append(applied.mutation))
        user = demo.users[0]
        copy = parent.with_options(token=backend.token_for(user.id))
        await copy.tasks.submit(
            demo.task_ids[0], user_id=user.id, submission_type="Link", value="x"
        )
        assert copy.scheduler is parent.scheduler
        await copy.close()
        assert heard == ["tasks.submit"]


def test_auth_headers_are_a_copy_with_the_token(org: tuple[GamifyBackend, DemoData]) -> None:
    backend, demo = org
    with GamifyClient(
        config=_config(backend, demo.admin.id),
        http_client=httpx.Client(transport=backend.transport()),
    ) as client:
        headers = client.auth_headers
        assert headers["Authorization"] == f"Bearer {client.token}"
        headers["Authorization"] = "changed"
        assert client.auth_headers["Authorization"] == f"Bearer {client.token}"


def test_importing_the_client_imports_no_bridge_code() -> None:
    import subprocess
    import sys

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gamify_client; print(sorted(m for m in sys.modules "
            "if m.startswith(('gamify_client.bridges', 'gamify_client.push'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"
