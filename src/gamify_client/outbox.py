"""A durable outbox: writes that survive being offline and crashes, applied exactly once.

A client made with ``offline="writes.db"`` keeps every write on disk before it is sent.
While the client is offline (``client.set_online(False)``) or when a send fails before it
reached the server, the write stays queued and the call raises :class:`WriteQueued`, whose
:attr:`~WriteQueued.pending` is a :class:`PendingWrite` with the operation's id. The
queue is replayed, in order and per user, when the client comes back online, when it starts,
and on demand (``client.outbox.replay()``).

Exactly once: a write is marked in flight (on disk) before it is sent, and carries an
``Idempotency-Key`` that is the same on every attempt. A write whose outcome is unknown (the
process died, or the answer was lost) is resolved before it is sent again: the write's
effect is looked up where the service lets us (the task exists by name in its batch, the
submission exists, the user is enrolled); a server that honours keys answers a repeat with
the first answer and writes nothing; a repeat the service refuses as one ("Task already
submitted", "already enrolled") counts as applied.

The logic lives once, as generators that yield the calls to send (:class:`OutboxCore`); the
sync :class:`Outbox` and async :class:`AsyncOutbox` only send them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import httpx

from ._call import Call
from ._core import may_have_applied
from ._logging import logger
from ._outbox_store import (
    Claim,
    Operation,
    OperationStatus,
    OutboxError,
    OutboxStore,
    queueable,
)
from .errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    GamifyError,
)
from .events import Event, EventManager
from .keys import Key, key_starts_with
from .models import Batch, MutationResult, ref_id
from .realtime import WRITES, MutationContext, Write
from .resources.batches import get_batch
from .resources.tasks import get_submission, list_tasks

__all__ = [
    "AsyncOutbox",
    "MutationNotice",
    "Operation",
    "OperationStatus",
    "OptimisticHandle",
    "Outbox",
    "OutboxCore",
    "OutboxError",
    "OutboxOwner",
    "OutboxStore",
    "OutcomeUnknownError",
    "PendingWrite",
    "WriteQueued",
    "open_outbox",
    "queueable",
]

T = TypeVar("T")
R = TypeVar("R")

_HONOURS_KEYS = "honours_idempotency_keys"

MAX_ATTEMPTS = 5
"""After this many attempts that may each have reached the server (5xx, lost answers), a write
is failed for good rather than tried forever."""


class OutcomeUnknownError(GamifyError):
    """An earlier attempt of a write may have reached the server and nothing tells whether it
    did: the write has no effect to look up, the service does not honour ``Idempotency-Key``,
    and sending it again could apply it twice. The operation is kept as failed; check by hand,
    then ``outbox.requeue(operation_id)`` to send it again."""


class OptimisticHandle(Protocol):
    """What an optimistic update gives back when a queued write starts it: how to end it."""

    def settle(self, result: Any) -> None: ...

    def rollback(self, error: GamifyError) -> None: ...


@dataclass(frozen=True, slots=True)
class MutationNotice:
    """The payload of ``mutationQueued``, ``mutationApplied`` and ``mutationFailed``: the
    operation as stored, and its result (applied) or error (failed)."""

    operation: Operation
    result: Any = None
    error: GamifyError | None = None

    @property
    def operation_id(self) -> int:
        """The operation's id in the outbox."""
        return self.operation.id


class PendingWrite(Generic[T]):
    """A write kept in the outbox whose outcome is not known yet.

    ``result(timeout)`` blocks until this process applied it (its result) or failed it for
    good (raises the error), and raises ``TimeoutError`` when the outcome does not come in
    time (the write stays queued); ``await pending.wait()`` does the same on an event loop.
    ``status`` reads the outbox now.
    """

    def __init__(self, operation: Operation, future: Future[T], store: OutboxStore) -> None:
        self.operation_id = operation.id
        self.write = operation.write
        self.idempotency_key = operation.idempotency_key
        self._future = future
        self._store = store

    @property
    def status(self) -> OperationStatus:
        """``queued``, ``in_flight``, ``applied`` or ``failed``, as the outbox holds it now."""
        operation = self._store.get(self.operation_id)
        assert operation is not None, "operations are never deleted"
        return operation.status

    def done(self) -> bool:
        """Whether this process has the outcome (applied or failed)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> T:
        """The write's result once applied; raises its error if it failed for good."""
        return self._future.result(timeout)

    async def wait(self) -> T:
        """:meth:`result` for a coroutine: waits without blocking the loop (bound it with
        ``asyncio.timeout``)."""
        # Shielded: a cancelled waiter must not cancel the outcome for the others.
        return await asyncio.shield(asyncio.wrap_future(self._future))

    def __repr__(self) -> str:
        return f"PendingWrite(operation_id={self.operation_id}, write={self.write!r})"


