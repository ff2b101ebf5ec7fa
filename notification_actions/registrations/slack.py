"""The ``slack`` service: post to a channel with ``chat.postMessage`` and a bot token.

Registered for every trigger with target ``specific``. The action's
``target_identifier`` is the channel (an id such as ``C024BE91L`` or a name
such as ``#alerts``); its ``integration_id`` names a ``slack`` integration
with ``credentials.bot_token`` and, optionally, ``metadata.channels``
``[{"id", "name"}]`` (when present, the channel must be one of them).

The request::

    POST {slack_api_url}/chat.postMessage
    Authorization: Bearer <bot_token>
    Content-Type: application/json; charset=utf-8

    {"channel": "C024BE91L", "text": "<fallback, at most 40,000 chars>",
     "blocks": [header, section, context], "unfurl_links": false, "unfurl_media": false}

Slack reports errors as 200 ``{"ok": false, "error": CODE}``: rate limits and
Slack-side failures are retryable, every other code permanent (its ``code``
is Slack's). HTTP errors go through the shared classifier (429 honours
``Retry-After``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, Field

from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem, RetryableDeliveryError
from notification_actions.models import ActionService, ActionTrigger, Event, Integration
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult

from notification_actions.registrations.support import http
from notification_actions.registrations.support.common import (
    available,
    integration_problems,
    org_integrations,
    register_all,
    require_secret,
    target_problems,
)
from notification_actions.registrations.support.limits import cut
from notification_actions.registrations.support.text import data_fields, heading, message_text

__all__ = ["REGISTRATIONS", "SlackRegistration", "SlackTarget", "blocks", "escape"]

log = logging.getLogger(__name__)

SERVICE = ActionService.SLACK
TEXT_LIMIT = 40_000  # chat.postMessage truncates `text` beyond this
# Block Kit: a header's plain_text is at most 150 chars, a section's text 3,000, a context 10 elements.
HEADER_LIMIT = 150
SECTION_LIMIT = 3_000
CONTEXT_ELEMENTS = 10
CONTEXT_LIMIT = 300
RETRYABLE_CODES = frozenset(
    # ratelimited/rate_limited/fatal_error per SERVICES.md; the others are Slack-side failures
    # chat.postMessage also documents as transient.
    {"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
TOKEN_CODES = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"})
LIVE_CHECK_TIMEOUT = 3.0
_CODE = re.compile(r"^[a-z0-9_]{1,64}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
FIELD = "target_identifier"


class SlackTarget(BaseModel):
    """What a Slack action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(
        min_length=1, max_length=200, description="Slack channel: an id such as C024BE91L, or a name such as #alerts"
    )
    integration_id: str = Field(min_length=1, description="The Slack integration whose bot token posts")


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut_escaped(text: str, limit: int) -> str:
    # Cut after escaping, so the limit holds for what Slack counts; then drop a split entity.
    out = cut(escape(text), limit)
    if out.endswith("…"):
        out = re.sub(r"&[a-z]{0,3}…$", "…", out)
    return out


def blocks(event: Event, text: str) -> list[dict[str, Any]]:
    """Block Kit for ``event``: a header, the text, and a context line, each within Slack's limits."""
    context = [
        {"type": "mrkdwn", "text": _cut_escaped(f"*{name}:* {value}", CONTEXT_LIMIT)}
        for name, value in data_fields(event)[:CONTEXT_ELEMENTS]
    ]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": cut(heading(event), HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut_escaped(text or " ", SECTION_LIMIT)}},
        {"type": "context", "elements": context},
    ]


def _find_channel(channels: list[Any], wanted: str) -> dict[str, Any] | None:
    name = wanted.lstrip("#").lower()
    for channel in channels:
        if not isinstance(channel, dict):
            continue
        if channel.get("id") == wanted or str(channel.get("name", "")).lstrip("#").lower() == name:
            return channel
    return None


