"""Records Faust fetched but never handed to a stream, read back so none is lost.

After a seek to the committed offset (start-up, rebalance) a fetch from
before the seek can move Faust's read offset past the re-fetched record,
which it then discards ("DROPPED MESSAGE ROFF"); a stop cancels hand-overs
in flight. Its commit check is off by one (``min(acked) - committed > 1``),
so one acked record after such a hole lets the commit pass it: the record
would be lost without a trace.

Every agent therefore watches the offsets it is given per partition and
consumer generation — the first one of a partition in a generation against
the group's committed offset (read once per generation; the partition's
earliest offset when the group has committed none, since Faust drops the
very first records of a new group too), the others against the one before. When they skip, :meth:`GapReader.read` fetches the
skipped offsets straight from Kafka and returns them as events (``key``,
``value``, ``message``, ``ack()``) for the agent to handle *before* the record
that revealed the hole — so order holds too — and ack through Faust's
consumer. Offsets that hold no record (compaction, transaction markers) are
simply not returned.

A hole at the *tail* of a partition is revealed by no later record, so
:meth:`GapReader.sweep` (a timer) also looks at the partitions of an idle
stage: when the broker's highwater stays ahead of what the stream has seen
(or of the committed offset, if it has seen nothing yet) for
``TAIL_IDLE_SECONDS``, it seeks Faust's consumer back there — a seek resets
Faust's read offset, so the records are fetched and handed over again. A seek
that changed nothing is repeated with a growing pause (up to a minute): the
hole may hold no record at all, or Faust may have dropped the records again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace

import faust
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TP
from faust.types.tuples import Message

from notification_actions.kafka.io import read_offsets
from notification_actions.kafka.security import client_config
from notification_actions.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["GapReader"]

TAIL_IDLE_SECONDS = 3.0
COMMITTED_TIMEOUT_SECONDS = 15.0
RESEEK_MAX_SECONDS = 60.0


class GapReader:
    def __init__(self, settings: Settings, consumer: Callable[[], object], topics: Iterable[str] = ()) -> None:
        self.settings = settings
        self.consumer = consumer  # () -> Faust's consumer (it exists only once the app runs)
        self.topics = set(topics)
        self.clock: Callable[[], float] = time.monotonic
        self._seen_at: dict[object, float] = {}
        # tp -> (offset, highwater, repeats, monotonic time) of the last seek
        self._sought: dict[object, tuple[int, int, int, float]] = {}
        self._last: dict[object, tuple[object, int]] = {}  # tp -> (generation, last offset seen)
        # (generation, {(topic, partition): committed offset}, whether the lookup succeeded)
        self._committed: tuple[object, dict, bool] | None = None
        self._starts: dict[tuple[object, str, int], int | None] = {}  # earliest offsets, this generation
        self.recovered = 0

    def in_order(self, event: faust.EventT) -> bool:
        """``event`` comes at most one offset after the last one its partition handed over in this
        generation: nothing to read back before it (noted, as :meth:`skipped` notes it). ``False``:
        ask :meth:`before`. The check every record passes, without a coroutine."""
        message = event.message
        tp, generation = message.tp, getattr(message, "generation_id", None)
        seen = self._last.get(tp)
        if seen is None or seen[0] != generation or message.offset > seen[1] + 1:
            return False
        self._last[tp] = (generation, message.offset)
        self._seen_at[tp] = self.clock()
        return True

    def skipped(self, event: faust.EventT) -> tuple[int, int] | None:
        """Note ``event``; return the inclusive offset range its partition skipped before it, if any."""
        message = event.message
        tp, offset, generation = message.tp, message.offset, getattr(message, "generation_id", None)
        seen = self._last.get(tp)
        self._last[tp] = (generation, offset)
        self._seen_at[tp] = self.clock()
        if seen is not None and seen[0] == generation and offset > seen[1] + 1:
            return seen[1] + 1, offset - 1
        return None

    async def read(self, event: faust.EventT, first: int, last: int) -> list[SimpleNamespace]:
        """The records at ``first..last`` of ``event``'s partition, as ackable events, in offset order."""
        tp = event.message.tp
        records = await read_offsets(self.settings, tp.topic, tp.partition, first, last)
        if records:
            log.warning("offsets %d-%d of %s did not reach the stream; read %d record(s) back directly",
                        first, last, tp, len(records))
        consumer = self.consumer()
        out = []
        for offset in sorted(records):
            r = records[offset]
            message = Message(r.topic, r.partition, r.offset, r.timestamp / 1000, r.timestamp_type,
                              list(r.headers or []), r.key, r.value, None, tp=tp,
                              generation_id=getattr(event.message, "generation_id", None))
            out.append(SimpleNamespace(key=r.key, value=r.value, message=message,
                                       ack=lambda message=message: consumer.ack(message)))
        self.recovered += len(out)
        return out

    async def before(self, event: faust.EventT) -> list[SimpleNamespace]:
        """What to handle before ``event``: the records its partition skipped (usually none)."""
        message = event.message
        first_sight = self._last.get(message.tp, (None,))[0] != getattr(message, "generation_id", None)
        gap = self.skipped(event)
        if gap is None and first_sight:
            committed = await self._committed_offset(event)
            if committed is not None and message.offset > committed:
                gap = (committed, message.offset - 1)
        return await self.read(event, *gap) if gap else []

    async def sweep(self, *, idle: bool) -> list[tuple[object, int]]:
        """Seek back partitions whose tail never reached the stream; return ``(tp, offset)`` sought."""
        if not idle or not self.topics:
            return []
        consumer = self.consumer()
        generation = consumer.app.consumer_generation_id
        now = self.clock()
        sought = []
        for tp in consumer.assignment():
            if tp.topic not in self.topics:
                continue
            high = consumer.highwater(tp)
            if not high:  # unknown, or an empty partition: nothing can be missing
                continue
            seen = self._last.get(tp)
            if seen is not None and seen[0] == generation:
                expected = seen[1] + 1
            else:
                expected = await self._committed_for(generation, tp.topic, tp.partition)
            if expected is None or high <= expected:
                continue
            since = self._seen_at.setdefault(tp, now)
            if now - since < TAIL_IDLE_SECONDS:
                continue
            last = self._sought.get(tp)
            repeats = last[2] + 1 if last is not None and last[:2] == (expected, high) else 0
            if repeats and now - last[3] < min(RESEEK_MAX_SECONDS, TAIL_IDLE_SECONDS * 2 ** repeats):
                # The same seek found nothing yet: a hole that holds no record (a
                # transaction marker last), or Faust dropped the records again.
                # Try again, backing off, rather than never (a stalled partition).
                continue
            log.log(logging.WARNING if repeats < 3 else logging.INFO,
                    "offsets %d-%d of %s are on the broker but never reached the idle stream; "
                    "seeking back to read them again%s", expected, high - 1, tp,
                    f" (attempt {repeats + 1})" if repeats else "")
            # In the consumer's own thread (Faust's ``seek`` touches aiokafka's fetcher from this one: a
            # race that crashed the fetcher with a KeyError while records were being fetched).
            await consumer.seek_wait({tp: expected})
            self._seen_at[tp] = now
            self._sought[tp] = (expected, high, repeats, now)
            sought.append((tp, expected))
        return sought

    async def _committed_offset(self, event: faust.EventT) -> int | None:
        """The group's committed offset of ``event``'s partition, as it stood at this generation's start."""
        message = event.message
        return await self._committed_for(getattr(message, "generation_id", None), message.tp.topic, message.tp.partition)

    async def _committed_for(self, generation: object, topic: str, partition: int) -> int | None:
        """Where the group's stream of this partition starts in ``generation``: its committed
        offset, or — known to have none — the partition's earliest offset (the app resets to
        earliest). ``None`` when that cannot be told."""
        if self._committed is None or self._committed[0] != generation:
            known = True
            try:
                # Bounded: the stage waits on this, and a hung admin call would stall it.
                offsets = await asyncio.wait_for(self._group_offsets(), COMMITTED_TIMEOUT_SECONDS)
            except Exception:  # not knowing is not a reason to stop: offsets-only checks go on
                log.warning("could not read the committed offsets of group %s", self.settings.app_id, exc_info=True)
                offsets, known = {}, False
            committed = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
            self._committed = (generation, committed, known)
        _, committed, known = self._committed
        offset = committed.get((topic, partition))
        if offset is not None and offset >= 0:
            return offset
        if not known:
            return None
        # Nothing committed yet (a new group, or a partition never consumed): Faust
        # can drop the very first records after its start-up seek as well.
        return await self._earliest(generation, topic, partition)

    async def _earliest(self, generation: object, topic: str, partition: int) -> int | None:
        key = (generation, topic, partition)
        if key not in self._starts:
            # One request for every partition of the stage: each goes through
            # Faust's consumer thread, which may be in a fetch of up to 1.5 s.
            consumer = self.consumer()
            tps = {tp for tp in consumer.assignment() if tp.topic in self.topics} | {TP(topic, partition)}
            try:
                found = await asyncio.wait_for(consumer.earliest_offsets(*tps), COMMITTED_TIMEOUT_SECONDS)
            except Exception:
                log.warning("could not read the earliest offsets of %s", sorted(self.topics), exc_info=True)
                return None
            self._starts = {(generation, tp.topic, tp.partition): offset for tp, offset in found.items()}
        return self._starts.get(key)

    async def _group_offsets(self) -> dict:
        admin = AIOKafkaAdminClient(**client_config(self.settings))
        await admin.start()
        try:
            while True:  # bounded by the caller's timeout
                try:
                    return await admin.list_consumer_group_offsets(self.settings.app_id)
                except KafkaError as exc:
                    # e.g. no group coordinator yet on a new cluster: it comes within seconds
                    if not getattr(exc, "retriable", False):
                        raise
                    await asyncio.sleep(0.25)
        finally:
            await admin.close()
