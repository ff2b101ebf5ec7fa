"""The ``opsgenie`` service: create (or close) an Opsgenie alert with the Alerts API.

Registered for every trigger twice: target ``specific`` (the alert goes
wherever the API key's Opsgenie integration routes it; ``target_identifier``
is an optional label) and target ``team`` (``target_identifier`` is a team id
or name listed in the integration's ``metadata.teams`` ``[{"id", "name"}]``,
sent as the alert's responder). The integration holds
``credentials.api_key``.

The request::

    POST {opsgenie_api_url}/v2/alerts
    Authorization: GenieKey <api_key>
    Content-Type: application/json

    {"message": "<≤130>", "alias": "<≤512>", "description": "<≤15,000>",
     "responders": [{"type": "team", "id"|"name": …}],      (target team)
     "tags": [≤20 of ≤50], "details": {<≤8,000 chars in all>},
     "entity": "organization 1 / project 10", "source": "notification-actions",
     "priority": "P1".."P5"}

``alias`` is the delivery id, except for spike protection, whose activation
and deactivation share ``spike-protection:<org>:<project or 'org'>``: a
deactivation closes that alert with
``POST /v2/alerts/{alias}/close?identifierType=alias``. Priority follows an
issue's level (fatal P1, error P2, warning P3, info P4, debug P5), quota and
billing failures are P2, everything else P3.

Answers: 202 is success; 422 (and other 4xx) permanent; 429 and 5xx
retryable — the shared classifier.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from pydantic import BaseModel, Field

from notification_actions.errors import InvalidAction, Problem
from notification_actions.models import ActionService, ActionTarget, ActionTrigger, Event, Integration
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
from notification_actions.registrations.support.limits import cut, units
from notification_actions.registrations.support.text import data_fields, heading, message_text

__all__ = [
    "REGISTRATIONS",
    "TEAM_REGISTRATIONS",
    "OpsgenieRegistration",
    "OpsgenieTarget",
    "OpsgenieTeamRegistration",
    "OpsgenieTeamTarget",
    "priority",
]

SERVICE = ActionService.OPSGENIE
LIMITS = {"message": 130, "alias": 512, "description": 15_000, "tags": 20, "tag": 50, "details": 8_000,
          "entity": 512, "source": 100}
SOURCE = "notification-actions"
_LEVELS = {"fatal": "P1", "error": "P2", "warning": "P3", "info": "P4", "debug": "P5"}


class OpsgenieTarget(BaseModel):
    """What an Opsgenie ``specific`` action must say; ``validate_action`` and ``requires`` come from here."""

    integration_id: str = Field(min_length=1, description="The opsgenie integration holding the API key")
    target_identifier: str | None = Field(
        None, max_length=200, description="A label only: the API key's Opsgenie integration routes the alert"
    )


class OpsgenieTeamTarget(BaseModel):
    """What an Opsgenie ``team`` action must say; ``validate_action`` and ``requires`` come from here."""

    integration_id: str = Field(min_length=1, description="The opsgenie integration holding the API key")
    target_identifier: str = Field(min_length=1, max_length=200, description="Opsgenie team id or name, the responder")


def priority(event: Event) -> str:
    """``P1``..``P5`` for ``event`` (see the module docstring)."""
    data = event.data
    if event.trigger is ActionTrigger.ISSUE_ALERT:
        return _LEVELS.get(str(data.get("level")), "P3")
    if event.trigger is ActionTrigger.QUOTA and data.get("status") == "exceeded":
        return "P2"
    if event.trigger is ActionTrigger.BILLING and str(data.get("kind", "")).endswith("failed"):
        return "P2"
    return "P3"


def details(event: Event) -> dict[str, str]:
    """The event's fields as Opsgenie's string map, at most 8,000 characters in all."""
    out: dict[str, str] = {}
    room = LIMITS["details"]
    for name, value in data_fields(event):
        key = cut(name, 100)
        if units(key) + 2 > room:
            break
        out[key] = cut(value, room - units(key))
        room -= units(key) + units(out[key])
    return out


def tags(event: Event) -> list[str]:
    """Up to 20 tags of at most 50 characters."""
    found = [SOURCE, event.trigger.slug if event.trigger else "event", f"organization:{event.organization_id}"]
    if event.project_id is not None:
        found.append(f"project:{event.project_id}")
    for name in ("level", "status", "category", "kind"):
        if isinstance(event.data.get(name), str):
            found.append(f"{name}:{event.data[name]}")
    return [cut(tag, LIMITS["tag"]) for tag in found][: LIMITS["tags"]]


def _teams(integration: Integration) -> list[dict[str, Any]]:
    teams = integration.metadata.get("teams")
    if not isinstance(teams, list):
        return []
    return [t for t in teams if isinstance(t, dict) and (t.get("id") or t.get("name"))]


def _team(integration: Integration | None, wanted: str) -> dict[str, str] | None:
    """The responder for ``wanted``: by id when it is a listed id, by name when it is a listed name."""
    for team in _teams(integration) if integration is not None else []:
        if team.get("id") is not None and str(team["id"]) == wanted:
            return {"type": "team", "id": wanted}
        if team.get("name") is not None and str(team["name"]).lower() == wanted.lower():
            return {"type": "team", "name": str(team["name"])}
    return None


class OpsgenieRegistration(ActionRegistration):
    """Create (or, for a spike-protection deactivation, close) an Opsgenie alert; target ``specific``."""

    target_model: type[BaseModel] = OpsgenieTarget

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing integration or API key (and, for ``team``, a team the integration does not list)."""
        action, integration = data.action, data.integration
        target, problems = target_problems(cls.target_model, action)
        problems += integration_problems(action, integration, SERVICE, ["api_key"], brief=True)
        wanted = action.target_identifier or ""
        if not problems and cls.target_model is OpsgenieTeamTarget and _team(integration, wanted) is None:
            problems.append(Problem(
                "target_identifier", f"team {wanted!r} is not in integration {action.integration_id!r}'s metadata.teams"
            ))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per ``opsgenie`` integration (with an API key) of ``organization``."""
        return [
            available(cls, cls.target_model, i)
            for i in org_integrations(organization, integrations, SERVICE)
            if i.secret("api_key") is not None
        ]

    def responders(self) -> list[dict[str, str]]:
        """The alert's ``responders``: none for ``specific`` (the API key's integration routes it)."""
        return []

    def alert(self, event: Event, alias: str) -> dict[str, Any]:
        """The create-alert body for ``event``."""
        text = message_text(self.action, event)
        entity = f"organization {event.organization_id}"
        if event.project_id is not None:
            entity += f" / project {event.project_id}"
        body: dict[str, Any] = {
            "message": cut(" ".join(text.split()) or heading(event), LIMITS["message"]),
            "alias": alias,
            "description": cut(text, LIMITS["description"]),
            "tags": tags(event),
            "details": details(event),
            "entity": cut(entity, LIMITS["entity"]),
            "source": SOURCE,
            "priority": priority(event),
        }
        if responders := self.responders():
            body["responders"] = responders
        return body

    async def fire(self, data: Event) -> FireResult:
        """Create or close the alert; raise a classified ``DeliveryError`` on failure."""
        key = require_secret(self, "api_key")
        base = self.context.settings.opsgenie_api_url.rstrip("/") + "/v2/alerts"
        delivery_id = delivery_key(self, data)
        alias, closes = alert_key(data, delivery_id, LIMITS["alias"])
        if closes:
            url = f"{base}/{quote(alias, safe='')}/close?identifierType=alias"
            body = {"source": SOURCE, "note": cut(message_text(self.action, data), LIMITS["description"])}
        else:
            url, body = base, self.alert(data, alias)
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=(key,), content=orjson.dumps(body),
            headers={"authorization": f"GenieKey {key}", "content-type": "application/json"},
        )
        done = "closed" if closes else "created"
        return FireResult(status=response.status_code, detail=f"alert {alias} {done}")


class OpsgenieTeamRegistration(OpsgenieRegistration):
    """Like :class:`OpsgenieRegistration`, with the action's team as the alert's responder; target ``team``."""

    target_model = OpsgenieTeamTarget

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per team listed by each ``opsgenie`` integration (with an API key) of ``organization``."""
        entries = []
        for integration in org_integrations(organization, integrations, SERVICE):
            if integration.secret("api_key") is None:
                continue
            for team in _teams(integration):
                ident = str(team.get("id") or team.get("name"))
                entries.append(available(cls, OpsgenieTeamTarget, integration, ident, team.get("name") or ident))
        return entries

    def responders(self) -> list[dict[str, str]]:
        """The action's team, by id or by name as the integration lists it."""
        wanted = self.action.target_identifier or ""
        # An action validated earlier may name a team the integration has since dropped: send it by name.
        return [_team(self.context.integration, wanted) or {"type": "team", "name": wanted}]


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(OpsgenieRegistration, SERVICE)
"""The registered subclass of :class:`OpsgenieRegistration` for each trigger (target ``specific``)."""
TEAM_REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(
    OpsgenieTeamRegistration, SERVICE, ActionTarget.TEAM
)
"""The registered subclass of :class:`OpsgenieTeamRegistration` for each trigger (target ``team``)."""
