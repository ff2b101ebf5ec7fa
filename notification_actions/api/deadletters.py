"""Dead letters over HTTP, for the console (``docs/api.md``, "Console endpoints").

- ``GET /api/0/organizations/{org}/notifications/dead-letters/``: the
  organization's dead deliveries among the newest :data:`SCAN_RECORDS` records
  of the deliveries DLQ — counts by action, service and error class, and the
  newest ``limit`` (≤ :data:`MAX_LIST`) of them. An organization is what the
  record's ``na-organization-id`` header *and* its delivery's action say
  together; an undecodable record is nobody's but the admin's.
- ``POST …/dead-letters/redrive/`` with ``{"dryRun": bool, "action", "errorClass",
  "since", "until"}``: re-submit them (``ops/dlqscan.py``); a read-write token,
  rate-limited per organization with the API's writes.
- ``GET /api/0/dead-letters/`` and ``POST /api/0/dead-letters/redrive/``: the
  same over every organization, undecodable records included (listed, never
  redriven), for the admin token only (403 otherwise); filter ``organization``.

Bounds: a request reads at most :data:`SCAN_RECORDS` records, within
:data:`SCAN_SECONDS`, and answers say ``scanned`` and ``truncated`` (older records
exist that were not read: use ``notification-actions dlq list`` for them). Reads
share one scan per :data:`CACHE_SECONDS`, so polling consoles cost one read.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from notification_actions.api.http import ApiError, iso_time, read_json, respond
from notification_actions.kafka import headers as h
from notification_actions.models.validation import parse_numeric_id
from notification_actions.ops.dlq import DeadLetter, Filters
from notification_actions.ops.dlqscan import Scan, organization_of, redrive_scoped, scan, select

__all__ = ["DeadLetterRoutes", "SCAN_RECORDS"]

SCAN_RECORDS = 10_000
SCAN_SECONDS = 15.0
CACHE_SECONDS = 2.0
MAX_LIST = 500
DEFAULT_LIST = 100
ERROR_CHARS = 300
ORG_BASE = "/api/0/organizations/{org}/notifications/dead-letters"
ADMIN_BASE = "/api/0/dead-letters"
BODY_FIELDS = {"dryRun", "action", "errorClass", "since", "until", "organization"}


class DeadLetterRoutes:
    """Over the API's ``routes`` (``api/actions.py``: tokens, rate limit) and the worker ``service``."""

    def __init__(self, service: Any, routes: Any) -> None:
        self.service, self.routes, self.settings = service, routes, service.settings
        self._cached: Scan | None = None
        self._lock = asyncio.Lock()

    def install(self, router: web.UrlDispatcher) -> None:
        for path, method, handler in ((ORG_BASE, "GET", self.list_org), (f"{ORG_BASE}/redrive", "POST", self.redrive_org),
                                      (ADMIN_BASE, "GET", self.list_all), (f"{ADMIN_BASE}/redrive", "POST", self.redrive_all)):
            router.add_route(method, path, handler)
            router.add_route(method, path + "/", handler)

    # --- reads --------------------------------------------------------------------
    async def list_org(self, request: web.Request) -> web.Response:
        _, org = self.routes.organization(request)
        return respond(self._answer(await self._scan(), _filters(request.query), org, _limit(request.query), admin=False))

    async def list_all(self, request: web.Request) -> web.Response:
        self.routes.admin(request)
        query = request.query
        org = _int_param(query.get("organization"), "organization")
        filters = _filters(query)
        return respond(self._answer(await self._scan(), filters, org, _limit(query), admin=True))

    def _answer(self, found: Scan, filters: Filters, org: int | None, limit: int, *, admin: bool) -> dict:
        chosen = select(found.letters, filters, org)
        counts: dict[str, Counter] = {"action": Counter(), "service": Counter(), "errorClass": Counter()}
        if admin:
            counts["organization"] = Counter()
        shown = [describe(letter) for letter in chosen]
        for letter in shown:
            counts["action"][letter["actionId"] or "?"] += 1
            counts["service"][letter["service"] or "?"] += 1
            counts["errorClass"][letter["errorClass"]] += 1
            if admin:
                counts["organization"][str(letter["organizationId"] or "?")] += 1
        answer = {
            "scanned": found.scanned, "scanLimit": found.limit, "truncated": found.truncated,
            "matched": len(chosen), "limit": limit,
            "counts": {name: dict(c.most_common()) for name, c in counts.items()},
            "deadLetters": list(reversed(shown))[:limit],
        }
        return {"topic": found.topic, **answer} if admin else answer

    async def _scan(self, *, fresh: bool = False) -> Scan:
        async with self._lock:  # one read at a time; concurrent readers share it
            cached = self._cached
            if not fresh and cached is not None and time.time() - cached.at < CACHE_SECONDS:
                return cached
            try:
                found = await scan(self.settings, self.settings.deliveries_dlq_topic, SCAN_RECORDS, SCAN_SECONDS)
            except TimeoutError:
                raise ApiError(504, "the dead-letter topic could not be read in time; try again") from None
            self._cached = found
            return found

    # --- redrive ------------------------------------------------------------------
    async def redrive_org(self, request: web.Request) -> web.Response:
        _, org = self.routes.organization(request, write=True)
        body = await self._body(request, admin=False)
        self.routes.limit.take(org, "redrives")
        return respond(await self._redrive(body, org, admin=False))

    async def redrive_all(self, request: web.Request) -> web.Response:
        self.routes.admin(request)
        body = await self._body(request, admin=True)
        org = _int_param(body.get("organization"), "organization")
        self.routes.limit.take(-1 if org is None else org, "redrives")
        return respond(await self._redrive(body, org, admin=True))

    async def _body(self, request: web.Request, *, admin: bool) -> dict:
        body = await read_json(request, self.settings.api_max_body_bytes)
        if body is None:
            body = {}
        allowed = BODY_FIELDS if admin else BODY_FIELDS - {"organization"}
        if not isinstance(body, dict):
            raise ApiError(400, {"nonFieldErrors": ["Expected a JSON object."]})
        errors = {str(k)[:100]: ["Unknown field."] for k in body if k not in allowed}
        if not isinstance(body.get("dryRun", True), bool):
            errors["dryRun"] = ["Must be true or false."]
        if errors:
            raise ApiError(400, errors)
        return body

    async def _redrive(self, body: dict, org: int | None, *, admin: bool) -> dict:
        filters = _filters({k: v for k, v in body.items() if isinstance(v, (str, int)) and not isinstance(v, bool)})
        found = await self._scan(fresh=True)
        chosen = select(found.letters, filters, org)
        dry_run = body.get("dryRun", True)
        done = await redrive_scoped(self.settings, chosen, self.service.actions, org, dry_run=dry_run)
        return {"dryRun": dry_run, "scanned": found.scanned, "scanLimit": found.limit, "truncated": found.truncated,
                "selected": len(chosen), "planned": done.planned, "sent": done.sent, "skipped": done.skipped}


