"""Kafka I/O of the harness: bulk and paced producing, offsets, reading ranges, the ceiling."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

Offsets = dict[int, int]


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]) -> int:
    """Send ``records`` as fast as the producer batches them; wait for every ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024, max_request_size=4 << 20
    )
    await producer.start()
    try:
        futures, n = [], 0
        for key, value in records:
            futures.append(await producer.send(topic, key=key, value=value))
            n += 1
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
        return n
    finally:
        await producer.stop()


async def produce_paced(
    bootstrap: str, topic: str, make: Callable[[int, float], tuple[bytes, bytes]], rate: float, count: int,
    stop: "threading.Event | None" = None,
) -> None:
    """Send ``count`` records at ``rate``/s (fewer once ``stop`` is set); ``make(i, now)`` builds record i
    at its send time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    try:
        futures = []
        start = time.monotonic()
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            # Sleep to the schedule, not per record: sleeps overshoot, and a
            # fixed schedule keeps the mean rate right anyway.
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0.001:
                await asyncio.sleep(delay)
            key, value = make(i, time.time())
            futures.append(await producer.send(topic, key=key, value=value))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _consumer(bootstrap: str, **kwargs) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", **kwargs
    )
    await consumer.start()
    return consumer


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """``consumer.stop()``; aiokafka's close can re-raise the cancellation of its own internal
    task (seen once, after a long wait), which must not end a whole benchmark run."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled: pass it on


async def _partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float = 30.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while True:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} never appeared")
        await asyncio.sleep(0.2)


async def end_offsets(bootstrap: str, topic: str) -> Offsets:
    consumer = await _consumer(bootstrap)
    try:
        tps = await _partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await _stop(consumer)


async def wait_total(bootstrap: str, topic: str, start: Offsets, n: int, timeout: float, stall: float = 20.0) -> int:
    """Wait until ``n`` records were appended to ``topic`` after ``start`` (polls end offsets only).

    Returns how many arrived: fewer than ``n`` when nothing new came for
    ``stall`` seconds (a lost record must not hang the run; the caller reports it).
    """
    consumer = await _consumer(bootstrap)
    try:
        tps = await _partitions(consumer, topic)
        deadline = time.monotonic() + timeout
        last_got, last_change = -1, time.monotonic()
        while True:
            ends = await consumer.end_offsets(tps)
            got = sum(off - start.get(tp.partition, 0) for tp, off in ends.items())
            now = time.monotonic()
            if got != last_got:
                last_got, last_change = got, now
            if got >= n or (got > 0 and now - last_change > stall):
                return got
            if now > deadline:
                return got  # the caller reports the shortfall
            await asyncio.sleep(0.25)
    finally:
        await _stop(consumer)


async def read_range(bootstrap: str, topic: str, start: Offsets, end: Offsets) -> list[ConsumerRecord]:
    """The records of ``topic`` in ``[start, end)`` per partition."""
    consumer = await _consumer(bootstrap)
    try:
        out: list[ConsumerRecord] = []
        await _read(consumer, topic, start, end, out.append)
        return out
    finally:
        await _stop(consumer)


async def _read(consumer: AIOKafkaConsumer, topic: str, start: Offsets, end: Offsets, sink) -> None:
    tps = [TopicPartition(topic, p) for p in sorted(end) if end[p] > start.get(p, 0)]
    if not tps:
        return
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, start.get(tp.partition, 0))
    left = {tp: end[tp.partition] for tp in tps}
    while left:
        batch = await consumer.getmany(timeout_ms=500)
        for tp, msgs in batch.items():
            for m in msgs:
                if m.offset < left.get(tp, -1):
                    sink(m)
            if tp in left and msgs and msgs[-1].offset + 1 >= left[tp]:
                del left[tp]


async def ceiling(bootstrap: str, topic: str, start: Offsets, end: Offsets) -> tuple[float, int]:
    """Raw consume + ``orjson.loads`` of ``[start, end)``: ``(records/s first→last, count)``."""
    consumer = await _consumer(bootstrap)
    # From the first fetch (aiokafka prefetches: the first record out is not
    # where the work started) to the last record decoded.
    stamps: list[float] = [time.perf_counter()]

    def decode(m: ConsumerRecord) -> None:
        orjson.loads(m.value)
        stamps.append(time.perf_counter())

    try:
        await _read(consumer, topic, start, end, decode)
    finally:
        await _stop(consumer)
    return rate(stamps), len(stamps) - 1


def rate(stamps: list[float]) -> float:
    """Records per second from the first to the last time stamp."""
    if len(stamps) < 2:
        return float("nan")
    span = max(stamps) - min(stamps)
    return (len(stamps) - 1) / span if span > 0 else float("inf")


async def commit_at_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit ``group``'s offsets of ``topic`` at its end: a new consumer of it reads only what comes next."""
    consumer = await _consumer(bootstrap, group_id=group)
    try:
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit({tp: off for tp, off in ends.items()})
    finally:
        await _stop(consumer)