class WriteQueued(APIConnectionError):
    """The write has no answer yet (offline, the connection failed, or the answer was lost)
    and is safe in the outbox; a replay will apply it exactly once. ``pending`` follows it.
    Never send it again yourself: it is queued already.

    It is an :class:`~gamify_client.APIConnectionError` (``request_sent`` says whether an
    attempt may have reached the server), so code that reports a lost connection keeps
    working, and a write method's return type stays its result."""

    def __init__(self, pending: PendingWrite[Any], reason: str, *, request_sent: bool) -> None:
        super().__init__(
            f"{pending.write} was queued as operation {pending.operation_id} ({reason})",
            request_sent=request_sent,
        )
        self.pending = pending


# How a write's effect is looked up on a service that does not honour Idempotency-Key.


@dataclass(frozen=True, slots=True)
class _EffectProbe:
    lookup: Callable[[Operation], Call[Any]]
    found: Callable[[Operation, Any], bool]


def _task_named(operation: Operation, tasks: Any) -> bool:
    body = operation.json if isinstance(operation.json, Mapping) else {}
    name, batch = body.get("name"), body.get("batch")
    return any(
        task.name == name and (batch is None or ref_id(task.batch) == batch) for task in tasks
    )


def _enrolled(operation: Operation, batch: Any) -> bool:
    user = operation.context.get("user_id")
    return isinstance(batch, Batch) and any(ref_id(member) == user for member in batch.users)


_PROBES: dict[str, _EffectProbe] = {
    "tasks.submit": _EffectProbe(
        lambda op: get_submission(task_id=op.context["task_id"], user_id=op.context["user_id"]),
        lambda op, submission: submission is not None,
    ),
    "tasks.create": _EffectProbe(lambda op: list_tasks(), _task_named),
    "batches.enroll": _EffectProbe(lambda op: get_batch(op.context["batch_id"]), _enrolled),
}

_REPEATS: dict[str, str] = {
    "tasks.submit": "already submitted",
    "progress.submit_task": "already submitted",
    "batches.enroll": "already enrolled",
    "progress.initialize": "already initialized",
}
"""The writes the service refuses when repeated, and the words of that refusal (400)."""


def _is_repeat(operation: Operation, error: GamifyError) -> bool:
    words = _REPEATS.get(operation.write)
    return (
        words is not None and isinstance(error, BadRequestError) and words in error.message.lower()
    )


def _touches(operation: Operation, key: Key) -> bool:
    """Whether the operation's rule invalidates ``key`` (or a family above it), read from the
    ids its request names; its answer is not known yet."""
    write = WRITES.get(operation.write)
    if write is None:
        return False
    context = MutationContext(operation.write, operation.context, MutationResult(data=None))
    return any(key_starts_with(key, invalidated) for invalidated in write.rule.invalidates(context))


def _known_result(how: str) -> MutationResult[Any]:
    return MutationResult(data=None, message=f"Applied by an earlier attempt ({how})", body=None)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


ApplyRule = Callable[[Write[Any], Mapping[str, Any], Any], object]


class OutboxOwner(Protocol):
    """What an outbox needs of its client: whose writes these are, and the optimistic
    update hook a queued write starts."""

    @property
    def user_id(self) -> str | None: ...

    def _optimistic_begin(self, call: Call[Any]) -> OptimisticHandle | None: ...


def _settled(pending: PendingWrite[T], reason: str) -> T:
    if pending.done():
        return pending.result()
    raise WriteQueued(pending, reason, request_sent=pending.status == "in_flight")


