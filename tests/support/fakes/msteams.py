"""A fake Microsoft Teams Workflows webhook on an :class:`HttpSink`.

The URL looks like a Workflows trigger URL, signed with a ``sig`` query
parameter; a wrong or missing ``sig`` answers 401. It refuses what the flow
would fail on — not JSON, not the ``{"type": "message", "attachments": [...]}``
envelope with one Adaptive Card (a bare ``{"text"}`` included) — with 400,
and bodies over 28 KB with 413. Success is 202 (``answer_ok`` can make it 200).
``fail_next`` queues raw HTTP answers for the next valid posts.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qs

import orjson

from .http_sink import AnswerLike, HttpSink, RecordedRequest

__all__ = ["FakeTeams"]

MAX_BODY = 28 * 1024
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


class FakeTeams:
    """One Workflows webhook: post to :attr:`url`; :attr:`cards` holds the accepted Adaptive Cards."""

    def __init__(self, sink: HttpSink, sig: str, prefix: str = "/teams"):
        self.sink, self.sig = sink, sig
        self.path = f"{prefix}/workflows/0123abcd/triggers/manual/paths/invoke"
        self.cards: list[dict[str, Any]] = []
        self.answer_ok: AnswerLike = (202, {}, "")
        self._next: deque[AnswerLike] = deque()
        sink.route(self.path, self._post)

    @property
    def url(self) -> str:
        return f"{self.sink.url}{self.path}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}"

    def fail_next(self, *answers: AnswerLike) -> None:
        self._next.extend(answers)

    def _post(self, request: RecordedRequest) -> AnswerLike:
        if request.method != "POST":
            return 405
        if (parse_qs(request.query).get("sig") or [""])[0] != self.sig:
            return (401, {}, {"error": {"code": "DirectApiAuthorizationRequired", "message": "bad signature"}})
        if len(request.body) > MAX_BODY:
            return (413, {}, {"error": {"code": "MessageSizeLimitExceeded"}})
        if not request.headers.get("Content-Type", "").lower().startswith("application/json"):
            return (400, {}, {"error": {"code": "InvalidRequestContent"}})
        try:
            problem = _envelope_problem(request.json())
        except orjson.JSONDecodeError:
            problem = "not JSON"
        if problem:
            return (400, {}, {"error": {"code": "InvalidTemplate", "message": problem}})
        if self._next:
            return self._next.popleft()
        self.cards.append(request.json()["attachments"][0]["content"])
        return self.answer_ok


def _envelope_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("type") != "message":
        return "type must be 'message'"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return "exactly one attachment expected"
    attachment = attachments[0]
    if attachment.get("contentType") != CARD_TYPE or "contentUrl" not in attachment:
        return "attachment must be an Adaptive Card"
    card = attachment.get("content")
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or card.get("version") != "1.4":
        return "content must be an AdaptiveCard, version 1.4"
    if card.get("$schema") != "http://adaptivecards.io/schemas/adaptive-card.json":
        return "$schema missing"
    elements = card.get("body")
    if not isinstance(elements, list) or not elements:
        return "card body must be a non-empty list"
    for element in elements:
        if not (isinstance(element, dict) and element.get("type") == "TextBlock"
                and isinstance(element.get("text"), str)):
            return "card body elements must be TextBlocks with text"
    return None
