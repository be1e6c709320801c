"""Runs every ``bench/bench_*.py`` module's ``main()`` in name order, or only those named on
the command line (``python -m bench client refresh``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    folder = Path(__file__).parent
    for module in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
        if not module.name.startswith("bench_"):
            continue
        if wanted and module.name.removeprefix("bench_") not in wanted:
            continue
        importlib.import_module(f"bench.{module.name}").main()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
