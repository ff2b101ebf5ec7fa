"""Dead letters: whatever the service refuses, written with the reason and its origin.

One writer, :class:`DeadLetters`, per topic (headers: docs/dead-letters.md):

- the events DLQ — :meth:`~DeadLetters.send_record`: an event that cannot be
  used, key, value and the producer's own headers untouched;
- the config-rejected topic — :meth:`~DeadLetters.send_report`: a config
  record not applied, as a JSON report holding the original (of an
  integration, only the fields that hold no secret);
- the deliveries DLQ — :meth:`~DeadLetters.send_delivery`: a delivery that
  will not be retried; :meth:`~DeadLetters.send_undecodable`: a record on the
  deliveries topic that is not a delivery at all, kept untouched.

Every one says why (``na-error-class``, ``na-error-message``) and where it was
read (``na-origin-topic``, ``-partition``, ``-offset``). Each write is noted for
the item being handled (``kafka/produced.py``): the item is acked only once
the broker has it, and a dead letter too large for the broker is written with
its value cut (``na-truncated``), its headers kept.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping

import faust
import orjson
from pydantic import ValidationError

from notification_actions.errors import Problem
from notification_actions.logs import context
from notification_actions.kafka import headers as h
from notification_actions.kafka.produced import header_bytes, max_value_bytes, send
from notification_actions.models.delivery import Delivery, Origin, Outcome
from notification_actions.models.enums import ActionService
from notification_actions.models.integration import MASK
from notification_actions.models.validation import json_type, problems_from

log = logging.getLogger(__name__)

__all__ = ["DeadLetters"]


def _kafka_ms(timestamp: float | None) -> int | None:
    """Faust gives a record's timestamp in seconds; the header carries Kafka's milliseconds."""
    return None if timestamp is None else round(timestamp * 1000)


def _headers(
    error_class: str | None,
    message: str | None,
    origin: Origin,
    details: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
) -> list[tuple[str, bytes]]:
    """Why (class, message, then ``details``), where from, then ``after`` — in that order."""
    return h.encode(
        {
            h.ERROR_CLASS: error_class,
            h.ERROR_MESSAGE: message,
            **(details or {}),
            h.ORIGIN_TOPIC: origin.topic,
            h.ORIGIN_PARTITION: origin.partition,
            h.ORIGIN_OFFSET: origin.offset,
            **(after or {}),
        }
    )


def _beside(topic: faust.TopicT, key: bytes | None, value: bytes | None, original: list, why: list) -> list:
    """The record's own headers and ours — unless its own take the room its value needs: then ours alone,
    and how many of its own were left out. The broker takes a record a little larger than our producer
    may write, and ours come on top; the value (the event itself) matters more than its headers. A value
    too large even without them keeps them when they fit at all, and is cut (``produced.py``)."""
    needed = len(value or b"")
    room = max_value_bytes(topic, key, original + why)
    if room >= needed or (room >= 0 and max_value_bytes(topic, key, why) < needed):
        return original + why
    return why + [(h.HEADERS_DROPPED, f"{len(original)} headers, {header_bytes(original):,} bytes".encode())]


def _original_headers(event: faust.EventT) -> list[tuple[str, bytes]]:
    raw = event.message.headers or []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(k, v) for k, v in items if not k.startswith("na-")]


# The fields of an integration record that hold no secret: kept in a report when they are scalars.
_SHOWN_FIELDS = ("id", "organization_id", "organizationId", "provider", "name")
_SCALARS = (str, int, float, bool, type(None))
# A key that reads like a field name (letters and underscores; tokens carry digits or dashes) may be
# named in a report; any other key is counted, never shown.
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z_]{0,39}$")
_MIN_SECRET_CHARS = 4  # shorter strings are no secret worth hiding, and would blank half of every message


def _strings(node: object, found: set[str]) -> None:
    """Every string of decoded JSON ``node``: values at any depth, and keys that are no field name."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if not _FIELD_NAME.match(key):
                    found.add(key)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


_TOKEN_RUN = re.compile(r"\S{16,}")


def _plain(field: str, value: str) -> bool:
    """Whether a shown field's text may be shown: a provider only when it is a known service's slug
    (a token pasted into ``provider`` is not); a name without a long unbroken run (what tokens are)."""
    if field == "provider":
        return value in ActionService.slugs()
    if field == "name":
        return not _TOKEN_RUN.search(value)
    return True


