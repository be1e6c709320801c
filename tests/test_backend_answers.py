"""The reference backend's kept answers (``_answers``): the learner's dashboard is made once
and served again, stamped with each request's time, until a write, a defect or the day changes
what it would say."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.testing._answers import AnswerCache

from . import _api_support, test_backend_progress
from ._api_support import ApiFactory, bearer_for
from .test_backend_progress import MovableClock, submit

make_api = _api_support.make_api
clock = test_backend_progress.clock
backend = test_backend_progress.backend

BASE = "http://gamify.test"
DASHBOARD = "/api/batch-progress/dashboard/me"

Getter = Callable[[str, Mapping[str, str]], httpx.Response]
Learner = tuple[str, dict[str, str]]


class TickingClock(MovableClock):
    """A clock a millisecond later at every reading, so that no two requests share a stamp."""

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class SqlTrace:
    """The SQL statements the backend's store runs while it is attached."""

    def __init__(self, backend: GamifyBackend) -> None:
        self.statements: list[str] = []
        backend._store._connection.set_trace_callback(self.statements.append)


def dashboard(api: httpx.Client, backend: GamifyBackend, user_id: str) -> dict[str, Any]:
    response = api.get(DASHBOARD, headers=bearer_for(backend, user_id))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["dashboard"]
    return body


def first_learner_submitted(api: httpx.Client, demo: DemoData) -> str:
    """The first demo learner, once they have submitted the first task."""
    learner = demo.users[0].id
    submit(api, demo.task_ids[0], learner)
    return learner


def test_a_repeated_dashboard_runs_no_sql_and_only_its_stamp_moves(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    learner = first_learner_submitted(api, demo)
    clock.advance(seconds=1)
    first = dashboard(api, backend, learner)
    clock.advance(seconds=1)
    trace = SqlTrace(backend)

    second = dashboard(api, backend, learner)

    assert trace.statements == []
    assert second["lastUpdated"] == "2024-03-04T10:00:02.000Z"
    assert first["lastUpdated"] == "2024-03-04T10:00:01.000Z"
    assert {**second, "lastUpdated": None} == {**first, "lastUpdated": None}
    assert second["overallStats"]["totalCompletedTasks"] == 1


def test_a_write_shows_on_the_next_dashboard(
    backend: GamifyBackend, demo: DemoData, make_api: ApiFactory, clock: MovableClock
) -> None:
    learner = demo.users[0]
    user = make_api(backend=backend, token=backend.token_for(learner.id))
    clock.advance(seconds=1)
    user(lambda c: c.progress.dashboard())
    before = user(lambda c: c.progress.dashboard())
    assert before.overall_stats.user_total_xp == 0
    clock.advance(seconds=1)

    user(
        lambda c: c.tasks.submit(
            demo.task_ids[0], user_id=learner.id, submission_type="Link", value="https://x.io"
        )
    )
    after = user(lambda c: c.progress.dashboard())

    assert before.overall_stats.total_completed_tasks == 0
    assert after.overall_stats.total_completed_tasks == 1
    assert after.overall_stats.user_total_xp > 0
    assert [s.id for s in after.recent_submissions] != []


def test_switching_a_defect_makes_the_dashboard_again(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    learner = demo.users[0].id
    dashboard(api, backend, learner)
    trace = SqlTrace(backend)

    backend.defects.add("streak_flag_only")
    dashboard(api, backend, learner)

    assert trace.statements != []


def test_the_streak_is_counted_again_on_a_new_day(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    learner = first_learner_submitted(api, demo)
    clock.advance(seconds=1)
    assert dashboard(api, backend, learner)["overallStats"]["currentStreak"] == 1

    clock.advance(days=2)

    assert dashboard(api, backend, learner)["overallStats"]["currentStreak"] == 0


def test_each_caller_gets_their_own_dashboard(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client
) -> None:
    first, second = demo.users[0], demo.users[1]
    submit(api, demo.task_ids[0], first.id)

    mine = dashboard(api, backend, first.id)
    theirs = dashboard(api, backend, second.id)

    assert mine["userProfile"]["username"] != theirs["userProfile"]["username"]
    assert mine["overallStats"]["totalCompletedTasks"] == 1
    assert theirs["overallStats"]["totalCompletedTasks"] == 0


def test_a_stamp_a_stored_document_shares_is_never_moved(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    # Submitted and read in the same millisecond: the submission's stamp and the answer's are
    # the same text, so the answer is not kept (its stamp could not be told apart).
    learner = first_learner_submitted(api, demo)
    dashboard(api, backend, learner)
    clock.advance(seconds=1)

    later = dashboard(api, backend, learner)

    assert later["recentSubmissions"][0]["submittedAt"] == "2024-03-04T10:00:00.000Z"
    assert later["lastUpdated"] == "2024-03-04T10:00:01.000Z"


def test_the_cache_keeps_a_bounded_number_of_answers(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, clock: MovableClock
) -> None:
    backend._state.answers = AnswerCache(size=2)
    clock.advance(seconds=1)
    for user in demo.users:
        dashboard(api, backend, user.id)

    assert len(demo.users) > 2
    assert len(backend._state.answers) == 2


def test_a_dashboard_over_asgi_needs_no_body_to_arrive(
    backend: GamifyBackend, demo: DemoData
) -> None:
    token = backend.token_for(demo.users[0].id)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # a client that never sends anything more
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": DASHBOARD,
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }

    asyncio.run(asyncio.wait_for(backend.asgi_app()(scope, receive, send), 10))

    assert sent[0]["status"] == 200
    assert b'"dashboard"' in sent[1]["body"]


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(0, 2)),
        st.tuples(st.just("submit"), st.integers(0, 2), st.integers(0, 2)),
        st.tuples(st.just("advance"), st.sampled_from([1, 3600, 86400])),
        st.tuples(st.just("defect"), st.booleans()),
    ),
    max_size=12,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_STEPS)
