"""The outbox's disk: one SQLite row per write, committed before the write is sent.

Durability: WAL with ``synchronous=FULL`` for an enqueue and a claim, so each reaches the disk
before it returns: a write the caller was told is queued, and the mark that it is about to be
sent, survive a crash of the process and of the machine. Settlements (applied, failed, given
back) are committed with ``NORMAL``: they survive the process; a power cut may lose one, which
leaves the write in flight, to be resolved (looked up) before it is ever sent again.

Several processes may share one file. A write is sent by the one that *claims* it: in one
``BEGIN IMMEDIATE`` transaction (SQLite's write lock, so claims are serial) the earliest open
row of a user is read and moved to ``in_flight`` with this process's owner tag, only if it is
still ``queued`` (or its owner is gone). A write's owner is gone when its process no longer
exists (same machine) or its lease ran out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ._call import Call
from .errors import GamifyError

__all__ = ["Claim", "Operation", "OperationStatus", "OutboxError", "OutboxStore"]

OperationStatus = Literal["queued", "in_flight", "applied", "failed"]

_OPEN = "('queued', 'in_flight')"

EARLIEST_OPEN = (
    f"SELECT * FROM operations WHERE user_id = ? AND status IN {_OPEN} ORDER BY id LIMIT 1"
)
"""A user's next write: read through the partial index of open rows, so a claim costs the
same however many writes the file has applied."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    write TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    context TEXT NOT NULL,
    status TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS operations_open ON operations (user_id, id)
    WHERE status IN ('queued', 'in_flight');
