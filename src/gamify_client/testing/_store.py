"""The backend's documents, kept in SQLite as JSON, one table per Mongo collection.

Each collection stores whole documents (so unknown fields survive) plus the few fields
that lookups filter on, copied into indexed columns. Every read and write happens inside
:meth:`DocumentStore.transaction`, which holds one lock for its whole length: a request
handler that runs in one transaction sees and leaves a consistent state whatever the
number of threads calling it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

Doc = dict[str, Any]


class Collection(StrEnum):
    """The collections of the real service, each with the fields its lookups filter on."""

    USERS = "users"
    TASKS = "tasks"
    CATEGORIES = "categories"
    BATCHES = "batches"
    PROGRESS = "userbatchprogresses"
    SUBMISSIONS = "submissions"
    FEEDBACK = "feedbacks"
    BATCH_MESSAGES = "batchmessages"
    SURVEY_RESPONSES = "surveyresponses"

    @property
    def indexed_fields(self) -> tuple[str, ...]:
        """The document fields copied into indexed columns of this collection's table."""
        return _INDEXED_FIELDS[self]


_INDEXED_FIELDS: dict[Collection, tuple[str, ...]] = {
    Collection.USERS: ("email", "adminId"),
    Collection.TASKS: ("batch",),
    Collection.CATEGORIES: ("batch",),
    Collection.BATCHES: (),
    Collection.PROGRESS: ("userId", "batchId"),
    Collection.SUBMISSIONS: ("userId", "taskId"),
    Collection.FEEDBACK: ("toUser", "fromUser", "batch"),
    Collection.BATCH_MESSAGES: ("batch",),
    Collection.SURVEY_RESPONSES: ("userId",),
}


class NotInTransactionError(RuntimeError):
    """A store operation was called outside :meth:`DocumentStore.transaction`."""


class DocumentStore:
    """Documents by collection and ``_id``, in an SQLite database (``":memory:"`` or a file)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            for collection in Collection:
                self._create_table(collection)

    def _create_table(self, collection: Collection) -> None:
        fields = collection.indexed_fields
        columns = "".join(f', "{field}" TEXT' for field in fields)
        self._connection.execute(
            f'CREATE TABLE IF NOT EXISTS "{collection}" (id TEXT PRIMARY KEY, doc TEXT NOT NULL'
            f"{columns})"
        )
        if fields:
            quoted = ", ".join(f'"{field}"' for field in fields)
            self._connection.execute(
                f'CREATE INDEX IF NOT EXISTS "{collection}_lookup" ON "{collection}" ({quoted})'
            )

    @contextmanager
    def transaction(self) -> Iterator[DocumentStore]:
        """Hold the store's lock and one SQLite transaction; roll back if the block raises.

        Nested use joins the outer transaction.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._connection.execute("BEGIN")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            else:
                self._connection.execute("COMMIT")
            finally:
                self._depth = 0

    def _cursor(self) -> sqlite3.Connection:
        if not self._depth:
            raise NotInTransactionError("use the store inside `with store.transaction():`")
        return self._connection

    @staticmethod
    def _index_values(collection: Collection, doc: Doc) -> list[str | None]:
        values: list[str | None] = []
        for field in collection.indexed_fields:
            value = doc.get(field)
            values.append(None if value is None else str(value))
        return values

    def insert(self, collection: Collection, doc: Doc) -> Doc:
        """Add ``doc`` (which carries its ``_id``) and return it."""
        fields = collection.indexed_fields
        columns = "".join(f', "{field}"' for field in fields)
        marks = ", ?" * len(fields)
        self._cursor().execute(
            f'INSERT INTO "{collection}" (id, doc{columns}) VALUES (?, ?{marks})',
            [doc["_id"], _dump(doc), *self._index_values(collection, doc)],
        )
        return doc

    def save(self, collection: Collection, doc: Doc) -> Doc:
        """Replace the stored document that has ``doc``'s ``_id`` by ``doc``."""
        fields = collection.indexed_fields
        assignments = "".join(f', "{field}" = ?' for field in fields)
        self._cursor().execute(
            f'UPDATE "{collection}" SET doc = ?{assignments} WHERE id = ?',
            [_dump(doc), *self._index_values(collection, doc), doc["_id"]],
        )
        return doc

    def get(self, collection: Collection, doc_id: str) -> Doc | None:
        """The document with ``_id`` ``doc_id``, or None."""
        row = (
            self._cursor()
            .execute(f'SELECT doc FROM "{collection}" WHERE id = ?', (doc_id,))
            .fetchone()
        )
        return None if row is None else _load(row[0])

    def find(self, collection: Collection, **where: str) -> list[Doc]:
        """The documents whose indexed fields equal ``where``, in insertion order."""
        unknown = set(where) - set(collection.indexed_fields)
        if unknown:
            raise ValueError(f"{collection} cannot be filtered on {sorted(unknown)}")
        clause = " AND ".join(f'"{field}" = ?' for field in where) or "1"
        rows = (
            self._cursor()
            .execute(
                f'SELECT doc FROM "{collection}" WHERE {clause} ORDER BY rowid',
                list(where.values()),
            )
            .fetchall()
        )
        return [_load(row[0]) for row in rows]

    def values(self, collection: Collection, field: str, **where: str) -> list[str | None]:
        """The indexed ``field`` of the documents whose indexed fields equal ``where``, read
        from its column, without loading the documents."""
        unknown = ({field} | set(where)) - set(collection.indexed_fields)
        if unknown:
            raise ValueError(f"{collection} has no indexed {sorted(unknown)}")
        clause = " AND ".join(f'"{name}" = ?' for name in where) or "1"
        rows = (
            self._cursor()
            .execute(
                f'SELECT "{field}" FROM "{collection}" WHERE {clause} ORDER BY rowid',
                list(where.values()),
            )
            .fetchall()
        )
        return [row[0] for row in rows]

    def find_one(self, collection: Collection, **where: str) -> Doc | None:
        """The first document :meth:`find` would return, or None."""
        found = self.find(collection, **where)
        return found[0] if found else None

    def delete(self, collection: Collection, doc_id: str) -> Doc | None:
        """Remove the document with ``_id`` ``doc_id`` and return it, or None if there was none."""
        doc = self.get(collection, doc_id)
        if doc is not None:
            self._cursor().execute(f'DELETE FROM "{collection}" WHERE id = ?', (doc_id,))
        return doc

    def close(self) -> None:
        """Close the database; the store is unusable afterwards."""
        with self._lock:
            self._connection.close()


def _dump(doc: Doc) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _load(text: str) -> Doc:
    doc: Doc = json.loads(text)
    return doc
