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

from notification_actions.models import ActionService, ActionTrigger, Event
from notification_actions.registrations.base import ActionRegistration, FireResult

from notification_actions.registrations.support.common import register_all
from notification_actions.registrations.support.limits import cut, fit_json
from notification_actions.registrations.support.text import data_fields, heading, message_text
from notification_actions.registrations.support.incoming_webhook import IncomingWebhookRegistration

__all__ = ["MAX_BODY_BYTES", "REGISTRATIONS", "TeamsRegistration", "TeamsTarget", "card"]

SERVICE = ActionService.MSTEAMS
MAX_BODY_BYTES = 28_000  # Workflows answers 413 to bodies over ~28 KB
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


class TeamsRegistration(IncomingWebhookRegistration):
    """Post an event to a Teams channel through a Workflows webhook; registered once per trigger."""

    target_model = TeamsTarget

    def body(self, event: Event) -> bytes:
        """The encoded request body, at most :data:`MAX_BODY_BYTES`."""
        return fit_json(lambda text: card(event, text), message_text(self.action, event), MAX_BODY_BYTES,
                        service=SERVICE.slug)

    async def fire(self, data: Event) -> FireResult:
        """Post the card; raise a classified ``DeliveryError`` on failure (never showing the URL)."""
        response = await self.post(self.body(data))
        return FireResult(status=response.status_code, detail=f"posted to {self.action.target_identifier}")


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(TeamsRegistration, SERVICE)
"""The registered subclass of :class:`TeamsRegistration` for each trigger."""
