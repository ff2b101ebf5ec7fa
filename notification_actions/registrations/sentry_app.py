"""The ``sentry_app`` service: a Standard-Webhooks-signed POST to an installed app's webhook URL.

Target ``sentry_app``; the action names the app's integration (provider
``sentry_app``), which holds the URL and the signing secret::

    {"id": "21", "organization_id": 1, "provider": "sentry_app", "name": "Acme Triage Bot",
     "credentials": {"client_secret": "whsec_<base64>"},
     "metadata": {"webhook_url": "https://triage.acme.io/hooks/sentry", "sentry_app_id": "acme-triage"}}

The request (signed like the ``webhook`` service: ``webhook-id`` = delivery
id, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``), in the shape
of Sentry's app webhooks::

    {"action": "<trigger slug>", "installation": {"uuid": "<integration id>"},
     "actor": {"type": "application", "id": "notification-actions", "name": "Notification Actions"},
     "data": {"notification_action": {"id", "organization_id", "trigger_type"},
              "event": {<envelope>}, "title": "…", "text": "…"}}

The URL is the customer's: it passes the SSRF guard at validation and again
before each request. 2xx is success; classification is the shared one.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem
from notification_actions.models import ActionService, ActionTarget, ActionTrigger, Event, HttpUrlStr, Integration, StrId
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult

from notification_actions.registrations.support import http, signing
from notification_actions.registrations.support.common import (
    available,
    configured,
    delivery_key,
    integration_metadata,
    integration_problems,
    register_all,
    target_problems,
    url_problems,
    url_secrets,
)
from notification_actions.registrations.support.text import compose
from notification_actions.registrations.support.signing import decode_secret
from notification_actions.registrations.support.ssrf import check_url_at_fire

__all__ = ["REGISTRATIONS", "SentryAppMetadata", "SentryAppRegistration", "SentryAppTarget"]

SERVICE = ActionService.SENTRY_APP
SECRET = "client_secret"


class SentryAppMetadata(BaseModel):
    """``metadata`` of a ``sentry_app`` integration."""

    webhook_url: HttpUrlStr = Field(description="Where the app receives its webhooks")
    sentry_app_id: StrId | None = Field(None, description="The app's id (slug)")


class SentryAppTarget(BaseModel):
    """What a sentry_app action may say: ``validate_action`` and ``requires`` both come from here."""

    sentry_app_id: StrId | None = Field(None, description="The app's id; must match the integration's")


def _secret_problems(integration: Integration) -> list[Problem]:
    secret = integration.secret(SECRET)
    if secret is None:
        return []  # integration_problems already reported it
    try:
        decode_secret(secret)
    except ValueError as exc:  # the message never contains the secret
        return [Problem(f"integration.credentials.{SECRET}", str(exc))]
    return []


class SentryAppRegistration(ActionRegistration):
    """POST the event to the app's webhook URL, signed (see the module docstring); one subclass per trigger."""

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing or unusable app integration, an unsafe URL, or another app's id."""
        action, integration = data.action, data.integration
        _, problems = target_problems(SentryAppTarget, action)
        if problems:
            raise InvalidAction(problems)
        problems = integration_problems(action, integration, SERVICE, (SECRET,))
        if integration is not None and not any(p.field == "integration_id" for p in problems):
            problems += _secret_problems(integration)
            meta, invalid = integration_metadata(SentryAppMetadata, integration)
            problems += invalid
            if meta is not None:
                problems += url_problems(meta.webhook_url, data.settings, "integration.metadata.webhook_url")
                wanted = action.sentry_app_id
                if wanted and meta.sentry_app_id and wanted != meta.sentry_app_id:
                    problems.append(Problem("sentry_app_id", f"the integration is app {meta.sentry_app_id!r}, not {wanted!r}"))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per usable ``sentry_app`` integration of ``organization``."""
        return [
            available(
                cls, SentryAppTarget, integration, meta.sentry_app_id or integration.id,
                integration.name or meta.sentry_app_id or integration.id,
            )
            for integration, meta in configured(organization, integrations, SERVICE, (SECRET,), SentryAppMetadata)
            if not _secret_problems(integration)
        ]

    def payload(self, event: Event, integration: Integration) -> dict[str, Any]:
        """The JSON body sent for ``event``."""
        composed = compose(self.action, event)
        return {
            "action": self.trigger_type.slug,
            "installation": {"uuid": integration.id},
            "actor": {"type": "application", "id": "notification-actions", "name": "Notification Actions"},
            "data": {
                "notification_action": {
                    "id": self.action.id,
                    "organization_id": self.action.organization_id,
                    "trigger_type": self.trigger_type.slug,
                },
                "event": event.as_dict(),
                "title": composed.title,
                "text": composed.text,
            },
        }

    def _integration(self) -> tuple[Integration, str, str]:
        integration = self.context.integration
        secret = integration.secret(SECRET) if integration is not None and integration.provider == SERVICE.slug else None
        if integration is None or secret is None:
            raise PermanentDeliveryError(
                "sentry_app: the action's integration or its client_secret is missing", code="integration_missing"
            )
        try:
            return integration, secret, SentryAppMetadata.model_validate(integration.metadata).webhook_url
        except ValidationError:
            raise PermanentDeliveryError("sentry_app: the integration's webhook_url is invalid", code="invalid_integration") from None

    async def fire(self, data: Event) -> FireResult:
        """POST the signed event to the app; raise a classified ``DeliveryError`` on failure."""
        integration, secret, url = self._integration()
        await check_url_at_fire(url, self.context.settings)
        delivery_id = delivery_key(self, data)
        body = orjson.dumps(self.payload(data, integration))
        headers = {
            "content-type": "application/json",
            **signing.headers(secret, delivery_id, body, service=SERVICE.slug),
            "user-agent": http.USER_AGENT,
        }
        redact = (secret, *url_secrets(url))  # the app's URL may carry a token as a webhook's does
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=redact, content=body, headers=headers
        )
        return FireResult(status=response.status_code, detail=http.body_excerpt(response, redact=redact))


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(
    SentryAppRegistration, SERVICE, ActionTarget.SENTRY_APP, name="{service}{trigger}Registration"
)
"""The registered subclass of :class:`SentryAppRegistration` for each trigger."""
