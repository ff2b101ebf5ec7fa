"""The retry tiers' delay queue: tier topics → (wait until due) → deliveries topic.

Each tier topic has one fixed delay, so within a partition due times only
grow: the head of a partition is always the first due. This consumer (its
own group, ``<app_id>-retry``, beside the Faust worker's) reads a partition
until it meets a record not yet due, then seeks back to it and *pauses* the
partition until that time — no polling, and one waiting partition holds up
no other. Due records are re-published, unchanged, to the deliveries topic,
where the dispatch agent takes them with its tables; the tier offset is
committed only after the broker has them (at least once; the dedup table
and the circuit's sequence numbers absorb a repeat).

A record never pauses its partition for longer than its tier's delay after it
was written (:func:`pause_for`): its due time comes from a response's wait,
which ``retry.py`` already bounds, but a partition waiting on one record waits
for every tenant's records behind it, so the bound is kept here as well, and a
due time that is not a finite number means *due now*. Topics of tiers that
no longer exist (``RETRY_DELAYS_SECONDS`` was shortened) are drained too, with
the last tier's delay (:func:`tier_topics`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from notification_actions.metrics import DETACHED, Metrics
from notification_actions.settings import Settings
from notification_actions.kafka import headers as h
from notification_actions.kafka.security import client_config

log = logging.getLogger(__name__)

__all__ = ["DelayQueue", "pause_for", "tier_topics"]


def due_at(headers: list[tuple[str, bytes]] | None) -> float:
    """The ``na-due-at`` header (Unix time); 0 (due now) when absent or not a finite number."""
    for name, value in headers or ():
        if name == h.DUE_AT:
            try:
                due = float(value)
            except ValueError:
                return 0.0
            return due if math.isfinite(due) else 0.0
    return 0.0


def pause_for(headers: list[tuple[str, bytes]] | None, *, written_at: float, tier_delay: float, now: float) -> float:
    """Seconds until a tier record is due: its ``na-due-at``, but never later than
    ``tier_delay`` after it was ``written_at`` (0 when due)."""
    due = min(due_at(headers), written_at + tier_delay)
    return max(0.0, due - now)


def tier_topics(settings: Settings, existing: Iterable[str]) -> dict[str, float]:
    """Every tier topic to drain, with its delay: the configured tiers', and those of ``existing``
    topics named like a tier past them (their records wait the last tier's delay)."""
    delays = settings.retry_delays_seconds
    out = dict(zip(settings.retry_topics(), delays))
    pattern = re.compile(re.escape(settings.deliveries_topic) + r"\.retry\.(\d+)")
    for name in existing:
        match = pattern.fullmatch(name)
        if match and name not in out:
            out[name] = delays[-1]
    return out


class DelayQueue:
    metrics: Metrics = DETACHED

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.moved = 0
        self.delays: dict[str, float] = dict(zip(settings.retry_topics(), settings.retry_delays_seconds))

    async def run(self) -> None:
        """Forward due records forever. An error (the broker away, say) restarts
        the consumer from its committed offsets after a pause, rather than
        crashing the worker: Faust would take the whole app down with a task."""
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retry delay queue failed; restarting it from the committed offsets in 2s")
                await asyncio.sleep(2.0)

    async def _run_once(self) -> None:
        connection = client_config(self.settings)
        consumer = AIOKafkaConsumer(
            **connection,
            group_id=f"{self.settings.app_id}-retry",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(min(3.0, self.settings.session_timeout_seconds / 3) * 1000),
        )
        producer = AIOKafkaProducer(**connection, acks="all", enable_idempotence=True)
        try:  # the starts too: a consumer that fails to start (or a cancel between) must not leave the producer up
            await producer.start()
            await consumer.start()
            self.delays = tier_topics(self.settings, await consumer.topics())
            removed = sorted(set(self.delays) - set(self.settings.retry_topics()))
            if removed:
                log.warning("retry tier topic(s) %s are past the configured tiers; draining them with the last "
                            "tier's delay (%ss)", ", ".join(removed), self.settings.retry_delays_seconds[-1])
            consumer.subscribe(topics=list(self.delays))
            log.info("retry delay queue started on %s", ", ".join(self.delays))
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, records in batch.items():
                    await self._forward(consumer, producer, tp, records)
        finally:
            await consumer.stop()
            await producer.stop()

    async def _forward(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, tp: TopicPartition, records) -> None:
        sent = []
        last = None
        tier_delay = self.delays.get(tp.topic, self.settings.retry_delays_seconds[-1])
        for record in records:
            now = time.time()
            written_at = record.timestamp / 1000 if record.timestamp and record.timestamp > 0 else now
            wait = pause_for(record.headers, written_at=written_at, tier_delay=tier_delay, now=now)
            if wait > 0:
                consumer.seek(tp, record.offset)
                consumer.pause(tp)
                asyncio.get_running_loop().call_later(wait, self._resume, consumer, tp)
                break
            sent.append(
                await producer.send(
                    self.settings.deliveries_topic, key=record.key, value=record.value, headers=list(record.headers)
                )
            )
            last = record.offset
        if sent:
            await asyncio.gather(*sent)
            await consumer.commit({tp: last + 1})
            self.moved += len(sent)
            self.metrics.retry_forwarded.inc(len(sent))

    @staticmethod
    def _resume(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        try:
            consumer.resume(tp)
        except Exception:  # revoked meanwhile: its new owner reads it afresh
            pass
