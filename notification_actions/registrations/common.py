"""Pieces shared by the email, sentry_notification, Jira, GitHub and sentry_app registrations.

What a notification says: each of these services needs a one-line ``title``
(subject, summary, issue title), the message ``text`` (the action's
``template`` rendered over the event, or the trigger's default summary) and
the event's ``details`` as label/value pairs — :func:`compose`. Each service
lays them out in its own format and cuts them to its own limits with
:func:`cut` and :func:`one_line`.

What an integration must be: :func:`integration_problems` checks that an
action's integration exists, is the organization's, has the right provider
and holds the named credentials; :func:`requires_of` turns a registration's
target model into ``serialize_available``'s ``requires``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from pydantic import BaseModel

from notification_actions.errors import Problem
from notification_actions.models import Event, Integration, NotificationAction

from .text import default_text, render

__all__ = ["ELLIPSIS", "Composed", "compose", "cut", "integration_problems", "one_line", "requires_of", "units"]

ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (CR/LF included) becomes one space, control characters go."""
    cleaned = "".join(c if unicodedata.category(c) != "Cc" else " " for c in text)
    return _WHITESPACE.sub(" ", cleaned).strip()


def units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units: how Jira (Java) counts, and never less than GitHub does."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` UTF-16 units, else its start and ``…`` within ``limit``.

    Cuts between code points, so a surrogate pair (an emoji) is never split.
    """
    if len(text) <= limit // 2 or units(text) <= limit:
        return text
    budget, count = limit - len(ELLIPSIS), 0
    for index, char in enumerate(text):
        count += 2 if ord(char) > 0xFFFF else 1
        if count > budget:
            return text[:index] + ELLIPSIS
    return text  # unreachable: the text was longer than the limit


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


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
    details = [("Trigger", _value(envelope.get("trigger"))), ("Organization", _value(event.organization_id))]
    if event.project_id is not None:
        details.append(("Project", _value(event.project_id)))
    details.append(("Occurred at", _value(envelope.get("occurred_at"))))
    url = event.data.get("url")
    link = url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
    shown = {"url"} if link else set()  # the link is laid out on its own
    details.extend(
        (str(key), _value(value)) for key, value in sorted(event.data.items()) if value is not None and key not in shown
    )
    return Composed(title=title, text=text or title, details=details, url=link)


def requires_of(model: type[BaseModel], *, filled: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """``serialize_available``'s ``requires``: ``model``'s fields (except ``filled``) and their descriptions."""
    return [
        {"name": name, "description": info.description or ""}
        for name, info in model.model_fields.items()
        if name not in filled
    ]


def integration_problems(
    action: NotificationAction,
    integration: Integration | None,
    provider: str,
    credentials: tuple[str, ...] = (),
) -> list[Problem]:
    """What is wrong with ``action``'s integration for a service that needs a ``provider`` one.

    Missing credentials are reported as ``integration.credentials.<name>``;
    messages never contain a credential's value.
    """
    wanted = action.integration_id
    if wanted is None:
        return [Problem("integration_id", f"required: the id of a {provider!r} integration")]
    if integration is None:
        return [Problem("integration_id", f"integration {wanted!r} does not exist")]
    if integration.id != wanted:
        return [Problem("integration_id", f"expected integration {wanted!r}, got {integration.id!r}")]
    if integration.organization_id != action.organization_id:
        return [Problem("integration_id", f"integration {wanted!r} belongs to another organization")]
    if integration.provider != provider:
        return [Problem("integration_id", f"integration {wanted!r} is a {integration.provider!r} integration, not {provider!r}")]
    return [
        Problem(f"integration.credentials.{name}", "required")
        for name in credentials
        if not integration.secret(name)
    ]
