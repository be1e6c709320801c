"""The backend's documents, kept in SQLite as JSON, one table per Mongo collection.

Each collection stores whole documents (so unknown fields survive) plus the few fields
that lookups filter on, copied into indexed columns. Every read and write happens inside
:meth:`DocumentStore.transaction`, which holds one lock for its whole length: a request
handler that runs in one transaction sees and leaves a consistent state whatever the
number of threads calling it.

Decoding JSON is most of what a read costs, so the store keeps the documents it has decoded
(the newest :data:`CACHED_DOCUMENTS`), each with a ``marshal`` image from which
:meth:`DocumentStore.get` makes a fresh copy several times faster than ``json.loads``. A
transaction's writes are kept aside and join the cache only when it commits, so a rolled-back
write is never seen. The cache belongs to the store object: two stores on one database file
would not see each other's writes (the backend opens one).

SQLite's own transaction opens with the first statement a transaction runs, so a read the
cache answers whole costs no SQL at all. :attr:`DocumentStore.generation` counts the
transactions that committed a write: what was made from the documents holds while it stays the
same (``_answers`` keeps answers on it). Documents this process wrote with orjson are read back
with orjson, several times faster than the standard library.
"""

from __future__ import annotations

import marshal
import sqlite3
import threading
from enum import StrEnum
from typing import Any

from . import _json

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


CACHED_DOCUMENTS = 50_000
"""How many decoded documents a store keeps, least recently used first out."""

_Key = tuple[str, str]


class _Decoded:
    """A stored document, decoded once, on its first read: :attr:`doc` is shared and never
    changed, and every caller that may change the document gets a copy made from its
    ``marshal`` image (made on the first such read).

    It is decoded from the stored JSON rather than copied from the dict a write was given, so it
    is exactly what a read of the table gives (lists, never tuples; text keys); and only when
    read, since many written documents (a submission) are not read again soon.
    """

    __slots__ = ("_copied", "_doc", "_fast", "_image", "_text")

    def __init__(self, text: str, *, fast: bool = False) -> None:
        self._text = text
        self._doc: Doc | None = None
        self._fast = fast
        """The text was written by this process's orjson, which may read it back."""
        self._copied = False
        self._image: bytes | None = None

    @property
    def doc(self) -> Doc:
        if self._doc is None:
            self._doc = _json.decode(self._text, fast=self._fast)
        return self._doc

    def copy(self) -> Doc:
        if self._image is None:
            if self._fast and not self._copied:
                # A document written here is often read once to be changed again (a task by its
                # next submission): orjson reading its text costs less than an image made and read.
                self._copied = True
                copied: Doc = _json.decode(self._text, fast=True)
                return copied
            self._image = marshal.dumps(self.doc)
        image_copy: Doc = marshal.loads(self._image)
        return image_copy


class _Transaction:
    """What :meth:`DocumentStore.transaction` returns: a class rather than a generator-based
    context manager, since every request enters one and a generator costs several times more."""

    __slots__ = ("_store",)

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def __enter__(self) -> DocumentStore:
        store = self._store
        store._lock.acquire()
        store._depth += 1
        return store

    def __exit__(self, exc_type: type[BaseException] | None, *_exc_info: object) -> None:
        store = self._store
        try:
            store._depth -= 1
            if not store._depth:
                store._end_transaction(commit=exc_type is None)
        finally:
            store._lock.release()


class NotInTransactionError(RuntimeError):
    """A store operation was called outside :meth:`DocumentStore.transaction`."""


