"""Topics the service creates: replication done right, retention of their own, co-partitioning enforced,
internal topics apart per deployment."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from notification_actions.errors import ConfigError
from notification_actions.kafka.topics import DAY_MS, ensure_topics, topic_specs
from notification_actions.settings import Settings
from tests.support.kafka import create_topics
from tests.support.worker_process import WorkerProcess, settings_from, unique, worker_env_for


def test_replicated_topics_need_two_in_sync_replicas():
    three = Settings(_env_file=None, topic_replication_factor=3)
    one = Settings(_env_file=None)
    assert all(s.configs(three)["min.insync.replicas"] == "2" for s in topic_specs(three))
    assert all("min.insync.replicas" not in s.configs(one) for s in topic_specs(one))


def test_what_people_read_is_kept_long_enough():
    s = Settings(_env_file=None)
    retention = {spec.name: spec.configs(s).get("retention.ms") for spec in topic_specs(s)}
    assert retention[s.deliveries_dlq_topic] == retention[s.events_dlq_topic] == str(30 * DAY_MS)
    assert retention[s.config_rejected_topic] == str(30 * DAY_MS)
    assert retention[s.outcomes_topic] == str(7 * DAY_MS)
    assert retention[s.deliveries_topic] is None  # the broker's default


def test_backfill_jobs_are_compacted_and_ended_ones_expire():
    s = Settings(_env_file=None)
    spec = {spec.name: spec for spec in topic_specs(s)}
    assert spec[s.backfills_topic].configs(s) == {"cleanup.policy": "compact,delete",
                                                  "retention.ms": str(7 * DAY_MS)}
    assert spec[s.config_topic].configs(s) == {"cleanup.policy": "compact"}  # actions are kept for ever


def test_internal_topics_are_named_after_the_app_id():
    staging, production = Settings(_env_file=None, app_id="staging"), Settings(_env_file=None)
    assert staging.deliveries_topic == "staging.deliveries"
    assert production.deliveries_topic == "notification-actions.deliveries"
    assert set(staging.retry_topics()).isdisjoint(production.retry_topics())
    assert Settings(_env_file=None, app_id="x", deliveries_topic="shared").deliveries_topic == "shared"


async def test_created_topics_carry_their_retention(kafka_bootstrap, tmp_path):
    settings = settings_from(worker_env_for(kafka_bootstrap, unique(), tmp_path))
    created = await ensure_topics(settings)
    assert settings.deliveries_dlq_topic in created
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [answer] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.deliveries_dlq_topic)])
        entries = {e[0]: e[1] for r in answer.resources for e in r[4]}
        assert entries["retention.ms"] == str(30 * DAY_MS)
    finally:
        await admin.close()


async def test_an_events_topic_with_the_wrong_partition_count_stops_the_worker(kafka_bootstrap, tmp_path):
    env = worker_env_for(kafka_bootstrap, unique(), tmp_path)  # TOPIC_PARTITIONS=4
    topic = env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + "audit-log"
    await create_topics(kafka_bootstrap, [topic], partitions=1)  # as a producer's auto-create would
    with pytest.raises(ConfigError, match=f"topic {topic} has 1 partition.*--partitions 4"):
        await ensure_topics(settings_from(env))

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    code = await asyncio.to_thread(worker.proc.wait, 120)
    assert code != 0
    assert f"refusing to start: topic {topic} has 1 partition(s)" in worker.log_path.read_text()
