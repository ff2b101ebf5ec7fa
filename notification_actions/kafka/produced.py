"""The records an item caused, and the broker's ack of each: an item is acked only once all are on the broker.

Faust's ``topic.send`` returns once a record is in the producer's batch; the
broker's answer is a future whose failure Faust only logs, and its flush
before a commit does not raise. So a stage's every write for an item (an
outcome, a parked delivery, a dead letter, a delivery matched from an event)
goes through :func:`send`, which notes the record's future in the item's
:func:`collecting` list; the consume loop (``loop.py``) acks the item only
once every noted future succeeded, and a write that failed for good is fatal:
the item is never acked, no commit passes it, and the worker's successor
handles it again. :func:`send` hands the record to the producer Faust's
``topic.send`` ends in (:func:`publish`), without ``topic.send``'s message
objects and sensor calls; Faust flushes that producer before a commit all the
same.

A record too large for the producer (raised at once) or for the broker (the
future fails) is written again smaller when the caller says how to — a dead
letter or a parked delivery keeps its key and headers, and its value is cut
to fit (``na-truncated`` tells how long it was; :func:`truncated`) — so one
oversized record is never a crash loop. (Faust wraps the producer's own refusal
in ``ProducerSendError``; :func:`publish` raises the refusal itself, so that it
is seen as too large: before, a dead letter just over the producer's limit
stopped the worker.) :func:`max_value_bytes` tells a caller beforehand how large
a value may be.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass

import faust
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from faust.exceptions import ProducerSendError

from notification_actions.kafka import headers as h

__all__ = ["Written", "collecting", "confirm", "header_bytes", "max_value_bytes", "publish", "send", "truncated"]

TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
#: value sizes a too-large record is cut to, in turn (None: what fits the producer's request size)
CUTS: tuple[int | None, ...] = (None, 64 * 1024, 0)
#: bytes kept free for the record's framing when a value is cut to the producer's request size
FRAMING = 1024

_caused: ContextVar[list[Written] | None] = ContextVar("notification_actions_caused", default=None)


@dataclass
class Written:
    """One record an item caused: the fields it was sent with, the broker's answer, how it was cut."""

    topic: faust.TopicT
    fields: dict
    may_cut: bool = False
    cut: int = -1  # index in CUTS of the value size it was last cut to; -1: not cut
    future: Awaitable | None = None

    async def confirmed(self) -> None:
        """Wait for the broker's ack; a record too large is written again, cut (when it may be)."""
        while True:
            try:
                assert self.future is not None
                await self.future
                return
            except TOO_LARGE:
                if not self.may_cut or self.cut + 1 >= len(CUTS):
                    raise
                self.cut += 1
                self.future = await self._send_cut()

    def _limit(self) -> int:
        cut = CUTS[self.cut]
        if cut is not None:
            return cut
        return max_value_bytes(self.topic, self.fields.get("key"), self.fields.get("headers"))

    async def _send_cut(self) -> Awaitable:
        """Send again with the value cut to the size ``cut`` names (or a smaller one, if that is still
        too large for the producer); raises when even the smallest is too large."""
        value = self.fields.get("value") or b""
        while True:
            fields = dict(self.fields, value=truncated(value, self._limit()))
            fields["headers"] = list(self.fields.get("headers") or ()) + [(h.TRUNCATED, str(len(value)).encode())]
            try:
                return await publish(self.topic, **fields)
            except TOO_LARGE:
                if self.cut + 1 >= len(CUTS):
                    raise
                self.cut += 1


class collecting:  # noqa: N801 - used as a function: ``with collecting() as caused``
    """Note every :func:`send` made in this context (and in the tasks it starts) in the list it yields.

    A class rather than a ``@contextmanager`` generator: every record of every stage enters one.
    """

    __slots__ = ("caused", "_token")

    def __enter__(self) -> list[Written]:
        self.caused: list[Written] = []
        self._token = _caused.set(self.caused)
        return self.caused

    def __exit__(self, *exc: object) -> None:
        _caused.reset(self._token)


async def send(topic: faust.TopicT, *, cut: bool = False, **fields) -> Written:
    """``topic.send(**fields)``, noted in the current item's records. With ``cut``, a record too large
    is written again with its value cut (:func:`truncated`), its key and headers kept."""
    written = Written(topic, fields, may_cut=cut)
    try:
        written.future = await publish(topic, **fields)
    except TOO_LARGE:
        if not cut:
            raise
        written.cut = 0
        written.future = await written._send_cut()
    caused = _caused.get()
    if caused is not None:
        caused.append(written)
    return written


async def publish(topic: faust.TopicT, *, key: bytes | None = None, value: bytes | None = None,
                  headers: list | None = None) -> Awaitable:
    """What ``topic.send`` does for one of the service's raw topics (bytes in, no serializer), less
    its bookkeeping: the record goes straight to the app's producer (Faust's aiokafka driver, the
    one ``topic.send`` ends in), which returns the broker's answer to come. Faust's ``Topic.send``
    builds a message, a pending message and a future message per record, runs the codecs and calls
    every sensor twice; a bare Faust agent pays ~180 µs of CPU per awaited send, aiokafka's own send
    ~12 µs (``docs/benchmarks.md``, issue 16, third round)."""
    try:
        return await topic.app.producer.send(
            topic.get_topic_name(), key, value, partition=None, timestamp=None, headers=list(headers or ()),
        )
    except ProducerSendError as exc:
        if isinstance(exc.__cause__, TOO_LARGE):  # the producer's own refusal, wrapped by Faust
            raise exc.__cause__ from None
        raise


def max_value_bytes(topic: faust.TopicT, key: bytes | None = None, headers: list | None = None) -> int:
    """The largest value a record of ``topic`` with ``key`` and ``headers`` may have: the producer's
    request size (``producer_max_request_size``) less the key, the headers and :data:`FRAMING`."""
    conf = getattr(getattr(topic, "app", None), "conf", None)
    request = getattr(conf, "producer_max_request_size", 1_000_000)
    return request - header_bytes(headers) - len(key or b"") - FRAMING


def header_bytes(headers: list | None) -> int:
    """The bytes ``headers`` take in a record: each name and value."""
    return sum(len(k) + len(v or b"") for k, v in headers or ())


async def confirm(caused: list[Written]) -> None:
    """Wait until the broker acked every record in ``caused`` (raises what a write failed with)."""
    for written in caused:
        await written.confirmed()


def truncated(value: bytes | None, size: int) -> bytes:
    """``value`` cut to at most ``size`` bytes."""
    return (value or b"")[: max(size, 0)]
