"""Circuits cannot drop or strand a delivery (issue 13, item 3).

A place in a target's queue is (circuit generation, sequence number): a stale
duplicate from a circuit that closed cannot move a new circuit's head. A head
whose record is lost from its tier topic does not strand those behind it: the
watchdog moves on after 3 x the tier's delay, in the log and a metric.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from tests.support.fakes.http_sink import HttpSink
from tests.support.kafka import consume_until, produce
from tests.support.pipeline import Pipeline, action, event, running_pipeline

TIER = 4  # seconds: the one retry tier's delay


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory):
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory.mktemp("circuits"),
        NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS=f"[{TIER}]", NOTIFICATION_ACTIONS_QUICK_RETRIES="0",
    ) as pipe:
        yield pipe


@pytest.fixture
def sink(fresh_sink):
    return fresh_sink


def circuits(pipe: Pipeline) -> dict:
    r = httpx.get(f"{pipe.api}/circuits", headers={"Authorization": f"Bearer {pipe.token}"}, timeout=5)
    r.raise_for_status()
    return r.json()["circuits"]


def delivered(sink: HttpSink, path: str) -> list[str]:
    """The event ids of the requests to ``path``, in arrival order (the scripted 500s included)."""
    return [r.json()["event"]["id"] for r in sink.requests_to(path)]


async def test_a_stale_duplicate_from_a_closed_circuit_does_not_move_the_new_circuit_s_head(pipeline, sink):
    path, tier_topic = "/stale/1", pipeline.topic("deliveries") + ".retry.0"
    sink.script(path, [500])  # e1 fails once: circuit 1 opens, e1 is parked (place 0) and closes it on success
    await pipeline.put_actions(action("s1", 1, f"{sink.url}{path}"))
    pipeline.wait_actions(1, lambda a: "s1" in a)
    await pipeline.publish(event("e1", 1))
    await sink.wait_for(2, 60, path_prefix=path)
    parked = await consume_until(pipeline.bootstrap, tier_topic,
                                 lambda rs: any(r.headers.get("na-dedup-key") == "e1:s1" for r in rs))
    stale = next(r for r in parked if r.headers.get("na-dedup-key") == "e1:s1")
    assert orjson.loads(stale.value)["seq"] == 0

    sink.script(path, [500])  # e2 fails: circuit 2 opens with e2 at its head, place 0 again
    await pipeline.publish(event("e2", 1))
    await sink.wait_for(3, 30, path_prefix=path)
    # the stale copy of e1 (place 0 of circuit 1), then e3 — which must wait behind e2
    await produce(pipeline.bootstrap, pipeline.topic("deliveries"), [(stale.key, stale.value)])
    await pipeline.publish(event("e3", 1))
    await sink.wait_for(5, 60, path_prefix=path)
    got = delivered(sink, path)
    assert got == ["e1", "e1", "e2", "e2", "e3"], got  # e1: 500, 200; e2: 500, 200; e3 after e2, once


async def test_a_head_lost_from_its_tier_topic_does_not_strand_the_deliveries_behind_it(pipeline, sink):
    path, tier_topic = "/lost/2", pipeline.topic("deliveries") + ".retry.0"
    sink.script(path, [500])
    await pipeline.put_actions(action("l2", 2, f"{sink.url}{path}"))
    pipeline.wait_actions(2, lambda a: "l2" in a)
    await pipeline.publish(event("lost", 2))
    await sink.wait_for(1, 30, path_prefix=path)
    parked = await consume_until(pipeline.bootstrap, tier_topic,
                                 lambda rs: any(r.headers.get("na-dedup-key") == "lost:l2" for r in rs), timeout=10)
    head = next(r for r in parked if r.headers.get("na-dedup-key") == "lost:l2")
    # the fault: the head's record is removed from the tier topic before it is due
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(tier_topic, head.partition): RecordsToDelete(head.offset + 1)})
    finally:
        await admin.close()
    await pipeline.publish(event("behind", 2))  # waits behind the lost head
    got = await sink.wait_for(2, 3 * TIER + 45, path_prefix=path)
    assert delivered(sink, path) == ["lost", "behind"]  # the lost one's 500, then the one behind it
    log = pipeline.worker.log_path.read_text(errors="replace")
    assert "did not come back from retry tier 0 within 3 x its delay" in log
    metrics = httpx.get(f"{pipeline.api}/metrics", timeout=5).text
    assert "notification_actions_circuit_heads_lost_total 1.0" in metrics
    assert got[1].json()["event"]["id"] == "behind"
