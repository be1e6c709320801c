"""A bulk admin script: open a batch, enrol learners and give them tasks, with a progress bar.

    python examples/sync_script.py                      # reference backend, demo learners
    python examples/sync_script.py --base-url http://localhost:3001 \\
        --email admin@example.com --password secret --mentor-id 65f1... \\
        --user-id 65f2... --user-id 65f3...

It creates the batch (mentored by ``--mentor-id``), a category for its tasks, enrols every
``--user-id``, creates the tasks of ``TASKS`` in the batch, and prints a summary of what each
learner now has to do. A learner who cannot be enrolled, or a task that cannot be created, is
reported and skipped; the exit status is then 1. The SDK never retries a create that may have
reached the server, so a rerun after a failure can create a second batch: check first.

With no ``--base-url`` it starts the reference backend on a loopback port, seeds the demo
organisation and runs as its admin, for its mentor and learners. The progress bar needs rich
(the ``cli`` extra); without it, or with ``--plain``, each step is one plain line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from gamify_client import APIStatusError, GamifyClient, GamifyError
from gamify_client.models import Designation
from gamify_client.testing import GamifyBackend


@dataclass(frozen=True)
class TaskPlan:
    """One task to create in the new batch."""

    name: str
    description: str
    difficulty: str
    points: int


TASKS = (
    TaskPlan("Set up the toolchain", "Install Python, git and an editor", "Easy", 50),
    TaskPlan("First commit", "Push a repository with a README", "Easy", 100),
    TaskPlan("Clean a data set", "Tidy the sample CSV and write down each step", "Medium", 150),
    TaskPlan("API client", "Call a public API and cache its answers", "Medium", 200),
    TaskPlan("Capstone", "Ship a small application end to end", "Hard", 400),
)

Step = Callable[[str], None]
"""Marks one step done, with a line saying what it did."""


@contextmanager
def progress_bar(total: int, *, plain: bool) -> Iterator[Step]:
    """A rich progress bar of ``total`` steps, or numbered plain lines when rich is missing or
    ``plain`` is asked (a log file, a CI job)."""
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ImportError:
        plain = True
    if plain:
        done = 0

        def plain_step(what: str) -> None:
            nonlocal done
            done += 1
            print(f"[{done}/{total}] {what}", flush=True)

        yield plain_step
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns) as progress:
        bar = progress.add_task("Setting up the batch", total=total)

        def rich_step(what: str) -> None:
            progress.console.print(what)
            progress.advance(bar)

        yield rich_step


@dataclass
class Outcome:
    """What the script did: the batch, and the steps that failed."""

    batch_id: str
    batch_name: str
    enrolled: int = 0
    tasks_created: int = 0
    points: int = 0
    failures: int = 0


def set_up_batch(
    client: GamifyClient,
    *,
    batch_name: str,
    mentor_id: str,
    user_ids: Sequence[str],
    plain: bool,
) -> Outcome:
    """Create the batch and its category, enrol the users, create the tasks; a failed enrolment
    or task is reported and skipped, a failed batch or category stops the script."""
    with progress_bar(2 + len(user_ids) + len(TASKS), plain=plain) as step:
        batch = client.batches.create(
            name=batch_name,
            description="Opened by the bulk admin script.",
            mentor=mentor_id,
            difficulty_level="Beginner",
            estimated_duration=8,
        ).data
        outcome = Outcome(batch_id=batch.id, batch_name=batch.name or batch_name)
        step(f"Created batch {outcome.batch_name!r} ({batch.id})")
        category = client.categories.create(name="Projects", emoji="*", batch=batch.id).data
        step(f"Created category {category.name!r}")

        for user_id in user_ids:
            try:
                name = client.users.get(user_id).username or user_id
                client.batches.enroll(batch.id, user_id)
            except APIStatusError as error:
                outcome.failures += 1
                step(f"Could not enrol user {user_id}: {error.message}")
                continue
            outcome.enrolled += 1
            step(f"Enrolled {name}")

        for task in TASKS:
            try:
                created = client.tasks.create(
                    name=task.name,
                    description=task.description,
                    details=f"{task.description}. Submit a link or a short write-up.",
                    category=category.id,
                    difficulty=task.difficulty,
                    points=task.points,
                    batch=batch.id,
                    submission_types=["Link", "Text Entry"],
                )
            except APIStatusError as error:
                outcome.failures += 1
                step(f"Could not create task {task.name!r}: {error.message}")
                continue
            outcome.tasks_created += 1
            outcome.points += task.points
            reached = created.real_time.total_users_affected if created.real_time else None
            step(f"Created task {task.name!r} ({task.points} XP, reaching {reached} learners)")
    return outcome


def print_summary(client: GamifyClient, outcome: Outcome) -> None:
    """What the batch looks like now, read back from the backend."""
    report = client.progress.batch(outcome.batch_id)
    print(f"Batch {outcome.batch_name!r} ({outcome.batch_id}) is ready:")
    print(
        f"  {outcome.enrolled} learners enrolled, "
        f"{outcome.tasks_created} tasks worth {outcome.points} XP in all."
    )
    for progress in report.students_progress:
        user = progress.user_id
        name = user if isinstance(user, str) or user is None else (user.username or user.id)
        metrics = progress.progress_metrics
        print(f"  {name}: {metrics.total_tasks - metrics.completed_tasks} tasks to do")
    if outcome.failures:
        print(f"  Steps that failed: {outcome.failures} (see above).")


def run(
    client: GamifyClient,
    *,
    batch_name: str,
    mentor_id: str,
    user_ids: Sequence[str],
    plain: bool,
) -> int:
    """Set the batch up on a logged-in admin's client and print the summary; the exit status."""
    try:
        outcome = set_up_batch(
            client, batch_name=batch_name, mentor_id=mentor_id, user_ids=user_ids, plain=plain
        )
        print_summary(client, outcome)
    except GamifyError as error:
        print(f"Stopped: {error}", file=sys.stderr)
        return 1
    return 1 if outcome.failures else 0


