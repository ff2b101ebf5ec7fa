"""The ``email`` service: one multipart (text + HTML) message over SMTP per delivery.

Targets:

- ``specific``: ``target_identifier`` is an email address;
- ``user``: the id of a member of the organization's directory (their email);
- ``team``: the id of a team of the directory (the emails of its members).

:class:`MailRegistration` is the shared implementation; ``sentry_notification``
subclasses it with one more way to find recipients (a role). A message to
several recipients names them in the envelope only (``To: undisclosed-recipients:;``),
so members never see each other's addresses. The sender is
``settings.smtp_from``; the ``Message-ID`` is derived from the delivery id, so
a retried delivery carries the same id and receivers can drop the duplicate.

SMTP failures are classified, never retried here: connection problems and 4xx
replies are retryable, 5xx replies and refused authentication permanent.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
from collections.abc import Iterable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any, ClassVar

import aiosmtplib
from pydantic import BaseModel, Field, ValidationError

from notification_actions.errors import (
    DeliveryError,
    InvalidAction,
    PermanentDeliveryError,
    Problem,
    RetryableDeliveryError,
)
from notification_actions.models import (
    ActionService,
    ActionTarget,
    ActionTrigger,
    Directory,
    EmailAddress,
    Event,
    Integration,
    StrId,
)
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult
from notification_actions.settings import Settings

from notification_actions.registrations.support.common import available, delivery_key, register, target_problems
from notification_actions.registrations.support.limits import cut, one_line
from notification_actions.registrations.support.text import Composed, compose

__all__ = [
    "REGISTRATIONS",
    "AddressTarget",
    "MailRegistration",
    "MemberTarget",
    "TeamTarget",
    "build_message",
    "classify_smtp_error",
    "send_mail",
]

SERVICE = ActionService.EMAIL
# RFC 5322 allows 998 characters per header line; mail clients show far fewer.
SUBJECT_CHARS = 200
# Keeps one message well under common size limits (Gmail: 25 MB, many relays: 10 MB).
BODY_CHARS = 100_000
EXCERPT_CHARS = 200


class AddressTarget(BaseModel):
    """``specific`` email target."""

    target_identifier: EmailAddress = Field(description="Email address to send to")


class MemberTarget(BaseModel):
    """``user`` target: one member of the organization's directory."""

    target_identifier: StrId = Field(description="Id of a member of the organization's directory")


class TeamTarget(BaseModel):
    """``team`` target: every member of one team of the organization's directory."""

    target_identifier: StrId = Field(description="Id of a team of the organization's directory")


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return cut(one_line(text), EXCERPT_CHARS)


def _by_code(code: int, message: str, *, service: str, secrets: Iterable[str]) -> DeliveryError:
    text = f"{service}: SMTP {code}: {_redact(message, secrets)}"
    if 400 <= code < 500:
        return RetryableDeliveryError(text, code=str(code), status=code)
    return PermanentDeliveryError(text, code=str(code), status=code)


def classify_smtp_error(exc: BaseException, *, service: str, redact: Iterable[str] = ()) -> DeliveryError:
    """Translate an ``aiosmtplib`` (or socket) error into a ``DeliveryError``; see the module docstring."""
    secrets = [s for s in redact if s]
    name = type(exc).__name__
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Even a 454 here means our credentials will not do: retrying cannot fix them.
        text = f"{service}: SMTP authentication refused ({exc.code}): {_redact(exc.message, secrets)}"
        return PermanentDeliveryError(text, code=str(exc.code), status=exc.code)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients] or [550]
        worst = next((c for c in codes if c >= 500), codes[0])
        retry = any(400 <= c < 500 for c in codes)
        first = exc.recipients[0].message if exc.recipients else ""
        text = f"{service}: all {len(codes)} recipient(s) refused (SMTP {sorted(set(codes))}): {_redact(first, secrets)}"
        if retry:
            return RetryableDeliveryError(text, code=str(min(codes)), status=min(codes))
        return PermanentDeliveryError(text, code=str(worst), status=worst)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, exc.message, service=service, secrets=secrets)
    detail = _redact(str(exc), secrets)
    text = f"{service}: {name}" + (f": {detail}" if detail else "")
    if isinstance(exc, TimeoutError):
        return RetryableDeliveryError(text, code="timeout")
    if isinstance(exc, OSError):  # SMTPConnectError, SMTPServerDisconnected, refused or reset sockets
        return RetryableDeliveryError(text, code=name)
    return PermanentDeliveryError(text, code=name)


def _message_id(delivery_id: str, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:32]}@{domain}>"


def _text_body(composed: Composed) -> str:
    lines = [composed.text, ""]
    lines += [f"{label}: {value}" for label, value in composed.details]
    if composed.url:
        lines += ["", composed.url]
    return cut("\n".join(lines), BODY_CHARS)


def _html_body(composed: Composed) -> str:
    esc = html.escape
    paragraphs = "".join(f"<p>{esc(line)}</p>" for line in composed.text.splitlines() if line.strip())
    rows = "".join(
        f"<tr><th align=\"left\">{esc(label)}</th><td>{esc(cut(value, 2000))}</td></tr>"
        for label, value in composed.details
    )
    link = f'<p><a href="{esc(composed.url)}">{esc(composed.url)}</a></p>' if composed.url else ""
    page = f"<html><body>{paragraphs}<table>{rows}</table>{link}</body></html>"
    if len(page) > BODY_CHARS:  # never cut inside markup: fall back to the plain text, escaped
        page = f"<html><body><pre>{esc(_text_body(composed))}</pre></body></html>"
    return page


