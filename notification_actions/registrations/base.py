"""Registrations: one ``ActionRegistration`` subclass per (trigger, service, target).

As in the seed, a registration registers itself with a decorator::

    @NotificationAction.register_action(
        trigger_type=ActionTrigger.AUDIT_LOG.value,
        service_type=ActionService.SLACK.value,
        target_type=ActionTarget.SPECIFIC.value,
    )
    class SlackAuditLogRegistration(ActionRegistration):
        async def fire(self, data: Event) -> FireResult | None: ...

The registry that holds them (``models/registry.py``) recognises a
registration by two marks set here: ``_is_action_registration`` on the class
and ``_not_overridden`` on the base ``fire``. ``REGISTRY``, ``Registry``,
``Triple`` and ``ActionInput`` are re-exported for registrations' convenience.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from notification_actions.models.action import NotificationAction
from notification_actions.models.checks import ActionInput
from notification_actions.models.directory import Directory
from notification_actions.models.enums import ActionService, ActionTarget, ActionTrigger
from notification_actions.models.event import Event
from notification_actions.models.integration import Integration
from notification_actions.models.registry import REGISTRY, Registry, Triple
from notification_actions.settings import Settings

__all__ = [
    "REGISTRY",
    "ActionInput",
    "ActionRegistration",
    "FireContext",
    "FireResult",
    "Registry",
    "Triple",
]


@dataclass(frozen=True)
class FireContext:
    """What ``fire()`` may use; the pipeline builds one per delivery.

    ``delivery_id`` is the dedup key (event id × action id); services that
    take an idempotency key get this one.
    """

    settings: Settings
    http: httpx.AsyncClient
    integration: Integration | None = None
    directory: Directory | None = None
    delivery_id: str = ""


@dataclass(frozen=True)
class FireResult:
    """What the service answered, when ``fire()`` has something to say: never secrets."""

    status: int | None = None
    detail: str = ""
    #: the service said its rate-limit bucket is empty: the next delivery to
    #: this target should wait this many seconds (the pipeline paces it).
    wait_after: float | None = None


class ActionRegistration:
    """Base class of registrations: one subclass per (trigger, service, target).

    The decorator sets the class attributes ``trigger_type``, ``service_type``
    and ``target_type``. ``fire()`` must be overridden with an ``async def``;
    it talks to its service once and raises ``errors.DeliveryError``
    subclasses on failure (retries belong to the pipeline).
    """

    trigger_type: ClassVar[ActionTrigger]
    service_type: ClassVar[ActionService]
    target_type: ClassVar[ActionTarget]
    #: ``(count, seconds)``: at most ``count`` deliveries per ``seconds`` to one
    #: target; the pipeline spaces deliveries to stay under it (they wait, never fail).
    rate_limit: ClassVar[tuple[int, float] | None] = None
    #: how ``models/registry.py`` tells a registration class from any other class
    _is_action_registration: ClassVar[bool] = True

    def __init__(self, action: NotificationAction, context: FireContext) -> None:
        self.action = action
        self.context = context

    async def fire(self, data: Event) -> FireResult | None:
        """Send the notification for ``data``; return what the service answered, or None."""
        raise NotImplementedError

    fire._not_overridden = True  # type: ignore[attr-defined]  # the registry refuses a class without its own fire()

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse an action by raising ``errors.InvalidAction``; the default accepts all."""

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """Sentry's ``{"action": {...}, "requires": [...]}`` items for this organization."""
        return []


