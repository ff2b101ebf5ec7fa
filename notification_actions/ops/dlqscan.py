"""A bounded look at the deliveries DLQ, and a redrive of what it selects: what the console's API serves.

``ops/dlq.py`` reads a whole DLQ (the operator's command line may); an HTTP
request must not make a worker read without bound. :func:`scan` reads only the
newest ``limit`` records of the topic (split over its partitions), without a
consumer group and within a deadline, and says how much it read and whether
older records were left out. :func:`redrive_scoped` re-submits deliveries like
``dlq redrive`` does, with the action's current definition taken from the
worker's own table, and only when that action still belongs to the organization
asking.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from notification_actions.kafka import headers as h
from notification_actions.kafka.security import client_config
from notification_actions.models import NotificationAction
from notification_actions.ops.dlq import DeadLetter, Filters, RedriveReport, plan_deliveries
from notification_actions.settings import Settings

__all__ = ["Scan", "organization_of", "redrive_scoped", "scan", "select"]


@dataclass
class Scan:
    """The newest records of a DLQ: ``letters`` oldest first; ``truncated`` when older ones exist."""

    topic: str
    letters: list[DeadLetter]
    scanned: int
    limit: int
    truncated: bool
    at: float = field(default_factory=time.time)


async def scan(settings: Settings, topic: str, limit: int, timeout: float = 15.0) -> Scan:
    """The last ``limit`` records of ``topic`` (about ``limit / partitions`` from each), group-less."""
    consumer = AIOKafkaConsumer(**client_config(settings), enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=1024 * 1024)
    letters: list[DeadLetter] = []
    truncated = False
    try:
        await consumer.start()
        await consumer._client.force_metadata_update()  # the topic may be new to this client
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return Scan(topic, [], 0, limit, False)
        consumer.assign(tps)
        begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        share = max(1, limit // len(tps))
        for tp in tps:
            start = max(begins[tp], ends[tp] - share)
            truncated = truncated or start > begins[tp]
            consumer.seek(tp, start)
        remaining = {tp for tp in tps if ends[tp] > begins[tp]}
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading the newest records of {topic} took longer than {timeout:.0f}s")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        raw = list(r.headers or [])
                        letters.append(DeadLetter(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                                                  h.decode(raw), raw))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    letters.sort(key=lambda d: (d.timestamp_ms, d.partition, d.offset))
    return Scan(topic, letters, len(letters), limit, truncated)


def organization_of(letter: DeadLetter) -> int | None:
    """The organization a deliveries-DLQ record belongs to: its ``na-organization-id`` header, and only when
    the value is a delivery of an action of that same organization (None otherwise: undecodable, or headers
    and value disagree — such a record is the admin's to look at)."""
    claimed = letter.headers.get(h.ORGANIZATION_ID, "")
    if not (claimed.isascii() and claimed.isdigit()):
        return None
    try:
        doc = orjson.loads(letter.value or b"")
        org = doc["action"]["organization_id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return org if isinstance(org, int) and not isinstance(org, bool) and str(org) == claimed else None


def select(letters: Iterable[DeadLetter], filters: Filters, organization_id: int | None) -> list[DeadLetter]:
    """``letters`` that ``filters`` accept; with ``organization_id``, only that organization's own."""
    out = []
    for letter in letters:
        if organization_id is not None and organization_of(letter) != organization_id:
            continue
        if filters.accept(letter):
            out.append(letter)
    return out


class _Actions(Protocol):
    def get(self, action_id: str) -> NotificationAction | None: ...


class _Scoped:
    """The worker's actions as ``plan_deliveries`` asks for them, limited to one organization (None: all)."""

    def __init__(self, actions: _Actions, organization_id: int | None) -> None:
        self.actions, self.organization_id = actions, organization_id

    def get(self, action_id: str) -> NotificationAction | None:
        action = self.actions.get(action_id)
        if action is None or (self.organization_id is not None and action.organization_id != self.organization_id):
            return None
        return action


@dataclass
class ScopedRedrive:
    planned: list[dict[str, Any]] = field(default_factory=list)  # {"deliveryId", "actionId"}
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"what", "why"}
    sent: int = 0


async def redrive_scoped(
    settings: Settings,
    letters: list[DeadLetter],
    actions: _Actions,
    organization_id: int | None,
    *,
    dry_run: bool,
) -> ScopedRedrive:
    """Re-submit deliveries-DLQ ``letters`` to the deliveries topic (original dedup keys, current actions)."""
    from notification_actions.kafka.io import publish

    report = RedriveReport()
    plan = []
    for dedup, key, value in plan_deliveries(letters, _Scoped(actions, organization_id), report):  # type: ignore[arg-type]
        plan.append((dedup, key, value))
    out = ScopedRedrive(skipped=[{"what": what, "why": why} for what, why in report.skipped])
    for dedup, _, value in plan:
        out.planned.append({"deliveryId": dedup, "actionId": orjson.loads(value)["action"]["id"]})
    if dry_run or not plan:
        return out
    records = [(key, value, [("na-redriven-from", dedup.encode())]) for dedup, key, value in plan]
    for start in range(0, len(records), 500):
        out.sent += await publish(settings, settings.deliveries_topic, records[start:start + 500])
    return out
