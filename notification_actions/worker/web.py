"""HTTP endpoints on the worker's web port: ours, and nothing else.

``/healthz``, ``/readyz`` and ``/metrics`` are open (probes carry no token);
everything else needs ``Authorization: Bearer <token>`` (``api/auth.py``: the
admin token, or an organization token). What belongs to no single
organization (``/lag``, ``/circuits``) answers the admin token only (403 to
an organization token); an organization a token does not grant is a 404.
With no token configured, the protected endpoints answer 503. Every answer is
JSON, errors included (``api/http.json_errors``). The REST API under
``/api/0/`` is ``api/actions.py``.

Faust serves views of its own on the same port — ``/table/<name>/<key>/``
returns a table's values in clear text (integration credentials included),
``/router/``, ``/graph/``, ``/stats/`` and an index at ``/`` — without any
token. :func:`install_views` removes every one of them before the server
starts (their settings are also off in ``worker/app.py``), so any path that
is not ours is a 404.
"""

from __future__ import annotations

from typing import Any

from notification_actions.api.actions import Routes
from notification_actions.api.auth import Principal, Tokens
from notification_actions.api.backfill import BackfillRoutes
from notification_actions.api.console import ConsoleRoutes
from notification_actions.api.http import json_errors
from notification_actions.metrics import CONTENT_TYPE
from notification_actions.models.validation import parse_numeric_id

__all__ = ["drop_faust_views", "install_views"]

FAUST_VIEWS = "faust.web.apps."
#: ``/metrics?name[]=…`` takes at most this many names, each at most MAX_METRIC_NAME characters
MAX_METRIC_NAMES = 32
MAX_METRIC_NAME = 200


def drop_faust_views(app: Any) -> list[str]:
    """Remove Faust's built-in views from ``app``'s web server (before it starts); return their paths.

    Faust enables some by default and mounts a production index at ``/`` that
    no setting turns off; all of them are blueprints named by module path.
    """
    manager = app.web.blueprints
    if manager.applied:
        raise RuntimeError("the web server already started: Faust's views are served")
    enabled = manager._enabled  # Faust keeps the list private; there is no public remover
    dropped = [prefix or "/" for prefix, bp in enabled if isinstance(bp, str) and bp.startswith(FAUST_VIEWS)]
    enabled[:] = [(prefix, bp) for prefix, bp in enabled if not (isinstance(bp, str) and bp.startswith(FAUST_VIEWS))]
    return dropped


def install_views(service: Any) -> Routes:
    """Add the endpoints to ``service.app`` (a ``worker/app.py`` ``Service``, which calls this); return the API."""
    app = service.app
    drop_faust_views(app)
    tokens = Tokens(service.settings)
    routes = Routes(service, tokens)
    app.web.web_app.middlewares.append(json_errors)
    routes.install(app.web.web_app.router)
    BackfillRoutes(routes).install(app.web.web_app.router)
    ConsoleRoutes(service, routes).install(app.web.web_app.router)

    def who(view: Any, request: Any) -> tuple[Principal | None, Any]:
        if not tokens.configured:
            return None, view.json({"error": "NOTIFICATION_ACTIONS_API_TOKEN is not set"}, status=503)
        principal = tokens.principal(request.headers.get("Authorization"))
        if principal is None:
            return None, view.json({"error": "missing or wrong bearer token"}, status=401)
        return principal, None

    def admin_only(view: Any, request: Any) -> Any | None:
        principal, denied = who(view, request)
        if denied is None and not principal.admin:
            return view.json({"error": "this endpoint needs the admin token"}, status=403)
        return denied

    def organization(view: Any, request: Any, org_id: str) -> tuple[int | None, Any]:
        principal, denied = who(view, request)
        if denied is not None:
            return None, denied
        if (org := parse_numeric_id(org_id)) is None:
            return None, view.json({"error": f"organization id {org_id[:40]!r} is not an integer"}, status=400)
        if not principal.sees(org):
            return None, view.json({"error": "not found"}, status=404)
        return org, None

    @app.page("/healthz")
    async def healthz(self: Any, request: Any) -> Any:
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: Any, request: Any) -> Any:
        # Open like /healthz: orchestrators' probes carry no token.
        ready = service.ready()
        return self.json({"ready": ready, "actions": len(service.actions.index)}, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(self: Any, request: Any) -> Any:
        # Open, so its one parameter is bounded: at most MAX_METRIC_NAMES names of MAX_METRIC_NAME chars.
        names = request.query.getall("name[]", [])
        if len(names) > MAX_METRIC_NAMES or any(len(n) > MAX_METRIC_NAME for n in names):
            return self.json({"error": f"query parameter 'name[]': at most {MAX_METRIC_NAMES} names of at most "
                                       f"{MAX_METRIC_NAME} characters each"}, status=400)
        # aiohttp refuses a charset inside content_type: it goes in its own header.
        return self.bytes(service.metrics.exposition(names), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/lag")
    async def lag(self: Any, request: Any) -> Any:
        if (denied := admin_only(self, request)) is not None:
            return denied
        report = service.lag.report if service.lag is not None else None
        if report is None:
            return self.json({"error": "no lag sample yet"}, status=503)
        return self.json(report.to_dict())

    @app.page("/circuits")
    async def circuits(self: Any, request: Any) -> Any:
        if (denied := admin_only(self, request)) is not None:
            return denied
        open_ = service.circuits.open_circuits()
        return self.json({"circuits": {t: {**c.model_dump(), "waiting": c.waiting} for t, c in open_.items()}})

    @app.page("/organizations/{org_id}/actions")
    async def org_actions(self: Any, request: Any, org_id: str) -> Any:
        org, denied = organization(self, request, org_id)
        if denied is not None:
            return denied
        actions = [a.model_dump(mode="json") for a in service.actions.index.of_organization(org)]
        return self.json({"actions": sorted(actions, key=lambda a: a["id"])})

    @app.page("/organizations/{org_id}/available-actions")
    async def available(self: Any, request: Any, org_id: str) -> Any:
        org, denied = organization(self, request, org_id)
        if denied is not None:
            return denied
        return self.json({"actions": routes.available_actions(org)})

    return routes