def _withhold_secrets(raw: object) -> tuple[bytes, list[str]]:
    """What a report may show of a refused integration record, and the strings to blank out of its reasons.

    A refused integration may hold real secrets anywhere — under ``credentials``,
    a typo'd ``credential``, ``metadata``, a JSON array or string — so only the
    scalar values of :data:`_SHOWN_FIELDS` are kept; every other field is replaced
    by a ``withheld`` marker naming it (when its name reads like a field name;
    others are counted). Unparseable input is withheld whole. The returned
    strings (every string of the record outside what is shown, longest first)
    are what reasons and headers must not carry: a message can echo input.
    """
    try:
        record = orjson.loads(raw)  # type: ignore[arg-type]
    except Exception:
        return orjson.dumps("(withheld: not JSON, may contain credentials)"), []
    secrets: set[str] = set()
    if not isinstance(record, dict):
        _strings(record, secrets)
        shown: object = f"(withheld: {json_type(record)}, not an object; may contain credentials)"
    else:
        kept = {k: v for k, v in record.items() if k in _SHOWN_FIELDS and isinstance(v, _SCALARS)}
        _strings({k: v for k, v in record.items() if k not in kept}, secrets)
        hidden = [s for s in secrets if len(s) >= _MIN_SECRET_CHARS]
        for name, value in list(kept.items()):  # a shown field that repeats a secret, or may be one, is not shown
            if isinstance(value, str) and (any(s in value for s in hidden) or not _plain(name, value)):
                del kept[name]
                secrets.add(value)
        named = [k for k in record if k not in kept and _FIELD_NAME.match(k)]
        others = sum(1 for k in record if k not in kept and not _FIELD_NAME.match(k))
        shown = dict(kept)
        if named or others:
            shown["withheld"] = named + ([f"({others} more field(s) with other names)"] if others else [])
    ordered = sorted((s for s in secrets if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True)
    return orjson.dumps(shown), ordered


def _blank(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _blank_problems(problems: list[Problem], secrets: list[str]) -> list[Problem]:
    if not secrets:
        return problems
    return [Problem(_blank(p.field, secrets), _blank(p.message, secrets)) for p in problems]


class DeadLetters:
    """Writes refused records to one topic (what was refused is acked once the broker has them)."""

    def __init__(self, topic: faust.TopicT, *, kind: str) -> None:
        self.topic = topic
        self.kind = kind  # what this topic holds, for the log: "event", "config record", "delivery"

    def _refused(self, event: faust.EventT, problems: list[Problem]) -> tuple[Origin, str]:
        origin = Origin.of(event)
        summary = "; ".join(str(p) for p in problems)
        log.warning("%s refused at %s: %s", self.kind, origin, summary)
        return origin, summary

    async def send_record(self, event: faust.EventT, problems: list[Problem], *, error_class: str) -> None:
        """``event`` untouched (its own headers kept), the reasons in headers: the events DLQ."""
        origin, summary = self._refused(event, problems)
        why = _headers(
            error_class, summary, origin, {h.ERROR_FIELDS: h.problems_text(problems)},
            {h.ORIGIN_TIMESTAMP: _kafka_ms(event.message.timestamp), h.FAILED_AT: h.now_iso()},
        )
        headers = _beside(self.topic, event.key, event.value, _original_headers(event), why)
        await send(self.topic, cut=True, key=event.key, value=event.value, headers=headers)

    async def send_report(
        self, event: faust.EventT, problems: list[Problem], *, error_class: str, secret: bool = False
    ) -> None:
        """A JSON report holding the original: the config-rejected topic.

        Config records' readers want the reasons next to the record:
        ``{"source", "key", "value", "reasons", "rejected_at"}``. With
        ``secret`` (integration records) only the fields that hold no secret
        are shown, and no string of the record is left in the reasons, the
        headers or the log (:func:`_withhold_secrets`).
        """
        raw = event.value
        if secret:
            raw, secrets = _withhold_secrets(event.value)
            problems = _blank_problems(problems, secrets)
        origin, summary = self._refused(event, problems)
        report = {
            "source": origin.model_dump(),
            "key": event.key.decode(errors="replace") if isinstance(event.key, bytes) else event.key,
            "value": raw.decode(errors="replace") if isinstance(raw, bytes) else raw,
            "reasons": [p.as_dict() for p in problems],
            "rejected_at": time.time(),
        }
        why = _headers(error_class, summary, origin, {h.ERROR_FIELDS: h.problems_text(problems)},
                       {h.FAILED_AT: h.now_iso()})
        await send(self.topic, cut=True, key=event.key, value=orjson.dumps(report), headers=why)

    async def send_delivery(self, key: bytes, delivery: Delivery, outcome: Outcome) -> None:
        """A delivery that will not be retried, after its last attempt's ``outcome``: the deliveries DLQ."""
        log.warning("delivery %s dead-lettered after %d attempt(s): %s: %s",
                    delivery.dedup_key, outcome.attempt, outcome.error_class, outcome.error,
                    extra=context(organization_id=delivery.action.organization_id, action_id=delivery.action.id,
                                  delivery_id=delivery.dedup_key))
        why = _headers(
            outcome.error_class, outcome.error, delivery.origin,
            {
                h.ERROR_CODE: outcome.code or (str(outcome.status) if outcome.status else None),
                h.ATTEMPTS: outcome.attempt,
                h.FIRST_ATTEMPT_AT: h.iso(delivery.first_attempt_at or outcome.at),
                h.LAST_ATTEMPT_AT: h.iso(outcome.at),
            },
            {
                h.ACTION_ID: delivery.action.id,
                h.ORGANIZATION_ID: delivery.action.organization_id,
                h.DEDUP_KEY: delivery.dedup_key,
            },
        )
        await send(self.topic, cut=True, key=key, value=delivery.to_bytes(), headers=why)

    async def send_undecodable(self, event: faust.EventT, exc: Exception) -> None:
        """A record on the deliveries topic that is not a delivery at all: kept untouched."""
        origin = Origin.of(event)
        # pydantic's own text quotes the input — an action's secret URL among it — so only the fields are named.
        why = "; ".join(map(str, problems_from(exc))) if isinstance(exc, ValidationError) else type(exc).__name__
        log.error("undecodable delivery at %s: %s", origin, why[:1000])
        why = _headers("InvalidDelivery", f"undecodable delivery: {type(exc).__name__}", origin,
                       after={h.FAILED_AT: h.now_iso()})
        await send(self.topic, cut=True, key=event.key, value=event.value, headers=why)
