"""A fake Slack Web API (``chat.postMessage``, ``conversations.info``) on an :class:`HttpSink`.

It refuses what Slack refuses, the way Slack does (200 ``{"ok": false,
"error": CODE}``): a missing or wrong bearer token, a body that is not JSON,
an unknown, archived or not-joined channel, no text, text over 40,000
characters, malformed or over-limit blocks. A JSON body without
``charset=utf-8`` succeeds with Slack's ``missing_charset`` warning, recorded
in :attr:`warnings`. ``fail_next`` queues documented error codes (or HTTP
answers such as ``(429, {"Retry-After": "3"}, "")``) for the next posts.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qs

import orjson

from .http_sink import AnswerLike, HttpSink, RecordedRequest

__all__ = ["FakeSlack"]

ERROR_CODES = (
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks",
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope", "invalid_arguments",
    "ratelimited", "rate_limited", "fatal_error",
)
BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image", "rich_text"}


class FakeSlack:
    """Slack's Web API under ``sink.url + prefix``: set ``slack_api_url`` to :attr:`url`."""

    def __init__(self, sink: HttpSink, token: str, prefix: str = "/slack", channels: list[dict] | None = None):
        self.sink, self.token, self.prefix = sink, token, prefix
        self.channels = {c["id"]: {"is_archived": False, "is_member": True, **c} for c in channels or []}
        self.warnings: list[str] = []
        self.posted: list[dict[str, Any]] = []
        self._next: deque[str | AnswerLike] = deque()
        sink.route(prefix + "/chat.postMessage", self._post)
        sink.route(prefix + "/conversations.info", self._info)

    @property
    def url(self) -> str:
        return self.sink.url + self.prefix

    def fail_next(self, *answers: str | AnswerLike) -> None:
        """Answer the next valid posts with these error codes or raw HTTP answers, in order."""
        self._next.extend(answers)

    def _auth_error(self, request: RecordedRequest) -> str | None:
        header = request.headers.get("Authorization")
        if not header:
            return "not_authed"
        return None if header == f"Bearer {self.token}" else "invalid_auth"

    def _channel(self, wanted: str) -> dict[str, Any] | None:
        if not self.channels:
            return {"id": wanted, "name": wanted, "is_archived": False, "is_member": True}
        name = wanted.lstrip("#")
        return next((c for c in self.channels.values() if wanted == c["id"] or name == c["name"].lstrip("#")), None)

    def _post(self, request: RecordedRequest) -> AnswerLike:
        if request.method != "POST":
            return 405
        error = self._auth_error(request) or self._body_error(request)
        if error is not None:
            return (200, {}, {"ok": False, "error": error})
        body = request.json()
        if self._next:
            answer = self._next.popleft()
            return (200, {}, {"ok": False, "error": answer}) if isinstance(answer, str) else answer
        self.posted.append(body)
        channel = self._channel(body["channel"])
        return (200, {}, {"ok": True, "channel": channel["id"], "ts": f"1503435956.{len(self.posted):06d}",
                          **self._warning(request)})

    def _warning(self, request: RecordedRequest) -> dict[str, Any]:
        if "charset=utf-8" in request.headers.get("Content-Type", "").replace(" ", "").lower():
            return {}
        self.warnings.append("missing_charset")
        return {"warning": "missing_charset", "response_metadata": {"warnings": ["missing_charset"]}}

    def _body_error(self, request: RecordedRequest) -> str | None:
        if not request.headers.get("Content-Type", "").lower().startswith("application/json"):
            return "invalid_arguments"  # read as a form: no channel, no text
        try:
            body = request.json()
        except orjson.JSONDecodeError:
            return "invalid_json"
        if not isinstance(body, dict) or not isinstance(body.get("channel"), str):
            return "channel_not_found"
        channel = self._channel(body["channel"])
        if channel is None:
            return "channel_not_found"
        if channel["is_archived"]:
            return "is_archived"
        if not channel["is_member"]:
            return "not_in_channel"
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return "no_text"
        if isinstance(text, str) and len(text) > 40_000:
            return "msg_too_long"
        if blocks is not None and not _blocks_ok(blocks):
            return "invalid_blocks"
        return None

    def _info(self, request: RecordedRequest) -> AnswerLike:
        error = self._auth_error(request)
        if error is not None:
            return (200, {}, {"ok": False, "error": error})
        wanted = (parse_qs(request.query).get("channel") or [""])[0]
        channel = self.channels.get(wanted)
        if channel is None:
            return (200, {}, {"ok": False, "error": "channel_not_found"})
        return (200, {}, {"ok": True, "channel": channel})


def _text_ok(obj: Any, kinds: set[str], limit: int) -> bool:
    return (isinstance(obj, dict) and obj.get("type") in kinds and isinstance(obj.get("text"), str)
            and 0 < len(obj["text"]) <= limit)


def _blocks_ok(blocks: Any) -> bool:
    """Block Kit's limits for the blocks this service sends: 50 blocks, header 150, section 3,000."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return False
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return False
        kind = block["type"]
        if kind == "header" and not _text_ok(block.get("text"), {"plain_text"}, 150):
            return False
        if kind == "section" and not _text_ok(block.get("text"), {"plain_text", "mrkdwn"}, 3000):
            return False
        if kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                return False
            if not all(_text_ok(e, {"plain_text", "mrkdwn"}, 3000) for e in elements):
                return False
    return True