def build_message(composed: Composed, *, sender: str, recipients: list[str], delivery_id: str) -> EmailMessage:
    """The multipart/alternative message (text, then HTML) for ``recipients``."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = cut(one_line(composed.title), SUBJECT_CHARS) or "Notification"
    msg["From"] = sender
    msg["To"] = recipients[0] if len(recipients) == 1 else "undisclosed-recipients:;"
    msg["Message-ID"] = _message_id(delivery_id, sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_text_body(composed), subtype="plain", charset="utf-8")
    msg.add_alternative(_html_body(composed), subtype="html", charset="utf-8")
    return msg


async def send_mail(settings: Settings, message: EmailMessage, recipients: list[str], *, service: str) -> str:
    """Send ``message`` to ``recipients`` through the configured SMTP server; return the server's reply.

    Raises a classified ``DeliveryError``; the SMTP password never appears in it.
    """
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    options: dict[str, Any] = {}
    if settings.smtp_username:
        options.update(username=settings.smtp_username, password=password)
    timeout = settings.http_timeout_seconds
    try:
        async with asyncio.timeout(timeout * 2):  # aiosmtplib's timeout bounds each step, not the whole
            refused, reply = await aiosmtplib.send(
                message,
                sender=settings.smtp_from,
                recipients=recipients,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                start_tls=settings.smtp_starttls,
                timeout=timeout,
                **options,
            )
    except Exception as exc:
        raise classify_smtp_error(exc, service=service, redact=(password or "",)) from exc
    accepted = len(recipients) - len(refused)
    summary = f"accepted for {accepted} of {len(recipients)} recipient(s)"
    if refused:
        # The accepted ones already have it: a retry would send them a second copy.
        codes = sorted({r.code for r in refused.values()})
        summary += f"; refused with SMTP {codes}"
    return f"{_redact(reply, (password or '',))}; {summary}".lstrip("; ")


def _lookup_problem(target: ActionTarget, identifier: str, directory: Directory | None) -> str | None:
    if directory is None:
        return None
    if target is ActionTarget.USER and directory.member(identifier) is None:
        return f"member {identifier!r} is not in the organization's directory"
    if target is ActionTarget.TEAM and directory.team(identifier) is None:
        return f"team {identifier!r} is not in the organization's directory"
    return None


class MailRegistration(ActionRegistration):
    """Email the event to the action's target (see the module docstring); one subclass per triple."""

    target_model: ClassVar[type[BaseModel]]

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a malformed target, and a user or team that the directory does not know."""
        action = data.action
        _, problems = target_problems(cls.target_model, action)
        if problems:
            raise InvalidAction(problems)
        problem = _lookup_problem(cls.target_type, action.target_identifier or "", data.directory)
        if problem:
            raise InvalidAction([Problem("target_identifier", problem)])

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry: email needs no integration, only a target."""
        return [available(cls, cls.target_model)]

    def _directory(self) -> Directory:
        directory = self.context.directory
        if directory is None or directory.organization_id != self.action.organization_id:
            raise PermanentDeliveryError(
                f"{self.service_type.slug}: organization {self.action.organization_id} has no directory",
                code="no_directory",
            )
        return directory

    def recipients(self) -> list[str]:
        """The addresses this delivery goes to, unique and sorted."""
        identifier = self.action.target_identifier or ""
        if self.target_type is ActionTarget.USER:
            member = self._directory().member(identifier)
            return [member.email] if member else []
        if self.target_type is ActionTarget.TEAM:
            return sorted({m.email for m in self._directory().team_members(identifier)})
        try:
            return [AddressTarget.model_validate({"target_identifier": identifier}).target_identifier]
        except ValidationError:
            raise PermanentDeliveryError(f"{self.service_type.slug}: target is not an email address",
                                         code="invalid_recipient") from None

    async def fire(self, data: Event) -> FireResult:
        """Send one message to every recipient; raise a classified ``DeliveryError`` on failure."""
        service = self.service_type.slug
        recipients = self.recipients()
        if not recipients:
            raise PermanentDeliveryError(
                f"{service}: no recipients for {self.target_type.slug} {self.action.target_identifier!r}",
                code="no_recipients",
            )
        settings = self.context.settings
        delivery_id = delivery_key(self, data)
        message = build_message(
            compose(self.action, data), sender=settings.smtp_from, recipients=recipients, delivery_id=delivery_id
        )
        reply = await send_mail(settings, message, recipients, service=service)
        return FireResult(status=None, detail=reply)


TARGET_MODELS: dict[ActionTarget, type[BaseModel]] = {
    ActionTarget.SPECIFIC: AddressTarget,
    ActionTarget.USER: MemberTarget,
    ActionTarget.TEAM: TeamTarget,
}


def register_mail(
    base: type[MailRegistration],
    service: ActionService,
    trigger: ActionTrigger,
    target: ActionTarget,
    target_model: type[BaseModel],
) -> type[ActionRegistration]:
    """Create and register ``base``'s subclass for one (trigger, service, target), with its ``target_model``."""
    return register(
        base, service, trigger, target, name="{service}{trigger}{target}Registration", attrs={"target_model": target_model}
    )


REGISTRATIONS: dict[tuple[ActionTrigger, ActionTarget], type[ActionRegistration]] = {
    (trigger, target): register_mail(MailRegistration, SERVICE, trigger, target, model)
    for trigger in ActionTrigger
    for target, model in TARGET_MODELS.items()
}
"""The registered subclass of :class:`MailRegistration` for each (trigger, target)."""
