"""Where refused records go: the events DLQ and the config-rejected topic.

Both keep the original bytes untouched and say why in headers, with the
record's topic/partition/offset, so the producer can find and fix it.
"""

from __future__ import annotations

import logging
import time

import faust
import orjson

from notification_actions.errors import Problem
from notification_actions.kafka import headers as h
from notification_actions.models.delivery import Origin

log = logging.getLogger(__name__)

__all__ = ["Rejecter", "origin_of"]


def origin_of(event: faust.EventT) -> Origin:
    msg = event.message
    return Origin(topic=msg.topic, partition=msg.partition, offset=msg.offset)


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


class Rejecter:
    """Sends a refused record, untouched, to a dead-letter style topic."""

    def __init__(self, topic: faust.TopicT, *, kind: str) -> None:
        self.topic = topic
        self.kind = kind

    async def reject(self, event: faust.EventT, problems: list[Problem], *, error_class: str) -> None:
        origin = origin_of(event)
        summary = "; ".join(str(p) for p in problems)
        log.warning("%s refused at %s: %s", self.kind, origin, summary)
        ours = h.encode(
            {
                h.ERROR_CLASS: error_class,
                h.ERROR_MESSAGE: summary,
                h.ERROR_FIELDS: h.problems_text(problems),
                h.ORIGIN_TOPIC: origin.topic,
                h.ORIGIN_PARTITION: origin.partition,
                h.ORIGIN_OFFSET: origin.offset,
                h.ORIGIN_TIMESTAMP: event.message.timestamp,
                h.FAILED_AT: h.now_iso(),
            }
        )
        await self.topic.send(
            key=event.key,
            value=event.value,
            headers=_original_headers(event) + ours,
        )

    async def reject_with_body(
        self, event: faust.EventT, problems: list[Problem], *, error_class: str, secret: bool = False
    ) -> None:
        """Like :meth:`reject`, but the value is a JSON report holding the original.

        Used for config records, whose readers want the reasons next to the
        record: ``{"source", "key", "value", "reasons", "rejected_at"}``.
        With ``secret`` (integration records) the credentials are masked.
        """
        origin = origin_of(event)
        raw = _mask_credentials(event.value) if secret else event.value
        report = {
            "source": origin.model_dump(),
            "key": event.key.decode(errors="replace") if isinstance(event.key, bytes) else event.key,
            "value": raw.decode(errors="replace") if isinstance(raw, bytes) else raw,
            "reasons": [p.as_dict() for p in problems],
            "rejected_at": time.time(),
        }
        summary = "; ".join(str(p) for p in problems)
        log.warning("%s refused at %s: %s", self.kind, origin, summary)
        await self.topic.send(
            key=event.key,
            value=orjson.dumps(report),
            headers=h.encode(
                {
                    h.ERROR_CLASS: error_class,
                    h.ERROR_MESSAGE: summary,
                    h.ERROR_FIELDS: h.problems_text(problems),
                    h.ORIGIN_TOPIC: origin.topic,
                    h.ORIGIN_PARTITION: origin.partition,
                    h.ORIGIN_OFFSET: origin.offset,
                    h.FAILED_AT: h.now_iso(),
                }
            ),
        )
