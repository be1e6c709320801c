"""The demo's cast: an admin, the batch's mentor and three users, each with a client of their
own (logged in through the API, with their own token), sharing one cache and one event bus,
and the live queries the admin and the users keep open (the mentor only writes)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Self

import httpx

from ..client import GamifyClient
from ..config import ClientConfig
from ..events import EventManager
from ..hooks import Query
from ..refresh import DataRefreshManager
from ..testing import DemoAccount, DemoData

# How often settle() looks whether the views' refetches are done.
_SETTLE_POLL = 0.002


@dataclass(frozen=True, slots=True, eq=False)
class View:
    """One live query on screen: whose it is and what it shows."""

    owner: str
    what: str
    query: Query[Any]

    @property
    def name(self) -> str:
        """``"Uma · dashboard"``."""
        return f"{self.owner} · {self.what}"


@dataclass(frozen=True, slots=True)
class Admin:
    """The admin: their client, and their views of the batch's progress and of their batches."""

    name: str
    user_id: str
    client: GamifyClient
    progress: View
    batches: View


@dataclass(frozen=True, slots=True)
class Mentor:
    """The batch's mentor: a client that writes (edits a task) and keeps no view open."""

    name: str
    user_id: str
    client: GamifyClient


@dataclass(frozen=True, slots=True)
class Learner:
    """A user: their client, and their views of their dashboard and of the task board."""

    name: str
    user_id: str
    client: GamifyClient
    dashboard: View
    board: View


ViewListener = Callable[[View, Any, bool], None]
"""Told ``(view, data, optimistic)`` from the view's query callback, after each change;
``optimistic``: the data shows a write the server has not confirmed yet."""


def _relay(listener: ViewListener, view: View, query: Query[Any]) -> None:
    listener(view, query.data, query.is_optimistic)


def _first_name(account: DemoAccount) -> str:
    return account.name.split()[0]


class DemoSession:
    """Opens the cast's clients and queries on ``base_url``; ``on_write_response`` is called
    (on the writer's thread) when the answer to any write arrives, before the client applies
    it. With ``outbox_dir``, the admin's and each user's client keep their writes in an outbox
    file there (``<first name>.db``), so a write made offline waits on disk. Close it to close
    every query and client."""

    def __init__(
        self,
        base_url: str,
        seed: DemoData,
        on_write_response: Callable[[], None],
        *,
        outbox_dir: str | None = None,
    ) -> None:
        self._outbox_dir = outbox_dir
        self.manager = DataRefreshManager()
        self.events = EventManager()
        self._config = ClientConfig(base_url=base_url, task_completion_delay=0.0)
        self._on_write_response = on_write_response
        self._stack = ExitStack()
        try:
            self.admin = self._open_admin(seed)
            self.mentor = self._open_mentor(seed.mentor)
            self.learners = tuple(self._open_learner(seed, account) for account in seed.users)
        except BaseException:
            self._stack.close()
            raise
        self.views: tuple[View, ...] = (
            self.admin.progress,
            self.admin.batches,
            *(view for learner in self.learners for view in (learner.dashboard, learner.board)),
        )

    def _client(
        self, login: Callable[[GamifyClient], object], outbox: str | None = None
    ) -> GamifyClient:
        http = self._stack.enter_context(
            httpx.Client(
                timeout=self._config.timeout, event_hooks={"response": [self._on_response]}
            )
        )
        client = GamifyClient(
            config=self._config,
            refresh_manager=self.manager,
            events=self.events,
            http_client=http,
            offline=outbox,
        )
        # Closed before its connection pool (the stack unwinds last in, first out).
        self._stack.callback(client.close)
        login(client)
        return client

    def _on_response(self, response: httpx.Response) -> None:
        if response.request.method != "GET":
            self._on_write_response()

    def _outbox(self, name: str) -> str | None:
        if self._outbox_dir is None:
            return None
        return os.path.join(self._outbox_dir, f"{name.lower()}.db")

    def _open_admin(self, seed: DemoData) -> Admin:
        account = seed.admin
        name = _first_name(account)
        client = self._client(
            lambda c: c.login(email=account.email, password=account.password, designation="admin"),
            self._outbox(name),
        )
        return Admin(
            name=name,
            user_id=account.id,
            client=client,
            progress=View(name, "batch progress", client.use_batch_progress_data(seed.batch_id)),
            batches=View(name, "batches", client.use_batches_data()),
        )

    def _open_mentor(self, account: DemoAccount) -> Mentor:
        client = self._client(
            lambda c: c.login(email=account.email, password=account.password, designation="mentor")
        )
        return Mentor(name=_first_name(account), user_id=account.id, client=client)

    def _open_learner(self, seed: DemoData, account: DemoAccount) -> Learner:
        name = _first_name(account)
        client = self._client(
            lambda c: c.login(
                email=account.email,
                password=account.password,
                designation="user",
                admin_id=seed.admin_id,
            ),
            self._outbox(name),
        )
        return Learner(
            name=name,
            user_id=account.id,
            client=client,
            dashboard=View(name, "dashboard", client.use_dashboard_data()),
            board=View(name, "task board", client.use_tasks_data()),
        )

    @property
    def names(self) -> dict[str, str]:
        """First names by user id."""
        names = {learner.user_id: learner.name for learner in self.learners}
        return {self.admin.user_id: self.admin.name, self.mentor.user_id: self.mentor.name, **names}

    def subscribe(self, listener: ViewListener) -> None:
        """Tell ``listener`` about every change of every view, from the view's callback, and
        at once about the data a view already has (its first fetch may have landed before).
        So the listener may hear the same data twice."""
        for view in self.views:
            view.query.subscribe(partial(_relay, listener, view))
            if view.query.data is not None:
                listener(view, view.query.data, view.query.is_optimistic)

    def wait_loaded(self, timeout: float) -> None:
        """Block until every view has data; TimeoutError (or a fetch's error) otherwise."""
        deadline = time.monotonic() + timeout
        for view in self.views:
            view.query.wait_for(timeout=max(0.0, deadline - time.monotonic()))

    def settle(self, timeout: float) -> bool:
        """Block until no view is fetching (the refetches a write started are done); False
        if some still is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while any(view.query.fetching for view in self.views):
            if time.monotonic() >= deadline:
                return False
            time.sleep(_SETTLE_POLL)
        return True

    def close(self) -> None:
        """Close every query, client and connection pool."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
