"""Produce to and consume from the test broker, waiting on conditions with deadlines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp: int


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1, configs: dict | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1, topic_configs=configs or {}) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]], headers=None) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futs = [await producer.send(topic, key=k, value=v, headers=headers) for k, v in records]
        for f in futs:
            await f
        return len(futs)
    finally:
        await producer.stop()


async def consume_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    *,
    timeout: float = 60.0,
) -> list[Record]:
    """Read ``topic`` from the beginning until ``done(records)`` holds; fail at the deadline."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        tps: list[TopicPartition] = []
        while not tps:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
            if parts:
                tps = [TopicPartition(topic, p) for p in sorted(parts)]
            elif time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} never appeared")
            else:
                await asyncio.sleep(0.2)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            if done(records):
                return records
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"condition not met on {topic} within {timeout:.0f}s; {len(records)} record(s) seen: "
                    + "; ".join(f"{r.key!r}={(r.value or b'')[:200]!r}" for r in records[-5:])
                )
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for tp, msgs in batch.items():
                for m in msgs:
                    records.append(
                        Record(
                            m.topic, m.partition, m.offset, m.key, m.value,
                            {k: v.decode(errors="replace") for k, v in (m.headers or [])},
                            m.timestamp,
                        )
                    )
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str, *, settle: float = 1.0, timeout: float = 30.0) -> list[Record]:
    """Everything currently in ``topic`` (up to its end offsets now)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batch.items():
                for m in msgs:
                    out.append(
                        Record(
                            m.topic, m.partition, m.offset, m.key, m.value,
                            {k: v.decode(errors="replace") for k, v in (m.headers or [])},
                            m.timestamp,
                        )
                    )
        return out
    finally:
        await consumer.stop()
