"""``notification-actions test-fire ACTION_ID [--event FILE]``: fire one action now.

Uses the action, integration and directory as the workers hold them, the
given event or a sample for the action's trigger, and the registration's own
``fire()``. No dedup, no table writes, nothing on any topic: only the service
sees it (so a real message is sent — that is the point). An integration of
another organization than the action's is refused (``models/checks.same_organization``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass


from notification_actions import registrations  # noqa: F401  (registers every service)
from notification_actions.errors import ConfigError, DeliveryError
from notification_actions.registrations.support.transport import new_client
from notification_actions.models import NotificationAction, decode_event, example_event
from notification_actions.models.directory import Directory
from notification_actions.models.integration import Integration
from notification_actions.models.checks import same_organization
from notification_actions.registrations.base import REGISTRY, FireContext
from notification_actions.settings import Settings
from notification_actions.tables.state import load_state
from notification_actions.streams.firing import outcome_text

__all__ = ["TestFireResult", "fire_once", "test_fire"]


@dataclass
class TestFireResult:
    ok: bool
    latency_ms: float
    status: int | None
    detail: str
    error_class: str | None = None
    code: str | None = None
    delivery_id: str = ""


async def test_fire(settings: Settings, action_id: str, event_json: bytes | None = None) -> TestFireResult:
    """Fire ``action_id`` as the workers hold it (read from their tables' changelogs)."""
    state = await load_state(settings, actions=True, integrations=True, directories=True)
    action = state.actions.get(action_id)
    if action is None:
        raise ConfigError(f"action {action_id!r} is not held by the workers (never applied, refused, or deleted)")
    return await fire_once(settings, action, state.integrations.get(action.integration_id or ""),
                           state.directories.get(action.organization_id), event_json)


async def fire_once(settings: Settings, action: NotificationAction, integration: Integration | None,
                    directory: Directory | None, event_json: bytes | None = None) -> TestFireResult:
    """Fire ``action`` once with ``event_json`` (a sample for its trigger when None); what the service said.

    Raises ``InvalidEvent`` for an event that is refused, ``ConfigError`` for an integration of
    another organization."""
    if event_json is not None:
        event = decode_event(event_json, topic_trigger=action.trigger_type, max_bytes=settings.max_event_bytes)
    else:
        event = example_event(action.trigger_type, organization_id=action.organization_id,
                              project_id=action.projects[0] if action.projects else None)
    if integration is not None and not same_organization(action, integration):
        raise ConfigError(
            f"action {action.id!r} belongs to organization {action.organization_id}, but its integration "
            f"{integration.id!r} belongs to organization {integration.organization_id}: not firing with another "
            "organization's credentials"
        )
    registration = REGISTRY.get(action.trigger_type, action.service_type, action.target_type)
    started = time.monotonic()
    # The worker's client, under the worker's SSRF policy.
    async with new_client(timeout=settings.http_timeout_seconds, max_connections=4, settings=settings) as http:
        context = FireContext(settings=settings, http=http, integration=integration, directory=directory,
                              delivery_id=f"test-fire:{uuid.uuid4().hex[:12]}")
        try:
            result = await registration(action, context).fire(event)
        except DeliveryError as exc:
            return TestFireResult(False, (time.monotonic() - started) * 1000, exc.status,
                                  outcome_text(str(exc), integration), type(exc).__name__, exc.code, context.delivery_id)
    return TestFireResult(True, (time.monotonic() - started) * 1000, result.status if result else None,
                          outcome_text(result.detail, integration) if result else "", delivery_id=context.delivery_id)