def test_a_kept_dashboard_is_the_one_made_afresh(steps: list[tuple[Any, ...]]) -> None:
    clock = TickingClock(datetime(2024, 3, 4, 23, 59, 59, tzinfo=UTC))
    with (
        GamifyBackend(clock=clock) as backend,
        httpx.Client(transport=backend.transport(), base_url=BASE) as api,
    ):
        demo = backend.seed_demo()
        users = [user.id for user in demo.users]
        for step in steps:
            if step[0] == "read":
                dashboard(api, backend, users[step[1]])
                kept = dashboard(api, backend, users[step[1]])
                answers = backend._state.answers
                backend._state.answers = AnswerCache(size=0)
                afresh = dashboard(api, backend, users[step[1]])
                backend._state.answers = answers
                # Each request reads the ticking clock, so only the stamps differ.
                assert kept["lastUpdated"] < afresh["lastUpdated"]
                assert {**kept, "lastUpdated": None} == {**afresh, "lastUpdated": None}
            elif step[0] == "submit":
                api.post(
                    f"/api/task/{demo.task_ids[step[1]]}/submit",
                    json={"userId": users[step[2]], "submissionType": "Link", "value": "v"},
                    headers=bearer_for(backend, demo.admin.id),
                )
            elif step[0] == "advance":
                clock.advance(seconds=step[1])
            elif step[1]:
                backend.defects.add("streak_flag_only")
            else:
                backend.defects.discard("streak_flag_only")


# A polled read found by its exact request (``AnswerCache.repeat``).


@pytest.fixture(params=["sync", "async"])
def get(request: pytest.FixtureRequest, backend: GamifyBackend) -> Iterator[Getter]:
    """GET on ``backend`` in-process, by a sync or an async httpx client."""
    if request.param == "sync":
        with httpx.Client(transport=backend.transport(), base_url=BASE) as client:
            yield lambda path, headers: client.get(path, headers=headers)
        return
    loop = asyncio.new_event_loop()
    aclient = httpx.AsyncClient(transport=backend.transport(), base_url=BASE)
    try:
        yield lambda path, headers: loop.run_until_complete(aclient.get(path, headers=headers))
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()


@pytest.fixture
def learner(backend: GamifyBackend, demo: DemoData, clock: MovableClock) -> Learner:
    """The first demo learner and their Bearer header, with the clock moved past the seeded
    documents' stamp, so that their dashboard is kept."""
    clock.advance(seconds=1)
    return demo.users[0].id, bearer_for(backend, demo.users[0].id)