def _code(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and _CODE.match(error) else "unknown_error"


def _live_check(settings: Any, token: str, channel_id: str) -> list[Problem]:
    """Ask ``conversations.info`` about the channel; an unreachable Slack is no reason to refuse."""
    url = settings.slack_api_url.rstrip("/") + "/conversations.info"
    try:
        with httpx.Client(timeout=min(LIVE_CHECK_TIMEOUT, settings.http_timeout_seconds)) as client:
            response = client.get(url, params={"channel": channel_id}, headers={"authorization": f"Bearer {token}"})
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("slack: conversations.info failed (%s); channel %s not checked", type(exc).__name__, channel_id)
        return []
    if body is None or not isinstance(body, dict):
        if response.status_code == 429 or response.status_code >= 500:
            log.warning("slack: conversations.info answered HTTP %d; channel not checked", response.status_code)
            return []
        return [Problem(FIELD, f"Slack answered HTTP {response.status_code} when asked about the channel")]
    if not body.get("ok"):
        code = _code(body)
        if code in RETRYABLE_CODES:
            log.warning("slack: conversations.info answered %s; channel %s not checked", code, channel_id)
            return []
        if code == "channel_not_found":
            return [Problem(FIELD, f"Slack: channel {channel_id} not found")]
        if code in TOKEN_CODES:
            return [Problem("integration.credentials.bot_token", f"Slack refused the bot token: {code}")]
        return [Problem(FIELD, f"Slack: {code}")]
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    if channel.get("is_archived"):
        return [Problem(FIELD, f"channel {channel_id} is archived")]
    if channel.get("is_member") is False:
        return [Problem(FIELD, f"the bot is not a member of channel {channel_id}: invite it first")]
    return []


class SlackRegistration(ActionRegistration):
    """Post an event to a Slack channel (see the module docstring); registered once per trigger."""

    rate_limit = (1, 1.0)  # about one message per second per channel (SERVICES.md)

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing channel or integration, and a channel Slack (or the integration) does not know."""
        action, integration = data.action, data.integration
        target, problems = target_problems(SlackTarget, action)
        problems += integration_problems(action, integration, SERVICE, ["bot_token"], brief=True)
        if problems or target is None or integration is None:
            raise InvalidAction(problems or [Problem("integration_id", "required")])
        wanted = action.target_identifier or ""
        channels = integration.metadata.get("channels")
        known = _find_channel(channels, wanted) if isinstance(channels, list) else None
        if isinstance(channels, list) and known is None:
            raise InvalidAction(
                f"channel {wanted!r} is not in integration {integration.id!r}'s metadata.channels", field=FIELD
            )
        if data.settings.slack_live_check:
            channel_id = wanted if _CHANNEL_ID.match(wanted) else (known or {}).get("id")
            if not isinstance(channel_id, str) or not channel_id:
                raise InvalidAction(
                    "conversations.info needs a channel id: use the id (C…) or list the channel in metadata.channels",
                    field=FIELD,
                )
            problems = _live_check(data.settings, integration.secret("bot_token") or "", channel_id)
            if problems:
                raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per channel each Slack integration of ``organization`` lists (one open entry if none)."""
        entries = []
        for integration in org_integrations(organization, integrations, SERVICE):
            if integration.secret("bot_token") is None:
                continue
            channels = [c for c in integration.metadata.get("channels") or [] if isinstance(c, dict) and c.get("id")]
            if not channels:
                entries.append(available(cls, SlackTarget, integration))
            for channel in channels:
                entries.append(available(cls, SlackTarget, integration, str(channel["id"]), channel.get("name")))
        return entries

    def payload(self, event: Event) -> dict[str, Any]:
        """The ``chat.postMessage`` body for ``event``."""
        text = message_text(self.action, event)
        return {
            "channel": self.action.target_identifier,
            "text": _cut_escaped(text, TEXT_LIMIT),
            "blocks": blocks(event, text),
            "unfurl_links": False,
            "unfurl_media": False,
        }

    async def fire(self, data: Event) -> FireResult:
        """Post ``data``; raise a classified ``DeliveryError`` for an HTTP error or ``{"ok": false}``."""
        token = require_secret(self, "bot_token")
        url = self.context.settings.slack_api_url.rstrip("/") + "/chat.postMessage"
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json; charset=utf-8"}
        response = await http.send(
            self.context, "POST", url, service=SERVICE.slug, redact=(token,),
            content=orjson.dumps(self.payload(data)), headers=headers,
        )
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            excerpt = http.body_excerpt(response, redact=(token,))
            raise PermanentDeliveryError(
                f"slack: chat.postMessage answered HTTP {response.status_code} without JSON: {excerpt}",
                code="invalid_response", status=response.status_code,
            )
        if not body.get("ok"):
            code = _code(body)
            message = f"slack: chat.postMessage failed: {code}"
            if code in RETRYABLE_CODES:
                raise RetryableDeliveryError(
                    message, retry_after=http.retry_after_seconds(response), code=code, status=response.status_code
                )
            raise PermanentDeliveryError(message, code=code, status=response.status_code)
        ts = body.get("ts") if isinstance(body.get("ts"), str) else ""
        return FireResult(status=response.status_code, detail=f"posted to {self.action.target_identifier} ts={ts}")


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(SlackRegistration, SERVICE)
"""The registered subclass of :class:`SlackRegistration` for each trigger."""
