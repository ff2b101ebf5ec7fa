"""Sentry's notification-actions routes, served by every worker (``docs/api.md``).

Under ``/api/0/organizations/{org}/notifications/`` (trailing slash optional):
``actions/`` (GET list, POST create), ``actions/{id}/`` (GET, PUT, DELETE),
``actions/{id}/test/`` (POST: fire once), ``actions/{id}/deliveries/`` (GET:
the last attempts), ``available-actions/`` (GET).

Reads answer from this worker's tables. Writes go through the config topic
and answer once the workers applied or refused them (``ops/configwrite.py``),
then once this worker's own table holds the result, so a read right after a
write sees it. Every route first asks :meth:`Routes.organization`: no token
401, an organization the token does not grant 404 — the same answer as an
organization or action that does not exist.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from aiohttp import web

from notification_actions.api.auth import Principal, Tokens
from notification_actions.api.http import ApiError, RateLimit, read_json, respond
from notification_actions.api.recent import RecentOutcomes
from notification_actions.api.sentry import action_from_request, camel, serialize
from notification_actions.errors import ConfigError, InvalidEvent
from notification_actions.models import ActionTrigger, NotificationAction
from notification_actions.models.delivery import Outcome
from notification_actions.models.validation import parse_numeric_id
from notification_actions.ops.configwrite import ConfigWriter, WriteTimeout, stored_form
from notification_actions.ops.testfire import fire_once
from notification_actions.streams.config import CHECK_THREADS, CHECK_TIMEOUT_SECONDS

__all__ = ["Routes", "NOT_FOUND"]

NOT_FOUND = "The requested resource does not exist"
NO_PERMISSION = "You do not have permission to perform this action."
PER_PAGE = 100
BASE = "/api/0/organizations/{org}/notifications"
ID = "{action_id:[^/]+}"
DETAIL_CHARS = 500


class Routes:
    """The routes, over a worker ``service`` (``worker/app.py``'s Service: tables, settings, registry)."""

    def __init__(self, service: Any, tokens: Tokens) -> None:
        self.service = service
        self.settings = service.settings
        self.tokens = tokens
        self.limit = RateLimit(self.settings.api_writes_per_minute)
        self.writer = ConfigWriter(self.settings)
        # validate_action() may ask its service (Slack's live check), with blocking I/O: never on the loop
        self._checks = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="api-checks")
        self._check_slots = asyncio.Semaphore(CHECK_THREADS)
        self.recent = RecentOutcomes(self.settings)

    def install(self, router: web.UrlDispatcher) -> None:
        for path, handlers in {
            f"{BASE}/actions": {"GET": self.list, "POST": self.create},
            f"{BASE}/actions/{ID}": {"GET": self.read, "PUT": self.update, "DELETE": self.delete},
            f"{BASE}/actions/{ID}/test": {"POST": self.test},
            f"{BASE}/actions/{ID}/deliveries": {"GET": self.deliveries},
            f"{BASE}/available-actions": {"GET": self.available},
        }.items():
            for method, handler in handlers.items():
                router.add_route(method, path, handler)
                router.add_route(method, path + "/", handler)

    async def close(self, *args: object, **kwargs: object) -> None:
        """Stop the config writer's clients; connected to ``app.on_before_shutdown``."""
        await self.writer.stop()
        self._checks.shutdown(wait=False, cancel_futures=True)

    # --- who may ------------------------------------------------------------------
    def principal(self, request: web.Request) -> Principal:
        if not self.tokens.configured:
            raise ApiError(503, "no API token is configured (NOTIFICATION_ACTIONS_API_TOKEN[S])")
        principal = self.tokens.principal(request.headers.get("Authorization"))
        if principal is None:
            raise ApiError(401, "Authentication credentials were not provided or are wrong.")
        return principal

    def admin(self, request: web.Request) -> Principal:
        """The admin token's holder, or 401/403: for what belongs to no single organization."""
        principal = self.principal(request)
        if not principal.admin:
            raise ApiError(403, "this endpoint needs the admin token")
        return principal

    def organization(self, request: web.Request, *, write: bool = False) -> tuple[Principal, int]:
        principal = self.principal(request)
        org = parse_numeric_id(request.match_info["org"])
        if org is None or not principal.sees(org):
            raise ApiError(404, NOT_FOUND)
        if write and not principal.write:
            raise ApiError(403, NO_PERMISSION)
        return principal, org

    def action(self, request: web.Request, org: int) -> NotificationAction:
        action = self.service.actions.get(request.match_info["action_id"])
        if action is None or action.organization_id != org:
            raise ApiError(404, NOT_FOUND)
        return action

    # --- reads --------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        _, org = self.organization(request)
        query = request.query
        triggers = [ActionTrigger.parse(t) for t in query.getall("triggerType", []) if _parses(t)]
        if query.getall("triggerType", []) and not triggers:
            return respond([])  # only unknown triggers: nothing matches (not an error, as Sentry)
        projects = {p for p in (_int(v) for v in query.getall("project", [])) if p is not None}
        found = self.service.actions.index.of_organization(org, triggers)
        if projects:
            every = -1 in projects
            found = [a for a in found if a.projects and (every or projects.intersection(a.projects))]
        found.sort(key=sort_key)
        offset, per_page = _cursor(query.get("cursor")), min(PER_PAGE, max(1, _int(query.get("per_page")) or PER_PAGE))
        page = found[offset:offset + per_page]
        link = _link(request, offset, per_page, more=offset + per_page < len(found))
        return respond([serialize(a) for a in page], headers={"Link": link})

    async def read(self, request: web.Request) -> web.Response:
        _, org = self.organization(request)
        return respond(serialize(self.action(request, org)))

    async def available(self, request: web.Request) -> web.Response:
        _, org = self.organization(request)
        return respond({"actions": self.available_actions(org)})

    def available_actions(self, org: int) -> list[dict]:
        """Every registration's ``serialize_available()`` for the organization and its integrations."""
        integrations = self.service.integrations.for_organization(org)
        out: list[dict] = []
        for registration in self.service.registry:
            out.extend(registration.serialize_available(org, integrations))
        return out

    async def deliveries(self, request: web.Request) -> web.Response:
        _, org = self.organization(request)
        action = self.action(request, org)
        try:
            await asyncio.wait_for(self.recent.ready.wait(), 10.0)
        except TimeoutError:
            pass  # still reading back: what is known so far
        return respond(self.recent.of(action.id))

    # --- writes -------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        _, org = self.organization(request, write=True)
        self.limit.take(org, "writes")
        body = await read_json(request, self.settings.api_max_body_bytes)
        action = await self._checked(body, self._new_id(), org)
        return respond(serialize(await self._put(action)), 201)

    async def update(self, request: web.Request) -> web.Response:
        _, org = self.organization(request, write=True)
        current = self.action(request, org)
        self.limit.take(org, "writes")
        body = await read_json(request, self.settings.api_max_body_bytes)
        action = await self._checked(body, current.id, org)
        return respond(serialize(await self._put(action)), 202)

    async def delete(self, request: web.Request) -> web.Response:
        _, org = self.organization(request, write=True)
        action = self.action(request, org)
        self.limit.take(org, "writes")
        await self._write(action.id, None)
        return respond(None, 204)

    async def _checked(self, body: Any, action_id: str, org: int) -> NotificationAction:
        service = self.service
        return await action_from_request(
            body, action_id=action_id, organization_id=org, registry=service.registry,
            integrations=service.integrations, directory=service.directory.get(org), settings=self.settings,
            run_check=self._run_check,
        )

    async def _run_check(self, check: Any) -> None:
        """``check`` in this API's thread pool, within CHECK_TIMEOUT_SECONDS (as the config stage runs them)."""
        try:
            async with self._check_slots, asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await asyncio.get_running_loop().run_in_executor(self._checks, check)
        except TimeoutError:
            raise ApiError(400, {"serviceType": [f"the checks of the service did not finish within "
                                                 f"{CHECK_TIMEOUT_SECONDS:.0f}s; try again"]}) from None

    def _new_id(self) -> str:
        """A new all-digit id: random 53 bits (a JSON number any client reads exactly), unused here."""
        while True:
            candidate = str(secrets.randbits(53) or 1)
            if self.service.actions.get(candidate) is None:
                return candidate

    async def _put(self, action: NotificationAction) -> NotificationAction:
        await self._write(action.id, action)
        return self.service.actions.get(action.id) or action

    async def _write(self, action_id: str, action: NotificationAction | None) -> None:
        """Write through the config topic; return once applied here too, or raise the refusal (400) or 504."""
        timeout = self.settings.api_write_timeout_seconds
        deadline = time.monotonic() + timeout
        try:
            if action is None:
                verdict = await self.writer.delete(action_id, timeout)
            else:
                verdict = await self.writer.put(action, timeout)
        except WriteTimeout as exc:
            raise ApiError(504, str(exc)) from None
        if not verdict.applied:
            errors: dict[str, list[str]] = {}
            for problem in verdict.problems or []:
                errors.setdefault(camel(problem.field), []).append(problem.message)
            raise ApiError(400, errors or {"nonFieldErrors": ["refused by the workers"]})
        expected = None if action is None else stored_form(action)
        while not self._holds(action_id, expected):  # this worker's table follows the changelog
            if time.monotonic() > deadline:
                raise ApiError(504, f"action {action_id!r} was applied, but this worker's table did not show it "
                                    f"within {timeout:.0f}s; read it again")
            await asyncio.sleep(0.05)

    def _holds(self, action_id: str, expected: bytes | None) -> bool:
        held = self.service.actions.get(action_id)
        return (held is None) if expected is None else (held is not None and stored_form(held) == expected)

    # --- test-fire ----------------------------------------------------------------
    async def test(self, request: web.Request) -> web.Response:
        _, org = self.organization(request, write=True)
        action = self.action(request, org)
        self.limit.take(org, "test-fires")
        body = await read_json(request, self.settings.api_max_body_bytes)
        if body is not None and (not isinstance(body, dict) or set(body) - {"event"}):
            raise ApiError(400, {"nonFieldErrors": ['Expected {"event": {...}} or no body.']})
        event = orjson.dumps(body["event"]) if body and body.get("event") is not None else None
        integration = self.service.integrations.get(action.integration_id) if action.integration_id else None
        try:
            async with asyncio.timeout(self.settings.http_timeout_seconds * 2 + 5):
                result = await fire_once(self.settings, action, integration, self.service.directory.get(org), event)
        except InvalidEvent as exc:
            raise ApiError(400, {"event": [str(p) for p in exc.problems]}) from None
        except ConfigError as exc:
            raise ApiError(400, {"integrationId": [str(exc)]}) from None
        except TimeoutError:
            raise ApiError(504, "the service did not answer in time") from None
        outcome = Outcome(
            dedup_key=result.delivery_id, action_id=action.id, organization_id=org,
            trigger=action.trigger_type.slug, service=action.service_type.slug, target=action.target_shown(),
            result="ok" if result.ok else "dead", attempt=1, latency_ms=round(result.latency_ms, 1),
            status=result.status, error_class=result.error_class, code=result.code,
            error=None if result.ok else result.detail[:DETAIL_CHARS], detail=result.detail[:DETAIL_CHARS],
            at=time.time(),
        )
        await self.service.record_outcome(outcome)
        return respond({
            "result": "ok" if result.ok else "failed", "status": result.status,
            "latencyMs": round(result.latency_ms, 1), "detail": result.detail[:DETAIL_CHARS],
            "errorClass": result.error_class, "code": result.code, "deliveryId": result.delivery_id,
        })


