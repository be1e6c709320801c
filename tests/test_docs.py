"""The documentation site: it builds with ``mkdocs build --strict``, its navigation lists every
page and only pages that exist, the API reference renders every public module, and the Python
examples of the pages that promise to run do run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import griffe
import pytest
from mkdocs.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"
EXTENSIONS = DOCS / "_ext" / "griffe_gamify.py"

PUBLIC_MODULES = (
    "client",
    "models",
    "errors",
    "config",
    "refresh",
    "events",
    "hooks",
    "realtime",
    "testing",
    "checker",
    "bridges",
    "push",
)

# Pages whose every ```python block runs as it is, in order, in one interpreter.
RUNNABLE_PAGES = ("quickstart.md", "concepts.md", "configuration.md", "troubleshooting.md")

# Lines those examples say they print.
PRINTED = {
    "quickstart.md": (
        "Landing page: 100 XP",
        "400 Task already submitted",
        "1 of 4 tasks done",
        "dashboard: 100 XP, 4 tasks",
        "dashboard: 250 XP, 4 tasks",
        "dashboard: 250 XP, 5 tasks",
        "completed: +200 XP",
        "event: taskCompleted",
        "Leo has 100 XP",
    ),
    "troubleshooting.md": ("event: taskCompleted {'taskId': 't1'}",),
}

_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj):`")


def _nav_pages(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def _nav() -> list[str]:
    return list(_nav_pages(load_config(str(CONFIG))["nav"]))


def _doc_pages() -> set[str]:
    return {
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if not any(part.startswith(("_", ".")) for part in path.relative_to(DOCS).parts)
    }


def _environment_without_gamify() -> dict[str, str]:
    """The environment minus ``GAMIFY_*``, so that a developer's settings change nothing."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GAMIFY_")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module with ``mkdocs build --strict``."""
    site_dir = tmp_path_factory.mktemp("site")
    environment = _environment_without_gamify() | {"NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [
            *(sys.executable, "-m", "mkdocs", "build", "--strict"),
            *("--config-file", str(CONFIG), "--site-dir", str(site_dir)),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}{build.stderr}"
    return site_dir


def test_the_site_builds_in_strict_mode(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "search" / "search_index.json").is_file()


def test_every_page_in_the_nav_exists() -> None:
    missing = [page for page in _nav() if not (DOCS / page).is_file()]
    assert missing == []


def test_every_page_is_in_the_nav() -> None:
    nav = _nav()
    assert sorted(_doc_pages() - set(nav)) == []
    assert len(nav) == len(set(nav)), "a page is listed twice"


def test_the_reference_documents_every_public_module() -> None:
    directives = "\n".join(
        page.read_text(encoding="utf-8") for page in (DOCS / "reference").glob("*.md")
    )
    undocumented = [
        module
        for module in PUBLIC_MODULES
        if not re.search(rf"^::: gamify_client\.{module}(\.|$)", directives, re.MULTILINE)
    ]
    assert undocumented == []


def test_the_reference_renders_classes_and_resource_methods(site: Path) -> None:
    client_page = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    assert 'id="gamify_client.client.GamifyClient"' in client_page
    assert 'id="gamify_client.client.AsyncGamifyClient.login"' in client_page
    # Endpoints are assigned (``submit = sync_endpoint(submit_task)``) yet shown as methods,
    # with the builder's parameters and docstring.
    assert 'id="gamify_client.resources.tasks.Tasks.submit"' in client_page
    assert "Task already submitted" in client_page
    errors_page = (site / "reference" / "errors" / "index.html").read_text(encoding="utf-8")
    assert 'id="gamify_client.errors.RateLimitError"' in errors_page


def test_docstring_roles_become_links_and_examples_code(site: Path) -> None:
    pages = {
        page.parent.name: page.read_text(encoding="utf-8")
        for page in (site / "reference").glob("*/index.html")
    }
    with_roles = sorted(name for name, html in pages.items() if _SPHINX_ROLE.search(html))
    assert with_roles == []
    # ":class:`GamifyClient`" in the client module's docstring links to the class.
    assert 'href="#gamify_client.client.GamifyClient"' in pages["client"]
    # ">>> with GamifyClient(...)" is a code block, not a Markdown quote.
    assert "<blockquote>" not in pages["client"]


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_the_python_examples_run(page: str, tmp_path: Path) -> None:
    blocks = _PYTHON_BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no Python example"
    run = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=tmp_path,
        env=_environment_without_gamify(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"{page}:\n{run.stdout}{run.stderr}"
    lines = run.stdout.splitlines()
    assert [line for line in PRINTED.get(page, ()) if line not in lines] == []


def _visit(modules: dict[str, str]) -> Iterator[griffe.Module]:
    """A package ``pkg`` of ``modules``, analysed with the site's griffe extensions."""
    extensions = griffe.load_extensions(
        f"{EXTENSIONS}:ResourceEndpoints", f"{EXTENSIONS}:SphinxRoles"
    )
    with griffe.temporary_visited_package("pkg", modules, extensions=extensions) as package:
        yield package


@pytest.fixture
def package() -> Iterator[griffe.Module]:
    yield from _visit(
        {
            "__init__.py": (
                '"""See :class:`~pkg.things.Thing`, :func:`elsewhere.helper`."""\n'
                "from .things import Thing\n"
            ),
            "things.py": (
                '"""Things.\n\nUse one like this::\n\n    thing = Thing()\n\n'
                ">>> Thing().go(1)\n[1]\n\nThe end ::\n\n    thing.go(2)\n"
                '"""\n'
                "def go_builder(x: int, *, y: str = 'a') -> Call[list[int]]:\n"
                '    """Go; see :meth:`Thing.other <pkg.things.Thing>`."""\n'
                "class Thing:\n"
                '    """A :class:`Thing`."""\n'
                "    go = sync_endpoint(go_builder)\n"
                "    async_go = async_endpoint(go_builder)\n"
                "    plain = something_else(go_builder)\n"
            ),
        }
    )


def test_roles_become_optional_links_to_the_canonical_path(package: griffe.Module) -> None:
    link = '<autoref identifier="{}" optional><code>{}</code></autoref>'
    assert package.docstring is not None
    assert package.docstring.value == (
        f"See {link.format('pkg.things.Thing', 'Thing')}, "
        f"{link.format('elsewhere.helper', 'elsewhere.helper')}."
    )
    thing = package["things.Thing"]
    assert thing.docstring.value == f"A {link.format('pkg.things.Thing', 'Thing')}."
    assert thing["go"].docstring.value == (
        f"Go; see {link.format('pkg.things.Thing', 'Thing.other')}."
    )


def test_doctests_are_fenced_and_literal_markers_dropped(package: griffe.Module) -> None:
    assert package["things"].docstring.value.splitlines() == [
        "Things.",
        "",
        "Use one like this:",
        "",
        "    thing = Thing()",
        "",
        "```pycon",
        ">>> Thing().go(1)",
        "[1]",
        "```",
        "",
        "The end",
        "",
        "    thing.go(2)",
    ]


def test_endpoints_become_documented_methods(package: griffe.Module) -> None:
    thing = package["things.Thing"]
    go, async_go = thing.members["go"], thing.members["async_go"]
    assert isinstance(go, griffe.Function) and isinstance(async_go, griffe.Function)
    assert [parameter.name for parameter in go.parameters] == ["self", "x", "y"]
    assert str(go.returns) == "list[int]"
    assert "async" not in go.labels and "async" in async_go.labels
    assert async_go.docstring is not None and async_go.docstring.value.startswith("Go; see")
    assert isinstance(thing.members["plain"], griffe.Attribute)
