"""Write an action through the config topic and learn the workers' verdict: applied or refused.

The compacted config topic stays the source of truth; the HTTP API (and
``actions put --wait``) is a door to it that answers only once the change is
*applied* — the actions table's changelog holds that version (the workers
write it after every check passed) — or *refused* — the rejected topic holds a
report whose origin is the very offset we wrote. Nothing is acknowledged that
the workers then refuse.

:class:`ConfigWriter` keeps one producer and one group-less consumer that
tails both topics from where they ended when it started; a write registers
what it waits for *before* it is produced, so no verdict can slip past.
Matching a changelog record is by content: the table stores exactly the
bytes :func:`stored_form` gives. An earlier, identical version still being
applied may answer for ours, which is the same answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from notification_actions.errors import Problem
from notification_actions.kafka import headers as h
from notification_actions.kafka.security import client_config
from notification_actions.models import NotificationAction
from notification_actions.settings import Settings
from notification_actions.tables.state import changelog_topic

log = logging.getLogger(__name__)

__all__ = ["ConfigWriter", "Verdict", "WriteTimeout", "stored_form"]


def stored_form(action: NotificationAction) -> bytes:
    """The bytes the actions table stores for ``action`` (``tables/actions.ActionsTable.put``)."""
    return orjson.dumps(action.model_dump(mode="json"))


@dataclass
class Verdict:
    applied: bool
    problems: list[Problem] = field(default_factory=list)
    where: str = ""  # topic[partition]@offset of the config record written


class WriteTimeout(Exception):
    """The workers neither applied nor refused the record in time (it may still be applied)."""

    def __init__(self, action_id: str, seconds: float, where: str) -> None:
        super().__init__(
            f"the workers did not apply or refuse action {action_id!r} within {seconds:.0f}s (written at {where}); "
            "it may still be applied: read it again to see"
        )
        self.where = where


@dataclass
class _Waiter:
    expected: bytes | None  # the stored form, or None for a delete
    offset: int = -1  # the config record's offset, once produced
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ConfigWriter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._changelog = changelog_topic(settings, "actions")
        self._waiters: dict[str, list[_Waiter]] = {}
        # refusals of keys waited for, by config offset: one may be read before its write's offset is known
        self._refusals: dict[str, dict[int, list[Problem]]] = {}
        self._started = asyncio.Lock()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._tail: asyncio.Task | None = None

    async def start(self) -> None:
        async with self._started:
            if self._tail is not None:
                return
            producer = AIOKafkaProducer(**client_config(self.settings), acks="all", enable_idempotence=True)
            consumer = AIOKafkaConsumer(**client_config(self.settings), enable_auto_commit=False)
            await producer.start()
            try:
                await consumer.start()
                await consumer._client.force_metadata_update()
                tps = [TopicPartition(topic, p) for topic in (self._changelog, self.settings.config_rejected_topic)
                       for p in sorted(consumer.partitions_for_topic(topic) or ())]
                if not tps:
                    raise RuntimeError(f"neither {self._changelog} nor {self.settings.config_rejected_topic} exists "
                                       "yet: is a worker running?")
                consumer.assign(tps)
                await consumer.seek_to_end(*tps)
                for tp in tps:
                    await consumer.position(tp)  # pin "the end" now, before any write is produced
            except BaseException:
                await producer.stop()
                await consumer.stop()
                raise
            self._producer, self._consumer = producer, consumer
            self._tail = asyncio.create_task(self._read(), name="config-write-tail")

    async def stop(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._tail
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._tail = self._consumer = self._producer = None

    async def put(self, action: NotificationAction, timeout: float) -> Verdict:
        raw = stored_form(action)
        return await self._write(action.id, raw, raw, timeout)

    async def delete(self, action_id: str, timeout: float) -> Verdict:
        return await self._write(action_id, None, None, timeout)

    async def _write(self, action_id: str, value: bytes | None, expected: bytes | None, timeout: float) -> Verdict:
        await self.start()
        assert self._producer is not None
        waiter = _Waiter(expected)
        self._waiters.setdefault(action_id, []).append(waiter)
        try:
            meta = await (await self._producer.send(self.settings.config_topic, key=action_id.encode(), value=value))
            waiter.offset = meta.offset
            if (problems := self._refusals.get(action_id, {}).get(meta.offset)) is not None:
                _resolve(waiter, Verdict(False, problems))
            where = f"{meta.topic}[{meta.partition}]@{meta.offset}"
            try:
                verdict = await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
            except TimeoutError:
                raise WriteTimeout(action_id, timeout, where) from None
            verdict.where = where
            return verdict
        finally:
            waiting = self._waiters.get(action_id, [])
            if waiter in waiting:
                waiting.remove(waiter)
            if not waiting:
                self._waiters.pop(action_id, None)
                self._refusals.pop(action_id, None)

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=2000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reading the config verdicts failed; trying again", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            for tp, records in batches.items():
                for record in records:
                    if self._waiters:
                        self._verdict(tp.topic, record)

    def _verdict(self, topic: str, record) -> None:
        key = record.key.decode(errors="replace") if record.key is not None else ""
        waiting = self._waiters.get(key)
        if not waiting:
            return
        if topic == self._changelog:
            for waiter in waiting:
                if waiter.expected == (bytes(record.value) if record.value is not None else None):
                    _resolve(waiter, Verdict(True))
            return
        headers = h.decode(record.headers)
        if headers.get(h.ORIGIN_TOPIC) != self.settings.config_topic:
            return
        try:
            offset = int(headers.get(h.ORIGIN_OFFSET, ""))
        except ValueError:
            return
        problems = _reasons(record.value)
        refusals = self._refusals.setdefault(key, {})
        refusals[offset] = problems
        while len(refusals) > 100:  # bounded: only the newest matter
            refusals.pop(next(iter(refusals)))
        for waiter in waiting:
            if waiter.offset == offset:
                _resolve(waiter, Verdict(False, problems))


def _resolve(waiter: _Waiter, verdict: Verdict) -> None:
    if not waiter.future.done():
        waiter.future.set_result(verdict)


def _reasons(value: bytes | None) -> list[Problem]:
    try:
        report = orjson.loads(value or b"{}")
        return [Problem(str(r.get("field", "")), str(r.get("error", ""))) for r in report.get("reasons", [])]
    except Exception:
        return [Problem("", "refused by the workers (the report could not be read)")]
