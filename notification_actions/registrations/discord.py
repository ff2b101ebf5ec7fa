"""The ``discord`` service: post an embed to a Discord channel webhook.

Registered for every trigger with target ``specific``. The webhook URL
(``https://discord.com/api/webhooks/{id}/{token}``) is itself the secret: it
lives in a ``discord`` integration's ``credentials.webhook_url`` and is checked
against the SSRF guard before every request. The action's
``target_identifier`` is only a label for the channel.

The request::

    POST <credentials.webhook_url>
    Content-Type: application/json

    {"embeds": [{"title", "description", "url"?, "timestamp", "color",
                 "fields": [{"name", "value", "inline"}], "footer": {"text"}}],
     "allowed_mentions": {"parse": []}}

``allowed_mentions`` is always sent, so no text from an event can ping
``@everyone``. Every embed limit is respected (title 256, description 4,096,
25 fields of 256/1,024, footer 2,048, 6,000 in total).

Answers: 204 (or 200) is success; 429 is retryable after the JSON body's
``retry_after`` (or ``Retry-After``); 404 means the webhook was deleted
(Discord code 10015): permanent, ``code="unknown_webhook"``. Other statuses
go through the shared classifier.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field

from notification_actions.errors import PermanentDeliveryError
from notification_actions.models import ActionService, ActionTrigger, Event
from notification_actions.registrations.base import ActionRegistration, FireResult

from notification_actions.registrations.support import http
from notification_actions.registrations.support.common import register_all
from notification_actions.registrations.support.limits import cut, units
from notification_actions.registrations.support.text import data_fields, heading, message_text
from notification_actions.registrations.support.incoming_webhook import IncomingWebhookRegistration

__all__ = ["LIMITS", "REGISTRATIONS", "DiscordRegistration", "DiscordTarget", "embed"]

SERVICE = ActionService.DISCORD
LIMITS = {"title": 256, "description": 4096, "fields": 25, "field_name": 256, "field_value": 1024,
          "footer": 2048, "total": 6000}
MAX_FIELDS = 10  # fewer than Discord's 25: a card, not a dump of the event
COLORS = {"fatal": 0x8B0000, "error": 0xE03E2F, "warning": 0xF2C744, "info": 0x2F80ED, "debug": 0x9E9E9E}
DEFAULT_COLOR = 0x6C5FC7


class DiscordTarget(BaseModel):
    """What a Discord action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(min_length=1, max_length=200, description="A label for the channel, e.g. #alerts")
    integration_id: str = Field(min_length=1, description="The discord integration holding the webhook URL")


def _color(event: Event) -> int:
    level = event.data.get("level") or ("warning" if event.data.get("status") in ("activated", "exceeded") else None)
    return COLORS.get(str(level), DEFAULT_COLOR)


def embed(event: Event, text: str) -> dict[str, Any]:
    """One embed for ``event`` with ``text`` as its description, within every embed limit."""
    fields = [
        {"name": cut(name, LIMITS["field_name"]), "value": cut(value or "-", LIMITS["field_value"]), "inline": True}
        for name, value in data_fields(event)[:MAX_FIELDS]
    ]
    out: dict[str, Any] = {
        "title": cut(heading(event), LIMITS["title"]),
        "timestamp": event.occurred_at.isoformat(),
        "color": _color(event),
        "fields": fields,
        "footer": {"text": cut(f"notification-actions · event {event.id}", LIMITS["footer"])},
    }
    url = event.data.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        out["url"] = url
    used = units(out["title"]) + units(out["footer"]["text"])
    used += sum(units(f["name"]) + units(f["value"]) for f in fields)
    out["description"] = cut(text or "-", max(1, min(LIMITS["description"], LIMITS["total"] - used)))
    return out


class DiscordRegistration(IncomingWebhookRegistration):
    """Post an event to a Discord channel webhook; registered once per trigger."""

    target_model = DiscordTarget

    def payload(self, event: Event) -> dict[str, Any]:
        """The webhook body for ``event``."""
        return {"embeds": [embed(event, message_text(self.action, event))], "allowed_mentions": {"parse": []}}

    async def fire(self, data: Event) -> FireResult:
        """Post the embed; raise a classified ``DeliveryError`` on failure (never showing the URL)."""
        try:
            response = await self.post(orjson.dumps(self.payload(data)))
        except PermanentDeliveryError as exc:
            if exc.status == 404:
                # A webhook URL answers 404 only when the webhook is gone (Discord code 10015).
                raise PermanentDeliveryError(exc.message, code="unknown_webhook", status=404) from exc
            raise
        return FireResult(status=response.status_code, detail=f"posted to {self.action.target_identifier}",
                          wait_after=http.bucket_empty_for(response))


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(DiscordRegistration, SERVICE)
"""The registered subclass of :class:`DiscordRegistration` for each trigger."""
