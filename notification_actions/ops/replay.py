"""``notification-actions replay`` and backfill jobs: feed a range of events topics back to the workers.

Reads the range with a group-less consumer — the workers' group offsets do not
move — and matches each event against the actions the workers hold (their
changelog), within the scope asked for (actions, organizations, a project):
project scope and conditions, as live matching applies them. Each event that
gives rise to a delivery in scope is copied, untouched, to the replay topic
(``models/replay.py``) in its own partition; the workers' replay agent
(``streams/replayed.py``) matches it again within the scope, applies the live
throttle (unless ``throttle=False``) and writes the deliveries, which fire with
their dedup key (event id × action id): an interrupted replay can simply be re-run.
``force`` marks the deliveries to fire even so. The counts are before throttles.

A dedup key is remembered ``DEDUP_TTL_SECONDS`` after its delivery: a range with
events older than that would send again what was sent then. Such a replay that
is not limited to named actions (``scope.actions``) runs as a dry run and is
reported as ``refused`` unless ``confirmed``. ``dry_run`` writes nothing.
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
from notification_actions.kafka import headers as h
from notification_actions.kafka.security import client_config
from notification_actions.kafka.topics import trigger_of_topic
from notification_actions.models import NotificationAction, decode_event
from notification_actions.models.delivery import Origin
from notification_actions.models.replay import ReplayRequest, ReplayScope
from notification_actions.settings import Settings
from notification_actions.streams.matching import matching_actions
from notification_actions.tables.actions import ActionIndex
from notification_actions.tables.state import load_state

__all__ = ["ReplayReport", "replay", "replay_topics"]


@dataclass
class ReplayReport:
    scope: ReplayScope = field(default_factory=ReplayScope)
    topics: list[str] = field(default_factory=list)
    total: int = 0  # events in the range
    events: int = 0  # events read so far
    invalid: int = 0
    published: int = 0  # events handed to the workers
    deliveries: int = 0  # before throttles
    by_action: Counter = field(default_factory=Counter)
    by_service: Counter = field(default_factory=Counter)
    by_organization: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    past_dedup_window: bool = False  # the range holds events older than now - DEDUP_TTL_SECONDS
    refused: bool = False  # ... and nothing was sent, for want of a confirmation
    started: float = field(default_factory=time.monotonic)

    def eta_seconds(self) -> float | None:
        if not self.events or not self.total:
            return None
        return (time.monotonic() - self.started) / self.events * (self.total - self.events)

    def counts(self) -> dict:
        """The counts as JSON (``replay --json``, backfill jobs)."""
        return {"byService": dict(self.by_service.most_common()),
                "byOrganization": {str(k): v for k, v in self.by_organization.most_common()},
                "byAction": dict(self.by_action.most_common())}

    def as_json(self) -> dict:
        return {"scope": self.scope.model_dump(mode="json"), "topics": self.topics, "eventsRead": self.events,
                "eventsTotal": self.total, "invalid": self.invalid, "deliveries": self.deliveries,
                "eventsPublished": self.published, "pastDedupWindow": self.past_dedup_window,
                "refused": self.refused, "counts": self.counts(),
                "ranges": [{"topic": t, "partition": p, "from": a, "to": b}
                           for (t, p), (a, b) in sorted(self.ranges.items())]}


def replay_topics(settings: Settings, actions: dict[str, NotificationAction], topic: str | None,
                  scope: ReplayScope) -> list[str]:
    """The events topics to read: ``topic``, or those of the triggers of ``scope.actions``.
    An action the workers do not hold, or of another trigger than ``topic``, is a ``ConfigError``."""
    for action_id in scope.actions:
        if action_id not in actions:
            raise ConfigError(f"unknown action {action_id!r}: not held by the workers")
    if topic is not None:
        trigger = trigger_of_topic(settings, topic)
        if trigger is None:
            raise ConfigError(f"{topic!r} is not an events topic (expected {settings.events_topic_prefix}<trigger>)")
        for action_id in scope.actions:
            if actions[action_id].trigger_type != trigger:
                raise ConfigError(f"action {action_id!r} has trigger {actions[action_id].trigger_type.slug}, "
                                  f"not the {trigger.slug} of {topic}")
        return [topic]
    if not scope.actions:
        raise ConfigError("give --topic, or --action to replay the topics of its trigger")
    return sorted({settings.event_topic(actions[a].trigger_type.slug) for a in scope.actions})


async def _ranges(consumer: AIOKafkaConsumer, tps: list[TopicPartition], *, from_offset, to_offset,
                  since: datetime | None, until: datetime | None) -> dict[TopicPartition, tuple[int, int]]:
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    starts, stops = await _at(consumer, tps, since, begins, ends), await _at(consumer, tps, until, ends, ends)
    out = {}
    for tp in tps:
        start = max(begins[tp], starts[tp] if from_offset is None else from_offset)
        stop = min(ends[tp], stops[tp] if to_offset is None else to_offset)
        out[tp] = (start, max(start, stop))
    return out


async def _at(consumer: AIOKafkaConsumer, tps: list[TopicPartition], when: datetime | float | None,
              default: dict, ends: dict) -> dict[TopicPartition, int]:
    """Per partition, the first offset whose timestamp is at or after ``when`` (its end if none is)."""
    if when is None:
        return default
    ms = int((when.timestamp() if isinstance(when, datetime) else when) * 1000)
    found = await consumer.offsets_for_times({tp: ms for tp in tps})
    return {tp: (found[tp].offset if found[tp] is not None else ends[tp]) for tp in tps}


async def replay(
    settings: Settings,
    topic: str | None = None,
    *,
    scope: ReplayScope = ReplayScope(),
    partitions: list[int] | None = None,
    from_offset: int | None = None,
    to_offset: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
    throttle: bool = True,
    confirmed: bool = False,
    rate: float | None = None,
    job: str | None = None,
    progress: Callable[[ReplayReport], None] = lambda report: None,
    actions: dict[str, NotificationAction] | None = None,
) -> ReplayReport:
    """Replay a range (see the module docstring); ``progress`` is called after each batch read.

    ``actions``: the actions to match against, when the caller holds them (a worker's backfill job: those
    of its scope, from the worker's own table); read from the actions changelog otherwise."""
    if actions is None:
        actions = (await load_state(settings, integrations=False, directories=False)).actions
    topics = replay_topics(settings, actions, topic, scope)
    index = ActionIndex()
    for action in actions.values():
        if scope.takes_action(action):
            index.put(action)
    report = ReplayReport(scope=scope, topics=topics)
    consumer = AIOKafkaConsumer(**client_config(settings), enable_auto_commit=False)
    producer = None
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in topics
               for p in (partitions if partitions is not None else sorted(consumer.partitions_for_topic(t) or []))]
        ranges = await _ranges(consumer, tps, from_offset=from_offset, to_offset=to_offset, since=since, until=until)
        report.ranges = {(tp.topic, tp.partition): r for tp, r in ranges.items()}
        report.total = sum(stop - start for start, stop in ranges.values())
        window = await _at(consumer, tps, time.time() - settings.dedup_ttl_seconds, {}, {tp: b for tp, (_, b) in ranges.items()})
        report.past_dedup_window = any(start < min(stop, window[tp]) for tp, (start, stop) in ranges.items())
        report.refused = report.past_dedup_window and not scope.actions and not confirmed and not dry_run
        if not (dry_run or report.refused) and report.total:
            _check_replay_topic(settings, consumer, topics)
            producer = AIOKafkaProducer(**client_config(settings), acks="all", enable_idempotence=True)
            await producer.start()
        progress(report)
        for tp, (start, stop) in ranges.items():
            if start < stop:
                await _read(settings, consumer, producer, tp, start, stop, index, report,
                            ReplayRequest(trigger=trigger_of_topic(settings, tp.topic),
                                          source=Origin(topic=tp.topic, partition=tp.partition, offset=0),
                                          force=force, throttle=throttle, job=job, **scope.model_dump()),
                            rate, progress)
        return report
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()


