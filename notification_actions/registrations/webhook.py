"""The ``webhook`` service: POST each event as JSON to a URL, signed with Standard Webhooks.

One implementation, :class:`WebhookRegistration`, registered for every
trigger with target ``specific``. The action's ``target_identifier`` is the
URL; ``integration_id`` is optional and names a ``webhook`` integration whose
``credentials.signing_secret`` (``whsec_<base64>``) signs each request.

The request::

    POST <target_identifier>
    content-type: application/json
    webhook-id: <delivery id>            (the receiver's idempotency key)
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64>       (only with a signing secret)
    user-agent: notification-actions/<version>

    {"type": "audit-log", "delivery_id": "…",
     "action": {"id", "organization_id", "trigger_type", "service_type", "target_display"},
     "event": {<the event envelope>},
     "text": "<the action's template rendered, or a one-line summary>"}
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from notification_actions import __version__
from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem
from notification_actions.models import (
    ActionService,
    ActionTarget,
    ActionTrigger,
    Event,
    Integration,
    NotificationAction,
    problems_from,
)
from notification_actions.registry import ActionInput, ActionRegistration, FireResult

from . import http
from .signing import decode_secret, sign
from .ssrf import check_url, check_url_at_fire
from .text import default_text, render

__all__ = ["REGISTRATIONS", "WebhookRegistration", "WebhookTarget"]

SERVICE = ActionService.WEBHOOK
SECRET_FIELD = "integration.credentials.signing_secret"
USER_AGENT = f"notification-actions/{__version__ or 0}"
_ACTION_FIELDS = {"id", "organization_id", "trigger_type", "service_type", "target_display"}


class WebhookTarget(BaseModel):
    """What a webhook action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(min_length=1, description="HTTPS URL to POST to")


REQUIRES: list[dict[str, str]] = [
    {"name": name, "description": info.description or ""} for name, info in WebhookTarget.model_fields.items()
]


def _integration_problems(action: NotificationAction, integration: Integration | None) -> list[Problem]:
    wanted = action.integration_id
    if integration is None:
        return [Problem("integration_id", f"integration {wanted!r} does not exist")]
    if integration.id != wanted:
        return [Problem("integration_id", f"expected integration {wanted!r}, got {integration.id!r}")]
    if integration.organization_id != action.organization_id:
        return [Problem("integration_id", f"integration {wanted!r} belongs to another organization")]
    if integration.provider != SERVICE.slug:
        kind = f"a {integration.provider!r} integration, not 'webhook'"
        return [Problem("integration_id", f"integration {wanted!r} is {kind}")]
    secret = integration.secret("signing_secret")
    if secret is None:
        return [Problem(SECRET_FIELD, "required: a Standard Webhooks secret 'whsec_<base64>'")]
    try:
        decode_secret(secret)
    except ValueError as exc:  # the message never contains the secret
        return [Problem(SECRET_FIELD, str(exc))]
    return []


class WebhookRegistration(ActionRegistration):
    """POST an event to the action's URL (see the module docstring); registered once per trigger."""

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing or unsafe URL, and an integration that cannot sign for this action."""
        action = data.action
        problems: list[Problem] = []
        try:
            given = {"target_identifier": action.target_identifier} if action.target_identifier is not None else {}
            target = WebhookTarget.model_validate(given)
            check_url(target.target_identifier, data.settings, resolve=False)
        except ValidationError as exc:
            problems.extend(problems_from(exc))
        except InvalidAction as exc:
            problems.extend(exc.problems)
        if action.integration_id is not None:
            problems.extend(_integration_problems(action, data.integration))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """A plain webhook, plus one signed webhook per ``webhook`` integration of ``organization``."""
        entries = [cls._available(None)]
        for integration in integrations or []:
            if integration.organization_id == organization and integration.provider == SERVICE.slug:
                entries.append(cls._available(integration))
        return entries

    @classmethod
    def _available(cls, integration: Integration | None) -> dict[str, Any]:
        return {
            "action": {
                "triggerType": cls.trigger_type.slug,
                "serviceType": cls.service_type.slug,
                "targetType": cls.target_type.slug,
                "integrationId": integration.id if integration else None,
                "integrationName": integration.name if integration else None,
                "targetIdentifier": None,
                "targetDisplay": None,
            },
            "requires": [dict(item) for item in REQUIRES],
        }

    def _signing_secret(self) -> str | None:
        integration = self.context.integration
        secret = integration.secret("signing_secret") if integration is not None else None
        if self.action.integration_id is not None and secret is None:
            # Sending unsigned what the receiver expects signed would be refused there, or worse, accepted.
            raise PermanentDeliveryError(
                f"webhook: integration {self.action.integration_id!r} or its signing secret is missing",
                code="integration_missing",
            )
        return secret

    def payload(self, event: Event, delivery_id: str) -> dict[str, Any]:
        """The JSON body sent for ``event``."""
        event_dict = event.as_dict()
        template = self.action.template
        return {
            "type": self.trigger_type.slug,
            "delivery_id": delivery_id,
            "action": self.action.model_dump(mode="json", include=_ACTION_FIELDS),
            "event": event_dict,
            "text": render(template, event_dict) if template else default_text(event),
        }

    async def fire(self, data: Event) -> FireResult:
        """POST ``data`` to the action's URL; raise a classified ``DeliveryError`` on failure."""
        url = self.action.target_identifier or ""
        settings = self.context.settings
        await check_url_at_fire(url, settings)
        secret = self._signing_secret()
        delivery_id = self.context.delivery_id or f"{data.id}:{self.action.id}"
        body = orjson.dumps(self.payload(data, delivery_id))
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "user-agent": USER_AGENT,
        }
        if secret is not None:
            try:
                headers["webhook-signature"] = sign(secret, delivery_id, timestamp, body)
            except ValueError as exc:
                raise PermanentDeliveryError(f"webhook: {exc}", code="invalid_signing_secret") from None
        redact = (secret,) if secret else ()
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=redact, content=body, headers=headers
        )
        return FireResult(status=response.status_code, detail=http.body_excerpt(response, redact=redact))


def _register(trigger: ActionTrigger) -> type[WebhookRegistration]:
    name = "Webhook" + "".join(part.title() for part in trigger.slug.split("-")) + "Registration"
    cls = type(
        name,
        (WebhookRegistration,),
        {"__module__": __name__, "__doc__": f"The webhook registration for {trigger.slug!r} events."},
    )
    return NotificationAction.register_action(
        trigger_type=trigger.value,
        service_type=SERVICE.value,
        target_type=ActionTarget.SPECIFIC.value,
    )(cls)


REGISTRATIONS: dict[ActionTrigger, type[WebhookRegistration]] = {t: _register(t) for t in ActionTrigger}
"""The registered subclass of :class:`WebhookRegistration` for each trigger."""
