"""Consumer lag per group/topic/partition, in messages and seconds, with a status.

Two consumer groups: the worker's Faust group (``app_id``) on the event,
deliveries and config topics, and the delay queue's ``<app_id>-retry`` on the
retry tier topics. A *sample* reads, per partition, the group's committed
offset (admin API), the end offset, and the timestamp of the oldest
unconsumed record — fetched at the committed offset by a standalone consumer
(no group) — and the group's member count.

A *status* needs history, so it is judged over a window of samples, in the
spirit of Burrow (rules in :func:`status_of`, documented in docs/operations.md):
OK, WARN (lag growing), STALL (a live group whose offset does not move while
lag > 0), STOP (nobody consumes while lag > 0). Kafka does not report when a
commit arrived, so "commits arrive" is read as "the group has live members".

``notification-actions lag`` (``cli/lag.py``) samples ``--samples`` times
``--interval`` apart; the worker's ``/lag`` keeps a rolling window (:class:`LagSampler`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.metadata import MetadataRequest

from notification_actions.metrics import Metrics
from notification_actions.settings import Settings
from notification_actions.streams.delay import due_at
from notification_actions.kafka.topics import event_topics
from notification_actions.kafka.security import client_config

log = logging.getLogger(__name__)

__all__ = ["LagProbe", "LagReport", "LagSampler", "PartitionLag", "evaluate", "lag_groups"]

SEVERITY = {"OK": 0, "WARN": 1, "STALL": 2, "STOP": 3}
EXIT_CODES = {"OK": 0, "WARN": 1, "STALL": 2, "STOP": 2}
EXIT_UNKNOWN = 3


def lag_groups(settings: Settings) -> dict[str, list[str]]:
    """Consumer group → the topics it consumes."""
    main = [
        *event_topics(settings),
        settings.replay_topic,
        settings.deliveries_topic,
        settings.config_topic,
        settings.integrations_topic,
        settings.directory_topic,
    ]
    return {settings.app_id: main, f"{settings.app_id}-retry": settings.retry_topics()}


@dataclass
class Reading:
    """One partition in one sample (no status yet)."""

    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    lag_seconds: float | None
    members: int
    head_due_at: float | None = None  # retry tiers: when the oldest unconsumed record is due


@dataclass
class Sample:
    at: float
    readings: list[Reading]


@dataclass
class PartitionLag:
    """A partition's latest reading and its status over the window."""

    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    lag_seconds: float | None
    status: str


@dataclass
class LagReport:
    sampled_at: float
    samples: int
    window_seconds: float
    members: dict[str, int]
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst partition status (OK when there are no partitions)."""
        return max((p.status for p in self.partitions), key=SEVERITY.__getitem__, default="OK")

    @property
    def exit_code(self) -> int:
        """0 all OK, 1 WARN, 2 STALL or STOP (see docs/operations.md)."""
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict:
        """The JSON shape of ``lag --json`` and ``/lag``."""
        groups = {}
        for name, members in self.members.items():
            mine = [p for p in self.partitions if p.group == name]
            groups[name] = {
                "members": members,
                "status": max((p.status for p in mine), key=SEVERITY.__getitem__, default="OK"),
                "lag": sum(p.lag for p in mine),
            }
        return {
            "status": self.status,
            "sampled_at": self.sampled_at,
            "samples": self.samples,
            "window_seconds": round(self.window_seconds, 3),
            "groups": groups,
            "partitions": [asdict(p) for p in self.partitions],
        }


def status_of(history: list[Reading]) -> str:
    """Burrow-style status of one partition from its readings, oldest first."""
    latest = history[-1]
    if latest.lag <= 0:
        return "OK"
    if latest.head_due_at is not None and latest.head_due_at > time.time():
        return "OK"  # a retry tier waiting for its head to fall due: lag by design
    moved = any(r.committed != history[0].committed for r in history[1:])
    if not moved:
        if latest.members == 0:
            return "STOP"
        # one reading cannot show a stuck offset
        return "STALL" if len(history) >= 2 else "OK"
    lags = [r.lag for r in history]
    if len(lags) >= 3 and all(b > a for a, b in zip(lags, lags[1:])):
        return "WARN"
    return "OK"


def evaluate(window: list[Sample]) -> LagReport:
    """Statuses of the latest sample's partitions, judged over ``window`` (oldest first)."""
    if not window:
        raise ValueError("no sample to evaluate")
    history: dict[tuple[str, str, int], list[Reading]] = {}
    for sample in window:
        for r in sample.readings:
            history.setdefault((r.group, r.topic, r.partition), []).append(r)
    latest = window[-1]
    rows = []
    members: dict[str, int] = {}
    for r in latest.readings:
        members[r.group] = r.members
        rows.append(
            PartitionLag(
                r.group, r.topic, r.partition, r.committed, r.end, r.lag,
                None if r.lag_seconds is None else round(r.lag_seconds, 3),
                status_of(history[(r.group, r.topic, r.partition)]),
            )
        )
    return LagReport(latest.at, len(window), latest.at - window[0].at, members, rows)


