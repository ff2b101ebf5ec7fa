"""The checks an action must pass beyond its model, in one place.

Used by the config agent before applying an action and by the command line
before publishing one, so ``actions put`` refuses exactly what a worker would.
:func:`same_organization` is also checked at fire time and by ``test-fire``.
"""

from __future__ import annotations

from dataclasses import dataclass

from notification_actions.errors import InvalidAction
from notification_actions.models.action import NotificationAction
from notification_actions.models.directory import Directory
from notification_actions.models.integration import Integration
from notification_actions.models.registry import Registry
from notification_actions.settings import Settings

__all__ = ["ActionInput", "check_action", "same_organization"]


@dataclass(frozen=True)
class ActionInput:
    """What ``validate_action()`` gets: the action and what it refers to."""

    action: NotificationAction
    integration: Integration | None
    directory: Directory | None
    settings: Settings


def same_organization(action: NotificationAction, integration: Integration) -> bool:
    """Whether ``action`` may use ``integration``'s credentials: only an integration of its own organization.

    The one rule, checked where an action is applied (:func:`check_action`) and
    again wherever credentials are used (``streams/dispatch.py``'s ``fire``,
    ``ops/testfire.py``): integration ids are global, and a record re-published
    under the same id for another organization must not reach actions applied before.
    """
    return integration.organization_id == action.organization_id


def check_action(
    action: NotificationAction,
    *,
    registry: Registry,
    integration: Integration | None,
    directory: Directory | None,
    settings: Settings,
) -> None:
    """Raise ``InvalidAction`` naming the field unless ``action`` can be applied.

    ``integration`` is the record ``action.integration_id`` names, or ``None``
    when it names none or it was not found.
    """
    registration = registry.find(action.trigger_type, action.service_type, action.target_type)
    if registration is None:
        raise InvalidAction(
            f"no registration for trigger {action.trigger_type.slug!r}, service "
            f"{action.service_type.slug!r}, target {action.target_type.slug!r}",
            field="service_type",
        )
    if action.integration_id:
        if integration is None:
            raise InvalidAction(f"integration {action.integration_id!r} not found", field="integration_id")
        if not same_organization(action, integration):
            raise InvalidAction(
                f"integration {action.integration_id!r} belongs to another organization", field="integration_id"
            )
    registration.validate_action(
        ActionInput(action=action, integration=integration, directory=directory, settings=settings)
    )
