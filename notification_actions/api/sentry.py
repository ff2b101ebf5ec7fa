"""Sentry's notification-actions request and response shapes (``../shared/SENTRY_API.md``).

:func:`action_from_request` turns a create/update body into a
:class:`NotificationAction` or raises a 400 whose body is keyed by field
(camelCase), each a list of messages — Sentry's order: the fields, then
what spans fields, then the registration's ``validate_action()``.
:func:`serialize` is the response body (slugs for the enums; an id of
digits is a JSON number, any other id a string).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic.alias_generators import to_camel

from notification_actions.errors import InvalidAction, Problem
from notification_actions.models import ActionService, ActionTarget, ActionTrigger, NotificationAction
from notification_actions.models.checks import check_action
from notification_actions.models.directory import Directory
from notification_actions.models.integration import Integration
from notification_actions.models.registry import Registry
from notification_actions.models.validation import parse_record
from notification_actions.settings import Settings

from notification_actions.api.http import ApiError

__all__ = ["action_from_request", "camel", "id_json", "serialize"]

# The request's fields: Sentry's, then ours (``enabled``, ``conditions``, ``throttle``, ``template``).
FIELDS = ("trigger_type", "service_type", "target_type", "integration_id", "sentry_app_id", "target_identifier",
          "target_display", "projects", "enabled", "conditions", "throttle", "template")
# Sent back by a client that PUTs what it GOT: accepted when they agree with the URL.
ECHOED = ("id", "organization_id")
ENUMS = {"trigger_type": (ActionTrigger, "trigger"), "service_type": (ActionService, "service"),
         "target_type": (ActionTarget, "target")}
UNREGISTERED = "Combination of trigger_type, service_type and target_type has not been registered."
NO_INTEGRATION = "Integration does not exist, or is not installed"


def camel(field: str) -> str:
    """A problem's dotted snake_case field as the API names it: its first part camelCased."""
    head, dot, rest = field.partition(".")
    return to_camel(head) + dot + rest if head else "nonFieldErrors"


def id_json(value: str | None) -> int | str | None:
    """An id as JSON: digits only → a number (as Sentry's), anything else (``"a-1001"``) → a string.

    A number is one only below 2⁵³ (what every JSON client reads exactly) and without a leading zero
    (``"007"`` is text): it must read back as the same id."""
    if value and value.isascii() and value.isdigit() and len(value) <= 16 and not (len(value) > 1 and value[0] == "0"):
        if (number := int(value)) < 2**53:
            return number
    return value


def serialize(action: NotificationAction) -> dict[str, Any]:
    return {
        "id": id_json(action.id),
        "organizationId": action.organization_id,
        "integrationId": id_json(action.integration_id),
        "sentryAppId": id_json(action.sentry_app_id),
        "projects": list(action.projects),
        "serviceType": action.service_type.slug,
        "triggerType": action.trigger_type.slug,
        "targetType": action.target_type.slug,
        "targetIdentifier": action.target_identifier,
        "targetDisplay": action.target_display,
        "enabled": action.enabled,
        "conditions": [c.model_dump(mode="json", by_alias=True) for c in action.conditions],
        "throttle": action.throttle.model_dump(mode="json", by_alias=True) if action.throttle else None,
        "template": action.template,
    }


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = defaultdict(list)

    def add(self, field: str, message: str) -> None:
        self.by_field[field].append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ApiError(400, dict(self.by_field))


