"""Every write has one description (:class:`~gamify_client.realtime.Write`) that carries its
real-time rule; a mutating endpoint cannot be built without one, and the reference backend's
write routes are exactly the SDK's writes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gamify_client import resources
from gamify_client._call import Call
from gamify_client.realtime import WRITES, Rule, Write
from gamify_client.resources._base import SyncResource
from gamify_client.testing._routes import ROUTES

OBJECT_ID = "65a1b2c3d4e5f6a7b8c9d0e1"

# Writes that change no cached data the SDK keeps: the login keeps a token, registering
# creates an account nobody has read yet.
_NOT_CACHED_WRITES = {("POST", "/api/user/login"), ("POST", "/api/user/register")}
# Routes of the reference backend that are not the real service's (server push).
_BACKEND_ONLY = {("GET", "/api/events")}


def _builders() -> Iterator[tuple[str, Callable[..., Call[Any]]]]:
    for name in resources.__all__:
        resource = getattr(resources, name)
        if not (isinstance(resource, type) and issubclass(resource, SyncResource)):
            continue
        for attribute, method in vars(resource).items():
            build = getattr(method, "__wrapped_builder__", None)
            if build is not None:
                yield f"{name}.{attribute}", build


def _argument(parameter: inspect.Parameter) -> Any:
    annotation = str(parameter.annotation)
    if "Sequence" in annotation or "list" in annotation:
        return [OBJECT_ID]
    if annotation.startswith(("int", "float")):
        return 1
    if annotation.startswith("bool"):
        return True
    if "Mapping" in annotation or "dict" in annotation:
        return {}
    return OBJECT_ID if "submission_type" not in parameter.name else "Text Entry"


# Builders that need one of their optional arguments to make a request at all.
_EXTRA_ARGUMENTS: dict[str, dict[str, Any]] = {
    "submit_task": {"submission_type": "Text Entry", "value": "x"},
}


def _build(build: Callable[..., Call[Any]]) -> Call[Any]:
    args: list[Any] = []
    kwargs: dict[str, Any] = dict(_EXTRA_ARGUMENTS.get(build.__name__, {}))
    for parameter in inspect.signature(build).parameters.values():
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = _argument(parameter)
        else:
            args.append(_argument(parameter))
    return build(*args, **kwargs)


BUILDERS = dict(_builders())


# Routes a client has no business calling: the liveness text, server push (the push listener
# reads it), the debug route, which the real service should not have exposed, and the uploaded
# files, which a submission's ``value`` links to.
_NOT_IN_THE_CLIENT = {
    ("GET", "/"),
    ("GET", "/api/events"),
    ("GET", "/api/batch-progress/test/:userId"),
    ("GET", "/uploads/:name"),
}


def test_every_route_of_the_contract_has_an_endpoint_in_the_clients() -> None:
    reached = set()
    for name, build in BUILDERS.items():
        call = _build(build)
        route = next((r for r in ROUTES if r.match(call.method, call.path) is not None), None)
        assert route is not None, f"{name} calls {call.method} {call.path}, which no route serves"
        reached.add((route.method, route.pattern))
    every = {(route.method, route.pattern) for route in ROUTES}
    assert every - _NOT_IN_THE_CLIENT - reached == set()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_mutating_endpoint_carries_a_write_with_a_rule(name: str) -> None:
    call = _build(BUILDERS[name])
    if call.method == "GET":
        assert call.mutation is None, f"{name} reads, yet names a write"
        return
    if call.mutation is None:
        route = (call.method, call.path)
        assert route in _NOT_CACHED_WRITES, f"{name} ({call.method} {call.path}) has no rule"
        return
    write = call.mutation
    assert isinstance(write.rule, Rule)
    assert WRITES[write.name] is write
    assert write.method == call.method


def test_a_write_name_is_taken_once() -> None:
    existing = next(iter(WRITES.values()))
    with pytest.raises(ValueError, match="exists already"):
        Write(existing.name, existing.method, existing.route, existing.parse, existing.rule)


def test_the_backend_write_routes_are_the_sdks_writes() -> None:
    backend_writes = {
        (route.method, route.pattern)
        for route in ROUTES
        if route.method != "GET" and (route.method, route.pattern) not in _NOT_CACHED_WRITES
    }
    sdk_writes = {(write.method, write.route) for write in WRITES.values()}
    assert sdk_writes == backend_writes - _BACKEND_ONLY