def run_on_reference_backend(*, batch_name: str, plain: bool) -> int:
    """Serve a seeded reference backend and run as its admin, for its mentor and learners."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    with backend.serve() as base_url, GamifyClient(base_url=base_url) as client:
        print(f"Reference backend on {base_url}.")
        client.login(email=demo.admin.email, password=demo.admin.password)
        return run(
            client,
            batch_name=batch_name,
            mentor_id=demo.mentor.id,
            user_ids=[user.id for user in demo.users],
            plain=plain,
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Open a batch, enrol learners and create its tasks.",
        epilog="Without --base-url: the reference backend, seeded, with its demo learners.",
    )
    parser.add_argument("--base-url", help="a Gamify backend, e.g. http://localhost:3001")
    parser.add_argument("--email", help="an admin's login e-mail (with --base-url)")
    parser.add_argument("--password", help="the admin's password (with --base-url)")
    parser.add_argument(
        "--designation",
        default="admin",
        choices=("admin", "superadmin"),
        help="the account's role (default: admin)",
    )
    parser.add_argument("--mentor-id", help="the new batch's mentor (with --base-url)")
    parser.add_argument(
        "--user-id",
        action="append",
        default=[],
        help="a learner to enrol (with --base-url); repeat for each",
    )
    parser.add_argument("--batch-name", default="Spring Cohort", help="default: Spring Cohort")
    parser.add_argument("--plain", action="store_true", help="plain lines, no progress bar")
    args = parser.parse_args(argv)
    if args.base_url and not (args.email and args.password and args.mentor_id):
        parser.error("--base-url needs --email, --password and --mentor-id")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.base_url is None:
        return run_on_reference_backend(batch_name=args.batch_name, plain=args.plain)
    designation: Designation = args.designation
    with GamifyClient(base_url=args.base_url) as client:
        client.login(email=args.email, password=args.password, designation=designation)
        return run(
            client,
            batch_name=args.batch_name,
            mentor_id=args.mentor_id,
            user_ids=args.user_id,
            plain=args.plain,
        )


if __name__ == "__main__":
    raise SystemExit(main())