class DocumentStore:
    """Documents by collection and ``_id``, in an SQLite database (``":memory:"`` or a file)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            # A test server's file: a commit appends to the write-ahead log and is not flushed
            # to disk; a crash of the process loses nothing, a power cut the last writes.
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        self._depth = 0
        self._begun = False
        """Whether this transaction has opened SQLite's: a read the cache answers needs none."""
        self._generation = 0
        self._decoded: dict[_Key, _Decoded] = {}
        """Committed documents, oldest first."""
        self._written: dict[_Key, _Decoded | None] = {}
        """This transaction's writes (None: deleted), for the cache once it commits."""
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

    def transaction(self) -> _Transaction:
        """Hold the store's lock and one SQLite transaction; roll back if the block raises.

        Nested use joins the outer transaction.
        """
        return _Transaction(self)

    def _end_transaction(self, commit: bool) -> None:
        """Commit (or roll back) the outermost transaction and keep its writes if it commits."""
        try:
            if self._begun:
                self._connection.execute("COMMIT" if commit else "ROLLBACK")
            if commit and self._written:
                self._generation += 1
                self._keep_written()
        finally:
            self._written.clear()
            self._begun = False

    @property
    def generation(self) -> int:
        """How many transactions have committed a write: whatever was read from the store while
        it stays the same still holds."""
        return self._generation

    @property
    def has_pending_writes(self) -> bool:
        """The current transaction has written something it has not committed yet."""
        return bool(self._written)

    def _keep_written(self) -> None:
        """Move the committed transaction's writes into the cache."""
        for key, decoded in self._written.items():
            if decoded is None:
                self._decoded.pop(key, None)
            else:
                self._remember(key, decoded)

    def _remember(self, key: _Key, decoded: _Decoded) -> None:
        # Oldest written or loaded first out: refreshing the order on every read would cost
        # every read something, for a bound that only a very large database reaches.
        self._decoded.pop(key, None)
        self._decoded[key] = decoded
        if len(self._decoded) > CACHED_DOCUMENTS:
            del self._decoded[next(iter(self._decoded))]

    def _decoded_doc(self, collection: Collection, doc_id: str) -> _Decoded | None:
        """The document as this transaction sees it: its own write, the cache, or the table."""
        key = (collection, doc_id)
        if key in self._written:
            return self._written[key]
        decoded = self._decoded.get(key)
        if decoded is not None:
            return decoded
        row = (
            self._cursor()
            .execute(f'SELECT doc FROM "{collection}" WHERE id = ?', (doc_id,))
            .fetchone()
        )
        if row is None:
            return None
        decoded = _Decoded(row[0])
        # Not written by this transaction (that would be in ``_written``): the committed state.
        self._remember(key, decoded)
        return decoded

    def _require_transaction(self) -> None:
        if not self._depth:
            raise NotInTransactionError("use the store inside `with store.transaction():`")

    def _cursor(self) -> sqlite3.Connection:
        self._require_transaction()
        if not self._begun:
            self._connection.execute("BEGIN")
            self._begun = True
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
        text, fast = _dump(doc)
        self._cursor().execute(
            f'INSERT INTO "{collection}" (id, doc{columns}) VALUES (?, ?{marks})',
            [doc["_id"], text, *self._index_values(collection, doc)],
        )
        self._written[(collection, doc["_id"])] = _Decoded(text, fast=fast)
        return doc

    def save(self, collection: Collection, doc: Doc) -> Doc:
        """Replace the stored document that has ``doc``'s ``_id`` by ``doc``."""
        fields = collection.indexed_fields
        assignments = "".join(f', "{field}" = ?' for field in fields)
        text, fast = _dump(doc)
        updated = self._cursor().execute(
            f'UPDATE "{collection}" SET doc = ?{assignments} WHERE id = ?',
            [text, *self._index_values(collection, doc), doc["_id"]],
        )
        if updated.rowcount:
            self._written[(collection, doc["_id"])] = _Decoded(text, fast=fast)
        return doc

    @property
    def cached_documents(self) -> int:
        """How many decoded documents the store keeps (at most :data:`CACHED_DOCUMENTS`)."""
        return len(self._decoded)

    def get(self, collection: Collection, doc_id: str) -> Doc | None:
        """The document with ``_id`` ``doc_id`` (a copy the caller may change), or None."""
        decoded = self._decoded_doc(collection, doc_id)
        return None if decoded is None else decoded.copy()

    def peek(self, collection: Collection, doc_id: str) -> Doc | None:
        """The document with ``_id`` ``doc_id``, or None, without a copy: for reading only,
        within the transaction (the store shares it; changing it would corrupt every read)."""
        self._require_transaction()
        decoded = self._decoded_doc(collection, doc_id)
        return None if decoded is None else decoded.doc

    def find(self, collection: Collection, **where: str) -> list[Doc]:
        """The documents whose indexed fields equal ``where``, in insertion order."""
        return [decoded.copy() for decoded in self._found(collection, where)]

    def peek_found(self, collection: Collection, **where: str) -> list[Doc]:
        """What :meth:`find` returns, without copies: for reading only (see :meth:`peek`)."""
        return [decoded.doc for decoded in self._found(collection, where)]

    def _found(self, collection: Collection, where: dict[str, str]) -> list[_Decoded]:
        unknown = set(where) - set(collection.indexed_fields)
        if unknown:
            raise ValueError(f"{collection} cannot be filtered on {sorted(unknown)}")
        clause = " AND ".join(f'"{field}" = ?' for field in where) or "1"
        rows = (
            self._cursor()
            .execute(
                f'SELECT id FROM "{collection}" WHERE {clause} ORDER BY rowid',
                list(where.values()),
            )
            .fetchall()
        )
        found = (self._decoded_doc(collection, row[0]) for row in rows)
        return [decoded for decoded in found if decoded is not None]

    def distinct(self, collection: Collection, field: str, **where: str) -> set[str | None]:
        """The distinct values of the indexed ``field`` among the documents whose indexed fields
        equal ``where``, read from the index, without loading the documents (nor sorting them:
        a set has no order to keep)."""
        unknown = ({field} | set(where)) - set(collection.indexed_fields)
        if unknown:
            raise ValueError(f"{collection} has no indexed {sorted(unknown)}")
        clause = " AND ".join(f'"{name}" = ?' for name in where) or "1"
        rows = (
            self._cursor()
            .execute(
                f'SELECT DISTINCT "{field}" FROM "{collection}" WHERE {clause}',
                list(where.values()),
            )
            .fetchall()
        )
        return {row[0] for row in rows}

    def find_one(self, collection: Collection, **where: str) -> Doc | None:
        """The first document :meth:`find` would return, or None."""
        found = self.find(collection, **where)
        return found[0] if found else None

    def delete(self, collection: Collection, doc_id: str) -> Doc | None:
        """Remove the document with ``_id`` ``doc_id`` and return it, or None if there was none."""
        doc = self.get(collection, doc_id)
        if doc is not None:
            self._cursor().execute(f'DELETE FROM "{collection}" WHERE id = ?', (doc_id,))
            self._written[(collection, doc_id)] = None
        return doc

    def close(self) -> None:
        """Close the database; the store is unusable afterwards."""
        with self._lock:
            self._connection.close()
            self._decoded.clear()


def _dump(doc: Doc) -> tuple[str, bool]:
    encoded, fast = _json.encode_checked(doc)
    return encoded.decode(), fast