class OutboxCore:
    """The outbox's logic, without I/O: enqueueing, the order of replay, settling outcomes,
    events and optimistic updates. One per outbox file and process; a client and its
    ``with_options`` copies share it."""

    def __init__(self, store: OutboxStore, events: EventManager, apply_rule: ApplyRule) -> None:
        self.store = store
        self._events = events
        self._apply_rule = apply_rule
        self._lock = threading.Lock()
        self._waiters: dict[int, Future[Any]] = {}
        self._optimistic: dict[int, OptimisticHandle] = {}
        self._honours_keys = store.fact(_HONOURS_KEYS) == "yes"
        self.replaying = threading.Lock()
        """Held by a sync replay (the async client has its own lock, on its loop)."""

    def pending_write(self, operation: Operation) -> PendingWrite[Any]:
        """The :class:`PendingWrite` of an operation (one future per operation and process)."""
        with self._lock:
            future = self._waiters.setdefault(operation.id, Future())
        return PendingWrite(operation, future, self.store)

    def write_flow(
        self, call: Call[T], client: OutboxOwner, *, online: bool, optimistic: bool = False
    ) -> Generator[Call[Any], Any, tuple[PendingWrite[T], str]]:
        """Keep ``call`` on disk as a write of ``client``'s user, then (online) replay that
        user's queue up to it. Returns its pending write and, if it is still queued, why.
        Its prediction shows while it stays queued, and from the start when ``optimistic``."""
        user_id = client.user_id or ""
        operation = self.store.enqueue(call, user_id)
        pending: PendingWrite[T] = self.pending_write(operation)
        self._events.emit(Event.MUTATION_QUEUED, MutationNotice(operation))
        if optimistic or not online:
            self._predict(operation, call, client)
        reason = "the client is offline"
        if online:
            stopped = yield from self.drain_flow(user_id)
            reason = stopped or "an earlier write of the user is being sent"
            if not pending.done():
                self._predict(operation, call, client)
        return pending, reason

    def _predict(self, operation: Operation, call: Call[Any], client: OutboxOwner) -> None:
        """Show the queued write's prediction until it is settled, once."""
        with self._lock:
            if operation.id in self._optimistic:
                return
        handle = client._optimistic_begin(call)
        if handle is not None:
            with self._lock:
                self._optimistic[operation.id] = handle

    def drain_flow(self, user_id: str) -> Generator[Call[Any], Any, str | None]:
        """Apply the user's open writes in order, until none is left (None) or one cannot go
        now (why, e.g. the connection failed: the rest wait behind it)."""
        while (claim := self.store.claim_next(user_id)) is not None:
            stopped = yield from self._apply_flow(claim)
            if stopped is not None:
                return stopped
        return None

    def _apply_flow(self, claim: Claim) -> Generator[Call[Any], Any, str | None]:
        operation = claim.operation
        try:
            if claim.recovering:
                resolved = yield from self._resolve_flow(operation)
                if resolved:
                    return None
            result = yield self._call(operation)
        except GamifyError as error:
            return self._after_error(operation, error)
        except BaseException as error:
            # Cancelled or interrupted mid-send: the next replay finds out what happened.
            self.store.release(operation, _describe(error), may_have_applied=True)
            raise
        self._applied(operation, result)
        return None

    def _resolve_flow(self, operation: Operation) -> Generator[Call[Any], Any, bool]:
        """Find the outcome of a write an earlier attempt may have applied. True when it is
        settled (applied or failed); False when sending it again is safe."""
        probe = _PROBES.get(operation.write)
        if probe is not None:
            found = yield probe.lookup(operation)
            if probe.found(operation, found):
                logger.info("operation %d was applied by an earlier attempt", operation.id)
                self._apply_known(operation, "its effect was found")
                return True
            return False
        write = WRITES.get(operation.write)
        if write is not None and write.repeatable:
            return False
        if not self._honours_keys:
            try:
                yield self._key_check(operation)
            except GamifyError as error:
                logger.info("could not learn whether the server honours keys: %s", error)
        if self._honours_keys:
            return False
        self._failed(
            operation,
            OutcomeUnknownError(
                f"operation {operation.id} ({operation.write}) may have been applied and "
                "nothing can tell; it is not sent again"
            ),
        )
        return True

    def _call(self, operation: Operation) -> Call[Any]:
        write = WRITES.get(operation.write)
        if write is None:
            raise OutboxError(f"operation {operation.id} names an unknown write {operation.write}")

        def parse(response: httpx.Response) -> Any:
            self._note_echo(response, operation.idempotency_key)
            return write.parse(response)

        call = write.call(operation.path, json=operation.json, context=operation.context)
        return dataclasses.replace(
            call, parse=parse, headers={"Idempotency-Key": operation.idempotency_key}
        )

    def _note_echo(self, response: httpx.Response, key: str) -> None:
        # A server that echoes the key honours it: a write whose outcome is unknown may then
        # simply be sent again with its key.
        if not self._honours_keys and response.headers.get("Idempotency-Key") == key:
            self._honours_keys = True
            self.store.note_fact(_HONOURS_KEYS, "yes")

    def _key_check(self, operation: Operation) -> Call[None]:
        """A liveness read (``GET /``, the service's "API is working!") that carries the
        write's key: its echo, or its absence, tells whether the server honours keys."""
        key = operation.idempotency_key
        return Call(
            "GET",
            "/",
            lambda response: self._note_echo(response, key),
            headers={"Idempotency-Key": key},
        )

    def _after_error(self, operation: Operation, error: GamifyError) -> str | None:
        """Settle or give back a write whose attempt failed; why the queue stops, or None to
        go on with the next write."""
        if _is_repeat(operation, error):
            self._apply_known(operation, "the service refused a repeat")
            return None
        if isinstance(error, ClientClosedError | AuthenticationError) or (
            isinstance(error, APIConnectionError) and not error.request_sent
        ):
            self.store.release(operation, _describe(error), may_have_applied=False)
            return f"not sent: {error.message}"
        if may_have_applied(error) and operation.attempts < MAX_ATTEMPTS:
            self.store.release(operation, _describe(error), may_have_applied=True)
            return f"outcome unknown: {error.message}"
        self._failed(operation, error)
        return None

    def _apply_known(self, operation: Operation, how: str) -> None:
        result = _known_result(how)
        write = WRITES.get(operation.write)
        if write is not None:
            self._apply_rule(write, operation.context, result)
        self._applied(operation, result)

    def _applied(self, operation: Operation, result: Any) -> None:
        self.store.mark_applied(operation)
        future, handle = self._take(operation.id)
        if handle is not None:
            handle.settle(result)
        if future is not None:
            future.set_result(result)
        done = dataclasses.replace(operation, status="applied", last_error=None)
        self._events.emit(Event.MUTATION_APPLIED, MutationNotice(done, result=result))

    def _failed(self, operation: Operation, error: GamifyError) -> None:
        self.store.mark_failed(operation, _describe(error))
        future, handle = self._take(operation.id)
        if handle is not None:
            handle.rollback(error)
        if future is not None:
            future.set_exception(error)
        done = dataclasses.replace(operation, status="failed", last_error=_describe(error))
        self._events.emit(Event.MUTATION_FAILED, MutationNotice(done, error=error))

    def _take(self, operation_id: int) -> tuple[Future[Any] | None, OptimisticHandle | None]:
        with self._lock:
            return self._waiters.pop(operation_id, None), self._optimistic.pop(operation_id, None)

    def close(self) -> None:
        """Close the outbox file."""
        self.store.close()


