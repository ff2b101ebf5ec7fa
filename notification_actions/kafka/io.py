"""Small aiokafka helpers for the command line: publish records, read a compacted topic."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from notification_actions.kafka.security import client_config
from notification_actions.settings import Settings

__all__ = ["GapUnreadable", "publish", "read_compacted", "read_offsets", "read_to_end"]


class GapUnreadable(Exception):
    """Records that must be read back could not be (kafka/gaps.py): nothing may be acked past them."""


async def publish(settings: Settings, topic: str, records: Iterable[tuple]) -> int:
    """Send ``(key, value)`` or ``(key, value, headers)`` records with acks=all; return how many were acknowledged."""
    producer = AIOKafkaProducer(**client_config(settings), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        futures = [
            await producer.send(topic, key=record[0], value=record[1], headers=list(record[2]) if len(record) > 2 else None)
            for record in records
        ]
        for fut in futures:
            await fut
        return len(futures)
    finally:
        await producer.stop()


async def read_to_end(settings: Settings, topic: str, timeout: float = 30.0) -> list:
    """Every record of ``topic`` from the start up to its end offsets as they are now, without a group."""
    import time

    consumer = AIOKafkaConsumer(**client_config(settings), enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        await consumer.start()
        await consumer._client.force_metadata_update()  # the topic may be new to this client
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + timeout
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout:.0f}s")
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(r for r in records if r.offset < ends[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


async def read_compacted(settings: Settings, topic: str, timeout: float = 30.0) -> dict[bytes, bytes]:
    """Read ``topic`` from the start to its current end; the last value per key wins, tombstones delete."""
    state: dict[bytes, bytes] = {}
    for record in sorted(await read_to_end(settings, topic, timeout), key=lambda r: (r.partition, r.offset)):
        if record.value is None:
            state.pop(record.key, None)
        else:
            state[record.key] = record.value
    return state


async def read_offsets(settings: Settings, topic: str, partition: int, first: int, last: int,
                       timeout: float = 30.0) -> dict:
    """The records at offsets ``first..last`` (inclusive) of one partition, by offset.

    Offsets inside the range that hold no record (compaction, transaction
    markers) are simply absent. If the read cannot get past ``last`` within
    ``timeout`` — the range is not readable (yet) — ``GapUnreadable`` is raised:
    returning what was found would let the caller ack past records it never saw.
    """
    import time

    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**client_config(settings), enable_auto_commit=False)
    try:
        await consumer.start()
        consumer.assign([tp])
        consumer.seek(tp, first)
        found: dict = {}
        deadline = time.monotonic() + timeout
        while (position := await consumer.position(tp)) <= last:
            if time.monotonic() >= deadline:
                raise GapUnreadable(
                    f"offsets {position}-{last} of {topic}[{partition}] could not be read within {timeout:.0f}s"
                )
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if first <= record.offset <= last:
                    found[record.offset] = record
        return found
    finally:
        await consumer.stop()
