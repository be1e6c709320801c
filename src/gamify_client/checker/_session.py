"""The run's connection to the deployment: the shared HTTP pool and the clients on it, the
liveness probe, and the names that mark the accounts and data as this run's own."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .._logging import safe_url
from ..client import GamifyClient
from ..config import ClientConfig
from ._failures import CheckFailed, DeploymentUnreachableError


@dataclass(frozen=True, slots=True)
class Login:
    """How the run gets its admin: a token, an email and password, or neither (it registers
    its own)."""

    token: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None


class Session:
    """One run's clients, all on one connection pool and closed together by :meth:`close`."""

    def __init__(self, config: ClientConfig, http: httpx.Client, login: Login) -> None:
        self.config = config
        self.http = http
        self.login = login
        self.run_id = f"{int(time.time()):x}{secrets.token_hex(3)}"
        self.password = secrets.token_urlsafe(12)
        self._liveness: httpx.Response | None = None
        self._clients: list[GamifyClient] = []
        self.anonymous = self.client(None)

    @property
    def base_url(self) -> str:
        """The deployment's base URL, as the config normalised it."""
        return self.config.base_url

    def client(self, token: str | None) -> GamifyClient:
        """A client on the shared connection pool, closed with the session."""
        client = GamifyClient(config=self.config.replace(token=token), http_client=self.http)
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every client the session made (the pool itself belongs to the caller)."""
        for client in self._clients:
            client.close()

    def probe(self) -> httpx.Response:
        """``GET /``, asked once; no answer at all means the deployment cannot be checked."""
        if self._liveness is None:
            try:
                self._liveness = self.http.get(f"{self.base_url}/")
            except httpx.TransportError as error:
                reason = str(error) or type(error).__name__
                raise DeploymentUnreachableError(
                    f"cannot reach {safe_url(self.base_url)}: {reason}"
                ) from error
        return self._liveness

    def get_json(self, path: str, token: str | None) -> Any:
        """``GET path`` with ``token``, decoded but not parsed: for the checks that judge the
        wire's own types, which the SDK's models accept in every form the service sends."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.get(f"{self.base_url}{path}", headers=headers)
        if response.is_error:
            raise CheckFailed(
                f"GET {path} answered {response.status_code}: {response.text.strip()[:120]}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise CheckFailed(f"GET {path} answered a body that is not JSON") from error

    def email(self, role: str) -> str:
        """The email of this run's account for ``role``."""
        return f"gamify-check-{self.run_id}-{role}@example.com"

    def name(self, thing: str) -> str:
        """The name of this run's ``thing``, so its data is told apart from anyone else's."""
        return f"gamify check {self.run_id} {thing}"