def _check_replay_topic(settings: Settings, consumer: AIOKafkaConsumer, topics: list[str]) -> None:
    have = len(consumer.partitions_for_topic(settings.replay_topic) or ())
    if not have:
        raise ConfigError(f"the replay topic {settings.replay_topic} does not exist: a worker creates it on start")
    for t in topics:
        if (n := len(consumer.partitions_for_topic(t) or ())) != have:
            raise ConfigError(f"{t} has {n} partitions, the replay topic {settings.replay_topic} {have}: "
                              "they must be co-partitioned (NOTIFICATION_ACTIONS_TOPIC_PARTITIONS)")


async def _read(settings, consumer, producer, tp, start, stop, index, report, request, rate, progress) -> None:
    consumer.assign([tp])
    consumer.seek(tp, start)
    while (position := await consumer.position(tp)) < stop:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=min(500, stop - position))
        futures = []
        for record in batch.get(tp, []):
            if record.offset >= stop:
                break
            report.events += 1
            if _match(settings, index, request.trigger, record, report, request) and producer is not None:
                header = request.model_copy(update={"source": Origin(topic=record.topic, partition=record.partition,
                                                                     offset=record.offset)}).to_header()
                futures.append(await producer.send(settings.replay_topic, key=record.key, value=record.value,
                                                   partition=record.partition, headers=[(h.REPLAY, header)]))
            if rate:
                ahead = report.events / rate - (time.monotonic() - report.started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if futures:
            await asyncio.gather(*futures)
            report.published += len(futures)
        progress(report)


def _match(settings: Settings, index: ActionIndex, trigger, record, report: ReplayReport, scope: ReplayScope) -> int:
    """Count the deliveries in scope ``record`` gives rise to; return how many."""
    try:
        event = decode_event(record.value, topic_trigger=trigger, max_bytes=settings.max_event_bytes, key=record.key)
    except InvalidEvent:
        report.invalid += 1
        return 0
    if not scope.takes_event(event):
        return 0
    matched = matching_actions(index, event)[0]
    for action in matched:
        report.deliveries += 1
        report.by_action[action.id] += 1
        report.by_service[action.service_type.slug] += 1
        report.by_organization[event.organization_id] += 1
        if len(report.examples) < 5:
            report.examples.append(f"{event.id} → action {action.id} ({action.service_type.slug} "
                                   f"{action.target_display or action.target_shown()})")
    return len(matched)
