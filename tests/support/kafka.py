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
    raw_headers: tuple[tuple[str, bytes], ...] = ()  # every header as sent, repeats included


def _record(m) -> Record:
    raw = tuple((k, v or b"") for k, v in (m.headers or []))
    return Record(m.topic, m.partition, m.offset, m.key, m.value,
                  {k: v.decode(errors="replace") for k, v in raw}, m.timestamp, raw)


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


async def produce_each(
    bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]]
) -> list[tuple[str, int, int]]:
    """Send ``(topic, key, value, headers)`` records in order; return where each landed: ``(topic, partition, offset)``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4 << 20)
    await producer.start()
    try:
        futs = [await producer.send(t, key=k, value=v, headers=h) for t, k, v, h in records]
        return [(m.topic, m.partition, m.offset) for m in [await f for f in futs]]
    finally:
        await producer.stop()


async def list_topics(bootstrap: str) -> list[str]:
    """Every topic on the broker (internal ones included)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def read_topics(bootstrap: str, topics: Iterable[str], *, timeout: float = 120.0) -> list[Record]:
    """Everything now in ``topics`` (up to their end offsets when called), read by one consumer."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 << 20, fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > starts[tp]}
        if not todo:
            return []
        consumer.assign(sorted(todo))
        for tp in todo:
            consumer.seek(tp, starts[tp])
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {len(todo)} partition(s) to their end within {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for tp, msgs in batch.items():
                out.extend(_record(m) for m in msgs if m.offset < ends[tp])
            for tp in list(todo):  # position, not the last offset seen: compaction and markers leave gaps
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
        return out
    finally:
        await consumer.stop()


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
                records.extend(_record(m) for m in msgs)
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
                out.extend(_record(m) for m in msgs)
        return out
    finally:
        await consumer.stop()
