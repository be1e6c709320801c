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
