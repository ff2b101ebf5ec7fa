"""One fire of one delivery: its integration resolved, its registration's ``fire()`` bounded, its outcome.

:class:`Firing` owns what every fire shares — the HTTP client, the bound of
``max_in_flight`` fires at once — and turns a delivery into one
:class:`~notification_actions.streams.retry.Attempt`, never raising: a
registration's error, its bug or its time-out is the attempt's ``error``.
Credentials never travel in deliveries: the integration is looked up here,
and one of another organization than the action's is refused
(``code="integration_other_organization"``) before its credentials go
anywhere. :meth:`Firing.outcome` is the record of one attempt, with every
credential of its integration masked (:func:`redact`). What follows an
attempt (retry, park, dead-letter) is ``dispatch.py``'s and ``retry.py``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from notification_actions.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.logs import context
from notification_actions.metrics import DETACHED, Metrics
from notification_actions.models import Integration
from notification_actions.models.checks import same_organization
from notification_actions.models.delivery import Delivery, Outcome
from notification_actions.registrations.base import FireContext, FireResult, Registry
from notification_actions.registrations.support.transport import new_client
from notification_actions.settings import Settings
from notification_actions.streams.retry import Attempt
from notification_actions.tables.directory import DirectoryTable
from notification_actions.tables.integrations import IntegrationsTable

log = logging.getLogger(__name__)

#: what an outcome keeps of an attempt's ``detail`` and ``error``, in characters: the endpoint chooses
#: both (Jira's issue key, an error's body excerpt), and an outcome too large for the broker stops the worker
OUTCOME_TEXT_CHARS = 1000

__all__ = ["Firing", "OUTCOME_TEXT_CHARS", "ids", "last_error", "outcome_text", "redact"]


def redact(text: str, integration: Integration | None) -> str:
    """``text`` with every credential of ``integration`` masked (defence in depth:
    registrations already keep secrets out of their errors)."""
    if not text or integration is None:
        return text
    for secret in _secret_values(integration):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "**********")
    return text


def _secret_values(integration: Integration) -> list[str]:
    out = []
    for value in integration.credentials.values():
        if isinstance(value, dict):
            out += [v.get_secret_value() for v in value.values()]
        else:
            out.append(value.get_secret_value())
    return out


def outcome_text(text: str, integration: Integration | None) -> str:
    """``text`` as an outcome keeps it: credentials masked, then at most :data:`OUTCOME_TEXT_CHARS`."""
    return redact(text, integration)[:OUTCOME_TEXT_CHARS]


def last_error(attempt: Attempt) -> str:
    """What a delivery carries of its last failed attempt (credentials masked)."""
    error = attempt.error
    return f"{type(error).__name__}: {redact(str(error), attempt.integration)}"[:500]


def ids(delivery: Delivery) -> dict:
    """The log context of ``delivery``: its organization, action and dedup key."""
    return context(
        organization_id=delivery.action.organization_id, action_id=delivery.action.id, delivery_id=delivery.dedup_key
    )


class Firing:
    metrics: Metrics = DETACHED

    def __init__(
        self, settings: Settings, registry: Registry, integrations: IntegrationsTable, directory: DirectoryTable
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.integrations = integrations
        self.directory = directory
        self._http: httpx.AsyncClient | None = None
        self._firing: asyncio.Semaphore | None = None

    def open(self) -> None:
        """Make the HTTP client and the bound of fires at once (in the agent's event loop), once."""
        if self._http is None:
            self._firing = asyncio.Semaphore(self.settings.max_in_flight)
            self._http = new_client(
                timeout=self.settings.http_timeout_seconds, max_connections=self.settings.max_in_flight * 2,
                settings=self.settings,
            )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __call__(self, delivery: Delivery) -> Attempt:
        """Fire once. Never raises: a failure is the attempt's ``error``."""
        action = delivery.action
        started = time.monotonic()
        integration = None
        result: FireResult | None = None
        error: Exception | None = None
        try:
            registration = self.registry.get(action.trigger_type, action.service_type, action.target_type)
            if action.integration_id:
                integration = self.integrations.get(action.integration_id)
                if integration is None:
                    raise PermanentDeliveryError(
                        f"integration {action.integration_id!r} not found", code="integration_not_found"
                    )
                if not same_organization(action, integration):
                    self._refuse_other_organization(delivery, integration)
                    integration = None  # its credentials go nowhere, not even into the attempt
                    raise PermanentDeliveryError(
                        f"integration {action.integration_id!r} belongs to another organization",
                        code="integration_other_organization",
                    )
            context = FireContext(
                settings=self.settings,
                http=self._http,
                integration=integration,
                directory=self.directory.get(action.organization_id),
                delivery_id=delivery.dedup_key,
            )
            assert self._firing is not None
            async with self._firing:
                result = await asyncio.wait_for(
                    registration(action, context).fire(delivery.event),
                    timeout=self.settings.http_timeout_seconds * 2,
                )
        except asyncio.TimeoutError:
            error = RetryableDeliveryError("fire() timed out", code="timeout")
        except Exception as exc:  # a registration bug is still an outcome, never a crash
            error = exc
            if not isinstance(exc, DeliveryError):
                log.error("registration raised %s for action %s", type(exc).__name__, action.id, extra=ids(delivery))
        return Attempt(result, error, (time.monotonic() - started) * 1000, integration)

    def _refuse_other_organization(self, delivery: Delivery, integration: Integration) -> None:
        self.metrics.cross_organization_refused.labels(delivery.action.service_type.slug).inc()
        log.error("delivery %s refused: action %s of organization %s names integration %s of organization %s",
                  delivery.dedup_key, delivery.action.id, delivery.action.organization_id, integration.id,
                  integration.organization_id, extra=ids(delivery))

    def outcome(self, delivery: Delivery, result: str, attempt: Attempt) -> Outcome:
        """The record of ``attempt`` (credentials masked)."""
        action = delivery.action
        base = dict(
            dedup_key=delivery.dedup_key,
            action_id=action.id,
            organization_id=action.organization_id,
            trigger=action.trigger_type.slug,
            service=action.service_type.slug,
            target=action.target_type.slug,
            result=result,
            attempt=delivery.attempt,
            latency_ms=round(attempt.latency_ms, 3),
            at=time.time(),
        )
        fired, error, integration = attempt.result, attempt.error, attempt.integration
        if error is None:
            return Outcome(
                status=fired.status if fired else None,
                detail=outcome_text(fired.detail, integration) if fired else "",
                **base,
            )
        return Outcome(
            status=getattr(error, "status", None),
            error_class=type(error).__name__,
            error=outcome_text(str(error), integration) or type(error).__name__,
            code=getattr(error, "code", None) if isinstance(error, DeliveryError) else None,
            **base,
        )
