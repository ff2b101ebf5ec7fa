"""Which deliveries already succeeded: dedup key → time delivered.

A Faust ``Table`` co-partitioned with the deliveries topic (a delivery's key
is its target, so every copy of one delivery lands on the same partition and
the same worker). Entries older than the TTL count as absent: a replay after
the TTL delivers again, on purpose.
"""

from __future__ import annotations

import time

import faust
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
        )

    def delivered(self, key: str, *, now: float | None = None) -> bool:
        """True when ``key`` succeeded less than the TTL ago."""
        raw = self.table.get(key.encode())
        if raw is None:
            return False
        return (now or time.time()) - float(raw) < self.ttl

    def mark_delivered(self, key: str, *, now: float | None = None) -> None:
        """Record success. Must run in the context of the delivery's own event
        (Faust picks the changelog partition from it)."""
        self.table[key.encode()] = repr(now or time.time()).encode()
