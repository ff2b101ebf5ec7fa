"""The operator console: static pages at ``/console/`` and the few endpoints they need beyond the REST API.

The pages (``api/static/console/``: plain HTML, CSS and JS) are the only thing
served without a token, and hold no data: the browser asks for a token, keeps it
in ``sessionStorage`` and calls the API with it like any client. They are served
with a Content-Security-Policy that allows only this origin's script and style
(no inline script), ``nosniff`` and no framing.

Endpoints (``docs/api.md``, "Console endpoints"), every error JSON:

- ``GET /api/0/console/me``: what the token grants (name, organizations, write);
- ``GET /api/0/console/health``: ready, tables recovered, partitions assigned
  (any valid token; the per-topic assignment to the admin token only);
- ``GET /api/0/console/lag``: the worker's lag report and its window of samples,
  summed per group and topic, for the sparkline (admin token only);
- ``GET /api/0/organizations/{org}/notifications/last-outcomes/``: the last
  attempt of each of the organization's actions;
- the dead-letter routes of ``api/deadletters.py``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from notification_actions.api.deadletters import DeadLetterRoutes
from notification_actions.api.http import ApiError, respond

__all__ = ["ConsoleRoutes", "SECURITY_HEADERS"]

STATIC = {"index.html": "text/html", "console.css": "text/css", "console.js": "text/javascript"}
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read_static() -> dict[str, bytes]:
    folder = resources.files("notification_actions.api").joinpath("static", "console")
    return {name: folder.joinpath(name).read_bytes() for name in STATIC}


class ConsoleRoutes:
    """Mounted by ``worker/web.py`` beside the REST ``routes`` (``api/actions.py``), whose token checks it uses."""

    def __init__(self, service: Any, routes: Any) -> None:
        self.service, self.routes = service, routes
        self.dead_letters = DeadLetterRoutes(service, routes)
        self.files = _read_static()

    def install(self, router: web.UrlDispatcher) -> None:
        router.add_get("/console", self.redirect)
        router.add_get("/console/", self.page)
        router.add_get("/console/{name}", self.page)
        router.add_get("/api/0/console/me", self.me)
        router.add_get("/api/0/console/health", self.health)
        router.add_get("/api/0/console/lag", self.lag)
        for path in ("/api/0/organizations/{org}/notifications/last-outcomes",
                     "/api/0/organizations/{org}/notifications/last-outcomes/"):
            router.add_get(path, self.last_outcomes)
        self.dead_letters.install(router)

    # --- the pages ----------------------------------------------------------------
    async def redirect(self, request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": "/console/", **SECURITY_HEADERS})

    async def page(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        if name not in STATIC:
            raise ApiError(404, "The requested resource does not exist")
        return web.Response(body=self.files[name], headers={"Content-Type": f"{STATIC[name]}; charset=utf-8",
                                                            **SECURITY_HEADERS})

    # --- who and how --------------------------------------------------------------
    async def me(self, request: web.Request) -> web.Response:
        principal = self.routes.principal(request)
        orgs = None if principal.admin else sorted(principal.organizations or ())
        return respond({"name": principal.name, "admin": principal.admin, "write": principal.write,
                        "organizations": orgs})

    async def health(self, request: web.Request) -> web.Response:
        principal = self.routes.principal(request)
        app = self.service.app
        try:
            recovered = app.tables.recovery.completed.is_set()
            assignment = app.consumer.assignment()
            rebalancing = bool(app.rebalancing)
        except Exception:  # not started yet
            recovered, assignment, rebalancing = False, set(), True
        answer: dict[str, Any] = {"ready": self.service.ready(), "tablesRecovered": recovered,
                                  "rebalancing": rebalancing, "partitionsAssigned": len(assignment)}
        if principal.admin:
            topics: dict[str, list[int]] = {}
            for tp in assignment:
                topics.setdefault(tp.topic, []).append(tp.partition)
            answer["assignment"] = {t: sorted(ps) for t, ps in sorted(topics.items())}
            answer["actions"] = len(self.service.actions.index)
        return respond(answer)

    async def lag(self, request: web.Request) -> web.Response:
        self.routes.admin(request)
        sampler = self.service.lag
        report = sampler.report if sampler is not None else None
        history = []
        for sample in list(sampler.window) if sampler is not None else []:
            groups: dict[str, int] = {}
            topics: dict[str, dict[str, Any]] = {}
            for r in sample.readings:
                groups[r.group] = groups.get(r.group, 0) + r.lag
                row = topics.setdefault(f"{r.group} {r.topic}", {"group": r.group, "topic": r.topic, "lag": 0,
                                                                  "lagSeconds": None})
                row["lag"] += r.lag
                if r.lag_seconds is not None:
                    row["lagSeconds"] = max(row["lagSeconds"] or 0.0, r.lag_seconds)
            history.append({"at": sample.at, "groups": groups, "topics": list(topics.values())})
        return respond({"report": report.to_dict() if report is not None else None, "history": history})

    async def last_outcomes(self, request: web.Request) -> web.Response:
        _, org = self.routes.organization(request)
        recent = self.routes.recent
        out = {}
        for action in self.service.actions.index.of_organization(org):
            if (last := recent.last(action.id)) is not None:
                out[action.id] = last
        return respond(out)
