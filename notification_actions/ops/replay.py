"""``notification-actions replay``: feed a range of an events topic back through matching.

Reads the range with a group-less consumer — the workers' group offsets do
not move — matches each event against the actions the workers hold (project
scope and conditions; throttles are *not* applied to a backfill), and
publishes the deliveries to the deliveries topic, where the live workers fire
them. Each keeps its dedup key (event id × action id), so events already
delivered are not sent again and an interrupted replay can simply be re-run;
``--force`` marks the deliveries to fire even so. ``--dry-run`` publishes
nothing and reports what would fire.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from notification_actions.errors import ConfigError, InvalidEvent
from notification_actions.models import decode_event
from notification_actions.settings import Settings
from notification_actions.tables.state import load_state
from notification_actions.streams.matching import matching_actions
from notification_actions.models.delivery import Delivery, Origin
from notification_actions.kafka.topics import trigger_of_topic
from notification_actions.kafka.security import client_config
from notification_actions.tables.actions import ActionIndex

__all__ = ["ReplayReport", "replay"]


@dataclass
class ReplayReport:
    events: int = 0
    invalid: int = 0
    deliveries: int = 0
    by_action: Counter = field(default_factory=Counter)
    by_service: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)


async def _ranges(consumer: AIOKafkaConsumer, tps: list[TopicPartition], *, from_offset, to_offset,
                  since: datetime | None, until: datetime | None) -> dict[TopicPartition, tuple[int, int]]:
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)

    async def at(when: datetime | None, default: dict) -> dict:
        if when is None:
            return default
        found = await consumer.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in tps})
        return {tp: (found[tp].offset if found[tp] is not None else ends[tp]) for tp in tps}

    starts, stops = await at(since, begins), await at(until, ends)
    out = {}
    for tp in tps:
        start = max(begins[tp], starts[tp] if from_offset is None else from_offset)
        stop = min(ends[tp], stops[tp] if to_offset is None else to_offset)
        out[tp] = (start, max(start, stop))
    return out


async def replay(
    settings: Settings,
    topic: str,
    *,
    partitions: list[int] | None = None,
    from_offset: int | None = None,
    to_offset: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
    rate: float | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ReplayReport:
    trigger = trigger_of_topic(settings, topic)
    if trigger is None:
        raise ConfigError(f"{topic!r} is not an events topic (expected {settings.events_topic_prefix}<trigger>)")
    index = ActionIndex()
    for action in (await load_state(settings, integrations=False, directories=False)).actions.values():
        index.put(action)
    report = ReplayReport()
    consumer = AIOKafkaConsumer(**client_config(settings), enable_auto_commit=False)
    producer = None if dry_run else AIOKafkaProducer(**client_config(settings), acks="all", enable_idempotence=True)
    await consumer.start()
    if producer is not None:
        await producer.start()
    try:
        await consumer._client.force_metadata_update()
        known = sorted(consumer.partitions_for_topic(topic) or [])
        tps = [TopicPartition(topic, p) for p in (partitions if partitions is not None else known)]
        if not tps:
            return report
        ranges = await _ranges(consumer, tps, from_offset=from_offset, to_offset=to_offset, since=since, until=until)
        report.ranges = {tp.partition: r for tp, r in ranges.items()}
        total = sum(stop - start for start, stop in ranges.values())
        pending = []
        started = time.monotonic()
        for tp, (start, stop) in ranges.items():
            if start >= stop:
                continue
            consumer.assign([tp])
            consumer.seek(tp, start)
            while (position := await consumer.position(tp)) < stop:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=min(500, stop - position))
                for record in batch.get(tp, []):
                    if record.offset >= stop:
                        break
                    report.events += 1
                    pending += _match(settings, index, trigger, record, report, force)
                    if rate:
                        ahead = report.events / rate - (time.monotonic() - started)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                if producer is not None and pending:
                    futures = [await producer.send(settings.deliveries_topic, key=d.target_key.encode(),
                                                   value=d.to_bytes()) for d in pending]
                    await asyncio.gather(*futures)
                pending = []
                progress(report.events, total)
        return report
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()


def _match(settings: Settings, index: ActionIndex, trigger, record, report: ReplayReport, force: bool) -> list:
    try:
        event = decode_event(record.value, topic_trigger=trigger, max_bytes=settings.max_event_bytes, key=record.key)
    except InvalidEvent:
        report.invalid += 1
        return []
    origin = Origin(topic=record.topic, partition=record.partition, offset=record.offset)
    out = []
    for action in matching_actions(index, event)[0]:
        delivery = Delivery.build(event, action, origin)
        delivery.force = force
        out.append(delivery)
        report.deliveries += 1
        report.by_action[action.id] += 1
        report.by_service[action.service_type.slug] += 1
        if len(report.examples) < 5:
            report.examples.append(f"{event.id} → action {action.id} ({action.service_type.slug} "
                                   f"{action.target_display or action.target_shown()})")
    return out
