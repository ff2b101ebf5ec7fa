"""The ``msteams`` service: post an Adaptive Card to a Teams Workflows webhook.

Registered for every trigger with target ``specific``. The Workflows URL
("When a Teams webhook request is received") is signed and opaque: it is a
secret, kept in an ``msteams`` integration's ``credentials.webhook_url`` and
checked against the SSRF guard before every request. The action's
``target_identifier`` is only a label for the channel the flow posts to.

The request (exactly the envelope Workflows expects; a bare ``{"text"}``
fails inside the flow)::

    POST <credentials.webhook_url>
    Content-Type: application/json

    {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard", "version": "1.4",
                    "body": [<TextBlock title>, <TextBlock text>, <TextBlock context>]}}]}

The body is kept under 28,000 bytes by cutting the text (larger bodies get
413). Any 2xx is success (202, some flows 200); card errors surface in the
flow run, not here. Other statuses go through the shared classifier.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from notification_actions.errors import InvalidAction, Problem
from notification_actions.models import ActionService, ActionTrigger, Event, Integration
from notification_actions.registry import ActionInput, ActionRegistration, FireResult

from . import http
from .ssrf import check_url, check_url_at_fire
from .vendor import (
    available,
    cut,
    data_fields,
    fit_json,
    heading,
    integration_problems,
    message_text,
    org_integrations,
    register_all,
    require_secret,
    target_problems,
    url_secrets,
)

__all__ = ["MAX_BODY_BYTES", "REGISTRATIONS", "TeamsRegistration", "TeamsTarget", "card"]

SERVICE = ActionService.MSTEAMS
MAX_BODY_BYTES = 28_000  # Workflows answers 413 to bodies over ~28 KB
URL_FIELD = "integration.credentials.webhook_url"
CONTEXT_LIMIT = 1_000


class TeamsTarget(BaseModel):
    """What a Teams action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(
        min_length=1, max_length=200, description="A label for the channel the workflow posts to, e.g. Ops / Alerts"
    )
    integration_id: str = Field(min_length=1, description="The msteams integration holding the Workflows URL")


def card(event: Event, text: str) -> dict[str, Any]:
    """The Workflows message envelope around an Adaptive Card showing ``text``."""
    context = " · ".join(f"{name}: {value}" for name, value in data_fields(event)[:4])
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": heading(event), "wrap": True, "weight": "Bolder",
                         "size": "Medium"},
                        {"type": "TextBlock", "text": text, "wrap": True},
                        {"type": "TextBlock", "text": cut(context, CONTEXT_LIMIT), "wrap": True, "isSubtle": True,
                         "size": "Small"},
                    ],
                },
            }
        ],
    }


class TeamsRegistration(ActionRegistration):
    """Post an event to a Teams channel through a Workflows webhook; registered once per trigger."""

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing label or integration, and a Workflows URL the SSRF guard refuses."""
        action, integration = data.action, data.integration
        _, problems = target_problems(TeamsTarget, action)
        problems += integration_problems(action, integration, SERVICE, [("webhook_url", None)])
        url = integration.secret("webhook_url") if integration is not None and not problems else None
        if url is not None:
            try:
                check_url(url, data.settings, resolve=False)
            except InvalidAction as exc:  # its messages name scheme and host only
                problems += [Problem(URL_FIELD, p.message) for p in exc.problems]
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per ``msteams`` integration of ``organization`` with a Workflows URL."""
        entries = []
        for integration in org_integrations(organization, integrations, SERVICE):
            if integration.secret("webhook_url") is None:
                continue
            label = integration.metadata.get("channel")
            label = label if isinstance(label, str) and label else None
            entries.append(available(cls, TeamsTarget, integration, label, label))
        return entries

    def body(self, event: Event) -> bytes:
        """The encoded request body, at most :data:`MAX_BODY_BYTES`."""
        return fit_json(lambda text: card(event, text), message_text(self.action, event), MAX_BODY_BYTES,
                        service=SERVICE.slug)

    async def fire(self, data: Event) -> FireResult:
        """Post the card; raise a classified ``DeliveryError`` on failure (never showing the URL)."""
        url = require_secret(self, "webhook_url")
        await check_url_at_fire(url, self.context.settings)
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=url_secrets(url),
            content=self.body(data), headers={"content-type": "application/json"},
        )
        return FireResult(status=response.status_code, detail=f"posted to {self.action.target_identifier}")


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(TeamsRegistration, SERVICE)
"""The registered subclass of :class:`TeamsRegistration` for each trigger."""
