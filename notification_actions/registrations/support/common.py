"""Pieces shared by the registrations; this module registers nothing.

Text limits are in ``limits.py``, what a notification says in ``text.py``.

- **Integration-backed actions.** The action's own pydantic target model
  (:func:`target_problems`, :func:`requires`), the checks of its integration
  (:func:`integration_problems`, :func:`integration_metadata`,
  :func:`require_secret`), the organization's integrations
  (:func:`org_integrations`, :func:`configured`), Sentry-shaped
  ``serialize_available`` entries (:func:`available`), a customer's URL
  against the SSRF guard (:func:`url_problems`, :func:`url_secrets`), and
  one subclass per trigger (:func:`register_all`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

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
from notification_actions.registrations.base import ActionRegistration

from notification_actions.registrations.support.ssrf import check_url

__all__ = [
    "alert_key",
    "available",
    "configured",
    "delivery_key",
    "integration_metadata",
    "integration_problems",
    "org_integrations",
    "register",
    "register_all",
    "require_secret",
    "requires",
    "target_problems",
    "url_problems",
    "url_secrets",
]

# PagerDuty and Opsgenie keys are bounded (255 / 512); the alias/dedup key must stay whole.
_HASH_PREFIX = "sha256:"
M = TypeVar("M", bound=BaseModel)


def delivery_key(registration: ActionRegistration, event: Event) -> str:
    """The delivery's id (the dedup key), or ``<event id>:<action id>`` when fired outside the pipeline."""
    return registration.context.delivery_id or f"{event.id}:{registration.action.id}"


def alert_key(event: Event, delivery_id: str, limit: int) -> tuple[str, bool]:
    """``(key, resolves)``: a stable incident key for the event, and whether the event ends it.

    Spike protection's activation and deactivation share
    ``spike-protection:<org>:<project or 'org'>``, so the deactivation
    resolves what the activation opened; every other event is its own
    incident, keyed by its delivery id. A key over ``limit`` is hashed: cut,
    two long keys could collide.
    """
    resolves = False
    key = delivery_id
    if event.trigger is ActionTrigger.SPIKE_PROTECTION:
        project = event.data.get("project_id")
        project = project if project is not None else event.project_id
        key = f"spike-protection:{event.organization_id}:{project if project is not None else 'org'}"
        resolves = event.data.get("status") == "deactivated"
    if len(key.encode()) > limit:
        key = _HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()
    return key, resolves


# --- integration-backed actions ---------------------------------------------------


def target_problems(model: type[M], action: NotificationAction) -> tuple[M | None, list[Problem]]:
    """Validate the action's fields named by ``model``; ``(target, [])`` or ``(None, problems)``."""
    given = {name: getattr(action, name) for name in model.model_fields if getattr(action, name, None) is not None}
    try:
        return model.model_validate(given), []
    except ValidationError as exc:
        return None, problems_from(exc)


def integration_problems(
    action: NotificationAction,
    integration: Integration | None,
    service: ActionService,
    credentials: Iterable[str] = (),
    *,
    brief: bool = False,
) -> list[Problem]:
    """Problems with the action's integration: absent, foreign, another provider, a credential missing.

    A missing credential is ``integration.credentials.<name>: required``; no
    message holds a credential's value. ``brief=True`` is the chat services'
    form (their target models require ``integration_id``, so a missing one is
    left to them): another integration's id reads "does not exist", the
    provider mismatch is worded more shortly, and a credential set to ``""``
    counts as set.
    """
    wanted = action.integration_id
    if wanted is None:
        return [] if brief else [Problem("integration_id", f"required: the id of a {service.slug!r} integration")]
    if integration is None or (brief and integration.id != wanted):
        return [Problem("integration_id", f"integration {wanted!r} does not exist")]
    if integration.id != wanted:
        return [Problem("integration_id", f"expected integration {wanted!r}, got {integration.id!r}")]
    if integration.organization_id != action.organization_id:
        return [Problem("integration_id", f"integration {wanted!r} belongs to another organization")]
    if integration.provider != service.slug:
        kind = f"{integration.provider!r}" if brief else f"a {integration.provider!r} integration"
        return [Problem("integration_id", f"integration {wanted!r} is {kind}, not {service.slug!r}")]
    missing = [
        name for name in credentials
        if (integration.secret(name) is None if brief else not integration.secret(name))
    ]
    return [Problem(f"integration.credentials.{name}", "required") for name in missing]


def integration_metadata(model: type[M], integration: Integration) -> tuple[M | None, list[Problem]]:
    """The integration's ``metadata`` as ``model``: ``(metadata, [])``, or ``(None, problems)`` under ``integration.metadata``."""
    try:
        return model.model_validate(integration.metadata), []
    except ValidationError as exc:
        return None, problems_from(exc, prefix="integration.metadata")


def require_secret(registration: ActionRegistration, name: str, sub: str | None = None) -> str:
    """The revealed credential for a ``fire()``, or a permanent ``integration_missing`` error."""
    integration = registration.context.integration
    value = integration.secret(name, sub) if integration is not None else None
    if value is None:
        service = registration.service_type.slug
        which = f"{name}[{sub!r}]" if sub else name
        raise PermanentDeliveryError(
            f"{service}: integration {registration.action.integration_id!r} or its credential {which} is missing",
            code="integration_missing",
        )
    return value