def open_outbox(path: str | None, events: EventManager, apply_rule: ApplyRule) -> OutboxCore | None:
    """The outbox of a client whose ``offline`` setting is ``path`` (None: no outbox)."""
    return None if path is None else OutboxCore(OutboxStore(path), events, apply_rule)


class _Steps(Generic[R]):
    """Steps a flow: iterate to get each call it yields, send it, and hand the answer back
    with :meth:`answer` inside :meth:`answering` (which hands an error back instead);
    :attr:`result` is what the flow returned. The two outboxes' loops are then five lines
    each, differing only in ``await``."""

    def __init__(self, flow: Generator[Call[Any], Any, R]) -> None:
        self._flow = flow
        self.result: R
        self._next = self._advance(lambda: next(flow))

    def _advance(self, step: Callable[[], Call[Any]]) -> Call[Any] | None:
        try:
            return step()
        except StopIteration as stop:
            self.result = stop.value
            return None

    def __iter__(self) -> Iterator[Call[Any]]:
        while self._next is not None:
            yield self._next

    def answer(self, value: Any) -> None:
        """The answer to the call just yielded."""
        self._next = self._advance(lambda: self._flow.send(value))

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the send: its GamifyError goes back into the flow (which decides); anything
        else (cancelled, interrupted) lets the flow record it, then propagates."""
        try:
            yield
        except GamifyError as error:
            self._next = self._advance(partial(self._flow.throw, error))
        except BaseException as error:
            with suppress(BaseException):
                self._flow.throw(error)
            raise


class _OutboxFace:
    """What both outboxes share: reading the queue."""

    def __init__(self, core: OutboxCore, client: OutboxOwner) -> None:
        self._core = core
        self._client = client

    @property
    def path(self) -> str:
        """The outbox file."""
        return self._core.store.path

    @property
    def _user(self) -> str:
        return self._client.user_id or ""

    def pending(self) -> list[PendingWrite[Any]]:
        """The client's user's writes still to apply, oldest first."""
        return [self._core.pending_write(op) for op in self._core.store.open_operations(self._user)]

    def pending_for(self, key: Key) -> list[PendingWrite[Any]]:
        """The user's writes still to apply that will change what ``key`` holds (their rule
        invalidates ``key`` or a family it belongs to), oldest first: what a live query on
        ``key`` shows as "waiting to be sent" (``client.outbox.pending_for(query.key)``).
        The cost grows with the user's queue, not with the cache."""
        return [
            self._core.pending_write(operation)
            for operation in self._core.store.open_operations(self._user)
            if _touches(operation, key)
        ]

    def operations(
        self, *, status: OperationStatus | None = None, all_users: bool = False
    ) -> list[Operation]:
        """The operations kept in the file (this user's unless ``all_users``), oldest first."""
        user = None if all_users else self._user
        return self._core.store.operations(user_id=user, status=status)

    def requeue(self, operation_id: int) -> bool:
        """Send a failed write again at the next replay (after checking it by hand); False
        when it is not failed."""
        return self._core.store.requeue(operation_id)

    def close(self) -> None:
        """Close the outbox file (the client that opened it does, when it closes)."""
        self._core.close()


