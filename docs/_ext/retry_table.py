"""The retry table of docs/client.md, made from the SDK's own description of its writes.

``python docs/_ext/retry_table.py`` prints the table; ``--write`` puts it into docs/client.md
between its markers. tests/test_retry.py checks that the page holds the current table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gamify_client.realtime import Write
from gamify_client.resources import ALL_WRITES

PAGE = Path(__file__).resolve().parent.parent / "client.md"
START = "<!-- retry-table:start -->"
END = "<!-- retry-table:end -->"

REPEATABLE = "after a lost answer, 429 or 502-504 (repeating changes nothing)"
ONCE = "only when it never left (connect errors)"


def retry_class(write: Write[object]) -> str:
    """How a write is retried, in words."""
    return REPEATABLE if write.repeatable else ONCE


def table() -> str:
    """The Markdown table: one row per write, by name."""
    rows = ["| write | route | retried |", "|---|---|---|"]
    for name in sorted(ALL_WRITES):
        write = ALL_WRITES[name]
        rows.append(f"| `{name}` | `{write.method} {write.route}` | {retry_class(write)} |")
    return "\n".join(rows)


def section(text: str) -> str:
    """What the page holds between the markers."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def main() -> None:
    current = table()
    if "--write" not in sys.argv[1:]:
        print(current)
        return
    text = PAGE.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    PAGE.write_text(f"{head}{START}\n{current}\n{END}{tail}")


if __name__ == "__main__":
    main()
