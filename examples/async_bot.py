"""An asyncio bot that cheers learners on: it reacts to every completed task in a batch.

It listens two ways, the two an async program has:

- ``client.events.subscribe("taskCompleted", ...)``: one call per submission, with the write's
  ``realTimeData`` (points earned, new XP total, streak). The bot congratulates XP and streak
  milestones. Submissions made by other programs arrive through the backend's server push.
- ``async for report in query.updates()`` on a live ``use_batch_progress_data`` query: the
  batch's standings, each time they change. The bot announces who is halfway and who is done.

    python examples/async_bot.py                       # reference backend, simulated learners
    python examples/async_bot.py --base-url http://localhost:3001 \\
        --email admin@example.com --password secret --batch-id 65f1... --duration 3600

With no ``--base-url`` it starts the reference backend on a loopback port, seeds the demo
organisation, runs as its admin and has two learners submit tasks while it watches (that takes
about two seconds). It stops after ``--duration`` seconds. Needs the ``server`` and ``push``
extras. Against a backend without server push (the Express service) only the standings, which
poll, reach the bot; attach the Redis bridge (``await client.attach_bridge(url)``) when the
writers use this SDK too.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Self

from gamify_client import AsyncGamifyClient
from gamify_client.hooks import AsyncQuery
from gamify_client.models import BatchProgressReport, Designation, RealTimeData
from gamify_client.testing import DemoData, GamifyBackend

XP_MILESTONES = (250, 500, 1000, 2500, 5000)
STREAK_MILESTONES = (1, 3, 7, 14, 30, 100)
COMPLETION_MILESTONES = (50, 100)
SIMULATION_STEP = 0.4
"""Seconds between two simulated submissions."""

Say = Callable[[str], None]


def say(message: str) -> None:
    print(message, flush=True)


class CheerBot:
    """Congratulates the learners of one batch; ``async with`` runs it.

    On entry it subscribes to ``taskCompleted``, opens the batch's live progress, waits for its
    first data and starts following its updates; on exit it lets go of all of it.
    """

    def __init__(self, client: AsyncGamifyClient, batch_id: str, *, say: Say = say) -> None:
        self.client = client
        self.batch_id = batch_id
        self.say = say
        self._names: dict[str, str] = {}
        self._streaks_cheered: set[tuple[str, int]] = set()
        self._completion: dict[str, float] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._report: AsyncQuery[BatchProgressReport] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._unsubscribe = self.client.events.subscribe("taskCompleted", self.on_task_completed)
        self._report = self.client.use_batch_progress_data(self.batch_id)
        # Ask for the updates before waiting, so that no change between the two is lost.
        updates = self._report.updates()
        try:
            await self._report.wait_for(timeout=10)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self.on_standings(self._report.data, announce=False)
        self._watcher = asyncio.create_task(self._follow(updates))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._report is not None:
            self._report.close()  # ends updates(), so the watcher returns
        if self._watcher is not None:
            await self._watcher

    async def _follow(self, updates: AsyncIterator[AsyncQuery[BatchProgressReport]]) -> None:
        async for report in updates:
            self.on_standings(report.data, announce=True)

    def on_task_completed(self, payload: object) -> None:
        """A ``taskCompleted`` listener: XP and streak milestones of the learner who submitted.

        It runs on the loop as the write is applied, before the standings change: a plain
        function is called at once, where an ``async def`` listener would be a task run later.
        """
        if not isinstance(payload, RealTimeData) or payload.user_id is None:
            return
        if payload.batch_id is not None and payload.batch_id != self.batch_id:
            return
        name = self.name_of(payload.user_id)
        earned = payload.points_earned or 0
        total = payload.new_total_xp
        if total is None:
            self.say(f"{name} completed a task: +{earned} XP.")
        else:
            self.say(f"{name} completed a task: +{earned} XP, {total} XP in all.")
            for milestone in XP_MILESTONES:
                if total - earned < milestone <= total:
                    self.say(f"Congratulations {name}: {milestone} XP!")
        streak = payload.current_streak
        if streak in STREAK_MILESTONES and (payload.user_id, streak) not in self._streaks_cheered:
            self._streaks_cheered.add((payload.user_id, streak))
            if streak == 1:
                self.say(f"{name} started a streak today. Come back tomorrow to keep it going!")
            else:
                self.say(f"{name} is on a {streak}-day streak!")

    def on_standings(self, report: BatchProgressReport | None, *, announce: bool) -> None:
        """Compare each learner's completion with the last standings; announce what it passed."""
        if report is None:
            return
        batch_name = getattr(report.batch, "name", None) or "the batch"
        for progress in report.students_progress:
            user = progress.user_id
            if user is None:
                continue
            user_id = user if isinstance(user, str) else user.id
            if not isinstance(user, str) and user.username:
                self._names[user_id] = user.username
            now = progress.progress_metrics.completion_percentage
            before = self._completion.get(user_id, 0.0)
            self._completion[user_id] = now
            if not announce:
                continue
            name = self.name_of(user_id)
            for milestone in COMPLETION_MILESTONES:
                if before < milestone <= now:
                    if milestone == 100:
                        self.say(f"{name} finished every task in {batch_name}!")
                    else:
                        self.say(f"{name} is {milestone}% through {batch_name}.")

    def name_of(self, user_id: str) -> str:
        """The learner's name, as the standings give it."""
        return self._names.get(user_id, f"learner {user_id}")