def sort_key(action: NotificationAction) -> tuple:
    """By id: all-digit ids by their number first, then the others as text."""
    digits = action.id.isascii() and action.id.isdigit()
    return (0, int(action.id), "") if digits else (1, 0, action.id)


def _parses(value: str) -> bool:
    try:
        ActionTrigger.parse(value)
        return True
    except (ValueError, TypeError):
        return False


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if text.startswith("-") and text[1:].isascii() and text[1:].isdigit() and len(text) < 20:
        return -int(text[1:])
    return parse_numeric_id(text)


def _cursor(value: str | None) -> int:
    """Sentry's cursor ``value:offset:is_prev``; here the offset into the sorted list."""
    if not value:
        return 0
    parts = value.split(":")
    if len(parts) != 3 or (offset := parse_numeric_id(parts[1])) is None:
        raise ApiError(400, {"cursor": ["Invalid cursor parameter."]})
    return offset


def _link(request: web.Request, offset: int, per_page: int, *, more: bool) -> str:
    def url(cursor: str) -> str:
        query = [(k, v) for k, v in request.query.items() if k != "cursor"]
        return str(request.url.with_query(query + [("cursor", cursor)]))

    previous, following = f"0:{max(0, offset - per_page)}:1", f"0:{offset + per_page}:0"
    return (f'<{url(previous)}>; rel="previous"; results="{"true" if offset > 0 else "false"}"; cursor="{previous}", '
            f'<{url(following)}>; rel="next"; results="{"true" if more else "false"}"; cursor="{following}"')