class Outbox(_OutboxFace):
    """``client.outbox`` of a :class:`~gamify_client.GamifyClient` made with ``offline=``."""

    def __init__(
        self, core: OutboxCore, client: OutboxOwner, send: Callable[[Call[Any]], Any]
    ) -> None:
        super().__init__(core, client)
        self._send = send

    def for_client(self, client: OutboxOwner, send: Callable[[Call[Any]], Any]) -> Outbox:
        """This outbox as seen by another client (a ``with_options`` copy)."""
        return Outbox(self._core, client, send)

    def _run(self, flow: Generator[Call[Any], Any, R]) -> R:
        # One replay at a time for this file in this process (the client, its copies): a
        # second caller waits, then finds the writes the first one applied settled.
        with self._core.replaying:
            steps = _Steps(flow)
            for call in steps:
                with steps.answering():
                    steps.answer(self._send(call))
            return steps.result

    def replay(self) -> str | None:
        """Apply this user's queued writes now, in order; None when none is left, else why
        the rest wait (the connection failed, an outcome is unknown)."""
        return self._run(self._core.drain_flow(self._user))

    def write(self, call: Call[T], *, online: bool = True) -> PendingWrite[T]:
        """Queue ``call`` (a write builder's result) and, when ``online``, replay up to it:
        the pending write, done when it was applied or failed. The explicit form of what the
        client's write methods do."""
        pending, _reason = self._run(self._core.write_flow(call, self._client, online=online))
        return pending

    def send_or_queue(self, call: Call[T], *, online: bool, optimistic: bool = False) -> T:
        """What a write method of the client does with an outbox: the write's result once
        applied; :class:`WriteQueued` while it waits in the outbox; its error if refused.
        ``optimistic`` shows its prediction before it is sent (it shows anyway while queued)."""
        flow = self._core.write_flow(call, self._client, online=online, optimistic=optimistic)
        return _settled(*self._run(flow))


class AsyncOutbox(_OutboxFace):
    """``client.outbox`` of an :class:`~gamify_client.AsyncGamifyClient` made with
    ``offline=``: the same names as :class:`Outbox`, awaited."""

    def __init__(
        self, core: OutboxCore, client: OutboxOwner, send: Callable[[Call[Any]], Awaitable[Any]]
    ) -> None:
        super().__init__(core, client)
        self._send = send
        self._replaying: asyncio.Lock | None = None

    def for_client(
        self, client: OutboxOwner, send: Callable[[Call[Any]], Awaitable[Any]]
    ) -> AsyncOutbox:
        """This outbox as seen by another client (a ``with_options`` copy)."""
        return AsyncOutbox(self._core, client, send)

    async def _run(self, flow: Generator[Call[Any], Any, R]) -> R:
        # The lock is made on first use, on the loop that uses it.
        self._replaying = self._replaying or asyncio.Lock()
        async with self._replaying:
            steps = _Steps(flow)
            for call in steps:
                with steps.answering():
                    steps.answer(await self._send(call))
            return steps.result

    async def replay(self) -> str | None:
        """Apply this user's queued writes now, in order; None when none is left, else why
        the rest wait."""
        return await self._run(self._core.drain_flow(self._user))

    async def write(self, call: Call[T], *, online: bool = True) -> PendingWrite[T]:
        """Queue ``call`` and, when ``online``, replay up to it (see :meth:`Outbox.write`)."""
        pending, _reason = await self._run(self._core.write_flow(call, self._client, online=online))
        return pending

    async def send_or_queue(self, call: Call[T], *, online: bool, optimistic: bool = False) -> T:
        """See :meth:`Outbox.send_or_queue`."""
        flow = self._core.write_flow(call, self._client, online=online, optimistic=optimistic)
        return _settled(*await self._run(flow))
