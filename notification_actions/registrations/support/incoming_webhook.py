"""Services reached through an incoming-webhook URL that is itself the secret (Discord, Teams).

The URL lives in the integration's ``credentials.webhook_url``; the action's
``target_identifier`` is only a label for the channel.
:class:`IncomingWebhookRegistration` holds what such services share: the
checks of ``validate_action`` (the SSRF guard, without DNS, at validation),
one ``serialize_available`` entry per integration, and :meth:`~IncomingWebhookRegistration.post`,
which runs the SSRF guard again (resolving the host) before every request and
keeps the URL and its tokens out of every error.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from notification_actions.errors import InvalidAction
from notification_actions.models import Integration
from notification_actions.registrations.base import ActionInput, ActionRegistration

from notification_actions.registrations.support import http
from notification_actions.registrations.support.common import (
    available,
    integration_problems,
    org_integrations,
    require_secret,
    target_problems,
    url_problems,
    url_secrets,
)
from notification_actions.registrations.support.ssrf import check_url_at_fire

__all__ = ["URL_FIELD", "IncomingWebhookRegistration"]

URL_FIELD = "integration.credentials.webhook_url"


class IncomingWebhookRegistration(ActionRegistration):
    """Base of a registration that posts JSON to its integration's secret webhook URL.

    A subclass sets :attr:`target_model` and builds the body.
    """

    target_model: ClassVar[type[BaseModel]]

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing label or integration, and a webhook URL the SSRF guard refuses."""
        action, integration = data.action, data.integration
        _, problems = target_problems(cls.target_model, action)
        problems += integration_problems(action, integration, cls.service_type, ["webhook_url"], brief=True)
        url = integration.secret("webhook_url") if integration is not None and not problems else None
        if url is not None:
            problems += url_problems(url, data.settings, URL_FIELD)
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per integration of ``organization`` for this service with a webhook URL."""
        entries = []
        for integration in org_integrations(organization, integrations, cls.service_type):
            if integration.secret("webhook_url") is None:
                continue
            label = integration.metadata.get("channel")
            label = label if isinstance(label, str) and label else None
            entries.append(available(cls, cls.target_model, integration, label, label))
        return entries

    async def post(self, content: bytes) -> httpx.Response:
        """POST ``content`` (JSON) to the webhook URL; a classified ``DeliveryError`` on failure."""
        url = require_secret(self, "webhook_url")
        await check_url_at_fire(url, self.context.settings)
        return await http.send(
            self.context, "POST", url, service=self.service_type.slug, redact=url_secrets(url),
            content=content, headers={"content-type": "application/json"},
        )
