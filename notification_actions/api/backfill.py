"""Backfills over the API: one action's past events sent again, inside the workers (``ops/backfill.py``).

``POST …/actions/{id}/backfill/`` with ``{"since", "until", "dryRun"}`` (ISO 8601 times, each optional)
starts a job and answers 202 with it; ``GET …/actions/{id}/backfill/{job}/`` reports its state, progress
(events read of the total, deliveries) and counts. One job per action at a time (409 while one runs).
A job of another organization, or of another action, is a 404, as one that does not exist. Starting one
needs a read-write token and spends one of the organization's writes (``api/http.RateLimit``); at most
``BACKFILL_MAX_RUNNING`` of an organization run at once (429), each reading at most
``BACKFILL_EVENTS_PER_SECOND``, so one tenant's backfills leave the worker to everyone's live events.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from notification_actions.api.actions import BASE, ID, NOT_FOUND, Routes
from notification_actions.api.http import ApiError, iso_time, read_json, respond
from notification_actions.ops.backfill import BackfillConflict, UnknownAction

__all__ = ["BackfillRoutes"]

FIELDS = {"since", "until", "dryRun", "dry_run"}


class BackfillRoutes:
    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    @property
    def jobs(self) -> Any:
        jobs = self.routes.service.backfills
        if jobs is None:
            raise ApiError(503, "backfills are not available on this worker")
        return jobs

    def install(self, router: web.UrlDispatcher) -> None:
        for path, method, handler in ((f"{BASE}/actions/{ID}/backfill", "POST", self.start),
                                      (f"{BASE}/actions/{ID}/backfill/{{job}}", "GET", self.read)):
            router.add_route(method, path, handler)
            router.add_route(method, path + "/", handler)

    async def start(self, request: web.Request) -> web.Response:
        _, org = self.routes.organization(request, write=True)
        action = self.routes.action(request, org)
        self.routes.limit.take(org, "backfills")
        body = await read_json(request, self.routes.settings.api_max_body_bytes) or {}
        if not isinstance(body, dict):
            raise ApiError(400, {"nonFieldErrors": ["Expected a JSON object."]})
        errors = {str(k)[:100]: ["Unknown field."] for k in body if k not in FIELDS}
        if "dryRun" in body and "dry_run" in body:
            errors["dryRun"] = ["'dry_run' collides with 'dryRun': send one spelling of the key"]
        dry_run = body.get("dryRun", body.get("dry_run", False))
        if not isinstance(dry_run, bool):
            errors["dryRun"] = ["Must be true or false."]
        since, until = _time(body, "since", errors), _time(body, "until", errors)
        if since and until and until <= since:
            errors["until"] = ["Must be after since."]
        if errors:
            raise ApiError(400, errors)
        limit = self.routes.settings.backfill_max_running
        if self.jobs.running(org) >= limit:
            raise ApiError(429, f"organization {org} has {limit} backfills running; wait for one to end",
                           {"Retry-After": "10"})
        try:
            job = await self.jobs.start(org, action.id, since, until, dry_run)
        except UnknownAction:
            raise ApiError(404, NOT_FOUND) from None
        except BackfillConflict as exc:
            raise ApiError(409, {"detail": f"a backfill of action {action.id} is running", "job": exc.job_id}) from None
        return respond(job, 202)

    async def read(self, request: web.Request) -> web.Response:
        _, org = self.routes.organization(request)
        action = self.routes.action(request, org)
        try:
            job = await self.jobs.get(org, request.match_info["job"])
        except TimeoutError:
            raise ApiError(504, "the backfill jobs could not be read in time; try again") from None
        if job is None or job.get("actionId") != action.id:
            raise ApiError(404, NOT_FOUND)
        return respond(job)


def _time(body: dict, name: str, errors: dict) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        parsed = iso_time(value)
    except ValueError:
        errors[name] = ["Not an ISO 8601 time (e.g. 2026-11-26T20:00:00Z)."]
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
