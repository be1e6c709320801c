"""Fault injection: rules that make the next matching requests fail in a chosen way.

A rule matches on method and route: a string route is a path prefix (``"/api/task"``
matches ``/api/task/all``), a compiled pattern is searched in the path. The first rule
added that matches and has uses left applies; it then counts one use down and, when none
are left, goes away. The backend's transports and its server apply rules the same way.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class FaultRule:
    """One fault: what it matches, what it does, and how many uses it has left.

    - ``status``: answer this status with ``body`` (JSON, or raw bytes) instead of the
      real answer; ``retry_after`` adds a ``Retry-After`` header.
    - ``latency``: wait this many seconds before answering (never blocks an event loop).
    - ``drop``: close the connection without a response.
    - ``refuse``: refuse the connection before the request is sent (in-process only;
      over a socket the request has been read already, so this acts like ``drop``).
    - ``malformed``: cut the JSON body of the answer in half.
    - ``process``: with ``status`` or ``drop``, handle the request first (its writes
      stay) and only then fail, like a server that fails after writing.
    """

    status: int | None = None
    times: int | None = 1
    route: str | re.Pattern[str] | None = None
    method: str | None = None
    body: Any = None
    latency: float | None = None
    drop: bool = False
    refuse: bool = False
    malformed: bool = False
    retry_after: float | None = None
    process: bool = False
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.method is not None:
            self.method = self.method.upper()
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None for every request")
        if self.latency is not None and self.latency < 0:
            raise ValueError("latency cannot be negative")
        effects = (self.status is not None, self.drop, self.refuse)
        if sum(effects) > 1:
            raise ValueError("choose one of status, drop and refuse")
        if not any(effects) and not self.malformed and self.latency is None:
            raise ValueError("a fault needs status, latency, drop, refuse or malformed")
        if self.process and not (self.status is not None or self.drop):
            raise ValueError("process only applies to a status or a drop")
        if self.retry_after is not None and self.status is None:
            raise ValueError("retry_after needs a status")

    @property
    def handles_request(self) -> bool:
        """Whether the request still reaches the handler under this fault."""
        if self.refuse:
            return False
        if self.status is not None or self.drop:
            return self.process
        return True

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to ``method path``."""
        if self.method is not None and self.method != method.upper():
            return False
        if self.route is None:
            return True
        if isinstance(self.route, str):
            return path.startswith(self.route)
        return self.route.search(path) is not None


class Faults:
    """The fault rules of one backend; safe to change while requests are served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(
        self,
        status: int | None = None,
        *,
        times: int | None = 1,
        route: str | re.Pattern[str] | None = None,
        method: str | None = None,
        body: Any = None,
        latency: float | None = None,
        drop: bool = False,
        refuse: bool = False,
        malformed: bool = False,
        retry_after: float | None = None,
        process: bool = False,
    ) -> FaultRule:
        """Make the next ``times`` matching requests fail (``times=None``: all of them).

        See :class:`FaultRule` for what each option does. Returns the rule, whose
        ``hits`` counts the requests it applied to.
        """
        rule = FaultRule(
            status=status,
            times=times,
            route=route,
            method=method,
            body=body,
            latency=latency,
            drop=drop,
            refuse=refuse,
            malformed=malformed,
            retry_after=retry_after,
            process=process,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that applies to this request, with one use counted, or None."""
        if not self._rules:
            # Every request asks, and most backends hold no rule: an empty list needs no lock
            # (reading its length is atomic, and a rule added meanwhile applies from the next).
            return None
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.times is not None and rule.hits >= rule.times:
                        self._rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """The rules that still have uses left, in the order they apply."""
        with self._lock:
            return list(self._rules)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)
