"""The ``gamify`` command: ``serve`` the reference backend, ``check`` a deployment, run the
``demo``, ``watch`` one live query of a deployment.

``main(argv)`` returns the exit status instead of exiting, so it can be called from tests
and scripts: 0 success, 1 a check failed, 2 a usage error or an unreachable deployment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from ._logging import safe_url
from .checker import CHECKS, CheckReport, CheckResult, DeploymentUnreachableError, run_checks
from .testing import KNOWN_DEFECTS

if TYPE_CHECKING:
    from .testing import DemoData

__all__ = ["main"]

T = TypeVar("T")

WATCH_VIEWS = ("dashboard", "tasks", "batches", "batch-progress", "user-progress")
"""What ``gamify watch`` shows (``gamify_client.watch.WATCH_KINDS``, which needs rich)."""

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
READY_PREFIX = "Gamify reference backend ready on "
"""``gamify serve`` prints this, then the base URL, once it accepts connections."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gamify`` with ``argv`` (default: the process's arguments); returns the exit status."""
    parser = _parser()
    parsed = _exit_status(lambda: parser.parse_known_args(argv))
    if isinstance(parsed, int):
        return parsed
    args, extra = parsed
    command: Callable[[argparse.Namespace], int] | None = getattr(args, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if command is _demo:
        # Everything after ``demo`` is the demo's own, ``--help`` included.
        args.demo_args = extra
    elif extra:
        return _exit_status(lambda: parser.error(f"unrecognized arguments: {' '.join(extra)}"))
    return command(args)


def _exit_status(run: Callable[[], T]) -> T | int:
    """``run()``, or the status it asked to exit with: argparse exits on ``--help`` and on
    usage errors, and callers of :func:`main` want the status instead."""
    try:
        return run()
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE


def _seconds(text: str) -> float:
    seconds = float(text)
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"a number of seconds > 0, got {text}")
    return seconds


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gamify", description="The Gamify SDK's command line: serve, check, demo, watch."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    defect_names = ", ".join(sorted(KNOWN_DEFECTS))

    serve = commands.add_parser(
        "serve",
        help="run the reference backend until Ctrl-C or SIGTERM",
        description="Serve the reference backend (the whole contract, defects fixed) over HTTP, on "
        "httptools and uvloop where they are installed (the server extra).",
    )
    serve.add_argument(
        "--db",
        default=":memory:",
        metavar="FILE",
        help="SQLite file to keep data in (default: memory)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=3001, help="port; 0 picks a free one (default: 3001)"
    )
    serve.add_argument("--seed", action="store_true", help="add the demo data and print its logins")
    serve.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="close new connections beyond N open ones (default: half the file descriptor "
        "limit, at most 1024)",
    )
    serve.add_argument(
        "--request-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="close a connection that sends no whole request head within SECONDS (default: 5)",
    )
    serve.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=sorted(KNOWN_DEFECTS),
        metavar="NAME",
        help=f"switch on a copy of a real-service defect (repeatable): {defect_names}",
    )
    serve.set_defaults(command=_serve)

    check = commands.add_parser(
        "check",
        help="check that a deployment keeps its real-time promises",
        description="Run the real-time checks against a deployment; exit 1 if any fails.",
    )
    check.add_argument(
        "--base-url",
        default=os.environ.get("GAMIFY_BASE_URL"),
        metavar="URL",
        help="the deployment's root URL, e.g. http://localhost:3001 (default: $GAMIFY_BASE_URL)",
    )
    check.add_argument("--token", metavar="TOKEN", help="act as the admin this token belongs to")
    check.add_argument(
        "--admin-email", metavar="EMAIL", help="log in as this admin (with --admin-password)"
    )
    check.add_argument("--admin-password", metavar="PASSWORD", help="the admin's password")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--check",
        dest="checks",
        action="append",
        metavar="NAME",
        help="run only this check (repeatable; the setup it needs runs too)",
    )
    check.add_argument("--list", action="store_true", help="list the checks and exit")
    check.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for each answer (default: 10)",
    )
    check.add_argument(
        "--keep-data", action="store_true", help="do not delete the tasks and batch the run made"
    )
    check.set_defaults(command=_check)

    demo = commands.add_parser(
        "demo",
        help="play the demo scenario on a throwaway backend",
        description="Run gamify_client.demo; the remaining arguments go to it.",
        add_help=False,
    )
    demo.set_defaults(command=_demo)

    watch = commands.add_parser(
        "watch",
        help="show one live query of a deployment as it changes",
        description="Show one live query as it changes, until Ctrl-C; on a terminal, r "
        "refetches and q quits. Act with --token, or log in with --email and --password.",
    )
    watch.add_argument("view", choices=WATCH_VIEWS, help="the query to show")
    watch.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="batch-progress takes BATCH_ID; user-progress takes USER_ID BATCH_ID",
    )
    watch.add_argument(
        "--base-url",
        metavar="URL",
        help="the deployment's root URL (default: $GAMIFY_BASE_URL, else http://localhost:3001)",
    )
    watch.add_argument("--token", metavar="TOKEN", help="act with this token ($GAMIFY_TOKEN)")
    watch.add_argument("--email", metavar="EMAIL", help="log in as this account")
    watch.add_argument("--password", metavar="PASSWORD", help="the account's password")
    watch.add_argument(
        "--designation",
        choices=("superadmin", "admin", "mentor", "user"),
        help="the account's role (default: user with --admin-id, else admin)",
    )
    watch.add_argument("--admin-id", metavar="ID", help="a user's admin id, like ADM123")
    watch.add_argument(
        "--interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="poll every SECONDS (default: 5); pushed writes show at once where the backend "
        "has an event stream",
    )
    watch.add_argument(
        "--no-live",
        action="store_true",
        help="print one line per change (the default when stdout is not a terminal)",
    )
    watch.set_defaults(command=_watch)
    return parser


