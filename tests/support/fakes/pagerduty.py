"""A fake PagerDuty Events API v2 (``/v2/enqueue``) on an :class:`HttpSink`.

Refuses what PagerDuty refuses, with 400 ``{"status": "invalid event",
"message": "Event object is invalid", "errors": [...]}``: a body that is not
JSON, an unknown or malformed routing key, a bad ``event_action``, a
``dedup_key`` over 255 or missing for acknowledge/resolve, a trigger without
``payload.summary`` (≤1,024), ``source`` or a valid ``severity``, and bodies
over 512 KB. Accepted events answer 202 and update :attr:`incidents`
(dedup key → ``triggered`` / ``acknowledged`` / ``resolved``). ``fail_next``
queues raw answers (429 has no ``Retry-After``, as documented).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

import orjson

from .http_sink import AnswerLike, HttpSink, RecordedRequest

__all__ = ["FakePagerDuty"]

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
MAX_BODY = 512 * 1024


class FakePagerDuty:
    """The Events API: set ``pagerduty_events_url`` to :attr:`url`; ``routing_keys`` are the valid keys."""

    def __init__(self, sink: HttpSink, routing_keys: list[str], prefix: str = "/pagerduty"):
        self.sink, self.routing_keys = sink, set(routing_keys)
        self.path = f"{prefix}/v2/enqueue"
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, str] = {}
        self._next: deque[AnswerLike] = deque()
        sink.route(self.path, self._enqueue)

    @property
    def url(self) -> str:
        return self.sink.url + self.path

    def fail_next(self, *answers: AnswerLike) -> None:
        self._next.extend(answers)

    def _enqueue(self, request: RecordedRequest) -> AnswerLike:
        if request.method != "POST":
            return 405
        if len(request.body) > MAX_BODY:
            return _invalid("Payload too large")
        try:
            body = request.json()
        except orjson.JSONDecodeError:
            return (400, {}, {"status": "invalid request", "message": "Invalid JSON"})
        errors = _errors(body, self.routing_keys)
        if errors:
            return _invalid(*errors)
        if self._next:
            return self._next.popleft()
        self.events.append(body)
        self.incidents[body["dedup_key"]] = ACTIONS[body["event_action"]]
        return (202, {}, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]})


def _invalid(*errors: str) -> AnswerLike:
    return (400, {}, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)})


def _errors(body: Any, keys: set[str]) -> list[str]:
    if not isinstance(body, dict):
        return ["Event object must be an object"]
    errors = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32 or key not in keys:
        errors.append("Invalid routing key")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge or resolve)")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        errors += _payload_errors(body.get("payload"))
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) > 1024:
        errors.append("'payload.summary' is missing or over 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        errors.append("'payload.source' is missing")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is invalid")
    stamp = payload.get("timestamp")
    if stamp is not None:
        try:
            datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            errors.append("'payload.timestamp' is not ISO 8601")
    if "custom_details" in payload and not isinstance(payload["custom_details"], (dict, str)):
        errors.append("'payload.custom_details' is invalid")
    return errors