class LagProbe:
    """An admin client and a group-less consumer that take lag samples."""

    def __init__(self, settings: Settings, *, head_timeout: float = 5.0) -> None:
        self.settings = settings
        self.groups = lag_groups(settings)
        self.head_timeout = head_timeout
        connection = client_config(settings)
        self.admin = AIOKafkaAdminClient(**connection, request_timeout_ms=10000, client_id="na-lag")
        self.consumer = AIOKafkaConsumer(
            **connection,
            group_id=None,
            client_id="na-lag",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a committed offset past retention: the oldest record left
            max_partition_fetch_bytes=64 * 1024,
            request_timeout_ms=10000,
        )

    async def start(self) -> None:
        """Connect both clients (closing them again if either fails)."""
        try:
            await self.admin.start()
            await self.consumer.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop both clients; never raises."""
        for closer in (self.consumer.stop, self.admin.close):
            try:
                await closer()
            except Exception as exc:
                log.debug("closing the lag probe: %r", exc)

    async def __aenter__(self) -> "LagProbe":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _partitions(self) -> dict[str, list[int]]:
        # Only the wanted topics' metadata, with auto-creation off (Metadata v4+,
        # every broker since Kafka 1.0; a missing topic comes back with an error
        # code and is skipped). Asking for every topic decoded the whole
        # cluster's metadata on the worker's event loop each sample: ~60 ms with
        # 1,900 topics, and 200-400 ms stalls of every delivery every 5 s
        # under load (docs/benchmarks.md).
        wanted = sorted({t for topics in self.groups.values() for t in topics})
        out = {}
        for d in await self.describe(wanted):
            if d["topic"] in wanted and not d.get("error_code"):
                out[d["topic"]] = sorted(p["partition"] for p in d["partitions"])
        return out

    async def describe(self, topics: list[str]) -> list[dict]:
        """Metadata of ``topics`` only, never creating one (a missing one has an ``error_code``)."""
        response = await self.admin._send_request(MetadataRequest(topics, allow_auto_topic_creation=False))
        return response.to_object()["topics"]

    async def _members(self, group: str) -> int:
        [response] = await self.admin.describe_consumer_groups([group])
        groups = response.to_object()["groups"]
        return sum(len(g["members"]) for g in groups if g.get("group") == group and not g.get("error_code"))

    async def sample(self, timeout: float = 30.0) -> Sample:
        """One reading of every partition of every group (``TimeoutError`` past ``timeout``)."""
        # aiokafka's end_offsets can wait forever on a partition deleted meanwhile
        return await asyncio.wait_for(self._sample(), timeout)

    async def _sample(self) -> Sample:
        partitions = await self._partitions()
        tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
        ends = await self.consumer.end_offsets(tps) if tps else {}
        starts = await self.consumer.beginning_offsets(tps) if tps else {}
        readings: list[Reading] = []
        heads: dict[TopicPartition, int] = {}
        for group, topics in self.groups.items():
            committed = await self.admin.list_consumer_group_offsets(group)
            members = await self._members(group)
            for topic in topics:
                for p in partitions.get(topic, []):
                    tp = TopicPartition(topic, p)
                    meta = committed.get(tp)
                    offset = meta.offset if meta is not None and meta.offset >= 0 else None
                    position = starts[tp] if offset is None else offset
                    lag = max(0, ends[tp] - position)
                    readings.append(Reading(group, topic, p, offset, ends[tp], lag, None if lag else 0.0, members))
                    if lag:
                        heads[tp] = position
        at = time.time()
        found = await self._heads(heads)
        for r in readings:
            record = found.get(TopicPartition(r.topic, r.partition))
            if r.lag and record is not None:
                r.lag_seconds = max(0.0, at - record.timestamp / 1000)
                if r.group != self.settings.app_id:
                    r.head_due_at = due_at(record.headers) or None
        return Sample(at, readings)

    async def _heads(self, positions: dict[TopicPartition, int]) -> dict[TopicPartition, object]:
        """The first record at or after each position (the oldest unconsumed message)."""
        if not positions:
            return {}
        self.consumer.assign(list(positions))
        for tp, offset in positions.items():
            self.consumer.seek(tp, offset)
        found: dict[TopicPartition, object] = {}
        deadline = time.monotonic() + self.head_timeout
        while len(found) < len(positions):
            left = deadline - time.monotonic()
            if left <= 0:
                log.debug("no record fetched for %d lagging partition(s)", len(positions) - len(found))
                break
            waiting = [tp for tp in positions if tp not in found]
            batch = await self.consumer.getmany(*waiting, timeout_ms=int(min(left, 1.0) * 1000))
            for tp, records in batch.items():
                if records and tp not in found:
                    found[tp] = records[0]
        self.consumer.assign([])
        return found


class LagSampler:
    """The worker's rolling window of lag samples (``/lag``) and the lag gauges (``/metrics``)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.window: deque[Sample] = deque(maxlen=settings.lag_window_samples)
        self.report: LagReport | None = None

    async def run(self) -> None:
        """Sample forever (a Faust app task). Never raises: a failed sample is logged and retried."""
        probe: LagProbe | None = None
        failures = 0
        try:
            while True:
                try:
                    if probe is None:
                        probe = LagProbe(self.settings)
                        await probe.start()
                    self.window.append(await probe.sample())
                    self.report = evaluate(list(self.window))
                    self.metrics.record_lag(self.report.partitions, self.report.sampled_at)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    # once loudly, then quietly while the failure lasts
                    log.log(logging.WARNING if failures == 1 else logging.DEBUG, "lag sample failed: %r", exc)
                    if probe is not None:
                        await probe.close()
                        probe = None
                await asyncio.sleep(self.settings.lag_sample_interval_seconds)
        finally:
            if probe is not None:
                await probe.close()
