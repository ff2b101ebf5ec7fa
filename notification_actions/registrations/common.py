"""Pieces shared by the registrations; this module registers nothing.

- **Limits.** Services count characters the way JavaScript and Java do, in
  UTF-16 code units; Python counts code points, which is never more.
  :func:`cut` measures in UTF-16 units, so a cut text fits under either
  count, never splits a surrogate pair, and ends with "…". :func:`cut_bytes`
  cuts to a UTF-8 size, :func:`fit_json` shortens one text of a JSON body
  until the encoded body fits a byte limit, and :func:`one_line` flattens a
  text for a title.
- **What a notification says.** :func:`message_text` (the action's
  ``template`` rendered over the event, or the trigger's summary),
  :func:`heading` and :func:`data_fields` for the chat services;
  :func:`compose` (title, text, details, link) for the email and ticket
  services, which lay the parts out in their own formats. :func:`alert_key`
  is the incident key PagerDuty and Opsgenie share.
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
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
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
from notification_actions.registry import ActionRegistration

from .ssrf import check_url
from .text import default_text, render

__all__ = [
    "ELLIPSIS",
    "Composed",
    "alert_key",
    "available",
    "compose",
    "configured",
    "cut",
    "cut_bytes",
    "data_fields",
    "delivery_key",
    "fit_json",
    "heading",
    "integration_metadata",
    "integration_problems",
    "message_text",
    "one_line",
    "org_integrations",
    "register",
    "register_all",
    "require_secret",
    "requires",
    "target_problems",
    "units",
    "url_problems",
    "url_secrets",
]

ELLIPSIS = "…"
# PagerDuty and Opsgenie keys are bounded (255 / 512); the alias/dedup key must stay whole.
_HASH_PREFIX = "sha256:"
_WHITESPACE = re.compile(r"\s+")
M = TypeVar("M", bound=BaseModel)


# --- limits ------------------------------------------------------------------


def units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (JavaScript's ``length``, Java's ``length()``)."""
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


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (CR/LF included) becomes one space, control characters go."""
    cleaned = "".join(c if unicodedata.category(c) != "Cc" else " " for c in text)
    return _WHITESPACE.sub(" ", cleaned).strip()


# --- what a notification says --------------------------------------------------


def message_text(action: NotificationAction, event: Event) -> str:
    """The action's ``template`` rendered over ``event``, or the trigger's one-line summary."""
    return render(action.template, event.as_dict()) if action.template else default_text(event)


def heading(event: Event) -> str:
    """A short title: the trigger in words, e.g. ``Spike protection``."""
    slug = event.trigger.slug if event.trigger is not None else "event"
    return slug.replace("-", " ").capitalize()


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
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


@dataclass(frozen=True)
class Composed:
    """A notification's parts: ``title`` is one line (uncut), ``text`` may span lines."""

    title: str
    text: str
    details: list[tuple[str, str]]
    url: str | None


def compose(action: NotificationAction, event: Event) -> Composed:
    """The title, text, details and link of ``event`` as ``action`` words it.

    With a ``template`` the text is the rendered template and the title its
    first non-empty line; without, both are the trigger's default summary.
    """
    envelope = event.as_dict()
    if action.template:
        text = render(action.template, envelope).strip()
        first = next((line for line in text.splitlines() if line.strip()), "")
        title = one_line(first) or one_line(default_text(event))
    else:
        text = default_text(event)
        title = one_line(text)
    details = [("Trigger", _as_text(envelope.get("trigger"))), ("Organization", _as_text(event.organization_id))]
    if event.project_id is not None:
        details.append(("Project", _as_text(event.project_id)))
    details.append(("Occurred at", _as_text(envelope.get("occurred_at"))))
    url = event.data.get("url")
    link = url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
    shown = {"url"} if link else set()  # the link is laid out on its own
    details.extend(
        (str(key), _as_text(value)) for key, value in sorted(event.data.items()) if value is not None and key not in shown
    )
    return Composed(title=title, text=text or title, details=details, url=link)


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