def test_a_repeated_request_is_found_by_its_exact_values(
    backend: GamifyBackend, learner: Learner, get: Getter, clock: MovableClock
) -> None:
    _, headers = learner
    first = get(DASHBOARD, headers)
    clock.advance(seconds=1)
    routes = backend._state.answers
    handled: list[str] = []
    real_repeat = routes.repeat

    def counting_repeat(*args: Any) -> Any:
        answer = real_repeat(*args)
        handled.append("repeat" if answer is not None else "miss")
        return answer

    routes.repeat = counting_repeat  # type: ignore[method-assign]

    second = get(DASHBOARD, headers)

    assert handled == ["repeat"]
    assert second.status_code == 200
    assert second.content.replace(b"10:00:02.000Z", b"10:00:01.000Z") == first.content
    assert second.headers.raw == first.headers.raw
    assert [entry.status for entry in backend.requests] == [200, 200]


def test_a_repeated_request_with_an_expired_token_is_refused(
    backend: GamifyBackend, demo: DemoData, get: Getter, clock: MovableClock
) -> None:
    headers = bearer_for(backend, demo.users[0].id)  # issued 2024-03-04 10:00, for a day
    clock.advance(hours=23, minutes=59)
    assert get(DASHBOARD, headers).status_code == 200  # kept on 2024-03-05
    clock.advance(minutes=2)

    refused = get(DASHBOARD, headers)

    assert refused.status_code == 403
    assert refused.json() == {"message": "Invalid token"}


def test_each_origin_gets_its_own_cors_headers_on_a_repeat(learner: Learner, get: Getter) -> None:
    _, token = learner
    allowed = {**token, "Origin": "http://localhost:5173"}
    other = {**token, "Origin": "http://evil.example"}

    answers = [get(DASHBOARD, headers) for headers in (allowed, other, allowed, other)]

    origins = [answer.headers.get("access-control-allow-origin") for answer in answers]
    assert origins == ["http://localhost:5173", None, "http://localhost:5173", None]
    assert all(answer.headers["vary"] == "Origin" for answer in answers)


def test_a_restricted_learner_is_refused_on_the_next_repeat(
    backend: GamifyBackend, demo: DemoData, api: httpx.Client, learner: Learner, get: Getter
) -> None:
    learner_id, headers = learner
    assert get(DASHBOARD, headers).status_code == 200
    assert get(DASHBOARD, headers).status_code == 200
    restricted = api.patch(
        f"/api/user/restrict-user/{learner_id}", headers=bearer_for(backend, demo.admin.id)
    )
    assert restricted.status_code == 200, restricted.text

    refused = get(DASHBOARD, headers)

    assert refused.status_code == 403
    assert refused.json() == {"message": "Account is restricted"}


def test_faults_and_idempotency_keys_still_apply_to_a_repeat(
    backend: GamifyBackend, learner: Learner, get: Getter
) -> None:
    _, headers = learner
    assert get(DASHBOARD, headers).status_code == 200
    backend.faults.add(status=503, route=DASHBOARD)

    faulted = get(DASHBOARD, headers)
    keyed = get(DASHBOARD, {**headers, "Idempotency-Key": "poll-1"})
    again = get(DASHBOARD, {**headers, "Idempotency-Key": "poll-1"})

    assert faulted.status_code == 503
    assert keyed.status_code == again.status_code == 200
    assert keyed.headers["idempotency-key"] == again.headers["idempotency-key"] == "poll-1"
    assert [entry.faulted for entry in backend.requests] == [False, True, False, False]


def test_repeats_in_one_millisecond_share_their_stamp_and_the_next_gets_its_own(
    learner: Learner, get: Getter, clock: MovableClock
) -> None:
    _, headers = learner
    get(DASHBOARD, headers)
    same = [get(DASHBOARD, headers).json()["dashboard"]["lastUpdated"] for _ in range(2)]
    clock.advance(milliseconds=1)

    later = get(DASHBOARD, headers).json()["dashboard"]["lastUpdated"]

    assert same == ["2024-03-04T10:00:01.000Z", "2024-03-04T10:00:01.000Z"]
    assert later == "2024-03-04T10:00:01.001Z"
