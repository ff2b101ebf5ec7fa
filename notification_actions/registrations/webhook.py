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

from typing import Any

import orjson
from pydantic import BaseModel, Field

from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem
from notification_actions.models import ActionService, ActionTrigger, Event, Integration, NotificationAction
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult

from notification_actions.registrations.support import http, signing
from notification_actions.registrations.support.common import (
    available,
    delivery_key,
    integration_problems,
    org_integrations,
    register_all,
    target_problems,
    url_problems,
    url_secrets,
)
from notification_actions.registrations.support.text import message_text
from notification_actions.registrations.support.signing import decode_secret
from notification_actions.registrations.support.ssrf import check_url_at_fire

__all__ = ["REGISTRATIONS", "WebhookRegistration", "WebhookTarget"]

SERVICE = ActionService.WEBHOOK
SECRET_FIELD = "integration.credentials.signing_secret"
_ACTION_FIELDS = {"id", "organization_id", "trigger_type", "service_type", "target_display"}


class WebhookTarget(BaseModel):
    """What a webhook action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(min_length=1, description="HTTPS URL to POST to")


def _integration_problems(action: NotificationAction, integration: Integration | None) -> list[Problem]:
    problems = integration_problems(action, integration, SERVICE)
    if problems or integration is None:
        return problems
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
        target, problems = target_problems(WebhookTarget, action)
        if target is not None:
            problems += url_problems(target.target_identifier, data.settings, "target_identifier")
        if action.integration_id is not None:
            problems.extend(_integration_problems(action, data.integration))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """A plain webhook, plus one signed webhook per ``webhook`` integration of ``organization``."""
        return [
            available(cls, WebhookTarget, integration)
            for integration in [None, *org_integrations(organization, integrations, SERVICE)]
        ]

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
        return {
            "type": self.trigger_type.slug,
            "delivery_id": delivery_id,
            "action": self.action.model_dump(mode="json", include=_ACTION_FIELDS),
            "event": event.as_dict(),
            "text": message_text(self.action, event),
        }

    async def fire(self, data: Event) -> FireResult:
        """POST ``data`` to the action's URL; raise a classified ``DeliveryError`` on failure."""
        url = self.action.target_identifier or ""
        settings = self.context.settings
        await check_url_at_fire(url, settings)
        secret = self._signing_secret()
        delivery_id = delivery_key(self, data)
        body = orjson.dumps(self.payload(data, delivery_id))
        headers = {
            "content-type": "application/json",
            **signing.headers(secret, delivery_id, body, service=SERVICE.slug),
            "user-agent": http.USER_AGENT,
        }
        # The URL is the tenant's credential: a receiver echoing one of its path segments is blanked too.
        redact = (*url_secrets(url), *((secret,) if secret else ()))
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=redact, content=body, headers=headers
        )
        return FireResult(status=response.status_code, detail=http.body_excerpt(response, redact=redact))


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(WebhookRegistration, SERVICE)
"""The registered subclass of :class:`WebhookRegistration` for each trigger."""