def describe(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as the API shows it: ids, error, attempts; never the delivery's target or payload."""
    hd = letter.headers
    service = trigger = event_id = None
    try:
        doc = orjson.loads(letter.value or b"")
        service, trigger = doc["action"]["service_type"], doc["action"]["trigger_type"]
        event_id = doc["event"]["id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    org = organization_of(letter)
    attempts = hd.get(h.ATTEMPTS, "")
    return {
        "topic": letter.topic, "partition": letter.partition, "offset": letter.offset,
        "deadLetteredAt": letter.timestamp_ms / 1000,
        "organizationId": org, "decodable": org is not None,
        "actionId": hd.get(h.ACTION_ID) if org is not None else None,
        "deliveryId": hd.get(h.DEDUP_KEY) if org is not None else None,
        "eventId": event_id if isinstance(event_id, str) and org is not None else None,
        "service": _slug(service), "trigger": _slug(trigger),
        "errorClass": letter.error_class[:100], "code": hd.get(h.ERROR_CODE, "")[:100] or None,
        "error": hd.get(h.ERROR_MESSAGE, "")[:ERROR_CHARS] or None,
        "attempts": int(attempts) if attempts.isascii() and attempts.isdigit() else None,
    }


def _slug(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 40:
        return value
    if isinstance(value, int):
        from notification_actions.models import ActionService, ActionTrigger

        for enum in (ActionService, ActionTrigger):
            try:
                return enum.parse(value).slug
            except (ValueError, TypeError):
                continue
    return None


def _filters(query: Any) -> Filters:
    action = query.get("action")
    error_class = query.get("errorClass")
    return Filters(
        action_id=str(action)[:200] if action not in (None, "") else None,
        error_class=str(error_class)[:200] if error_class not in (None, "") else None,
        since=_time(query.get("since"), "since"), until=_time(query.get("until"), "until"),
    )


def _time(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        when = iso_time(str(value))
    except ValueError:
        raise ApiError(400, {name: ["Expected an ISO 8601 time with a timezone (2026-11-26T20:00:00Z)."]}) from None
    if when.tzinfo is None:
        raise ApiError(400, {name: ["Expected an ISO 8601 time with a timezone (2026-11-26T20:00:00Z)."]})
    return when


def _int_param(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    if (org := parse_numeric_id(str(value))) is None:
        raise ApiError(400, {name: ["Expected an organization id."]})
    return org


def _limit(query: Any) -> int:
    value = query.get("limit")
    if value in (None, ""):
        return DEFAULT_LIST
    if not (value.isascii() and value.isdigit() and len(value) < 6):
        raise ApiError(400, {"limit": [f"Expected a number from 1 to {MAX_LIST}."]})
    return max(1, min(MAX_LIST, int(value)))
