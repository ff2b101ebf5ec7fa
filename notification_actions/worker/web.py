"""HTTP endpoints on the worker's web port.

``/healthz``, ``/readyz`` and ``/metrics`` are open (probes carry no token); everything else needs
``Authorization: Bearer <NOTIFICATION_ACTIONS_API_TOKEN>`` (compared in constant
time). With no token configured, the protected endpoints answer 503.
"""

from __future__ import annotations

import hmac
from typing import Any

from notification_actions.metrics import CONTENT_TYPE
from notification_actions.models.registry import REGISTRY

__all__ = ["authorized", "install_views"]


def authorized(header: str | None, token: str | None) -> bool:
    if not token or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


def install_views(service: Any) -> None:
    """Add the endpoints to ``service.app`` (a ``worker/app.py`` ``Service``, which calls this)."""
    app = service.app
    token = service.settings.api_token.get_secret_value() if service.settings.api_token else None

    def guard(view: Any, request: Any) -> Any | None:
        if token is None:
            return view.json({"error": "NOTIFICATION_ACTIONS_API_TOKEN is not set"}, status=503)
        if not authorized(request.headers.get("Authorization"), token):
            return view.json({"error": "missing or wrong bearer token"}, status=401)
        return None

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
        # aiohttp refuses a charset inside content_type: it goes in its own header.
        return self.bytes(service.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/lag")
    async def lag(self: Any, request: Any) -> Any:
        if (denied := guard(self, request)) is not None:
            return denied
        report = service.lag.report if service.lag is not None else None
        if report is None:
            return self.json({"error": "no lag sample yet"}, status=503)
        return self.json(report.to_dict())

    @app.page("/circuits")
    async def circuits(self: Any, request: Any) -> Any:
        if (denied := guard(self, request)) is not None:
            return denied
        open_ = service.circuits.open_circuits()
        return self.json({"circuits": {t: {**c.model_dump(), "waiting": c.waiting} for t, c in open_.items()}})

    @app.page("/organizations/{org_id}/actions")
    async def org_actions(self: Any, request: Any, org_id: str) -> Any:
        if (denied := guard(self, request)) is not None:
            return denied
        if not org_id.isdigit():
            return self.json({"error": f"organization id {org_id!r} is not an integer"}, status=400)
        org = int(org_id)
        actions = [a.model_dump(mode="json") for a in service.actions.index.all() if a.organization_id == org]
        return self.json({"actions": sorted(actions, key=lambda a: a["id"])})

    @app.page("/organizations/{org_id}/available-actions")
    async def available(self: Any, request: Any, org_id: str) -> Any:
        if (denied := guard(self, request)) is not None:
            return denied
        if not org_id.isdigit():
            return self.json({"error": f"organization id {org_id!r} is not an integer"}, status=400)
        org = int(org_id)
        integrations = service.integrations.for_organization(org)
        out: list[dict] = []
        for registration in REGISTRY:
            out.extend(registration.serialize_available(org, integrations))
        return self.json({"actions": out})