# gamify check


def _check(args: argparse.Namespace) -> int:
    if args.list:
        width = max(len(check.name) for check in CHECKS)
        for check in CHECKS:
            print(f"{check.name:<{width}}  {check.proves}")
        return EXIT_OK
    if not args.base_url:
        return _usage_error("check", "--base-url is required (or set GAMIFY_BASE_URL)")
    printer = None if args.json else _print_result
    try:
        report = run_checks(
            args.base_url,
            token=args.token,
            admin_email=args.admin_email,
            admin_password=args.admin_password,
            timeout=args.timeout,
            checks=args.checks,
            cleanup=not args.keep_data,
            on_result=printer,
        )
    except DeploymentUnreachableError as error:
        if args.json:
            shown = safe_url(args.base_url)
            print(json.dumps({"base_url": shown, "reachable": False, "error": str(error)}))
        print(f"gamify check: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        return _usage_error("check", str(error))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_summary(report)
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _usage_error(command: str, message: str) -> int:
    print(f"gamify {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _print_result(result: CheckResult) -> None:
    if result.passed:
        print(f"PASS {result.name}", flush=True)
    else:
        print(f"FAIL {result.name}: {result.detail}", flush=True)


def _print_summary(report: CheckReport) -> None:
    for problem in report.cleanup_problems:
        print(f"note: {problem}")
    failed = len(report.failures)
    passed = len(report.results) - failed
    print(
        f"{passed} passed, {failed} failed ({len(report.results)} checks against "
        f"{safe_url(report.base_url)} in {report.duration:.2f} s)"
    )


# gamify serve


class _StopRequested(Exception):
    """SIGTERM arrived: stop serving the way Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested


_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
_State = TypeVar("_State")


@contextmanager
def _in_main_thread(
    change: Callable[[], _State], undo: Callable[[_State], object]
) -> Iterator[None]:
    """Make a change to signal handling for the block, in the main thread only (Python runs
    signal handlers there, and only there may they be set); elsewhere do nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = change()
    try:
        yield
    finally:
        undo(previous)


def _sigterm_stops() -> AbstractContextManager[None]:
    """Turn SIGTERM into :class:`_StopRequested` while the block runs."""
    return _in_main_thread(
        lambda: signal.signal(signal.SIGTERM, _raise_stop),
        lambda previous: signal.signal(signal.SIGTERM, previous),
    )


def _stop_signals_blocked() -> AbstractContextManager[None]:
    """Block SIGINT and SIGTERM in the main thread while the block runs, so that the threads
    it starts (they inherit the mask) never take them. The kernel gives a process's signal to
    any thread that does not block it, and Python's handler runs only once the main thread
    wakes: a signal taken by the server's thread would leave the main thread waiting and
    Ctrl-C unheard. A signal that comes meanwhile waits, and arrives when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows, which has no such choice
        return nullcontext()
    return _in_main_thread(
        lambda: signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS),
        lambda previous: signal.pthread_sigmask(signal.SIG_SETMASK, previous),
    )


def _serve(args: argparse.Namespace) -> int:
    from .testing import GamifyBackend, SeedError, ServerLimits

    with GamifyBackend(args.db, defects=args.defect) as backend:
        if args.seed:
            try:
                _print_demo_data(backend.seed_demo())
            except SeedError:
                print("The database already holds the demo data (password: demo-password).")
        try:
            limits = ServerLimits(request_head_timeout=args.request_timeout)
            if args.max_connections is not None:
                limits = replace(limits, max_connections=args.max_connections)
            with _sigterm_stops(), ExitStack() as serving:
                with _stop_signals_blocked():
                    base_url = serving.enter_context(backend.serve(args.host, args.port, limits))
                print(f"{READY_PREFIX}{base_url} (Ctrl-C to stop)", flush=True)
                threading.Event().wait()
        except (KeyboardInterrupt, _StopRequested):
            pass
        except OSError as error:
            return _usage_error("serve", f"cannot listen on {args.host}:{args.port}: {error}")
    print("Stopped.", flush=True)
    return EXIT_OK


def _print_demo_data(data: DemoData) -> None:
    print(f"Demo data (every password: {data.admin.password}):")
    print(f"  superadmin  {data.superadmin.email}")
    print(f"  admin       {data.admin.email}  (its users log in with admin id {data.admin_id})")
    print(f"  mentor      {data.mentor.email}")
    for user in data.users:
        print(f"  user        {user.email}")
    print(f"  batch       {data.batch_id}  ({len(data.task_ids)} tasks)", flush=True)


# gamify demo


def _demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return _exit_status(lambda: demo_main(args.demo_args))


# gamify watch


def _watch(args: argparse.Namespace) -> int:
    from .errors import APIConnectionError, GamifyError
    from .watch import WatchTarget, open_client, watch

    try:
        target = WatchTarget(args.view, tuple(args.ids))
        client = open_client(
            base_url=args.base_url,
            token=args.token,
            email=args.email,
            password=args.password,
            designation=args.designation,
            admin_id=args.admin_id,
        )
    except ValueError as error:
        return _usage_error("watch", str(error))
    except APIConnectionError as error:
        where = safe_url(args.base_url) if args.base_url else "the backend"
        return _usage_error("watch", f"cannot reach {where}: {error}")
    except GamifyError as error:
        return _usage_error("watch", f"cannot log in: {error}")
    with client:
        try:
            watch(
                client,
                target,
                out=sys.stdout,
                stop=threading.Event(),
                interval=args.interval,
                live=sys.stdout.isatty() and not args.no_live,
                keys=sys.stdin if sys.stdin.isatty() else None,
            )
        except APIConnectionError as error:
            return _usage_error("watch", f"cannot reach {safe_url(client.base_url)}: {error}")
        except (GamifyError, TimeoutError) as error:
            return _usage_error("watch", f"cannot show {target.title}: {error}")
        except KeyboardInterrupt:
            pass
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
