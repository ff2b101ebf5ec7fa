"""Every topic the service uses, and their creation before the worker starts.

Event topics and the deliveries topic get ``topic_partitions`` partitions: the
throttle and dedup tables are co-partitioned with them. The three config
topics are compacted with one partition each: config volume is small, and one
partition gives every change a total order (a put and a delete of the same
action are never reordered).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from notification_actions.models import ActionTrigger
from notification_actions.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["TopicSpec", "ensure_topics", "event_topics", "topic_specs", "trigger_of_topic"]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def event_topics(settings: Settings) -> dict[str, ActionTrigger]:
    """``events.<slug>`` topic name → its trigger."""
    return {settings.event_topic(t.slug): t for t in ActionTrigger}


def trigger_of_topic(settings: Settings, topic: str) -> ActionTrigger | None:
    return event_topics(settings).get(topic)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    n = settings.topic_partitions
    specs = [TopicSpec(name, n) for name in event_topics(settings)]
    specs += [
        TopicSpec(settings.config_topic, 1, compacted=True),
        TopicSpec(settings.integrations_topic, 1, compacted=True),
        TopicSpec(settings.directory_topic, 1, compacted=True),
        TopicSpec(settings.config_rejected_topic, 1),
        TopicSpec(settings.events_dlq_topic, n),
        TopicSpec(settings.deliveries_topic, n),
        *[TopicSpec(name, n) for name in settings.retry_topics()],
        TopicSpec(settings.deliveries_dlq_topic, n),
        TopicSpec(settings.outcomes_topic, n),
    ]
    return specs


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    An existing topic is left as it is, but a partition count that breaks
    co-partitioning is logged as an error naming the topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_hosts(), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings)
        missing = [s for s in specs if s.name not in existing]
        created = []
        for spec in missing:
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, settings.topic_replication_factor, topic_configs=configs)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        present = [s for s in specs if s.name in existing]
        if present:
            described = await admin.describe_topics([s.name for s in present])
            counts = {d["topic"]: len(d.get("partitions") or []) for d in described}
            for spec in present:
                have = counts.get(spec.name)
                if have and spec.partitions != 1 and have != spec.partitions:
                    log.error(
                        "topic %s has %d partitions but NOTIFICATION_ACTIONS_TOPIC_PARTITIONS is %d: "
                        "tables co-partitioned with it will refuse writes; recreate it or change the setting",
                        spec.name, have, spec.partitions,
                    )
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        await admin.close()
