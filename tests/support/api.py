"""The worker's HTTP API from a test: a client with one token, organization tokens, a wait with a deadline."""

from __future__ import annotations

import time

import httpx
import orjson

from notification_actions.api.auth import new_token


class Client:
    """The worker's HTTP API with one token (none: no Authorization header)."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base, self.token = base, token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None, **params) -> httpx.Response:
        content = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        return httpx.request(method, self.base + path, content=content, headers=self.headers(),
                             params=params or None, timeout=60)

    def org(self, org: int, rest: str) -> str:
        """``/api/0/organizations/{org}/notifications/{rest}``."""
        return f"/api/0/organizations/{org}/notifications/{rest}"

    def actions(self, org: int) -> str:
        return self.org(org, "actions/")


def clients(base: str, tokens: dict[str, str]) -> dict[str, Client]:
    """A client per named token, and ``"none"``: one without a token."""
    out = {name: Client(base, token) for name, token in tokens.items()}
    out["none"] = Client(base, None)
    return out


def organization_tokens(spec) -> tuple[dict[str, str], str]:
    """``{name: token}`` for ``(name, organizations, write)`` items, and their ``API_TOKENS`` setting (JSON)."""
    tokens, grants = {}, []
    for name, organizations, write in spec:
        token, grant = new_token(name, organizations, write)
        tokens[name] = token
        grants.append(grant.model_dump())
    return tokens, orjson.dumps(grants).decode()


def wait_until(predicate, timeout: float = 30, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned); fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(0.1)
    return value
