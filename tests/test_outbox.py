"""The outbox on both clients: offline writes queued on disk, replayed in order, exactly once."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client._call import Call
from gamify_client.errors import APIConnectionError, BadRequestError, GamifyError
from gamify_client.events import Event
from gamify_client.keys import CacheKey
from gamify_client.outbox import (
    MAX_ATTEMPTS,
    MutationNotice,
    OutboxStore,
    OutcomeUnknownError,
    PendingWrite,
    WriteQueued,
)
from gamify_client.resources.batches import post_message
from gamify_client.resources.tasks import submit_task
from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.timers import Scheduler
from tests._multiprocess import wait_until_async

BASE_URL = "http://gamify.test"
TEXT = "Text Entry"


class Side:
    """One client, sync or async, driven the same way: ``side(lambda c: c.tasks.list())``."""

    def __init__(self, client: GamifyClient | AsyncGamifyClient, loop: Any) -> None:
        self.client = client
        self.loop: asyncio.AbstractEventLoop | None = loop

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        outcome = call(self.client)
        if self.loop is None:
            return outcome
        assert inspect.iscoroutine(outcome)
        return self.loop.run_until_complete(outcome)

    def queued(self, call: Callable[[Any], Any]) -> PendingWrite[Any]:
        """Make a write that must be queued; its pending write."""
        with pytest.raises(WriteQueued) as raised:
            self(call)
        return raised.value.pending

    def reconnect(self) -> None:
        """Back online, and the replay that starts then has run."""
        self.client.set_online(True)
        if isinstance(self.client, GamifyClient):
            self.client.scheduler.run_due()
        else:
            self(lambda c: c.outbox.replay())

    def wait(self, pending: PendingWrite[Any]) -> Any:
        if self.loop is None:
            return pending.result(timeout=10)
        return self.loop.run_until_complete(asyncio.wait_for(pending.wait(), 10))


SideFactory = Callable[..., Side]


@pytest.fixture(params=["sync", "async"])
def make_side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SideFactory]:
    """Clients of the parametrised flavour with an outbox at ``tmp_path/outbox.db`` (or
    ``path``), against ``backend`` in-process or respx, of a subclass ``wrap_class`` makes
    of the client class if given; closed after the test."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    made: list[Side] = []

    def make(
        *,
        backend: GamifyBackend | None = None,
        token: str | None = None,
        path: Path | None = None,
        wrap_class: Callable[[type[Any]], type[Any]] | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> Side:
        config = ClientConfig(
            base_url=BASE_URL, max_retries=0, task_completion_delay=0, retry_backoff=0
        )
        offline = path or tmp_path / "outbox.db"
        client: GamifyClient | AsyncGamifyClient
        if loop is None:
            http = httpx.Client(transport=backend.transport()) if backend else None
            if transport is not None:
                http = httpx.Client(transport=transport)  # type: ignore[arg-type]
            cls = wrap_class(GamifyClient) if wrap_class else GamifyClient
            client = cls(
                config=config,
                token=token,
                http_client=http,
                offline=offline,
                scheduler=Scheduler(threaded=False),
            )
        else:
            ahttp = httpx.AsyncClient(transport=backend.transport()) if backend else None
            cls = wrap_class(AsyncGamifyClient) if wrap_class else AsyncGamifyClient
            client = cls(config=config, token=token, http_client=ahttp, offline=offline)
        made.append(Side(client, loop))
        return made[-1]

    yield make
    for side in made:
        if isinstance(side.client, GamifyClient):
            side.client.close()
        else:
            side(lambda c: c.close())
    if loop is not None:
        loop.close()


def _submit(task_id: str, user_id: str) -> Callable[[Any], Any]:
    """A text submission of ``task_id`` by ``user_id``, for :class:`Side`."""
    return lambda c: c.tasks.submit(task_id, user_id=user_id, submission_type=TEXT, value="a")


def _queued_submission(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData, **options: Any
) -> tuple[Side, str, PendingWrite[Any]]:
    """A learner's client, offline, with their submission of the first task queued."""
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token, **options)
    side.client.set_online(False)
    return side, user_id, side.queued(_submit(demo.task_ids[0], user_id))