def _fields(body: Any, errors: _Errors) -> dict[str, Any]:
    """The body's fields under their snake_case names; collisions and unknown fields are errors."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, {"nonFieldErrors": ["Expected a JSON object."]})
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in body.items():
        snake = next((f for f in FIELDS + ECHOED if key in (f, to_camel(f))), None)
        if snake is None:
            errors.add(str(key)[:100], "Unknown field.")
            continue
        if snake in spelled:
            errors.add(to_camel(snake), f"'{key}' collides with '{spelled[snake]}': send one spelling of the key")
            continue
        spelled[snake] = key
        out[snake] = value
    return out


def _check_enums(fields: dict[str, Any], errors: _Errors) -> None:
    for name in ("service_type", "trigger_type"):
        if fields.get(name) is None:
            errors.add(to_camel(name), "This field is required.")
    fields.setdefault("target_type", "specific")
    for name, (enum, noun) in ENUMS.items():
        value = fields.get(name)
        if value is None:
            continue
        try:
            fields[name] = enum.parse(value).slug
        except (ValueError, TypeError):
            choices = ", ".join(f"'{s}'" for s in enum.slugs())
            errors.add(to_camel(name), f"Invalid {noun} selected. Choose from {choices}.")


Checks = Callable[[Callable[[], None]], Awaitable[None]]
"""Runs ``check_action`` (a registration's ``validate_action()`` may block on its service) off the event loop."""


async def action_from_request(
    body: Any,
    *,
    action_id: str,
    organization_id: int,
    registry: Registry,
    integrations: Any,
    directory: Directory | None,
    settings: Settings,
    run_check: Checks,
) -> NotificationAction:
    """The action a create (new ``action_id``) or full-replacement update describes, checked as a worker
    would check it; a 400 keyed by field otherwise."""
    errors = _Errors()
    fields = _fields(body, errors)
    for name, expected in (("id", action_id), ("organization_id", organization_id)):
        if name in fields and str(fields.pop(name)) != str(expected):
            errors.add(to_camel(name), f"does not match the URL ({expected})")
    _check_enums(fields, errors)
    errors.raise_if_any()

    try:
        action = parse_record(NotificationAction, {**fields, "id": action_id, "organization_id": organization_id})
    except InvalidAction as exc:
        _add_problems(errors, exc.problems, fields)
        errors.raise_if_any()
        raise  # unreachable: a refusal has problems
    integration = integrations.get(action.integration_id) if action.integration_id else None
    if registry.find(action.trigger_type, action.service_type, action.target_type) is None:
        errors.add("nonFieldErrors", UNREGISTERED)
    elif action.integration_id and (integration is None or integration.organization_id != organization_id):
        errors.add("integrationId", NO_INTEGRATION)
    if action.service_type == ActionService.SENTRY_APP and not action.sentry_app_id:
        errors.add("sentryAppId", "Service type of 'sentry_app' requires providing a sentry app id")
    errors.raise_if_any()
    try:
        await run_check(functools.partial(check_action, action, registry=registry, integration=integration,
                                          directory=directory, settings=settings))
    except InvalidAction as exc:
        _add_problems(errors, exc.problems, fields)
    errors.raise_if_any()
    return _displayed(action, integration)


def _add_problems(errors: _Errors, problems: list[Problem], fields: dict[str, Any]) -> None:
    for problem in problems:
        field, message = problem.field, problem.message
        root = field.split(".", 1)[0]
        if root == "integration_id" and fields.get("integration_id") is None:
            service = fields.get("service_type")
            message = f"Service type of '{service}' requires providing an active integration id"
        elif root == "integration_id" and ("does not exist" in message or "another organization" in message):
            message = NO_INTEGRATION
        elif root == "integration":  # the integration record lacks something: said under integrationId
            field, message = "integration_id", f"{field.removeprefix('integration.')}: {message}"
        elif (root == "target_identifier" and fields.get("service_type") == "pagerduty"
              and fields.get("target_identifier") is None):
            message = "Did not recieve PagerDuty service id"  # Sentry's spelling, which its clients match
        errors.add(camel(field), message)


def _displayed(action: NotificationAction, integration: Integration | None) -> NotificationAction:
    """PagerDuty: the server sets ``targetDisplay`` to the service's name, as Sentry does."""
    if action.service_type != ActionService.PAGERDUTY or integration is None:
        return action
    for service in (integration.metadata or {}).get("services") or []:
        if isinstance(service, dict) and str(service.get("id")) == action.target_identifier:
            name = service.get("name")
            if isinstance(name, str) and name:
                return action.model_copy(update={"target_display": name[:500]})
    return action
