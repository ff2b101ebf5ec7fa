"""Nothing is acked before the broker has every record its handling wrote.

Faust's ``topic.send`` returns once a record is in the producer's batch, and a
failed produce is only logged: the offset of what caused it was committed all
the same. Provoked here on a real broker with topics whose ``max.message.bytes``
refuses the records: an outcome the broker refuses stops the worker with the
delivery's offset uncommitted; a dead letter it refuses is written again with
its value cut and its headers kept, and the stream goes on.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support.fakes.http_sink import HttpSink
from tests.support.kafka import consume_until, create_topics
from tests.support.pipeline import action, event, running_pipeline
from tests.support.worker_process import unique


async def committed(bootstrap: str, group: str, topic: str, partitions: int = 4) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await consumer.stop()


def wait_exit(worker, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while worker.proc.poll() is None:
        assert time.monotonic() < deadline, "the worker did not stop:\n" + worker.log_tail()
        time.sleep(0.1)
    return worker.proc.returncode


@pytest.mark.timeout(180)
async def test_an_outcome_the_broker_refuses_stops_the_worker_before_the_commit_passes_it(
    kafka_bootstrap, tmp_path, sink: HttpSink
):
    outcomes = unique("outcomes")
    await create_topics(kafka_bootstrap, [outcomes], partitions=4, configs={"max.message.bytes": "200"})
    with running_pipeline(kafka_bootstrap, tmp_path, NOTIFICATION_ACTIONS_OUTCOMES_TOPIC=outcomes) as pipe:
        await pipe.put_actions(action("a1", 1, f"{sink.url}/refused/1"))
        pipe.wait_actions(1, lambda a: "a1" in a)
        await pipe.publish(event("e1", 1))
        await sink.wait_for(1, 30, path_prefix="/refused/1")  # fired; its outcome is what the broker refuses
        wait_exit(pipe.worker, 60)
        log = pipe.worker.log_path.read_text(errors="replace")
        assert "writing the records" in log and "MessageSizeTooLarge" in log, pipe.worker.log_tail()
        group = pipe.env["NOTIFICATION_ACTIONS_APP_ID"]
        offsets = await committed(kafka_bootstrap, group, pipe.topic("deliveries"))
        assert all(not o for o in offsets.values()), offsets  # no commit passed the delivery (offset 0)


@pytest.mark.timeout(180)
async def test_a_dead_letter_too_large_for_the_broker_is_kept_cut_with_its_headers(
    kafka_bootstrap, tmp_path, sink: HttpSink
):
    dlq = unique("dlq")
    await create_topics(kafka_bootstrap, [dlq], partitions=1, configs={"max.message.bytes": "4000"})
    with running_pipeline(kafka_bootstrap, tmp_path, NOTIFICATION_ACTIONS_EVENTS_DLQ_TOPIC=dlq) as pipe:
        await pipe.put_actions(action("a2", 2, f"{sink.url}/after/2"))
        pipe.wait_actions(2, lambda a: "a2" in a)
        big = b"{" + b"x" * 20_000  # not JSON: a dead letter, five times what the DLQ topic takes
        await pipe.publish_raw(big, key=b"2")
        records = await consume_until(kafka_bootstrap, dlq, lambda rs: len(rs) >= 1, timeout=60)
        record = records[0]
        assert record.headers["na-truncated"] == str(len(big))
        assert record.headers["na-error-class"] and record.headers["na-origin-topic"] == pipe.events_topic()
        assert record.headers["na-origin-offset"] == "0" and len(record.value or b"") < len(big)
        assert big.startswith(record.value or b"")
        # the stream went on: the next event of the partition is delivered, the worker is alive
        await pipe.publish(event("e2", 2))
        got = await sink.wait_for(1, 30, path_prefix="/after/2")
        assert got[0].json()["event"]["id"] == "e2"
        assert pipe.worker.proc.poll() is None
