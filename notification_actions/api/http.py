"""What every API route shares: JSON in and out, bounded bodies, errors, per-organization rate limits.

- Every answer is JSON, errors included: :func:`json_errors` (an aiohttp
  middleware on the whole web port) turns aiohttp's own 404/405/413 and any
  unexpected exception into ``{"detail": …}``; a route raises :class:`ApiError`.
- A request body is read within ``API_MAX_BODY_BYTES`` (413 past it, before
  it is all read) and :data:`BODY_SECONDS` (408: a body trickled in byte by
  byte holds no worker), and must be JSON nested at most
  ``models.validation.MAX_JSON_DEPTH`` deep.
- :class:`RateLimit`: writes, test-fires and backfills, per organization, a
  token bucket of ``API_WRITES_PER_MINUTE`` (429 with ``Retry-After``). Each
  worker process counts its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from notification_actions.models.validation import json_depth_exceeds

log = logging.getLogger(__name__)

__all__ = ["ApiError", "RateLimit", "iso_time", "json_errors", "read_json", "respond"]

BODY_SECONDS = 10.0
MAX_BUCKETS = 100_000  # organizations with a partly used bucket; full buckets are forgotten first


class ApiError(Exception):
    """An answer other than success: ``status`` and a JSON body (``{"detail": …}`` when given a string)."""

    def __init__(self, status: int, body: str | dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(body if isinstance(body, str) else str(body))
        self.status = status
        self.body = {"detail": body} if isinstance(body, str) else body
        self.headers = headers or {}


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(body=orjson.dumps(data), status=status, headers=headers, content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return respond(exc.body, exc.status, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return respond({"detail": exc.reason}, exc.status, headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        return respond({"detail": "internal error"}, 500)


async def read_json(request: web.Request, limit: int) -> Any:
    """The request's JSON body (None when empty), bounded in size, time and depth."""
    too_large = ApiError(413, f"request body over {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            while chunk := await request.content.read(65_536):
                body += chunk
                if len(body) > limit:
                    raise too_large
    except TimeoutError:
        raise ApiError(408, f"request body not received within {BODY_SECONDS:.0f}s") from None
    if not body.strip():
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if json_depth_exceeds(doc):
        raise ApiError(400, "request body nests too deep")
    return doc


def iso_time(value: Any) -> datetime:
    """A request's ISO 8601 time (``Z`` allowed), as given: naive when it has no zone. ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class RateLimit:
    """A token bucket per organization: ``per_minute`` a minute, as a burst too."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[int, tuple[float, float]] = {}  # organization → (tokens, at)

    def take(self, organization_id: int, what: str) -> None:
        """Spend one token of ``organization_id`` or raise 429 naming ``what`` and when to come back."""
        now = time.monotonic()
        tokens, at = self._buckets.get(organization_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self.rate)
            raise ApiError(429, f"too many {what} for organization {organization_id}; retry in {wait}s",
                           {"Retry-After": str(wait)})
        if len(self._buckets) >= MAX_BUCKETS and organization_id not in self._buckets:
            self._forget_full(now)
        self._buckets[organization_id] = (tokens - 1.0, now)

    def _forget_full(self, now: float) -> None:
        full = [org for org, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.capacity]
        for org in full:
            del self._buckets[org]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: forget the oldest (they refill meanwhile anyway)
            for org, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: MAX_BUCKETS // 10]:
                del self._buckets[org]
