"""A fake Discord webhook endpoint (``/api/webhooks/{id}/{token}``) on an :class:`HttpSink`.

Unknown ids or tokens answer 404 ``{"code": 10015, "message": "Unknown
Webhook"}``; a body that is not JSON, empty, or over any embed limit answers
400 ``{"code": 50035, "message": "Invalid Form Body", "errors": …}``, as
Discord does. Success is 204 (200 with the message under ``?wait=true``).
``fail_next`` queues raw answers; ``rate_limited(seconds)`` gives Discord's 429.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import orjson

from .http_sink import AnswerLike, HttpSink, RecordedRequest

__all__ = ["FakeDiscord", "rate_limited"]

LIMITS = {"content": 2000, "embeds": 10, "title": 256, "description": 4096, "fields": 25, "field_name": 256,
          "field_value": 1024, "footer": 2048, "author": 256, "total": 6000}


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def rate_limited(seconds: float) -> AnswerLike:
    """Discord's 429: JSON ``retry_after`` plus ``Retry-After`` and ``X-RateLimit-*`` headers."""
    headers = {"Retry-After": str(math.ceil(seconds)), "X-RateLimit-Remaining": "0",
               "X-RateLimit-Reset-After": str(seconds)}
    return (429, headers, {"message": "You are being rate limited.", "retry_after": seconds, "global": False})


class FakeDiscord:
    """One webhook: post to :attr:`url`; :attr:`messages` holds the accepted bodies."""

    def __init__(self, sink: HttpSink, webhook_id: str, token: str, prefix: str = "/discord"):
        self.sink, self.prefix = sink, prefix
        self.path = f"{prefix}/api/webhooks/{webhook_id}/{token}"
        self.messages: list[dict[str, Any]] = []
        self._next: deque[AnswerLike] = deque()
        sink.route(f"{prefix}/api/webhooks/", self._post)

    @property
    def url(self) -> str:
        return self.sink.url + self.path

    def fail_next(self, *answers: AnswerLike) -> None:
        self._next.extend(answers)

    def _post(self, request: RecordedRequest) -> AnswerLike:
        if request.path != self.path:
            return (404, {}, {"code": 10015, "message": "Unknown Webhook"})
        if request.method != "POST":
            return (405, {}, {"code": 0, "message": "405: Method Not Allowed"})
        try:
            body = request.json() if request.headers.get("Content-Type", "").startswith("application/json") else None
        except orjson.JSONDecodeError:
            body = None
        errors = _form_errors(body)
        if errors:
            return (400, {}, {"code": 50035, "message": "Invalid Form Body", "errors": errors})
        if self._next:
            return self._next.popleft()
        self.messages.append(body)
        if "wait=true" in request.query:
            return (200, {}, {"id": str(len(self.messages)), "type": 0, **body})
        return 204


def _form_errors(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"_": "body must be a JSON object"}
    content, embeds = body.get("content"), body.get("embeds")
    if not content and not embeds and not body.get("components"):
        return {"_": "Cannot send an empty message (50006)"}
    errors = {}
    if isinstance(content, str) and units(content) > LIMITS["content"]:
        errors["content"] = "Must be 2000 or fewer in length."
    if embeds is not None:
        if not isinstance(embeds, list) or len(embeds) > LIMITS["embeds"]:
            return {"embeds": "Must be 10 or fewer in length."}
        total = 0
        for i, embed in enumerate(embeds):
            problem, size = _embed_problem(embed)
            total += size
            if problem:
                errors[f"embeds.{i}"] = problem
        if total > LIMITS["total"]:
            errors["embeds"] = "Embed size exceeds maximum size of 6000"
    mentions = body.get("allowed_mentions")
    if mentions is not None and not (isinstance(mentions, dict) and isinstance(mentions.get("parse", []), list)):
        errors["allowed_mentions"] = "invalid"
    return errors


def _embed_problem(embed: Any) -> tuple[str | None, int]:
    if not isinstance(embed, dict):
        return "must be an object", 0
    checks = [("title", embed.get("title")), ("description", embed.get("description")),
              ("footer", (embed.get("footer") or {}).get("text")), ("author", (embed.get("author") or {}).get("name"))]
    size = 0
    for name, text in checks:
        if text is None:
            continue
        if not isinstance(text, str) or units(text) > LIMITS[name]:
            return f"{name} must be {LIMITS[name]} or fewer in length", 0
        size += units(text)
    fields = embed.get("fields") or []
    if not isinstance(fields, list) or len(fields) > LIMITS["fields"]:
        return "fields must be 25 or fewer in length", 0
    for field in fields:
        name, value = field.get("name"), field.get("value")
        if not (isinstance(name, str) and name and units(name) <= LIMITS["field_name"]):
            return "field name invalid or over 256", 0
        if not (isinstance(value, str) and value and units(value) <= LIMITS["field_value"]):
            return "field value invalid or over 1024", 0
        size += units(name) + units(value)
    url = embed.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        return "url: Not a well formed URL.", 0
    return None, size
