"""Pieces shared by the vendor registrations (Slack, Teams, Discord, PagerDuty, Opsgenie).

Two concerns, both small:

- **Limits.** Vendors count characters the way JavaScript does, in UTF-16
  code units; Python counts code points, which is never more. :func:`cut`
  measures in UTF-16 units, so a cut text fits under either count, never
  splits a surrogate pair, and ends with "…". :func:`fit_json` shortens one
  text of a JSON body until the encoded body fits a byte limit.
- **Integration-backed actions.** The checks every such action shares
  (:func:`integration_problems`), the action's own pydantic target model
  (:func:`target_problems`, :func:`requires`), Sentry-shaped
  ``serialize_available`` entries (:func:`available`), and one subclass per
  trigger (:func:`register_all`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from notification_actions.errors import PermanentDeliveryError, Problem
from notification_actions.models import (
    ActionService,
    ActionTarget,
    ActionTrigger,
    Event,
    Integration,
    NotificationAction,
    problems_from,
)
from notification_actions.registry import ActionRegistration

from .text import default_text, render

__all__ = [
    "ELLIPSIS",
    "alert_key",
    "available",
    "cut",
    "cut_bytes",
    "data_fields",
    "fit_json",
    "heading",
    "integration_problems",
    "message_text",
    "org_integrations",
    "register_all",
    "require_secret",
    "requires",
    "target_problems",
    "units",
    "url_secrets",
]

ELLIPSIS = "…"
# PagerDuty and Opsgenie keys are bounded (255 / 512); the alias/dedup key must stay whole.
_HASH_PREFIX = "sha256:"


# --- limits ------------------------------------------------------------------


def units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (JavaScript's ``length``)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits ``limit`` UTF-16 units; else its longest whole-character prefix plus "…"."""
    if len(text) <= limit // 2 or units(text) <= limit:
        return text
    if limit < 1:
        return ""
    budget, used = limit - 1, 0
    end = 0
    for end, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
    return text[:end] + ELLIPSIS


def cut_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (whole characters, "…" included)."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    if room < 0:
        return ""
    return raw[:room].decode("utf-8", "ignore") + ELLIPSIS


def fit_json(build: Callable[[str], Any], text: str, max_bytes: int, *, service: str) -> bytes:
    """``orjson.dumps(build(text))``, with ``text`` cut until the body is at most ``max_bytes``.

    Escaping makes the text's JSON form longer than its UTF-8 form, so each
    round keeps the share of the text that the room left for it allows, and
    at least one byte less than before. A body that cannot fit even with an
    empty ``text`` is a :class:`PermanentDeliveryError` (``code="too_large"``).
    """
    body = orjson.dumps(build(text))
    while len(body) > max_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size == 0:
            raise PermanentDeliveryError(
                f"{service}: the message is {len(body)} bytes without its text; the limit is {max_bytes}",
                code="too_large",
            )
        encoded = len(orjson.dumps(text)) - 2
        room = max_bytes - (len(body) - encoded)
        keep = min(size - 1, size * max(room, 0) // max(encoded, 1))
        text = cut_bytes(text, max(keep, 0))
        body = orjson.dumps(build(text))
    return body


# --- what a message says ------------------------------------------------------


def message_text(action: NotificationAction, event: Event) -> str:
    """The action's ``template`` rendered over ``event``, or the trigger's one-line summary."""
    return render(action.template, event.as_dict()) if action.template else default_text(event)


def heading(event: Event) -> str:
    """A short title: the trigger in words, e.g. ``Spike protection``."""
    slug = event.trigger.slug if event.trigger is not None else "event"
    return slug.replace("-", " ").capitalize()


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def data_fields(event: Event) -> list[tuple[str, str]]:
    """The event's identity and its ``data``'s top-level fields, as text, in a stable order."""
    fields = [("trigger", heading(event)), ("organization", str(event.organization_id))]
    if event.project_id is not None:
        fields.append(("project", str(event.project_id)))
    fields += [(str(k), _as_text(v)) for k, v in event.data.items() if v is not None and v != {} and v != []]
    fields.append(("event id", event.id))
    return fields


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


def target_problems(model: type[BaseModel], action: NotificationAction) -> tuple[BaseModel | None, list[Problem]]:
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
    secrets: Iterable[tuple[str, str | None]] = (),
) -> list[Problem]:
    """Problems with the action's integration: absent, foreign, another provider, a secret missing."""
    wanted = action.integration_id
    if wanted is None:
        return []  # the target model reports a missing integration_id
    if integration is None or integration.id != wanted:
        return [Problem("integration_id", f"integration {wanted!r} does not exist")]
    if integration.organization_id != action.organization_id:
        return [Problem("integration_id", f"integration {wanted!r} belongs to another organization")]
    if integration.provider != service.slug:
        return [Problem("integration_id", f"integration {wanted!r} is {integration.provider!r}, not {service.slug!r}")]
    problems = []
    for name, sub in secrets:
        if integration.secret(name, sub) is None:
            path = f"integration.credentials.{name}" + (f".{sub}" if sub else "")
            problems.append(Problem(path, "required"))
    return problems


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


def available(
    cls: type[ActionRegistration],
    model: type[BaseModel],
    integration: Integration,
    target_identifier: str | None = None,
    target_display: str | None = None,
) -> dict[str, Any]:
    """One Sentry-shaped entry: the action pre-filled for ``integration`` (and a known target)."""
    filled = ["integration_id"] + (["target_identifier"] if target_identifier is not None else [])
    return {
        "action": {
            "triggerType": cls.trigger_type.slug,
            "serviceType": cls.service_type.slug,
            "targetType": cls.target_type.slug,
            "integrationId": integration.id,
            "integrationName": integration.name,
            "targetIdentifier": target_identifier,
            "targetDisplay": target_display,
        },
        "requires": requires(model, filled),
    }


def url_secrets(url: str) -> tuple[str, ...]:
    """What to redact for a secret URL: the URL, its token-like path segments and its query values.

    The shared classifier already blanks the URL and its path; a service may
    echo just the token (Discord's path segment, Teams' ``sig``) back.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return (url,)
    segments = [seg for seg in parsed.path.split("/") if len(seg) >= 16]
    values = [value for _, value in parsed.params.multi_items() if len(value) >= 8]
    return (url, *segments, *values)


def register_all(
    impl: type[ActionRegistration], service: ActionService, target: ActionTarget = ActionTarget.SPECIFIC
) -> dict[ActionTrigger, type[ActionRegistration]]:
    """Register one subclass of ``impl`` per trigger for (``service``, ``target``)."""
    out = {}
    for trigger in ActionTrigger:
        words = [service.slug.title(), *(p.title() for p in trigger.slug.split("-"))]
        if target is not ActionTarget.SPECIFIC:
            words.append(target.slug.title())
        cls = type(
            "".join(words) + "Registration",
            (impl,),
            {
                "__module__": impl.__module__,
                "__doc__": f"The {service.slug} registration for {trigger.slug!r} events, target {target.slug!r}.",
            },
        )
        out[trigger] = NotificationAction.register_action(
            trigger_type=trigger.value, service_type=service.value, target_type=target.value
        )(cls)
    return out