CREATE TABLE IF NOT EXISTS facts (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class OutboxError(GamifyError):
    """The outbox file cannot be used (not a database, no permission, a write that cannot be
    stored as JSON)."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One write kept in the outbox, as stored.

    ``sent`` is True once an attempt may have reached the server: from then on the write is
    never sent again before its outcome is known (see ``docs/offline.md``). In a
    :class:`Claim` it is the value from before the claim.
    """

    id: int
    idempotency_key: str
    user_id: str
    write: str
    method: str
    path: str
    json: Any
    context: Mapping[str, Any]
    status: OperationStatus
    sent: bool
    attempts: int
    last_error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Claim:
    """An operation this process now owns. ``recovering`` means an earlier attempt may have
    reached the server: its outcome must be found before it is sent again."""

    operation: Operation
    recovering: bool


def queueable(call: Call[Any]) -> bool:
    """Whether ``call`` can be kept on disk: a write with a JSON body (an upload cannot)."""
    return call.mutation is not None and call.files is None and call.data is None


class OutboxStore:
    """The operations table of one outbox file, for one process (thread-safe)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lease: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        self._lease = lease
        self._clock = clock
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        try:
            # Autocommit mode: each statement outside an explicit BEGIN is its own commit.
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise OutboxError(f"the outbox file {self.path!r} cannot be used: {error}") from error

    @contextmanager
    def _using(self) -> Iterator[None]:
        """The connection, one thread at a time; a database failure (a full disk, a lock held
        past the busy timeout, a file removed underneath) becomes an :class:`OutboxError`."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as error:
                raise OutboxError(f"the outbox file {self.path!r} failed: {error}") from error

    def enqueue(self, call: Call[Any], user_id: str) -> Operation:
        """Keep ``call`` on disk (committed when this returns) as the user's newest write."""
        assert call.mutation is not None
        try:
            body = json.dumps(call.json)
            context = json.dumps(dict(call.context))
        except (TypeError, ValueError) as error:
            raise OutboxError(f"{call.mutation.name} cannot be stored as JSON: {error}") from None
        with self._using():
            cursor = self._db.execute(
                "INSERT INTO operations (idempotency_key, user_id, write, method, path, body,"
                " context, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                (
                    str(uuid.uuid4()),
                    user_id,
                    call.mutation.name,
                    call.method,
                    call.path,
                    body,
                    context,
                    self._clock(),
                ),
            )
            row = self._db.execute(
                "SELECT * FROM operations WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        return _operation(row)

    def claim_next(self, user_id: str) -> Claim | None:
        """Own the user's earliest open write, or None when there is none or another live
        owner is sending it (the user's writes go in order, so nothing after it may go)."""
        now = self._clock()
        with self._using():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(EARLIEST_OPEN, (user_id,)).fetchone()
                if row is None or not self._claimable(row, now):
                    self._db.execute("COMMIT")
                    return None
                self._db.execute(
                    # Marked sent in the same commit: the write goes out right after it, so
                    # from here a crash leaves an outcome to find before any new attempt.
                    "UPDATE operations SET status = 'in_flight', sent = 1, owner = ?,"
                    " lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                    (self.owner, now + self._lease, row["id"]),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        operation = _operation(row)
        # ``sent`` stays as it was before this claim: True when an earlier attempt may have
        # reached the server (a release keeps it for a write that never left).
        recovering = operation.sent
        return Claim(
            _evolve(operation, status="in_flight", attempts=operation.attempts + 1), recovering
        )

    def _claimable(self, row: sqlite3.Row, now: float) -> bool:
        if row["status"] == "queued":
            return True
        owner = row["owner"]
        if owner is None:
            return True
        if owner == self.owner:
            return False
        # Taken over only when its owner died or its lease ran out.
        return (row["lease_until"] or 0.0) <= now or not _alive(owner)

    def mark_applied(self, operation: Operation) -> None:
        """The server applied the write: it is done for good."""
        self._update(
            operation,
            "status = 'applied', owner = NULL, finished_at = ?, last_error = NULL",
            self._clock(),
        )

    def mark_failed(self, operation: Operation, error: str) -> None:
        """The write can never apply (the server refused it): kept, but never sent again."""
        self._update(
            operation,
            "status = 'failed', owner = NULL, finished_at = ?, last_error = ?",
            self._clock(),
            error,
        )

    def release(self, operation: Operation, error: str, *, may_have_applied: bool) -> None:
        """Give the write back for a later replay. When it may have reached the server it
        stays ``in_flight`` without an owner, so the next replay finds its outcome first."""
        status = "in_flight" if may_have_applied else "queued"
        sent = 1 if may_have_applied or operation.sent else 0
        self._update(
            operation, "status = ?, sent = ?, owner = NULL, last_error = ?", status, sent, error
        )

    def requeue(self, operation_id: int) -> bool:
        """Send a failed write again at the next replay; False when it is not failed."""
        with self._using():
            cursor = self._db.execute(
                # Not ``sent`` any more: whoever requeues it has decided it may go again.
                "UPDATE operations SET status = 'queued', sent = 0, last_error = NULL,"
                " finished_at = NULL WHERE id = ? AND status = 'failed'",
                (operation_id,),
            )
        return cursor.rowcount == 1

    def _update(self, operation: Operation, assignments: str, *values: Any) -> None:
        # Only the owner settles a write: a process whose claim was taken over (its lease ran
        # out) must not overwrite what the new owner recorded.
        #
        # A settlement is committed without its own fsync (synchronous=NORMAL: it survives the
        # process dying, and the next FULL commit, an enqueue or a claim, makes it durable).
        # Losing one to a power cut is safe: the write is then found in flight, and its
        # outcome is looked up before anything is sent again. The enqueue and the claim, which
        # the caller and the server rely on, keep their fsync.
        with self._using():
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute(
                    f"UPDATE operations SET {assignments} WHERE id = ? AND owner = ?",
                    (*values, operation.id, self.owner),
                )
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def get(self, operation_id: int) -> Operation | None:
        """One operation, as stored now."""
        with self._using():
            row = self._db.execute(
                "SELECT * FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
        return None if row is None else _operation(row)

    def operations(
        self, *, user_id: str | None = None, status: OperationStatus | None = None
    ) -> list[Operation]:
        """Operations in the order they were made, optionally of one user or one status."""
        clauses, values = [], []
        if user_id is not None:
            clauses.append("user_id = ?")
            values.append(user_id)
        if status is not None:
            clauses.append("status = ?")
            values.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._using():
            rows = self._db.execute(
                f"SELECT * FROM operations{where} ORDER BY id", values
            ).fetchall()
        return [_operation(row) for row in rows]

    def open_operations(self, user_id: str) -> list[Operation]:
        """The user's writes still to apply (queued or in flight), oldest first."""
        with self._using():
            rows = self._db.execute(
                f"SELECT * FROM operations WHERE user_id = ? AND status IN {_OPEN} ORDER BY id",
                (user_id,),
            ).fetchall()
        return [_operation(row) for row in rows]

    def note_fact(self, name: str, value: str) -> None:
        """Remember something learnt about the server (e.g. that it honours keys)."""
        with self._using():
            self._db.execute(
                "INSERT INTO facts (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def fact(self, name: str) -> str | None:
        """What :meth:`note_fact` remembered, or None."""
        with self._using():
            row = self._db.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    def close(self) -> None:
        """Close the database connection."""
        with self._using():
            self._db.close()


def _alive(owner: str) -> bool:
    """Whether the process named in an owner tag still runs on this machine."""
    try:
        pid = int(owner.split(":", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _operation(row: sqlite3.Row) -> Operation:
    return Operation(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        user_id=row["user_id"],
        write=row["write"],
        method=row["method"],
        path=row["path"],
        json=json.loads(row["body"]),
        context=json.loads(row["context"]),
        status=row["status"],
        sent=bool(row["sent"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


def _evolve(operation: Operation, **changes: Any) -> Operation:
    fields = {name: getattr(operation, name) for name in Operation.__slots__}
    fields.update(changes)
    return Operation(**fields)
