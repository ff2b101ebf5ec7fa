"""Which deliveries already succeeded: dedup key → time delivered.

A Faust ``Table`` co-partitioned with the deliveries topic (a delivery's key
is its target, so every copy of one delivery lands on the same partition and
the same worker). Entries older than the TTL count as absent: a replay after
the TTL delivers again, on purpose — and they are deleted, with a tombstone to
the changelog (``tables/expiry.py``), so the table holds one TTL's keys.

Stored value: ``<delivered-at>|<changelog partition>`` (the partition lets a
worker that recovers the partition expire the key).
"""

from __future__ import annotations

import time

import faust
from faust import current_event

from notification_actions.tables.expiry import Expiry
from notification_actions.tables.raw import raw_codecs

__all__ = ["DedupTable"]


class DedupTable:
    def __init__(self, app: faust.App, *, partitions: int, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self.table = app.Table(
            "dedup",
            partitions=partitions,
            **raw_codecs(),
            help="Dedup keys of deliveries that succeeded.",
            on_recover=self._seed,
        )
        self.expiry = Expiry(self.table, self._expiry_of, name="dedup")

    def _expiry_of(self, raw: bytes) -> tuple[float, int] | None:
        at, _, partition = bytes(raw).partition(b"|")
        return (float(at) + self.ttl, int(partition)) if partition else None

    async def _seed(self) -> None:
        self.expiry.seed()

    def delivered(self, key: str, *, now: float | None = None) -> bool:
        """True when ``key`` succeeded less than the TTL ago."""
        raw = self.table.get(key.encode())
        if raw is None:
            return False
        return (now or time.time()) - float(bytes(raw).partition(b"|")[0]) < self.ttl

    def mark_delivered(self, key: str, *, now: float | None = None) -> None:
        """Record success. Must run in the context of the delivery's own event
        (Faust picks the changelog partition from it)."""
        at = now or time.time()
        event = current_event()
        partition = event.message.partition if event is not None else None
        raw = repr(at).encode() + (b"|%d" % partition if partition is not None else b"")
        self.table[key.encode()] = raw
        self.expiry.note(key.encode(), at + self.ttl, partition)
