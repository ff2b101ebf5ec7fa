"""Who a bearer token is, and what it may see and change.

Two kinds of token:

- the **admin** token, ``NOTIFICATION_ACTIONS_API_TOKEN``: every organization,
  read and write, and what belongs to no single organization (``/lag``,
  ``/circuits``, undecodable records);
- **organization** tokens, ``NOTIFICATION_ACTIONS_API_TOKENS``: a set of
  organizations, read-only or read-write. Only each token's SHA-256 is
  configured (``notification-actions api-token`` prints a new token and its
  entry), so the settings hold nothing that opens the API.

A token is looked up by its digest; the admin token is compared in constant
time. An organization a token does not grant is answered as if it did not
exist (404), never 403-with-a-hint: an id that is someone else's says nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from notification_actions.settings import Settings, TokenGrant

__all__ = ["Principal", "Tokens", "new_token"]

MAX_TOKEN_CHARS = 512  # a longer Authorization header is no token of ours (and is not hashed)


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token."""

    name: str
    organizations: frozenset[int] | None  # None: every organization (the admin token)
    write: bool

    @property
    def admin(self) -> bool:
        return self.organizations is None

    def sees(self, organization_id: int) -> bool:
        return self.organizations is None or organization_id in self.organizations


ADMIN = Principal("admin", None, True)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """The configured tokens; :meth:`principal` answers who an ``Authorization`` header is."""

    def __init__(self, settings: Settings) -> None:
        self._admin = settings.api_token.get_secret_value().encode() if settings.api_token else None
        self._grants: dict[str, TokenGrant] = {g.sha256: g for g in settings.api_tokens}

    @property
    def configured(self) -> bool:
        return self._admin is not None or bool(self._grants)

    def principal(self, header: str | None) -> Principal | None:
        if not header or not header.startswith("Bearer ") or len(header) > MAX_TOKEN_CHARS + 7:
            return None
        token = header[len("Bearer "):].strip()
        if not token:
            return None
        if self._admin is not None and hmac.compare_digest(token.encode(), self._admin):
            return ADMIN
        grant = self._grants.get(digest(token))
        if grant is None:
            return None
        return Principal(grant.name, frozenset(grant.organizations), grant.write)


def new_token(name: str, organizations: list[int], write: bool) -> tuple[str, TokenGrant]:
    """A new random token and the settings entry that grants it (holding only its digest)."""
    token = "na_" + secrets.token_urlsafe(32)
    return token, TokenGrant(name=name, sha256=digest(token), organizations=organizations, write=write)
