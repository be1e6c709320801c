"""The outbox's SQLite table: durable enqueue, claims that two processes cannot share, and
the states an operation goes through."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamify_client._outbox_store import (
    EARLIEST_OPEN,
    Claim,
    OutboxError,
    OutboxStore,
    queueable,
)
from gamify_client.resources.batches import post_message
from gamify_client.resources.tasks import list_tasks, submit_task


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OutboxStore]:
    opened = OutboxStore(tmp_path / "o.db")
    yield opened
    opened.close()


def _claim(store: OutboxStore, user: str = "u1") -> Claim:
    claim = store.claim_next(user)
    assert claim is not None, "nothing to claim"
    return claim


def test_enqueue_commits_to_disk_in_wal_with_full_sync(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "o.db")
    operation = store.enqueue(post_message("b1", message="hi"), "u1")
    raw = sqlite3.connect(tmp_path / "o.db")
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert raw.execute("SELECT id, status FROM operations").fetchall() == [(operation.id, "queued")]
    raw.close()
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert operation.json == {"message": "hi"} and operation.write == "batches.post_message"
    store.close()


def test_claims_follow_each_users_order_and_hold_back_the_rest(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "o.db")
    first = store.enqueue(post_message("b1", message="a"), "u1")
    second = store.enqueue(post_message("b1", message="b"), "u1")
    other = store.enqueue(post_message("b1", message="c"), "u2")
    claim = store.claim_next("u1")
    assert claim is not None and claim.operation.id == first.id and not claim.recovering
    # The user's next write waits for the one in flight; another user's does not.
    assert store.claim_next("u1") is None
    other_claim = store.claim_next("u2")
    assert other_claim is not None and other_claim.operation.id == other.id
    store.mark_applied(claim.operation)
    next_claim = store.claim_next("u1")
    assert next_claim is not None and next_claim.operation.id == second.id
    store.close()


def test_a_write_given_back_after_it_may_have_been_sent_is_recovered_first(
    store: OutboxStore,
) -> None:
    store.enqueue(post_message("b1", message="a"), "u1")
    store.release(_claim(store).operation, "ReadError: lost", may_have_applied=True)
    again = _claim(store)
    assert again.recovering and again.operation.attempts == 2
    store.release(again.operation, "ConnectError: refused", may_have_applied=False)
    # Still recovering: the first attempt's outcome was never found.
    assert _claim(store).recovering


def test_a_write_that_never_left_is_sent_without_recovery(store: OutboxStore) -> None:
    store.enqueue(post_message("b1", message="a"), "u1")
    store.release(_claim(store).operation, "ConnectError: refused", may_have_applied=False)
    assert not _claim(store).recovering


def test_another_live_owner_keeps_its_claim_until_its_lease_runs_out(tmp_path: Path) -> None:
    now = [1000.0]
    mine = OutboxStore(tmp_path / "o.db", lease=30.0, clock=lambda: now[0])
    theirs = OutboxStore(tmp_path / "o.db", lease=30.0, clock=lambda: now[0])
    mine.enqueue(post_message("b1", message="a"), "u1")
    assert mine.claim_next("u1") is not None
    # Same process, so its owner is alive: the claim holds while the lease runs.
    assert theirs.claim_next("u1") is None
    now[0] += 31.0
    taken = theirs.claim_next("u1")
    assert taken is not None and taken.recovering
    mine.close()
    theirs.close()


def _claim_in_child(path: str, results: Any, finish: Any) -> None:
    store = OutboxStore(path)
    claim = store.claim_next("u1")
    results.put(None if claim is None else claim.operation.id)
    # Alive until every sibling has tried: a claim of a dead process may be taken over.
    finish.wait(60)
    store.close()


def test_two_processes_never_claim_the_same_write(tmp_path: Path) -> None:
    path = str(tmp_path / "o.db")
    store = OutboxStore(path)
    operation = store.enqueue(post_message("b1", message="a"), "u1")
    context = multiprocessing.get_context("spawn")
    results, finish = context.Queue(), context.Event()
    children = [
        context.Process(target=_claim_in_child, args=(path, results, finish)) for _ in range(2)
    ]
    for child in children:
        child.start()
    got = [results.get(timeout=60) for _ in children]
    finish.set()
    for child in children:
        child.join(timeout=60)
    assert sorted(got, key=str) == [operation.id, None]
    assert store.operations()[0].attempts == 1
    store.close()


def test_a_file_that_is_not_a_database_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError, match="cannot be used"):
        OutboxStore(path)


def test_a_body_that_is_not_json_is_a_typed_error(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "o.db")
    call = submit_task("t1", user_id="u1", submission_type="Text Entry", value=object())
    with pytest.raises(OutboxError, match="cannot be stored as JSON"):
        store.enqueue(call, "u1")
    assert store.operations() == []
    store.close()


def test_only_writes_with_a_json_body_are_queueable() -> None:
    assert queueable(post_message("b1", message="hi"))
    assert not queueable(list_tasks())
    upload = submit_task("t1", user_id="u1", file=("a.txt", b"x", "text/plain"))
    assert not queueable(upload)


def test_operations_filter_by_user_and_status(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "o.db")
    a = store.enqueue(post_message("b1", message="a"), "u1")
    store.enqueue(post_message("b1", message="b"), "u2")
    claim = store.claim_next("u1")
    assert claim is not None
    store.mark_failed(claim.operation, "BadRequestError: no")
    assert [op.id for op in store.operations(user_id="u1")] == [a.id]
    assert [op.last_error for op in store.operations(status="failed")] == ["BadRequestError: no"]
    assert store.open_operations("u1") == []
    assert store.requeue(a.id) and not store.requeue(a.id)
    assert [op.status for op in store.open_operations("u1")] == ["queued"]
    store.close()


def test_a_database_failure_is_a_typed_error(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "o.db")
    store.close()
    with pytest.raises(OutboxError, match="failed"):
        store.enqueue(post_message("b1", message="a"), "u1")
    with pytest.raises(OutboxError):
        store.claim_next("u1")


def test_a_claim_reads_only_the_open_rows_index(store: OutboxStore) -> None:
    for n in range(50):
        operation = store.enqueue(post_message("b1", message=f"m{n}"), "u1")
        store.mark_applied(_claim(store).operation)
    assert operation.id == 50
    plan = store._db.execute(f"EXPLAIN QUERY PLAN {EARLIEST_OPEN}", ("u1",)).fetchall()
    assert [row[3] for row in plan] == ["SEARCH operations USING INDEX operations_open (user_id=?)"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_JSON, user=st.text(max_size=8))
def test_any_json_body_comes_back_as_it_was_queued(
    store: OutboxStore, body: object, user: str
) -> None:
    call = dataclasses.replace(post_message("b1", message="x"), json=body)
    operation = store.enqueue(call, user)
    kept = store.get(operation.id)
    assert kept is not None and kept.json == body and kept.user_id == user
