"""A fake Opsgenie Alerts API (create and close alerts) on an :class:`HttpSink`.

A missing or wrong ``Authorization: GenieKey <key>`` answers 401; a body that
is not JSON 400; a body over any documented limit (message 130, alias 512,
description 15,000, responders 50, tags 20×50, details 8,000 in all, entity
512, source 100, priority P1..P5) 422 ``{"message": …, "errors": {field:
reason}}``. Accepted requests answer 202 and update :attr:`alerts` (alias →
``open`` / ``closed``). ``fail_next`` queues raw answers (402, 403, 429 …).
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from .http_sink import AnswerLike, HttpSink, RecordedRequest

__all__ = ["FakeOpsgenie"]

LIMITS = {"message": 130, "alias": 512, "description": 15_000, "entity": 512, "source": 100, "user": 100,
          "note": 25_000}
RESPONDER_TYPES = {"team", "user", "escalation", "schedule"}


class FakeOpsgenie:
    """The Alerts API: set ``opsgenie_api_url`` to :attr:`url`; ``api_key`` is the one valid key."""

    def __init__(self, sink: HttpSink, api_key: str, prefix: str = "/opsgenie"):
        self.sink, self.api_key, self.prefix = sink, api_key, prefix
        self.created: list[dict[str, Any]] = []
        self.alerts: dict[str, str] = {}
        self._next: deque[AnswerLike] = deque()
        sink.route(prefix + "/v2/alerts", self._alerts)

    @property
    def url(self) -> str:
        return self.sink.url + self.prefix

    def fail_next(self, *answers: AnswerLike) -> None:
        self._next.extend(answers)

    def _alerts(self, request: RecordedRequest) -> AnswerLike:
        if request.headers.get("Authorization") != f"GenieKey {self.api_key}":
            return (401, {}, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())})
        try:
            body = request.json() if request.body else {}
        except orjson.JSONDecodeError:
            return (400, {}, {"message": "Invalid json", "took": 0.0})
        rest = request.path[len(self.prefix + "/v2/alerts"):].strip("/")
        if request.method != "POST" or not isinstance(body, dict):
            return (400, {}, {"message": "Invalid request", "took": 0.0})
        if rest:
            return self._close(request, rest, body)
        errors = _create_errors(body)
        if errors:
            return _unprocessable(errors)
        if self._next:
            return self._next.popleft()
        self.created.append(body)
        self.alerts[body.get("alias") or str(uuid.uuid4())] = "open"
        return _accepted()

    def _close(self, request: RecordedRequest, rest: str, body: dict[str, Any]) -> AnswerLike:
        identifier, _, verb = rest.rpartition("/")
        if verb != "close" or parse_qs(request.query).get("identifierType") != ["alias"]:
            return (404, {}, {"message": "Not found", "took": 0.0})
        errors = {k: f"must be at most {LIMITS[k]} characters" for k in ("source", "user", "note")
                  if isinstance(body.get(k), str) and len(body[k]) > LIMITS[k]}
        if errors:
            return _unprocessable(errors)
        if self._next:
            return self._next.popleft()
        self.alerts[unquote(identifier)] = "closed"
        return _accepted()


def _accepted() -> AnswerLike:
    return (202, {}, {"result": "Request will be processed", "took": 0.1, "requestId": str(uuid.uuid4())})


def _unprocessable(errors: dict[str, str]) -> AnswerLike:
    return (422, {}, {"message": "Request body is not processable. Please check the errors.", "errors": errors,
                      "took": 0.0})


def _create_errors(body: dict[str, Any]) -> dict[str, str]:
    errors = {}
    if not isinstance(body.get("message"), str) or not body["message"].strip():
        errors["message"] = "Message can not be empty."
    for name, limit in LIMITS.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors[name] = f"must be a string of at most {limit} characters"
    tags = body.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 20 or any(not isinstance(t, str) or len(t) > 50 for t in tags):
        errors["tags"] = "at most 20 tags of at most 50 characters"
    details = body.get("details", {})
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        errors["details"] = "must be a map of strings"
    elif sum(len(k) + len(v) for k, v in details.items()) > 8000:
        errors["details"] = "must be at most 8000 characters in total"
    responders = body.get("responders", [])
    if not isinstance(responders, list) or len(responders) > 50 or not all(_responder_ok(r) for r in responders):
        errors["responders"] = "at most 50 of {type, id or name}"
    if body.get("priority", "P3") not in {"P1", "P2", "P3", "P4", "P5"}:
        errors["priority"] = "must be one of P1..P5"
    return errors


def _responder_ok(responder: Any) -> bool:
    return (isinstance(responder, dict) and responder.get("type") in RESPONDER_TYPES
            and any(isinstance(responder.get(k), str) and responder[k] for k in ("id", "name", "username")))
