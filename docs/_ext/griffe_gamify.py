"""Griffe extensions that let the API reference render the SDK's docstrings as written.

- :class:`SphinxRoles` turns the docstrings' Sphinx roles (``:class:`Query```) into links to
  the reference page of the named object, and their ``>>>`` examples into code blocks, so that
  neither is read as Markdown (a ``>`` would start a quote).
- :class:`ResourceEndpoints` shows each resource endpoint (``Tasks.list = sync_endpoint(
  list_tasks)``) as the method it becomes at run time: the builder's parameters, docstring and
  result, which static analysis alone would show as an undocumented attribute.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe

__all__ = ["ResourceEndpoints", "SphinxRoles"]

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|mod|exc|obj):`(?P<text>[^`]+)`")
_EXPLICIT_TITLE = re.compile(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
_LITERAL_MARKER = re.compile(r"(?P<lead>^|[ \t]+)?::$", re.MULTILINE)
_PROMPT = re.compile(r"^(?P<indent>\s*)>>>( |$)")
_ENDPOINT_FACTORIES = {"sync_endpoint": False, "async_endpoint": True}


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles and doctest examples in every docstring of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for obj in _documented_objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _markdown(obj, loader, obj.docstring.value)


class ResourceEndpoints(griffe.Extension):
    """Replace ``name = sync_endpoint(builder)`` class attributes by documented methods."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for obj in _documented_objects(pkg):
            if isinstance(obj, griffe.Class):
                for attribute in list(obj.attributes.values()):
                    method = _endpoint_method(obj, attribute)
                    if method is not None:
                        obj.set_member(attribute.name, method)


def _documented_objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """The object and every member defined under it (imported names are someone else's)."""
    yield obj
    for member in list(obj.members.values()):
        if not member.is_alias and isinstance(member, griffe.Object):
            yield from _documented_objects(member)


def _markdown(scope: griffe.Object, loader: griffe.GriffeLoader, text: str) -> str:
    """The docstring ``text`` of ``scope`` with its examples fenced, its roles linked, and the
    reST ``::`` that introduces an indented code block (which Markdown shows as code as it is)
    reduced to the colon a reader expects."""
    text = _LITERAL_MARKER.sub(lambda match: ":" if match["lead"] is None else "", text)
    return _ROLE.sub(lambda match: _link(scope, loader, match["text"]), _fence_examples(text))


def _link(scope: griffe.Object, loader: griffe.GriffeLoader, text: str) -> str:
    """An optional cross-reference: a link when the target is on the site, else plain code."""
    explicit = _EXPLICIT_TITLE.match(text)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = text.removeprefix("~")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    return (
        f'<autoref identifier="{_resolve(scope, loader, target)}" optional>'
        f"<code>{title}</code></autoref>"
    )


def _resolve(scope: griffe.Object, loader: griffe.GriffeLoader, target: str) -> str:
    """The canonical path of ``target``, named absolutely or relative to ``scope``."""
    head, _, rest = target.partition(".")
    try:
        path = scope.resolve(head) + (f".{rest}" if rest else "")
    except griffe.NameResolutionError:
        path = target
    try:
        found = loader.modules_collection[path]
    except (KeyError, griffe.AliasResolutionError):
        return path
    try:
        return str(found.final_target.path) if found.is_alias else str(found.path)
    except griffe.AliasResolutionError:
        return path


def _fence_examples(text: str) -> str:
    """Wrap each run of ``>>>`` lines (with their ``...`` continuations and output) in a
    ``pycon`` code block; a blank line ends a run. Code blocks already fenced stay as they are."""
    lines = text.splitlines()
    fenced: list[str] = []
    in_fence = False
    index = 0
    while index < len(lines):
        prompt = None if in_fence else _PROMPT.match(lines[index])
        if prompt is None:
            if lines[index].lstrip().startswith("```"):
                in_fence = not in_fence
            fenced.append(lines[index])
            index += 1
            continue
        indent = prompt["indent"]
        if fenced and fenced[-1].strip():
            fenced.append("")
        fenced.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            fenced.append(lines[index])
            index += 1
        fenced.append(f"{indent}```")
    return "\n".join(fenced)


def _endpoint_method(cls: griffe.Class, attribute: griffe.Object) -> griffe.Function | None:
    """The method that ``attribute`` becomes, if it is ``sync_endpoint(builder)`` or
    ``async_endpoint(builder)`` with a builder of the same module."""
    value = attribute.value if isinstance(attribute, griffe.Attribute) else None
    if not isinstance(value, griffe.ExprCall) or len(value.arguments) != 1:
        return None
    awaited = _ENDPOINT_FACTORIES.get(str(value.function))
    builder = cls.module.members.get(str(value.arguments[0]))
    if awaited is None or not isinstance(builder, griffe.Function):
        return None
    returns = builder.returns
    if isinstance(returns, griffe.ExprSubscript) and str(returns.left) == "Call":
        returns = returns.slice
    method = griffe.Function(
        attribute.name,
        parameters=griffe.Parameters(
            griffe.Parameter("self", kind=griffe.ParameterKind.positional_only),
            *builder.parameters,
        ),
        returns=returns,
        lineno=attribute.lineno,
        endlineno=attribute.endlineno,
    )
    if builder.docstring is not None:
        method.docstring = griffe.Docstring(
            builder.docstring.value,
            lineno=builder.docstring.lineno,
            parser=builder.docstring.parser,
            parser_options=builder.docstring.parser_options,
            parent=method,
        )
    if awaited:
        method.labels.add("async")
    return method