async def follow_other_clients(client: AsyncGamifyClient) -> str:
    """Apply the writes the backend pushes, so other programs' submissions reach the bot's
    events; says how the bot learns about them."""
    try:
        listener = await client.listen()
    except ImportError:
        return "polling only (install gamify-client[push] for server push)"
    return "server push" if listener.mode == "push" else "polling only (the backend has no push)"


async def run_bot(
    client: AsyncGamifyClient,
    batch_id: str,
    *,
    duration: float,
    activity: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Cheer for ``duration`` seconds on a logged-in client; ``activity()`` (the simulated
    learners) starts once the bot listens, and the bot waits for it to end."""
    say(f"Other programs' submissions arrive by {await follow_other_clients(client)}.")
    async with CheerBot(client, batch_id), asyncio.TaskGroup() as group:
        say(f"Cheering batch {batch_id} for {duration:g} s.")
        if activity is not None:
            group.create_task(activity())
        await asyncio.sleep(duration)
    say("Bot stopped.")


async def simulate_learners(base_url: str, demo: DemoData) -> None:
    """Two demo learners submit tasks, each through a client of their own."""
    plan = ((0, 0), (0, 1), (1, 0), (0, 2), (0, 3))  # (learner, task) in the order they submit
    clients = []
    try:
        for account in demo.users[:2]:
            learner = AsyncGamifyClient(base_url=base_url)
            clients.append(learner)
            await learner.login(
                email=account.email,
                password=account.password,
                designation="user",
                admin_id=demo.admin_id,
            )
        for learner_index, task_index in plan:
            await asyncio.sleep(SIMULATION_STEP)
            account = demo.users[learner_index]
            await clients[learner_index].tasks.submit(
                demo.task_ids[task_index],
                user_id=account.id,
                submission_type="Text Entry",
                value="Done, see the write-up.",
            )
    finally:
        for learner in clients:
            await learner.close()


async def run_on_reference_backend(*, duration: float, simulate: bool) -> None:
    """Serve a seeded reference backend and run the bot as its admin."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    with backend.serve() as base_url:
        say(f"Reference backend on {base_url}.")
        async with AsyncGamifyClient(base_url=base_url) as client:
            await client.login(email=demo.admin.email, password=demo.admin.password)
            activity = partial(simulate_learners, base_url, demo) if simulate else None
            await run_bot(client, demo.batch_id, duration=duration, activity=activity)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="An asyncio bot that congratulates learners on their milestones.",
        epilog="Without --base-url: the reference backend, seeded, with simulated learners.",
    )
    parser.add_argument("--base-url", help="a Gamify backend, e.g. http://localhost:3001")
    parser.add_argument("--email", help="login e-mail (with --base-url)")
    parser.add_argument("--password", help="login password (with --base-url)")
    parser.add_argument(
        "--designation",
        default="admin",
        choices=("user", "mentor", "admin", "superadmin"),
        help="the account's role (default: admin)",
    )
    parser.add_argument("--admin-id", help="the admin's short id, needed to log in as a user")
    parser.add_argument("--batch-id", help="the batch to watch (default: the first one visible)")
    parser.add_argument(
        "--duration", type=float, default=10.0, metavar="SECONDS", help="run time (default: 10)"
    )
    parser.add_argument(
        "--no-simulate",
        action="store_true",
        help="on the reference backend, do not simulate learners",
    )
    args = parser.parse_args(argv)
    if args.base_url and not (args.email and args.password):
        parser.error("--base-url needs --email and --password")
    return args


async def run_on(args: argparse.Namespace) -> int:
    """Log in to ``--base-url``, find the batch and run the bot."""
    designation: Designation = args.designation
    async with AsyncGamifyClient(base_url=args.base_url) as client:
        await client.login(
            email=args.email,
            password=args.password,
            designation=designation,
            admin_id=args.admin_id,
        )
        batch_id = args.batch_id
        if batch_id is None:
            batches = await client.batches.list()
            if not batches:
                say("This account sees no batch; give one with --batch-id.")
                return 1
            batch_id = batches[0].id
        await run_bot(client, batch_id, duration=args.duration)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.base_url is None:
        asyncio.run(run_on_reference_backend(duration=args.duration, simulate=not args.no_simulate))
        return 0
    return asyncio.run(run_on(args))


if __name__ == "__main__":
    raise SystemExit(main())