def _learner(backend: GamifyBackend, demo: DemoData) -> tuple[str, str]:
    user = demo.users[0]
    return user.id, backend.token_for(user.id)


def _xp(backend: GamifyBackend, demo: DemoData, user_id: str) -> int:
    admin = httpx.Client(transport=backend.transport(), base_url=BASE_URL)
    with admin:
        response = admin.get(
            f"/api/user/{user_id}",
            headers={"Authorization": f"Bearer {backend.token_for(demo.admin.id)}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    user = body.get("user", body)
    return int(user["xps"])


def _record(client: GamifyClient | AsyncGamifyClient) -> list[tuple[str, MutationNotice]]:
    seen: list[tuple[str, MutationNotice]] = []
    for event in (Event.MUTATION_QUEUED, Event.MUTATION_APPLIED, Event.MUTATION_FAILED):
        client.events.subscribe(event, lambda notice, e=event: seen.append((e.value, notice)))
    return seen


def test_offline_submit_is_queued_then_applied_on_reconnect_with_exact_xp(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData, tmp_path: Path
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    seen = _record(side.client)
    side.client.set_online(False)
    pending = side.queued(_submit(demo.task_ids[0], user_id))
    assert pending.status == "queued" and pending.write == "tasks.submit"
    assert not pending.done()
    # On disk before the call returned: another process's view of the file holds it.
    other = OutboxStore(tmp_path / "outbox.db")
    assert [op.id for op in other.operations(status="queued")] == [pending.operation_id]
    other.close()
    assert _xp(backend, demo, user_id) == 0

    side.reconnect()

    result = side.wait(pending)
    assert result.real_time.points_earned == 100
    assert pending.status == "applied"
    assert _xp(backend, demo, user_id) == 100
    assert [name for name, _ in seen] == ["mutationQueued", "mutationApplied"]
    assert seen[1][1].operation_id == pending.operation_id
    assert seen[1][1].result is result


def test_an_online_write_returns_its_result_and_is_recorded_as_applied(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    result = side(_submit(demo.task_ids[0], user_id))
    assert result.real_time.new_total_xp == 100
    operations = side.client.outbox.operations()
    assert [(op.write, op.status) for op in operations] == [("tasks.submit", "applied")]
    assert side.client.outbox.pending() == []


def test_every_outbox_write_carries_its_idempotency_key(make_side: SideFactory) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/api/batches/b1/messages").respond(
            201, json={"_id": "m1", "message": "hi", "batch": "b1"}
        )
        side = make_side()
        side(lambda c: c.batches.post_message("b1", message="hi"))
    (operation,) = side.client.outbox.operations()
    assert route.calls.last.request.headers["Idempotency-Key"] == operation.idempotency_key


def test_a_write_whose_connection_fails_before_sending_is_queued_and_replayed(
    make_side: SideFactory,
) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/api/batches/b1/messages")
        route.side_effect = [
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"_id": "m1", "message": "hi", "batch": "b1"}),
        ]
        side = make_side()
        with pytest.raises(APIConnectionError) as raised:
            side(lambda c: c.batches.post_message("b1", message="hi"))
        assert isinstance(raised.value, WriteQueued) and not raised.value.request_sent
        pending = raised.value.pending
        assert pending.status == "queued"
        assert side(lambda c: c.outbox.replay()) is None
        assert side.wait(pending).data.id == "m1"
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert keys == {pending.idempotency_key}


def test_a_refused_write_fails_for_good_and_is_announced(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    seen = _record(side.client)
    side.client.set_online(False)
    pending = side.queued(_submit("0" * 24, user_id))
    side.reconnect()
    with pytest.raises(GamifyError):
        side.wait(pending)
    (operation,) = side.client.outbox.operations(status="failed")
    assert operation.last_error is not None and "NotFoundError" in operation.last_error
    assert [name for name, _ in seen] == ["mutationQueued", "mutationFailed"]
    # Failed is final: a second replay sends nothing.
    assert side(lambda c: c.outbox.replay()) is None
    assert side.client.outbox.operations(status="failed") == [operation]


def test_an_online_write_the_server_refuses_raises_as_without_an_outbox(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    with pytest.raises(BadRequestError, match="Invalid submissionType"):
        side(
            lambda c: c.tasks.submit(
                demo.task_ids[0], user_id=user_id, submission_type="Nope", value="a"
            )
        )
    assert side.client.outbox.operations()[0].status == "failed"


def test_queued_writes_replay_in_order(make_side: SideFactory) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/api/batches/b1/messages").mock(
            side_effect=lambda request: httpx.Response(
                201, json={"_id": "m", "message": json.loads(request.content)["message"]}
            )
        )
        side = make_side()
        side.client.set_online(False)
        pendings = [
            side.queued(lambda c, n=n: c.batches.post_message("b1", message=f"m{n}"))
            for n in range(5)
        ]
        side.reconnect()
        assert [side.wait(p).data.message for p in pendings] == [f"m{n}" for n in range(5)]
    sent = [json.loads(call.request.content)["message"] for call in route.calls]
    assert sent == [f"m{n}" for n in range(5)]


def test_a_new_client_on_the_file_replays_what_an_earlier_one_queued(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    _first, user_id, _pending = _queued_submission(make_side, backend, demo)
    second = make_side(backend=backend, token=backend.token_for(user_id))
    if isinstance(second.client, GamifyClient):
        second.client.scheduler.run_due()  # the replay a sync client starts with
    else:
        second(lambda c: c.outbox.replay())
    assert [op.status for op in second.client.outbox.operations()] == ["applied"]
    assert _xp(backend, demo, user_id) == 100


def test_only_the_clients_user_writes_are_replayed(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    learner, token = _learner(backend, demo)
    other = demo.users[1]
    mine = make_side(backend=backend, token=token)
    mine.client.set_online(False)
    mine.queued(_submit(demo.task_ids[0], learner))
    theirs = make_side(backend=backend, token=backend.token_for(other.id))
    theirs(lambda c: c.outbox.replay())
    assert theirs.client.outbox.operations() == []
    assert [op.status for op in theirs.client.outbox.operations(all_users=True)] == ["queued"]


def _orphan(path: Path, call: Call[Any], user_id: str) -> int:
    """A write that a process claimed, sent and then died with: in flight, owner gone."""
    store = OutboxStore(path)
    operation = store.enqueue(call, user_id)
    claim = store.claim_next(user_id)
    assert claim is not None
    store.release(claim.operation, "the process died", may_have_applied=True)
    store.close()
    return operation.id


def test_a_write_whose_effect_is_found_is_not_sent_again(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData, tmp_path: Path
) -> None:
    user_id, token = _learner(backend, demo)
    call = submit_task(demo.task_ids[0], user_id=user_id, submission_type=TEXT, value="a")
    writer = make_side(backend=backend, token=token, path=tmp_path / "other.db")
    writer(_submit(demo.task_ids[0], user_id))
    backend.idempotency.enabled = False
    operation_id = _orphan(tmp_path / "outbox.db", call, user_id)
    posts_before = sum(1 for r in backend.requests if r.method == "POST")
    side = make_side(backend=backend, token=token)
    side(lambda c: c.outbox.replay())
    (operation,) = side.client.outbox.operations()
    assert (operation.id, operation.status) == (operation_id, "applied")
    assert sum(1 for r in backend.requests if r.method == "POST") == posts_before
    assert _xp(backend, demo, user_id) == 100


def test_a_write_whose_effect_is_missing_is_sent_again(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData, tmp_path: Path
) -> None:
    user_id, token = _learner(backend, demo)
    backend.idempotency.enabled = False
    call = submit_task(demo.task_ids[0], user_id=user_id, submission_type=TEXT, value="a")
    _orphan(tmp_path / "outbox.db", call, user_id)
    side = make_side(backend=backend, token=token)
    side(lambda c: c.outbox.replay())
    assert [op.status for op in side.client.outbox.operations()] == ["applied"]
    assert _xp(backend, demo, user_id) == 100


def test_a_repeat_the_service_refuses_counts_as_applied(make_side: SideFactory) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/api/task/t1/submit").respond(400, json={"message": "Task already submitted"})
        side = make_side()
        result = side(lambda c: c.tasks.submit("t1", user_id="u1", submission_type=TEXT))
    assert result.data is None and "earlier attempt" in (result.message or "")
    assert [op.status for op in side.client.outbox.operations()] == ["applied"]


def test_an_unknown_outcome_without_a_way_to_check_is_failed_not_repeated(
    make_side: SideFactory, tmp_path: Path
) -> None:
    _orphan(tmp_path / "outbox.db", post_message("b1", message="hi"), "")
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/api/batches/b1/messages").respond(201, json={"_id": "m1"})
        # The service's liveness answer, without the key's echo: keys are not honoured.
        router.get("/").respond(200, text="API is working!")
        side = make_side()
        side(lambda c: c.outbox.replay())
        assert route.call_count == 0
        (operation,) = side.client.outbox.operations(status="failed")
        assert operation.last_error is not None
        assert OutcomeUnknownError.__name__ in operation.last_error
        # Checked by hand: send it again.
        assert side.client.outbox.requeue(operation.id)
        side(lambda c: c.outbox.replay())
        assert route.call_count == 1
    assert side.client.outbox.operations()[0].status == "applied"


@pytest.mark.parametrize("taught", [True, False], ids=["taught-by-a-write", "asks-the-server"])
def test_a_server_that_honours_keys_gets_the_write_again_and_applies_it_once(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData, tmp_path: Path, taught: bool
) -> None:
    token = backend.token_for(demo.admin.id)
    if taught:
        # A write answered with its key's echo teaches the outbox that keys are honoured;
        # otherwise the recovery asks the server first.
        side = make_side(backend=backend, token=token)
        side(lambda c: c.batches.post_message(demo.batch_id, message="first"))
    call = post_message(demo.batch_id, message="second")
    store = OutboxStore(tmp_path / "outbox.db")
    operation = store.enqueue(call, demo.admin.id)
    claim = store.claim_next(demo.admin.id)
    assert claim is not None
    # The first attempt reached the server; its answer was lost with the process.
    with httpx.Client(transport=backend.transport(), base_url=BASE_URL) as raw:
        sent = raw.post(
            call.path,
            json=call.json,
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": operation.idempotency_key,
            },
        )
    assert sent.status_code in (200, 201)
    store.release(claim.operation, "lost", may_have_applied=True)
    store.close()
    restarted = make_side(backend=backend, token=token)
    restarted(lambda c: c.outbox.replay())
    messages = restarted(lambda c: c.batches.messages(demo.batch_id))
    assert [m.message for m in messages].count("second") == 1
    assert restarted.client.outbox.operations()[-1].status == "applied"


def test_a_lost_answer_keeps_the_write_until_its_outcome_is_found(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    backend.faults.add(method="POST", route=re.compile(r"/submit$"), drop=True, process=True)
    side = make_side(backend=backend, token=token)
    with pytest.raises(WriteQueued) as raised:
        side(_submit(demo.task_ids[0], user_id))
    assert raised.value.request_sent
    pending = raised.value.pending
    assert pending.status == "in_flight"
    side(lambda c: c.outbox.replay())
    assert pending.status == "applied"
    assert _xp(backend, demo, user_id) == 100


class _Handle:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def settle(self, result: Any) -> None:
        self.log.append("settle")

    def rollback(self, error: GamifyError) -> None:
        self.log.append(f"rollback {type(error).__name__}")


def _optimistic(base: type[Any], log: list[str]) -> type[Any]:
    class Optimistic(base):  # type: ignore[misc,valid-type]
        def _optimistic_begin(self, call: Call[Any]) -> _Handle:
            log.append(f"begin {call.mutation.name if call.mutation else None}")
            return _Handle(log)

    return Optimistic


def test_a_queued_write_starts_its_optimistic_update_and_ends_it(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    log: list[str] = []
    side, user_id, _pending = _queued_submission(
        make_side, backend, demo, wrap_class=lambda base: _optimistic(base, log)
    )
    side.queued(_submit("0" * 24, user_id))
    side.reconnect()
    assert log == ["begin tasks.submit", "begin tasks.submit", "settle", "rollback NotFoundError"]


def test_an_online_write_starts_no_optimistic_update(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    log: list[str] = []
    side = make_side(backend=backend, token=token, wrap_class=lambda base: _optimistic(base, log))
    side(_submit(demo.task_ids[0], user_id))
    assert log == []


def test_a_copy_shares_the_outbox(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    copy = Side(side.client.with_options(timeout=5.0), side.loop)
    side.client.set_online(False)
    pending = copy.queued(_submit(demo.task_ids[0], user_id))
    assert [p.operation_id for p in side.client.outbox.pending()] == [pending.operation_id]
    assert copy.client.config.offline == side.client.config.offline
    # Closing the copy leaves the outbox to its owner.
    copy(lambda c: c.close())
    side.reconnect()
    assert side.wait(pending).real_time.new_total_xp == 100


def test_a_copy_with_another_file_has_its_own_outbox(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData, tmp_path: Path
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    copy = Side(side.client.with_options(offline=str(tmp_path / "copy.db")), side.loop)
    copy.client.set_online(False)
    pending = copy.queued(_submit(demo.task_ids[0], user_id))
    assert copy.client.outbox.path == str(tmp_path / "copy.db")
    assert side.client.outbox.pending() == []
    assert [p.operation_id for p in copy.client.outbox.pending()] == [pending.operation_id]
    side.reconnect()  # the shared online manager: the copy replays its own outbox
    if isinstance(copy.client, AsyncGamifyClient):
        copy(lambda c: c.outbox.replay())
    assert copy.wait(pending).real_time.new_total_xp == 100
    copy(lambda c: c.close())


def test_uploads_are_sent_directly(make_side: SideFactory) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/api/task/t1/submit").mock(side_effect=httpx.ConnectError("refused"))
        side = make_side()
        with pytest.raises(APIConnectionError) as raised:
            side(
                lambda c: c.tasks.submit("t1", user_id="u1", file=("a.txt", b"hello", "text/plain"))
            )
    assert not isinstance(raised.value, WriteQueued)
    assert side.client.outbox.operations() == []


def test_explicit_write_returns_a_pending_write_done_when_applied(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    call = submit_task(demo.task_ids[0], user_id=user_id, submission_type=TEXT, value="a")
    pending = side(lambda c: c.outbox.write(call))
    assert pending.done() and side.wait(pending).real_time.new_total_xp == 100
    queued = side(lambda c: c.outbox.write(call, online=False))
    assert not queued.done() and queued.status == "queued"


def test_a_client_without_offline_has_no_outbox(backend: GamifyBackend) -> None:
    with GamifyClient(
        base_url=BASE_URL, http_client=httpx.Client(transport=backend.transport())
    ) as c:
        assert c.outbox is None


def test_the_offline_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GAMIFY_OFFLINE", str(tmp_path / "env.db"))
    with GamifyClient(base_url=BASE_URL, scheduler=Scheduler(threaded=False)) as client:
        assert client.outbox is not None
        assert client.outbox.path == str(tmp_path / "env.db")


def test_async_client_replays_by_itself_when_back_online(
    backend: GamifyBackend, demo: DemoData, tmp_path: Path
) -> None:
    user_id, token = _learner(backend, demo)

    async def scenario() -> int:
        http = httpx.AsyncClient(transport=backend.transport())
        async with AsyncGamifyClient(
            base_url=BASE_URL, token=token, http_client=http, offline=tmp_path / "a.db"
        ) as client:
            client.set_online(False)
            with pytest.raises(WriteQueued) as raised:
                await client.tasks.submit(
                    demo.task_ids[0], user_id=user_id, submission_type=TEXT, value="a"
                )
            client.set_online(True)
            async with asyncio.timeout(10):
                result = await raised.value.pending.wait()
            return int(result.real_time.new_total_xp)

    assert asyncio.run(scenario()) == 100
    assert _xp(backend, demo, user_id) == 100


def test_pending_writes_are_listed_for_the_keys_they_will_change(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    side, user_id, pending = _queued_submission(make_side, backend, demo)
    outbox = side.client.outbox
    for key in ((CacheKey.DASHBOARD, user_id), CacheKey.TASKS, (CacheKey.USER_PROFILE, user_id)):
        assert [p.operation_id for p in outbox.pending_for(key)] == [pending.operation_id]
    assert outbox.pending_for((CacheKey.DASHBOARD, demo.users[1].id)) == []
    assert outbox.pending_for((CacheKey.BATCH_MESSAGES, demo.batch_id)) == []
    side.reconnect()
    assert outbox.pending_for((CacheKey.DASHBOARD, user_id)) == []


def test_an_expired_token_keeps_the_write_queued_for_after_login(make_side: SideFactory) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.post("/api/batches/b1/messages")
        route.side_effect = [
            httpx.Response(401, json={"message": "Token expired"}),
            httpx.Response(201, json={"_id": "m1", "message": "hi"}),
        ]
        side = make_side()
        pending = side.queued(lambda c: c.batches.post_message("b1", message="hi"))
        assert pending.status == "queued"
        assert side(lambda c: c.outbox.replay()) is None
    assert pending.status == "applied"


def test_a_write_that_keeps_failing_on_the_server_fails_after_the_attempt_limit(
    make_side: SideFactory,
) -> None:
    with respx.mock(base_url=BASE_URL) as router:
        posts = router.post("/api/batches/b1/messages").respond(502, json={"message": "Down"})
        # A server that honours keys: each recovery sends the write again.
        router.get("/").mock(
            side_effect=lambda request: httpx.Response(
                200,
                text="API is working!",
                headers={"Idempotency-Key": request.headers["Idempotency-Key"]},
            )
        )
        side = make_side()
        pending = side.queued(lambda c: c.batches.post_message("b1", message="hi"))
        for _ in range(MAX_ATTEMPTS):
            side(lambda c: c.outbox.replay())
    assert posts.call_count == MAX_ATTEMPTS
    assert pending.status == "failed"
    (operation,) = side.client.outbox.operations()
    assert operation.last_error is not None and "502" in operation.last_error
    with pytest.raises(GamifyError):
        side.wait(pending)


def test_a_background_replay_that_fails_is_logged_and_the_scheduler_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = Scheduler(threaded=False)
    with GamifyClient(base_url=BASE_URL, offline=tmp_path / "o.db", scheduler=scheduler) as client:
        assert client.outbox is not None
        client.set_online(False)
        client.outbox.close()  # the file goes away underneath
        ran: list[str] = []
        client.set_online(True)
        scheduler.call_later(0, lambda: ran.append("later"))
        scheduler.run_due()
    assert ran == ["later"]
    assert "replaying the outbox failed" in caplog.text


def _queued_on_disk(path: Path, demo: DemoData, user_id: str) -> None:
    """A submission another run of the application queued for ``user_id`` in ``path``."""
    store = OutboxStore(path)
    store.enqueue(
        submit_task(demo.task_ids[0], user_id=user_id, submission_type=TEXT, value="a"), user_id
    )
    store.close()


def test_logging_in_replays_the_users_queued_writes(
    backend: GamifyBackend, demo: DemoData, tmp_path: Path
) -> None:
    user_id, token = _learner(backend, demo)
    _queued_on_disk(tmp_path / "o.db", demo, user_id)
    scheduler = Scheduler(threaded=False)
    http = httpx.Client(transport=backend.transport())
    with GamifyClient(
        base_url=BASE_URL, http_client=http, offline=tmp_path / "o.db", scheduler=scheduler
    ) as client:
        scheduler.run_due()  # the start's replay: nobody is logged in, nothing to send
        assert client.outbox is not None and client.outbox.operations(status="applied") == []
        client.token = token
        scheduler.run_due()
        assert [op.status for op in client.outbox.operations()] == ["applied"]
    http.close()


@pytest.mark.parametrize("start", ["made in a loop", "entered", "login"])
def test_an_async_client_replays_the_queue_when_it_starts_or_logs_in(
    backend: GamifyBackend, demo: DemoData, tmp_path: Path, start: str
) -> None:
    user_id, token = _learner(backend, demo)
    _queued_on_disk(tmp_path / "a.db", demo, user_id)

    def make() -> AsyncGamifyClient:
        return AsyncGamifyClient(
            base_url=BASE_URL,
            token=None if start == "login" else token,
            http_client=httpx.AsyncClient(transport=backend.transport()),
            offline=tmp_path / "a.db",
        )

    # "entered": made outside any loop, so its replay starts with ``async with``.
    early = make() if start == "entered" else None

    async def scenario() -> list[str]:
        async with early or make() as client:
            assert client.outbox is not None
            outbox = client.outbox
            if start == "login":
                client.token = token
            await wait_until_async(lambda: not outbox.pending(), what=f"the replay ({start})")
            return [op.status for op in outbox.operations()]

    assert asyncio.run(scenario()) == ["applied"]
    assert _xp(backend, demo, user_id) == 100


def _learner_watching(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> tuple[Side, str, Any, list[int]]:
    """A learner's client with their tasks and dashboard in the cache: the client, the
    learner's id, the dashboard's key, and the XP its observers are told."""
    user_id, token = _learner(backend, demo)
    side = make_side(backend=backend, token=token)
    key, told = _watched_dashboard(side, user_id)
    return side, user_id, key, told


def _watched_dashboard(side: Side, user_id: str) -> tuple[Any, list[int]]:
    """The learner's tasks and dashboard in the cache, and the XP its observers are told."""
    manager = side.client.refresh_manager
    manager.set(CacheKey.TASKS, side(lambda c: c.tasks.list()))
    key = (CacheKey.DASHBOARD, user_id)
    manager.set(key, side(lambda c: c.progress.dashboard()))
    told: list[int] = []
    manager.subscribe(
        key, lambda data: told.append(data.overall_stats.user_total_xp), invalidations=False
    )
    return key, told


def test_a_queued_submit_shows_its_predicted_xp_until_the_server_applies_it(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    side, user_id, key, told = _learner_watching(make_side, backend, demo)
    manager = side.client.refresh_manager
    side.client.set_online(False)

    pending = side.queued(_submit(demo.task_ids[0], user_id))

    shown = manager.peek(key)
    assert shown is not None and shown.optimistic
    assert shown.data.overall_stats.user_total_xp == 100
    assert _xp(backend, demo, user_id) == 0
    side.reconnect()
    side.wait(pending)
    settled = manager.peek(key)
    assert settled is not None and not settled.optimistic
    assert settled.data.overall_stats.user_total_xp == 100 == _xp(backend, demo, user_id)
    assert told[0] == 100 and told[-1] == 100


def test_a_queued_write_refused_on_replay_rolls_back_only_its_prediction(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    side, user_id, key, told = _learner_watching(make_side, backend, demo)
    manager = side.client.refresh_manager
    rollbacks: list[Any] = []
    side.client.events.subscribe(Event.OPTIMISTIC_ROLLBACK, rollbacks.append)
    side.client.set_online(False)
    bogus = lambda c: c.tasks.submit(  # noqa: E731
        demo.task_ids[0], user_id=user_id, submission_type="Bogus", value="a"
    )
    pending = side.queued(bogus)
    # Another change of the same dashboard arrives while the write waits.
    manager.update(
        key,
        lambda d: d.model_copy(
            update={"user_profile": d.user_profile.model_copy(update={"username": "elsewhere"})}
        ),
    )

    side.reconnect()

    with pytest.raises(BadRequestError):
        side.wait(pending)
    after = manager.peek(key)
    assert after is not None and not after.optimistic
    assert after.data.overall_stats.user_total_xp == 0
    assert after.data.user_profile.username == "elsewhere"
    assert told[0] == 100 and told[-1] == 0
    assert len(rollbacks) == 1


def test_an_optimistic_client_with_an_outbox_predicts_online_writes_before_sending(
    make_side: SideFactory, backend: GamifyBackend, demo: DemoData
) -> None:
    user_id, token = _learner(backend, demo)
    plain = make_side(backend=backend, token=token)
    side = Side(plain.client.with_options(optimistic=True), plain.loop)
    key, _told = _watched_dashboard(side, user_id)
    manager = side.client.refresh_manager
    seen: list[tuple[int, bool]] = []

    def note(data: Any) -> None:
        entry = manager.peek(key)
        seen.append((data.overall_stats.user_total_xp, entry is not None and entry.optimistic))

    manager.subscribe(key, note, invalidations=False)

    result = side(_submit(demo.task_ids[0], user_id))

    assert result.real_time.new_total_xp == 100
    # The prediction reached the observer before the answer did; the answer then settled it.
    assert seen[0] == (100, True)
    assert seen[-1] == (100, False)
    assert not side.client.outbox.pending()
