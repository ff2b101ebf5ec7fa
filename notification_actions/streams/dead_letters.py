"""Dead letters: whatever the service refuses, written with the reason and its origin.

One writer, :class:`DeadLetters`, per topic (headers: docs/dead-letters.md):

- the events DLQ — :meth:`~DeadLetters.send_record`: an event that cannot be
  used, key, value and the producer's own headers untouched;
- the config-rejected topic — :meth:`~DeadLetters.send_report`: a config
  record not applied, as a JSON report holding the original (credentials of
  an integration masked);
- the deliveries DLQ — :meth:`~DeadLetters.send_delivery`: a delivery that
  will not be retried; :meth:`~DeadLetters.send_undecodable`: a record on the
  deliveries topic that is not a delivery at all, kept untouched.

Every one says why (``na-error-class``, ``na-error-message``) and where it was
read (``na-origin-topic``, ``-partition``, ``-offset``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import faust
import orjson

from notification_actions.errors import Problem
from notification_actions.logs import context
from notification_actions.kafka import headers as h
from notification_actions.models.delivery import Delivery, Origin, Outcome

log = logging.getLogger(__name__)

__all__ = ["DeadLetters"]


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


def _original_headers(event: faust.EventT) -> list[tuple[str, bytes]]:
    raw = event.message.headers or []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(k, v) for k, v in items if not k.startswith("na-")]


def _mask_credentials(raw: object) -> object:
    """An integration record with every credential value replaced by stars.

    A refused integration may still hold real secrets; they must not be
    copied into the rejected topic. Unparseable input is withheld whole.
    """
    try:
        record = orjson.loads(raw)  # type: ignore[arg-type]
    except Exception:
        return b'"(withheld: not JSON, may contain credentials)"'
    if not isinstance(record, dict):
        return raw

    def mask(node: object) -> object:
        if isinstance(node, dict):
            return {k: mask(v) for k, v in node.items()}
        return "**********"

    for name in ("credentials",):
        if name in record:
            record[name] = mask(record[name])
    return orjson.dumps(record)


class DeadLetters:
    """Writes refused records to one topic (through Faust's producer, so they are
    flushed before the offset of what was refused is committed)."""

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
            {h.ORIGIN_TIMESTAMP: event.message.timestamp, h.FAILED_AT: h.now_iso()},
        )
        await self.topic.send(key=event.key, value=event.value, headers=_original_headers(event) + why)

    async def send_report(
        self, event: faust.EventT, problems: list[Problem], *, error_class: str, secret: bool = False
    ) -> None:
        """A JSON report holding the original: the config-rejected topic.

        Config records' readers want the reasons next to the record:
        ``{"source", "key", "value", "reasons", "rejected_at"}``. With
        ``secret`` (integration records) the credentials are masked.
        """
        origin, summary = self._refused(event, problems)
        raw = _mask_credentials(event.value) if secret else event.value
        report = {
            "source": origin.model_dump(),
            "key": event.key.decode(errors="replace") if isinstance(event.key, bytes) else event.key,
            "value": raw.decode(errors="replace") if isinstance(raw, bytes) else raw,
            "reasons": [p.as_dict() for p in problems],
            "rejected_at": time.time(),
        }
        why = _headers(error_class, summary, origin, {h.ERROR_FIELDS: h.problems_text(problems)},
                       {h.FAILED_AT: h.now_iso()})
        await self.topic.send(key=event.key, value=orjson.dumps(report), headers=why)

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
        await self.topic.send(key=key, value=delivery.to_bytes(), headers=why)

    async def send_undecodable(self, event: faust.EventT, exc: Exception) -> None:
        """A record on the deliveries topic that is not a delivery at all: kept untouched."""
        origin = Origin.of(event)
        log.error("undecodable delivery at %s: %s", origin, exc)
        why = _headers("InvalidDelivery", f"undecodable delivery: {type(exc).__name__}", origin,
                       after={h.FAILED_AT: h.now_iso()})
        await self.topic.send(key=event.key, value=event.value, headers=why)
