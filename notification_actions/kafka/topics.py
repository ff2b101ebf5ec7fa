"""Every topic the service uses, and their creation before the worker starts.

Event topics and the deliveries topic get ``topic_partitions`` partitions: the
throttle, dedup and circuits tables are co-partitioned with them, so a worker
refuses to start when one of them exists with another count (a producer that
published before the first worker started auto-created it with the broker's
default) — naming the topic, its count and the command that fixes it. The
three config topics are compacted with one partition each: config volume is
small, and one partition gives every change a total order (a put and a delete
of the same action are never reordered).

Created topics get ``min.insync.replicas=2`` when replicated 3 or more times
(the producer uses acks=all), and the records kept for people to look at —
DLQs, rejected configs, outcomes — their own retention
(``*_retention_days``). Existing topics are left as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from notification_actions.errors import ConfigError
from notification_actions.models import ActionTrigger
from notification_actions.kafka.security import client_config
from notification_actions.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["TopicSpec", "ensure_topics", "event_topics", "partition_problem", "topic_specs", "trigger_of_topic"]


DAY_MS = 24 * 3600 * 1000
JOB_RETENTION_DAYS = 7.0
"""How long a backfill job (``ops/backfill.py``) is kept after its last record."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    co_partitioned: bool = False  # a table is partitioned like it: its count must be topic_partitions
    retention_days: float | None = None  # None: the broker's default

    def configs(self, settings: Settings) -> dict[str, str]:
        # compacted with a retention: the last record of a key is deleted too once older than it
        out = {"cleanup.policy": "compact,delete" if self.retention_days is not None else "compact"} \
            if self.compacted else {}
        if self.retention_days is not None:
            out["retention.ms"] = str(int(self.retention_days * DAY_MS))
        if settings.topic_replication_factor >= 3:
            out["min.insync.replicas"] = "2"
        return out


def event_topics(settings: Settings) -> dict[str, ActionTrigger]:
    """``events.<slug>`` topic name → its trigger."""
    return {settings.event_topic(t.slug): t for t in ActionTrigger}


def trigger_of_topic(settings: Settings, topic: str) -> ActionTrigger | None:
    return event_topics(settings).get(topic)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    n = settings.topic_partitions
    specs = [TopicSpec(name, n, co_partitioned=True) for name in event_topics(settings)]
    specs += [
        TopicSpec(settings.config_topic, 1, compacted=True),
        TopicSpec(settings.integrations_topic, 1, compacted=True),
        TopicSpec(settings.directory_topic, 1, compacted=True),
        TopicSpec(settings.config_rejected_topic, 1, retention_days=settings.rejected_retention_days),
        TopicSpec(settings.events_dlq_topic, n, retention_days=settings.dlq_retention_days),
        TopicSpec(settings.deliveries_topic, n, co_partitioned=True),
        *[TopicSpec(name, n) for name in settings.retry_topics()],
        TopicSpec(settings.deliveries_dlq_topic, n, retention_days=settings.dlq_retention_days),
        TopicSpec(settings.outcomes_topic, n, retention_days=settings.outcomes_retention_days),
        # co-partitioned with the event topics: a replayed event meets its organization's throttle state
        TopicSpec(settings.replay_topic, n, co_partitioned=True),
        # a job's last record goes after JOB_RETENTION_DAYS; a running job rewrites its own every few seconds
        TopicSpec(settings.backfills_topic, 1, compacted=True, retention_days=JOB_RETENTION_DAYS),
    ]
    return specs


def partition_problem(spec: TopicSpec, have: int, settings: Settings) -> str:
    """Why a co-partitioned topic with ``have`` partitions cannot be used, and how to fix it."""
    want = spec.partitions
    bootstrap = settings.broker_hosts()[0]
    secured = "" if settings.kafka_security_protocol == "PLAINTEXT" else " --command-config <client.properties>"
    fix = (f"kafka-topics.sh --bootstrap-server {bootstrap}{secured} --alter --topic {spec.name} --partitions {want}"
           if have < want else
           f"set NOTIFICATION_ACTIONS_TOPIC_PARTITIONS={have} (a topic's partitions cannot be reduced; "
           f"or delete and recreate {spec.name})")
    return (f"topic {spec.name} has {have} partition(s) but NOTIFICATION_ACTIONS_TOPIC_PARTITIONS is {want}: "
            f"the tables partitioned like it would refuse writes. Fix: {fix}")


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    An existing topic is left as it is; one whose partition count breaks
    co-partitioning is a ``ConfigError`` naming it and the fix (the worker
    does not start).
    """
    admin = AIOKafkaAdminClient(**client_config(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings)
        missing = [s for s in specs if s.name not in existing]
        created = []
        for spec in missing:
            configs = spec.configs(settings)
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, settings.topic_replication_factor, topic_configs=configs)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                existing.add(spec.name)  # listed too late (just made by a producer, say): checked as present
        present = [s for s in specs if s.name in existing]
        if present:
            described = await admin.describe_topics([s.name for s in present])
            counts = {d["topic"]: len(d.get("partitions") or []) for d in described}
            wrong = [partition_problem(spec, counts[spec.name], settings) for spec in present
                     if spec.co_partitioned and counts.get(spec.name) and counts[spec.name] != spec.partitions]
            if wrong:
                raise ConfigError("; ".join(wrong))
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        await admin.close()
