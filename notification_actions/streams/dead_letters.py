"""Writing deliveries that will not be retried to the deliveries DLQ (headers: docs/dead-letters.md)."""

from __future__ import annotations

import logging

import faust

from notification_actions.logs import context
from notification_actions.kafka import headers as h
from notification_actions.models.delivery import Delivery, Outcome
from notification_actions.streams.rejects import origin_of
from notification_actions.streams.retry import iso

log = logging.getLogger(__name__)

__all__ = ["DeliveryDeadLetters"]


class DeliveryDeadLetters:
    def __init__(self, topic: faust.TopicT) -> None:
        self.topic = topic

    async def send(self, key: bytes, delivery: Delivery, outcome: Outcome) -> None:
        origin = delivery.origin
        log.warning("delivery %s dead-lettered after %d attempt(s): %s: %s",
                    delivery.dedup_key, outcome.attempt, outcome.error_class, outcome.error,
                    extra=context(organization_id=delivery.action.organization_id, action_id=delivery.action.id,
                                  delivery_id=delivery.dedup_key))
        await self.topic.send(
            key=key,
            value=delivery.to_bytes(),
            headers=h.encode(
                {
                    h.ERROR_CLASS: outcome.error_class,
                    h.ERROR_MESSAGE: outcome.error,
                    h.ERROR_CODE: outcome.code or (str(outcome.status) if outcome.status else None),
                    h.ATTEMPTS: outcome.attempt,
                    h.FIRST_ATTEMPT_AT: iso(delivery.first_attempt_at or outcome.at),
                    h.LAST_ATTEMPT_AT: iso(outcome.at),
                    h.ORIGIN_TOPIC: origin.topic,
                    h.ORIGIN_PARTITION: origin.partition,
                    h.ORIGIN_OFFSET: origin.offset,
                    h.ACTION_ID: delivery.action.id,
                    h.ORGANIZATION_ID: delivery.action.organization_id,
                    h.DEDUP_KEY: delivery.dedup_key,
                }
            ),
        )

    async def send_raw(self, event: faust.EventT, exc: Exception) -> None:
        """A record on the deliveries topic that is not a delivery at all: keep it untouched."""
        origin = origin_of(event)
        log.error("undecodable delivery at %s: %s", origin, exc)
        await self.topic.send(
            key=event.key,
            value=event.value,
            headers=h.encode(
                {
                    h.ERROR_CLASS: "InvalidDelivery",
                    h.ERROR_MESSAGE: f"undecodable delivery: {type(exc).__name__}",
                    h.ORIGIN_TOPIC: origin.topic,
                    h.ORIGIN_PARTITION: origin.partition,
                    h.ORIGIN_OFFSET: origin.offset,
                    h.FAILED_AT: h.now_iso(),
                }
            ),
        )