def url_problems(url: str, settings: Any, field: str) -> list[Problem]:
    """What the SSRF guard (without DNS) has against ``url``, reported under ``field``.

    The guard's messages name scheme and host only, so a secret URL stays out of them.
    """
    try:
        check_url(url, settings, resolve=False)
    except InvalidAction as exc:
        return [Problem(field, p.message) for p in exc.problems]
    return []


@lru_cache(maxsize=1024)
def url_secrets(url: str) -> tuple[str, ...]:
    """What to redact for a secret URL: the URL, its token-like path segments and its query values.

    The shared classifier already blanks the URL and its path; a service may
    echo just the token (Discord's path segment, Teams' ``sig``) back. Kept for
    the last 1,024 URLs (a target's every delivery asks again; ~40 µs a parse; URLs are at most
    2,048 characters, so at most a few MB).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return (url,)
    segments = [seg for seg in parsed.path.split("/") if len(seg) >= 16]
    values = [value for _, value in parsed.params.multi_items() if len(value) >= 8]
    return (url, *segments, *values)


def requires(model: type[BaseModel], filled: Iterable[str] = ()) -> list[dict[str, str]]:
    """``[{"name", "description"}]`` for the target model's required fields an entry leaves to the user."""
    skip = set(filled)
    return [
        {"name": name, "description": info.description or ""}
        for name, info in model.model_fields.items()
        if name not in skip and info.is_required()
    ]


def org_integrations(
    organization: int, integrations: list[Integration] | None, service: ActionService
) -> list[Integration]:
    """The integrations of ``organization`` (only) whose provider is ``service``."""
    return [i for i in integrations or [] if i.organization_id == organization and i.provider == service.slug]


def configured(
    organization: int,
    integrations: list[Integration] | None,
    service: ActionService,
    credentials: Iterable[str],
    metadata: type[M],
) -> Iterator[tuple[Integration, M]]:
    """``(integration, metadata)`` for each usable ``service`` integration of ``organization``.

    Usable: every one of ``credentials`` set (not empty), and ``metadata`` valid.
    """
    names = tuple(credentials)
    for integration in org_integrations(organization, integrations, service):
        if any(not integration.secret(name) for name in names):
            continue
        meta, _ = integration_metadata(metadata, integration)
        if meta is not None:
            yield integration, meta


def available(
    cls: type[ActionRegistration],
    model: type[BaseModel],
    integration: Integration | None = None,
    target_identifier: str | None = None,
    target_display: str | None = None,
) -> dict[str, Any]:
    """One Sentry-shaped entry: the action pre-filled for ``integration`` (if any) and a known target."""
    filled = (["integration_id"] if integration is not None else []) + (
        ["target_identifier"] if target_identifier is not None else []
    )
    return {
        "action": {
            "triggerType": cls.trigger_type.slug,
            "serviceType": cls.service_type.slug,
            "targetType": cls.target_type.slug,
            "integrationId": integration.id if integration is not None else None,
            "integrationName": integration.name if integration is not None else None,
            "targetIdentifier": target_identifier,
            "targetDisplay": target_display,
        },
        "requires": requires(model, filled),
    }


def _words(slug: str) -> str:
    return "".join(word.title() for word in re.split(r"[-_]", slug))


def register(
    impl: type[ActionRegistration],
    service: ActionService,
    trigger: ActionTrigger,
    target: ActionTarget = ActionTarget.SPECIFIC,
    *,
    name: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> type[ActionRegistration]:
    """Create and register ``impl``'s subclass for one (trigger, service, target).

    ``name`` is the class name's pattern, with ``{service}``, ``{trigger}`` and
    ``{target}`` in CamelCase; by default ``{service}{trigger}Registration``,
    plus ``{target}`` before ``Registration`` when the target is not ``specific``.
    ``attrs`` go into the subclass's body (e.g. its ``target_model``).
    """
    if name is None:
        name = "{service}{trigger}" + ("" if target is ActionTarget.SPECIFIC else "{target}") + "Registration"
    body = {
        "__module__": impl.__module__,
        "__doc__": f"The {service.slug} registration for {trigger.slug!r} events, target {target.slug!r}.",
        **(attrs or {}),
    }
    cls = type(name.format(service=_words(service.slug), trigger=_words(trigger.slug), target=_words(target.slug)),
               (impl,), body)
    return NotificationAction.register_action(
        trigger_type=trigger.value, service_type=service.value, target_type=target.value
    )(cls)


def register_all(
    impl: type[ActionRegistration],
    service: ActionService,
    target: ActionTarget = ActionTarget.SPECIFIC,
    *,
    name: str | None = None,
) -> dict[ActionTrigger, type[ActionRegistration]]:
    """Register one subclass of ``impl`` per trigger for (``service``, ``target``); see :func:`register`."""
    return {trigger: register(impl, service, trigger, target, name=name) for trigger in ActionTrigger}
