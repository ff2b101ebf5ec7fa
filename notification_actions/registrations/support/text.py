"""What a notification says: an action's ``template`` rendered over an event, or a
one-line default; and the parts (title, text, details, link) services lay out.

The template language and its bounds are ``models/template.py``'s: rendering
stops at ``MAX_RENDERED_CHARS``, so no template makes a text larger than that
before a service cuts it to its own limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notification_actions.models.template import as_text as _as_text
from notification_actions.models.template import render
from notification_actions.registrations.support.limits import one_line

if TYPE_CHECKING:
    from notification_actions.models import Event, NotificationAction

__all__ = ["Composed", "compose", "data_fields", "default_text", "heading", "message_text", "render"]

_SUMMARY_CHARS = 300


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


def _number(value: Any) -> str:
    return _as_text(value) if value is not None else "?"


def _audit_log(d: Mapping[str, Any]) -> str:
    return f"Audit log: {_as_text(d.get('event')) or 'entry'} by {_as_text(d.get('actor')) or 'someone'}"


def _user_feedback(d: Mapping[str, Any]) -> str:
    who = _as_text(d.get("name")) or _as_text(d.get("email")) or "a user"
    return f"User feedback from {who}: {_as_text(d.get('comments'))}"


def _release_created(d: Mapping[str, Any]) -> str:
    projects = d.get("projects") or []
    where = f" for {', '.join(_as_text(p) for p in projects)}" if isinstance(projects, list) and projects else ""
    return f"Release {_as_text(d.get('version')) or '?'} created{where}"


def _quota(d: Mapping[str, Any]) -> str:
    period = f" in {_as_text(d.get('period'))}" if d.get("period") else ""
    state = _as_text(d.get("status")) or "update"
    return (
        f"Quota {state}: {_as_text(d.get('category')) or '?'} usage "
        f"{_number(d.get('usage'))} of {_number(d.get('limit'))}{period}"
    )


def _billing(d: Mapping[str, Any]) -> str:
    amount = ""
    if d.get("amount") is not None:
        amount = f" {_as_text(d.get('amount'))} {_as_text(d.get('currency'))}".rstrip()
    return f"Billing: {_as_text(d.get('kind')) or 'update'}{amount}"


def _issue_alert(d: Mapping[str, Any]) -> str:
    level = f"[{_as_text(d.get('level'))}] " if d.get("level") else ""
    return f"Issue alert {_as_text(d.get('rule')) or '?'}: {level}{_as_text(d.get('title'))}"


def _spike_protection(d: Mapping[str, Any]) -> str:
    project = d.get("project_id")
    where = f" for project {_as_text(project)}" if project is not None else ""
    limit = ""
    if d.get("threshold") is not None:
        window = f" per {_as_text(d.get('window'))}" if d.get("window") else ""
        limit = f" (threshold {_as_text(d.get('threshold'))}{window})"
    return f"Spike protection {_as_text(d.get('status')) or 'changed'}{where}{limit}"


_SUMMARIES = {
    "audit-log": _audit_log,
    "user-feedback": _user_feedback,
    "release-created": _release_created,
    "quota": _quota,
    "billing": _billing,
    "issue-alert": _issue_alert,
    "spike-protection": _spike_protection,
}


def default_text(event: Any) -> str:
    """A one-line summary of ``event`` for its trigger, with its ``url`` when it has one."""
    envelope = event.as_dict() if hasattr(event, "as_dict") else dict(event)
    trigger = envelope.get("trigger")
    data = envelope.get("data") if isinstance(envelope.get("data"), Mapping) else {}
    summarize = _SUMMARIES.get(str(trigger))
    text = summarize(data) if summarize else f"{trigger or 'Event'} {envelope.get('id', '')}".strip()
    text = _one_line(text)
    url = data.get("url")
    return f"{text} — {' '.join(url.split())}" if isinstance(url, str) and url else text


# --- what a notification says --------------------------------------------------


def message_text(action: NotificationAction, event: Event) -> str:
    """The action's ``template`` rendered over ``event``, or the trigger's one-line summary."""
    return render(action.template, event.as_dict()) if action.template else default_text(event)


def heading(event: Event) -> str:
    """A short title: the trigger in words, e.g. ``Spike protection``."""
    slug = event.trigger.slug if event.trigger is not None else "event"
    return slug.replace("-", " ").capitalize()


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
