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
    HttpUrlStr,
    Integration,
    NotificationAction,
    StrId,
    problems_from,
)
from notification_actions.registry import ActionInput, ActionRegistration, FireResult

from . import http
from .common import compose, integration_problems, requires_of
from .signing import decode_secret, sign
from .ssrf import check_url, check_url_at_fire

__all__ = ["REGISTRATIONS", "SentryAppMetadata", "SentryAppRegistration", "SentryAppTarget"]

SERVICE = ActionService.SENTRY_APP
USER_AGENT = f"notification-actions/{__version__ or 0}"
SECRET = "client_secret"


class SentryAppMetadata(BaseModel):
    """``metadata`` of a ``sentry_app`` integration."""

    webhook_url: HttpUrlStr = Field(description="Where the app receives its webhooks")
    sentry_app_id: StrId | None = Field(None, description="The app's id (slug)")


class SentryAppTarget(BaseModel):
    """What a sentry_app action may say: ``validate_action`` and ``requires`` both come from here."""

    sentry_app_id: StrId | None = Field(None, description="The app's id; must match the integration's")


def _metadata(integration: Integration) -> SentryAppMetadata:
    return SentryAppMetadata.model_validate(integration.metadata)


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
        try:
            SentryAppTarget.model_validate({"sentry_app_id": action.sentry_app_id})
        except ValidationError as exc:
            raise InvalidAction(problems_from(exc)) from None
        problems = integration_problems(action, integration, SERVICE.slug, (SECRET,))
        if integration is not None and not any(p.field == "integration_id" for p in problems):
            problems += _secret_problems(integration)
            try:
                meta = _metadata(integration)
            except ValidationError as exc:
                problems += problems_from(exc, prefix="integration.metadata")
            else:
                try:
                    check_url(meta.webhook_url, data.settings, resolve=False)
                except InvalidAction as exc:
                    problems += [Problem("integration.metadata.webhook_url", p.message) for p in exc.problems]
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
        entries = []
        for integration in integrations or []:
            if integration.organization_id != organization or integration.provider != SERVICE.slug:
                continue
            if not integration.secret(SECRET) or _secret_problems(integration):
                continue
            try:
                meta = _metadata(integration)
            except ValidationError:
                continue
            action = {
                "triggerType": cls.trigger_type.slug,
                "serviceType": cls.service_type.slug,
                "targetType": cls.target_type.slug,
                "integrationId": integration.id,
                "integrationName": integration.name,
                "targetIdentifier": meta.sentry_app_id or integration.id,
                "targetDisplay": integration.name or meta.sentry_app_id or integration.id,
            }
            entries.append({"action": action, "requires": requires_of(SentryAppTarget, filled=("sentry_app_id",))})
        return entries

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
            return integration, secret, _metadata(integration).webhook_url
        except ValidationError:
            raise PermanentDeliveryError("sentry_app: the integration's webhook_url is invalid", code="invalid_integration") from None

    async def fire(self, data: Event) -> FireResult:
        """POST the signed event to the app; raise a classified ``DeliveryError`` on failure."""
        integration, secret, url = self._integration()
        await check_url_at_fire(url, self.context.settings)
        delivery_id = self.context.delivery_id or f"{data.id}:{self.action.id}"
        body = orjson.dumps(self.payload(data, integration))
        timestamp = int(time.time())
        try:
            signature = sign(secret, delivery_id, timestamp, body)
        except ValueError as exc:
            raise PermanentDeliveryError(f"sentry_app: {exc}", code="invalid_signing_secret") from None
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
            "user-agent": USER_AGENT,
        }
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=(secret,), content=body, headers=headers
        )
        return FireResult(status=response.status_code, detail=http.body_excerpt(response, redact=(secret,)))


def _register(trigger: ActionTrigger) -> type[SentryAppRegistration]:
    name = "SentryApp" + "".join(part.title() for part in trigger.slug.split("-")) + "Registration"
    doc = f"The sentry_app registration for {trigger.slug!r} events."
    cls = type(name, (SentryAppRegistration,), {"__module__": __name__, "__doc__": doc})
    return NotificationAction.register_action(
        trigger_type=trigger.value, service_type=SERVICE.value, target_type=ActionTarget.SENTRY_APP.value
    )(cls)


REGISTRATIONS: dict[ActionTrigger, type[SentryAppRegistration]] = {t: _register(t) for t in ActionTrigger}
"""The registered subclass of :class:`SentryAppRegistration` for each trigger."""
