"""Runs every ``bench/bench_*.py`` module's ``main()`` in name order, or only those named on
the command line (``python -m bench client refresh``).

With no names, each module runs in a process of its own, one after the other, as pyperf runs
its benchmarks: what one module leaves behind (a grown heap, threads and servers still winding
down, caches filled with its data) must not weigh on the next module's figures. Named modules
run in this process, one after the other."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path


def _modules() -> list[str]:
    folder = Path(__file__).parent
    names = (module.name for module in pkgutil.iter_modules([str(folder)]))
    return sorted(name.removeprefix("bench_") for name in names if name.startswith("bench_"))


def main() -> None:
    wanted = sys.argv[1:]
    known = _modules()
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise SystemExit(f"unknown benchmark module(s): {', '.join(unknown)}; known: {known}")
    if not wanted:
        for name in known:
            # Inherits stdout: the figures print as each module makes them.
            subprocess.run([sys.executable, "-m", "bench", name], check=True)
        return
    for name in known:
        if name in wanted:
            importlib.import_module(f"bench.bench_{name}").main()
            sys.stdout.flush()


if __name__ == "__main__":
    main()
