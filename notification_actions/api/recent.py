"""The last attempts of each action, for ``GET …/actions/{id}/deliveries/`` and the console.

A bounded table in each worker process, filled from the outcomes topic (the
audit trail, one record per fire attempt, whichever worker fired it): a
group-less consumer reads the last :data:`WARM_RECORDS` records of each
partition at start (fewer when the partitions hold more than
:data:`MAX_ENTRIES` in all: no more than can be kept), then follows the topic,
:data:`BATCH_RECORDS` at a time so that the deliveries beside it on the event
loop are never held up for long. It keeps the newest
:data:`PER_ACTION` attempts of an action and at most :data:`MAX_ENTRIES`
attempts in all (the actions that fired least recently are forgotten first),
so its memory is bounded whatever the tenants do: at most ~200 bytes an entry,
~40 MB in all. The firing path pays nothing for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from notification_actions.kafka.security import client_config
from notification_actions.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["RecentOutcomes"]

PER_ACTION = 100
MAX_ENTRIES = 200_000
WARM_RECORDS = 50_000
#: records handled between two returns to the event loop: 5,000 held it ~100 ms at a time at start
BATCH_RECORDS = 500
#: bytes of one fetch answer: aiokafka decodes an answer in one go (50 MB by default; ~8 MB at start held the loop ~100 ms)
FETCH_BYTES = 256 * 1024
ERROR_CHARS = 300


def _entry(outcome: dict[str, Any]) -> dict[str, Any]:
    """What an attempt shows: no secret was ever in an outcome (streams/firing.py redacts)."""
    error = outcome.get("error")
    return {
        "deliveryId": outcome.get("dedup_key"),
        "result": outcome.get("result"),
        "attempt": outcome.get("attempt"),
        "status": outcome.get("status"),
        "latencyMs": outcome.get("latency_ms"),
        "errorClass": outcome.get("error_class"),
        "code": outcome.get("code"),
        "error": error[:ERROR_CHARS] if isinstance(error, str) else None,
        "at": outcome.get("at"),
    }


class RecentOutcomes:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = asyncio.Event()
        self._by_action: OrderedDict[str, deque] = OrderedDict()
        self._size = 0

    def add(self, outcome: dict[str, Any]) -> None:
        action_id = outcome.get("action_id")
        if not isinstance(action_id, str):
            return
        attempts = self._by_action.get(action_id)
        if attempts is None:
            attempts = self._by_action[action_id] = deque(maxlen=PER_ACTION)
        else:
            self._by_action.move_to_end(action_id)
        self._size += 0 if len(attempts) == PER_ACTION else 1
        attempts.append(_entry(outcome))
        while self._size > MAX_ENTRIES:
            _, forgotten = self._by_action.popitem(last=False)
            self._size -= len(forgotten)

    def of(self, action_id: str) -> list[dict[str, Any]]:
        """Newest first."""
        return list(reversed(self._by_action.get(action_id, ())))

    def last(self, action_id: str) -> dict[str, Any] | None:
        attempts = self._by_action.get(action_id)
        return attempts[-1] if attempts else None

    async def run(self) -> None:
        """Follow the outcomes topic until cancelled (a Faust ``app.task``); never raises."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("following %s for recent deliveries failed; starting again", self.settings.outcomes_topic,
                            exc_info=True)
                self.ready.set()  # answer with what is known rather than wait forever
                await asyncio.sleep(5.0)

    async def _follow(self) -> None:
        topic = self.settings.outcomes_topic
        consumer = AIOKafkaConsumer(**client_config(self.settings), enable_auto_commit=False,
                                    fetch_max_bytes=FETCH_BYTES, max_partition_fetch_bytes=FETCH_BYTES)
        await consumer.start()
        try:
            tps: list[TopicPartition] = []
            while not tps:  # the worker creates the topic as it starts
                await consumer._client.force_metadata_update()
                tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
                if not tps:
                    await asyncio.sleep(1.0)
            consumer.assign(tps)
            begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            warm = min(WARM_RECORDS, MAX_ENTRIES // len(tps))  # no more than can be kept
            for tp in tps:
                consumer.seek(tp, max(begins[tp], ends[tp] - warm))
            self._by_action.clear()
            self._size = 0
            behind = {tp for tp in tps if ends[tp] > begins[tp]}
            if not behind:
                self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH_RECORDS)
                for tp, records in batches.items():
                    for record in records:
                        try:
                            outcome = orjson.loads(record.value) if record.value else None
                        except orjson.JSONDecodeError:
                            continue
                        if isinstance(outcome, dict):
                            self.add(outcome)
                if behind:
                    behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
                    if not behind:
                        self.ready.set()
        finally:
            await consumer.stop()
