"""The ``pagerduty`` service: send an Events API v2 event to a PagerDuty service.

Registered for every trigger with target ``specific``. The action's
``target_identifier`` is a PagerDuty service id; its ``integration_id`` names
a ``pagerduty`` integration that lists the service in ``metadata.services``
``[{"id", "name"}]`` and holds its routing key in
``credentials.integration_keys`` ``{service_id: routing_key}``.

The request::

    POST {pagerduty_events_url}
    Content-Type: application/json

    {"routing_key": "<32 chars>", "event_action": "trigger", "dedup_key": "<delivery id>",
     "payload": {"summary": "<≤1,024 chars>", "source": "organization 1 / project 10",
                 "severity": "critical|error|warning|info", "timestamp": "<occurred_at>",
                 "component": "project 10", "group": "organization 1", "class": "issue-alert",
                 "custom_details": {<the event's data>}},
     "links": [{"href": "<data.url>", "text": "Open in Sentry"}], "client": "notification-actions"}

Each event is its own incident (``dedup_key`` = delivery id), except spike
protection: activation and deactivation share
``spike-protection:<org>:<project or 'org'>``, and a deactivation sends
``event_action: "resolve"`` for that key. The whole body stays under 512 KB
(``custom_details`` is cut first).

Answers: 202 is success; 400 (invalid event) is permanent; 429 and 5xx are
retryable (PagerDuty documents no ``Retry-After``) — the shared classifier.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field

from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem
from notification_actions.models import ActionService, ActionTrigger, Event, Integration
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult

from notification_actions.registrations.support import http
from notification_actions.registrations.support.common import (
    alert_key,
    available,
    delivery_key,
    integration_problems,
    org_integrations,
    register_all,
    require_secret,
    target_problems,
)
from notification_actions.registrations.support.limits import cut, cut_bytes
from notification_actions.registrations.support.text import message_text

__all__ = ["REGISTRATIONS", "PagerDutyRegistration", "PagerDutyTarget", "severity"]

SERVICE = ActionService.PAGERDUTY
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
MAX_BODY_BYTES = 500_000  # PagerDuty refuses payloads over 512 KB; keep a margin
FIELD = "target_identifier"
_LEVELS = {"fatal": "critical", "error": "error", "warning": "warning", "info": "info", "debug": "info"}


class PagerDutyTarget(BaseModel):
    """What a PagerDuty action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(min_length=1, max_length=100, description="PagerDuty service id, e.g. PABC123")
    integration_id: str = Field(min_length=1, description="The pagerduty integration holding the service's routing key")


def severity(event: Event) -> str:
    """PagerDuty's severity for ``event``: issue levels map across; quota, billing and spikes warn."""
    data = event.data
    if event.trigger is ActionTrigger.ISSUE_ALERT:
        return _LEVELS.get(str(data.get("level")), "error")
    if event.trigger is ActionTrigger.QUOTA:
        return {"exceeded": "error", "warning": "warning"}.get(str(data.get("status")), "info")
    if event.trigger is ActionTrigger.BILLING:
        return "error" if str(data.get("kind", "")).endswith("failed") else "info"
    if event.trigger is ActionTrigger.SPIKE_PROTECTION:
        return "warning"
    return "info"


def _services(integration: Integration) -> list[dict[str, Any]]:
    services = integration.metadata.get("services")
    return [s for s in services if isinstance(s, dict) and s.get("id")] if isinstance(services, list) else []


class PagerDutyRegistration(ActionRegistration):
    """Trigger (or resolve) a PagerDuty incident for an event; registered once per trigger."""

    rate_limit = (120, 60.0)  # ~120 events per minute per routing key (SERVICES.md)

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a service the integration does not list, or whose routing key it lacks."""
        action, integration = data.action, data.integration
        target, problems = target_problems(PagerDutyTarget, action)
        problems += integration_problems(action, integration, SERVICE, brief=True)
        if not problems and integration is not None and target is not None:
            service_id = action.target_identifier or ""
            if not any(str(s["id"]) == service_id for s in _services(integration)):
                problems.append(Problem(FIELD, f"service {service_id!r} is not in integration "
                                               f"{integration.id!r}'s metadata.services"))
            elif integration.secret("integration_keys", service_id) is None:
                problems.append(Problem(f"integration.credentials.integration_keys.{service_id}", "required"))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per service (with a routing key) of each ``pagerduty`` integration of ``organization``."""
        entries = []
        for integration in org_integrations(organization, integrations, SERVICE):
            for service in _services(integration):
                service_id = str(service["id"])
                if integration.secret("integration_keys", service_id) is not None:
                    name = service.get("name") if isinstance(service.get("name"), str) else service_id
                    entries.append(available(cls, PagerDutyTarget, integration, service_id, name))
        return entries

    def payload(self, event: Event, routing_key: str) -> dict[str, Any]:
        """The Events API v2 body for ``event`` (``custom_details`` not yet fitted to the size limit)."""
        delivery_id = delivery_key(self, event)
        dedup_key, resolves = alert_key(event, delivery_id, DEDUP_KEY_LIMIT)
        body: dict[str, Any] = {"routing_key": routing_key, "dedup_key": dedup_key}
        if resolves:
            body["event_action"] = "resolve"
            return body
        org = f"organization {event.organization_id}"
        project = f"project {event.project_id}" if event.project_id is not None else None
        body["event_action"] = "trigger"
        body["payload"] = {
            "summary": cut(" ".join(message_text(self.action, event).split()) or "event", SUMMARY_LIMIT),
            "source": f"{org} / {project}" if project else org,
            "severity": severity(event),
            "timestamp": event.occurred_at.isoformat(),
            "group": org,
            "class": event.trigger.slug if event.trigger else "event",
            "custom_details": {"event_id": event.id, **event.data},
        }
        if project:
            body["payload"]["component"] = project
        url = event.data.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            body["links"] = [{"href": url, "text": "Open in Sentry"}]
        body["client"] = "notification-actions"
        return body

    def body(self, event: Event, routing_key: str) -> bytes:
        """The encoded body, at most :data:`MAX_BODY_BYTES`: oversized details become a cut JSON string."""
        payload = self.payload(event, routing_key)
        encoded = orjson.dumps(payload)
        if len(encoded) <= MAX_BODY_BYTES:
            return encoded
        details = payload["payload"]["custom_details"]
        raw = orjson.dumps(details).decode()
        # JSON-in-a-string escapes every quote: leave room for doubling.
        room = (MAX_BODY_BYTES - (len(encoded) - len(raw))) // 2
        payload["payload"]["custom_details"] = {"event_id": event.id, "truncated": True, "data": cut_bytes(raw, room)}
        encoded = orjson.dumps(payload)
        if len(encoded) > MAX_BODY_BYTES:
            raise PermanentDeliveryError(f"pagerduty: event is {len(encoded)} bytes, over the limit", code="too_large")
        return encoded

    async def fire(self, data: Event) -> FireResult:
        """Send the event; raise a classified ``DeliveryError`` on failure."""
        routing_key = require_secret(self, "integration_keys", self.action.target_identifier or "")
        response = await http.send(
            self.context, "POST", self.context.settings.pagerduty_events_url, service=SERVICE.slug,
            redact=(routing_key,), content=self.body(data, routing_key),
            headers={"content-type": "application/json"},
        )
        return FireResult(status=response.status_code, detail=http.body_excerpt(response, redact=(routing_key,)))


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(PagerDutyRegistration, SERVICE)
"""The registered subclass of :class:`PagerDutyRegistration` for each trigger."""
