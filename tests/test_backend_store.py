"""The reference backend's SQLite document store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gamify_client.testing._store import Collection, DocumentStore, NotInTransactionError


@pytest.fixture
def store() -> Iterator[DocumentStore]:
    store = DocumentStore()
    yield store
    store.close()


def test_documents_round_trip_with_unknown_fields(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.TASKS, {"_id": "t1", "batch": "b1", "extra": {"kept": [1, "é"]}})
        store.insert(Collection.TASKS, {"_id": "t2", "batch": "b2"})
        store.insert(Collection.TASKS, {"_id": "t3", "batch": "b1"})
    with store.transaction():
        assert store.get(Collection.TASKS, "t1") == {
            "_id": "t1",
            "batch": "b1",
            "extra": {"kept": [1, "é"]},
        }
        assert [doc["_id"] for doc in store.find(Collection.TASKS, batch="b1")] == ["t1", "t3"]
        assert store.find_one(Collection.TASKS, batch="b9") is None
        assert store.get(Collection.TASKS, "missing") is None


def test_save_updates_the_indexed_columns(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.PROGRESS, {"_id": "p", "userId": "u", "batchId": "b"})
        store.save(Collection.PROGRESS, {"_id": "p", "userId": "u", "batchId": "c"})
        assert store.find(Collection.PROGRESS, userId="u", batchId="b") == []
        assert store.find_one(Collection.PROGRESS, userId="u", batchId="c") is not None


def test_delete_returns_the_document(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.BATCHES, {"_id": "b", "name": "B"})
        assert store.delete(Collection.BATCHES, "b") == {"_id": "b", "name": "B"}
        assert store.delete(Collection.BATCHES, "b") is None


def test_a_failing_transaction_rolls_back(store: DocumentStore) -> None:

    def insert_then_fail() -> None:
        with store.transaction():
            store.insert(Collection.USERS, {"_id": "u", "email": "a@b"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    with store.transaction():
        assert store.get(Collection.USERS, "u") is None
    assert store.generation == 0


def test_nested_transactions_join_the_outer_one(store: DocumentStore) -> None:
    with store.transaction(), store.transaction():
        store.insert(Collection.USERS, {"_id": "u", "email": "a@b"})
    with store.transaction():
        assert store.find_one(Collection.USERS, email="a@b") is not None


def test_use_outside_a_transaction_is_an_error(store: DocumentStore) -> None:
    with pytest.raises(NotInTransactionError):
        store.get(Collection.USERS, "u")


def test_only_indexed_fields_can_be_filtered(store: DocumentStore) -> None:
    with store.transaction(), pytest.raises(ValueError, match="cannot be filtered"):
        store.find(Collection.USERS, username="x")


def test_a_file_store_keeps_documents(tmp_path: Path) -> None:
    path = str(tmp_path / "docs.sqlite")
    first = DocumentStore(path)
    with first.transaction():
        first.insert(Collection.CATEGORIES, {"_id": "c", "batch": "b"})
    first.close()
    second = DocumentStore(path)
    with second.transaction():
        assert second.find(Collection.CATEGORIES, batch="b") == [{"_id": "c", "batch": "b"}]
    second.close()


def _stored_row(path: str, collection: Collection, doc_id: str) -> object:
    """What the table holds, read by a store with nothing cached."""
    fresh = DocumentStore(path)
    try:
        with fresh.transaction():
            return fresh.get(collection, doc_id)
    finally:
        fresh.close()


def test_every_get_is_a_copy_of_its_own(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.TASKS, {"_id": "t", "batch": "b", "completedBy": ["u1"]})
    with store.transaction():
        first = store.get(Collection.TASKS, "t")
        assert first is not None
        first["completedBy"].append("u2")
        first["name"] = "changed, never saved"
        assert store.get(Collection.TASKS, "t") == {"_id": "t", "batch": "b", "completedBy": ["u1"]}
        assert store.find(Collection.TASKS, batch="b")[0]["completedBy"] == ["u1"]
        assert store.peek(Collection.TASKS, "t") == {
            "_id": "t",
            "batch": "b",
            "completedBy": ["u1"],
        }


def test_a_document_reads_as_its_json_whoever_wrote_it(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.TASKS, {"_id": "t", "batch": "b", "pair": ("a", 1), "keys": {1: 2}})
        assert store.get(Collection.TASKS, "t") == {
            "_id": "t",
            "batch": "b",
            "pair": ["a", 1],
            "keys": {"1": 2},
        }


def test_a_rolled_back_write_is_never_read(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.BATCHES, {"_id": "b", "name": "before"})
        store.insert(Collection.BATCHES, {"_id": "gone", "name": "kept"})
    with store.transaction():
        assert store.peek(Collection.BATCHES, "b") == {"_id": "b", "name": "before"}

    def write_then_fail() -> None:
        with store.transaction():
            store.save(Collection.BATCHES, {"_id": "b", "name": "after"})
            store.save(Collection.BATCHES, {"_id": "gone", "name": "renamed"})
            store.delete(Collection.BATCHES, "gone")
            store.insert(Collection.BATCHES, {"_id": "new", "name": "new"})
            assert store.get(Collection.BATCHES, "b") == {"_id": "b", "name": "after"}
            assert store.get(Collection.BATCHES, "gone") is None
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    with store.transaction():
        assert store.get(Collection.BATCHES, "b") == {"_id": "b", "name": "before"}
        assert store.peek(Collection.BATCHES, "gone") == {"_id": "gone", "name": "kept"}
        assert store.get(Collection.BATCHES, "new") is None
        assert [doc["_id"] for doc in store.peek_found(Collection.BATCHES)] == ["b", "gone"]


def test_the_cache_keeps_a_bounded_number_of_documents(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gamify_client.testing._store.CACHED_DOCUMENTS", 3)
    with store.transaction():
        for number in range(10):
            store.insert(Collection.CATEGORIES, {"_id": f"c{number}", "batch": "b"})
    with store.transaction():
        assert [doc["_id"] for doc in store.find(Collection.CATEGORIES, batch="b")] == [
            f"c{number}" for number in range(10)
        ]
        assert store.get(Collection.CATEGORIES, "c0") == {"_id": "c0", "batch": "b"}
    assert store.cached_documents == 3


def test_generation_counts_the_transactions_that_commit_a_write_and_only_those(
    store: DocumentStore,
) -> None:
    with store.transaction():
        store.insert(Collection.BATCHES, {"_id": "b", "name": "B"})
        assert store.has_pending_writes
    assert store.generation == 1

    with store.transaction():
        store.peek_found(Collection.BATCHES)
        assert not store.has_pending_writes

    assert store.generation == 1


def test_a_read_the_cache_answers_runs_no_sql(store: DocumentStore) -> None:
    with store.transaction():
        store.insert(Collection.BATCHES, {"_id": "b", "name": "B"})
    statements: list[str] = []
    store._connection.set_trace_callback(statements.append)

    with store.transaction():
        assert store.peek(Collection.BATCHES, "b") == {"_id": "b", "name": "B"}
        assert store.get(Collection.BATCHES, "b") == {"_id": "b", "name": "B"}

    assert statements == []


def test_a_file_database_keeps_a_write_ahead_log(tmp_path: Path) -> None:
    path = str(tmp_path / "docs.sqlite")
    store = DocumentStore(path)
    try:
        with store.transaction():
            store.insert(Collection.BATCHES, {"_id": "b", "name": "B"})
        mode = store._connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        store.close()

    assert mode == "wal"
    assert _stored_row(path, Collection.BATCHES, "b") == {"_id": "b", "name": "B"}


def test_a_number_orjson_cannot_read_exactly_reads_back_exactly(store: DocumentStore) -> None:
    big = 2**70 + 1
    with store.transaction():
        store.insert(Collection.PROGRESS, {"_id": "p", "userId": "u", "points": 1.5, "n": big})
    with store.transaction():
        progress = store.get(Collection.PROGRESS, "p")
        assert progress is not None
        progress["more"] = -big
        store.save(Collection.PROGRESS, progress)
    with store.transaction():
        copies = [store.get(Collection.PROGRESS, "p"), store.get(Collection.PROGRESS, "p")]
        assert copies[0] is not copies[1]
        for found in (*copies, store.peek(Collection.PROGRESS, "p")):
            assert found == {"_id": "p", "userId": "u", "points": 1.5, "n": big, "more": -big}
            assert found is not None and type(found["n"]) is int


def test_distinct_reads_an_indexed_field_without_the_documents(store: DocumentStore) -> None:
    with store.transaction():
        for doc_id, batch in (("p1", "b1"), ("p2", "b2"), ("p3", "b1"), ("p4", None)):
            store.insert(Collection.PROGRESS, {"_id": doc_id, "userId": "u", "batchId": batch})
        store.insert(Collection.PROGRESS, {"_id": "p5", "userId": "v", "batchId": "b3"})
    with store.transaction():
        assert store.distinct(Collection.PROGRESS, "batchId", userId="u") == {"b1", "b2", None}
        assert store.distinct(Collection.PROGRESS, "batchId", userId="w") == set()
        with pytest.raises(ValueError, match="no indexed"):
            store.distinct(Collection.PROGRESS, "doc", userId="u")
