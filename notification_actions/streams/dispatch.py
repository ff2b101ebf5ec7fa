"""Deliveries → registration ``fire()`` → outcomes; failures → deliveries DLQ.

The agent reads the deliveries topic without automatic acks and hands each
delivery to an :class:`InFlight` set (per-target order, bounded pending) while
at most ``max_in_flight`` fires run at once. A delivery's message is acked —
and so its offset becomes committable — only after its outcome is on its way
to the outcomes topic (Faust flushes the producer before every commit), and,
on success, after its dedup key is in the dedup table; acks go out in offset
order per partition (``acks.py``). Ordered steps per delivery:

1. skip it if its dedup key already succeeded (a crash, a rebalance, a replay);
2. resolve the integration (credentials never travel in deliveries) and fire;
3. write the outcome; on success mark the dedup key, on failure dead-letter;
4. ack (once every earlier delivery of the partition is acked too).
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
import httpx

from notification_actions.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import Integration
from notification_actions.registry import FireContext, FireResult, Registry
from notification_actions.settings import Settings
from notification_actions.streams import headers as h
from notification_actions.streams.acks import OrderedAcks, Ticket
from notification_actions.streams.inflight import InFlight
from notification_actions.streams.records import Delivery, Outcome
from notification_actions.streams.rejects import origin_of
from notification_actions.tables.dedup import DedupTable
from notification_actions.tables.records import DirectoryTable, IntegrationsTable

log = logging.getLogger(__name__)

__all__ = ["DispatchStage", "redact"]


def redact(text: str, integration: Integration | None) -> str:
    """``text`` with every credential of ``integration`` masked (defence in depth:
    registrations already keep secrets out of their errors)."""
    if not text or integration is None:
        return text
    for secret in _secret_values(integration):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "**********")
    return text


def _secret_values(integration: Integration) -> list[str]:
    out = []
    for value in integration.credentials.values():
        if isinstance(value, dict):
            out += [v.get_secret_value() for v in value.values()]
        else:
            out.append(value.get_secret_value())
    return out


class DispatchStage:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        integrations: IntegrationsTable,
        directory: DirectoryTable,
        dedup: DedupTable,
        outcomes: faust.TopicT,
        dead_letters: faust.TopicT,
        crash,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.integrations = integrations
        self.directory = directory
        self.dedup = dedup
        self.outcomes = outcomes
        self.dead_letters = dead_letters
        self.counts = {"ok": 0, "dead": 0, "duplicate": 0}
        self._http: httpx.AsyncClient | None = None
        self._firing: asyncio.Semaphore | None = None
        self.crash = crash

    async def agent(self, stream: faust.StreamT) -> None:
        if self._http is None:
            self._firing = asyncio.Semaphore(self.settings.max_in_flight)
            self._http = httpx.AsyncClient(
                timeout=self.settings.http_timeout_seconds,
                limits=httpx.Limits(max_connections=self.settings.max_in_flight * 2),
                follow_redirects=False,
            )
        jobs = InFlight(max_pending=max(self.settings.max_in_flight * 8, 256))
        acks = OrderedAcks()
        # On rebalance and on shutdown Faust waits (stream_wait_empty) until
        # every message this stream took is acked, then commits: in-flight
        # deliveries finish and record their outcomes first.
        async for event in stream.noack().events():
            ticket = acks.track(event)
            await jobs.submit(event.key, lambda ticket=ticket: self._handle_then_ack(ticket, acks))

    async def close(self, *args: object, **kwargs: object) -> None:
        """Close the HTTP client; connected to ``app.on_before_shutdown`` (after the drain)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _handle_then_ack(self, ticket: Ticket, acks: OrderedAcks) -> None:
        try:
            await self.handle(ticket.event)
        except Exception as exc:
            # Only a broken producer gets here (handle() turns every delivery
            # failure into an outcome). Without an ack the commit cannot pass
            # this delivery, so it is redelivered after a restart: crash now.
            log.critical("could not record the outcome of a delivery; stopping the worker: %r", exc)
            await self.crash(exc)
            return
        acks.done(ticket)

    async def handle(self, event: faust.EventT) -> None:
        try:
            delivery = Delivery.from_bytes(event.value)
        except Exception as exc:
            await self._dead_letter_raw(event, exc)
            return
        if self.dedup.delivered(delivery.dedup_key):
            self.counts["duplicate"] += 1
            log.info("delivery %s already succeeded; not firing again", delivery.dedup_key)
            return
        outcome, integration = await self.fire(delivery)
        await self.outcomes.send(key=delivery.dedup_key.encode(), value=outcome.to_bytes())
        if outcome.result == "ok":
            self.counts["ok"] += 1
            self.dedup.mark_delivered(delivery.dedup_key)
        else:
            self.counts["dead"] += 1
            await self._dead_letter(event, delivery, outcome)

    async def fire(self, delivery: Delivery) -> tuple[Outcome, Integration | None]:
        """Fire once and describe what happened. Never raises."""
        action = delivery.action
        started = time.monotonic()
        integration = None
        result: FireResult | None = None
        error: Exception | None = None
        try:
            registration = self.registry.get(action.trigger_type, action.service_type, action.target_type)
            if action.integration_id:
                integration = self.integrations.get(action.integration_id)
                if integration is None:
                    raise PermanentDeliveryError(
                        f"integration {action.integration_id!r} not found", code="integration_not_found"
                    )
            context = FireContext(
                settings=self.settings,
                http=self._http,
                integration=integration,
                directory=self.directory.get(action.organization_id),
                delivery_id=delivery.dedup_key,
            )
            assert self._firing is not None
            async with self._firing:
                result = await asyncio.wait_for(
                    registration(action, context).fire(delivery.event),
                    timeout=self.settings.http_timeout_seconds * 2,
                )
        except asyncio.TimeoutError:
            error = RetryableDeliveryError("fire() timed out", code="timeout")
        except Exception as exc:  # a registration bug is still an outcome, never a crash
            error = exc
        latency_ms = (time.monotonic() - started) * 1000
        return self._outcome(delivery, result, error, latency_ms, integration), integration

    def _outcome(
        self,
        delivery: Delivery,
        result: FireResult | None,
        error: Exception | None,
        latency_ms: float,
        integration: Integration | None,
    ) -> Outcome:
        action = delivery.action
        base = dict(
            dedup_key=delivery.dedup_key,
            action_id=action.id,
            organization_id=action.organization_id,
            trigger=action.trigger_type.slug,
            service=action.service_type.slug,
            target=action.target_type.slug,
            attempt=delivery.attempt,
            latency_ms=round(latency_ms, 3),
            at=time.time(),
        )
        if error is None:
            return Outcome(
                result="ok",
                status=result.status if result else None,
                detail=redact(result.detail, integration) if result else "",
                **base,
            )
        status = getattr(error, "status", None)
        code = getattr(error, "code", None) if isinstance(error, DeliveryError) else None
        message = redact(str(error), integration) or type(error).__name__
        if not isinstance(error, DeliveryError):
            log.error("registration raised %s for action %s", type(error).__name__, action.id)
        # Until the retry path exists every failure is final: dead-lettered, never lost.
        return Outcome(
            result="dead",
            status=status,
            error_class=type(error).__name__,
            error=message[:1000],
            code=code,
            **base,
        )

    async def _dead_letter(self, event: faust.EventT, delivery: Delivery, outcome: Outcome) -> None:
        origin = delivery.origin
        log.warning(
            "delivery %s dead-lettered: %s: %s", delivery.dedup_key, outcome.error_class, outcome.error
        )
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.at))
        await self.dead_letters.send(
            key=event.key,
            value=delivery.to_bytes(),
            headers=h.encode(
                {
                    h.ERROR_CLASS: outcome.error_class,
                    h.ERROR_MESSAGE: outcome.error,
                    h.ERROR_CODE: outcome.code or (str(outcome.status) if outcome.status else None),
                    h.ATTEMPTS: delivery.attempt,
                    h.FIRST_ATTEMPT_AT: when,
                    h.LAST_ATTEMPT_AT: when,
                    h.ORIGIN_TOPIC: origin.topic,
                    h.ORIGIN_PARTITION: origin.partition,
                    h.ORIGIN_OFFSET: origin.offset,
                    h.ACTION_ID: delivery.action.id,
                    h.ORGANIZATION_ID: delivery.action.organization_id,
                    h.DEDUP_KEY: delivery.dedup_key,
                }
            ),
        )

    async def _dead_letter_raw(self, event: faust.EventT, exc: Exception) -> None:
        origin = origin_of(event)
        log.error("undecodable delivery at %s: %s", origin, exc)
        await self.dead_letters.send(
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
