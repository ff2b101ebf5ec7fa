"""Deleting table entries once they expire, with tombstones, so state does not grow forever.

The dedup table keeps a key per delivered delivery and the throttle table one
per (action, key, window): without deletion both grow with every delivery, on
disk and in every new worker's recovery. :class:`Expiry` remembers when each
entry it is told about expires (a heap of ``(expires_at, key, partition)``)
and :meth:`Expiry.sweep` deletes the expired ones of the partitions this worker
owns: from the local store, and with a tombstone to the table's changelog, so
a recovering worker does not replay history and compaction drops the key.

Entries carry their changelog partition in their stored value (the tables
write it), so a worker that recovers a partition finds what to expire there
(:meth:`Expiry.seed`, after each recovery). An entry written again since it
was noted (a newer window, a forced replay) is not deleted: the sweep asks the
table whether the stored value still expires at that time.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Expiry"]

Parse = Callable[[bytes], "tuple[float, int] | None"]
"""A stored value → ``(expires_at, partition)``; None when it tells neither (an old format: kept)."""


class Expiry:
    def __init__(self, table: Any, parse: Parse, *, name: str) -> None:
        self.table = table  # a Faust Table of bytes
        self.parse = parse
        self.name = name
        self._heap: list[tuple[float, bytes, int]] = []
        self.deleted = 0

    def note(self, key: bytes, expires_at: float, partition: int | None) -> None:
        """``key`` (just written to ``partition``) expires at ``expires_at``."""
        if partition is not None:
            heapq.heappush(self._heap, (expires_at, key, partition))

    def seed(self) -> int:
        """Note every entry the local store holds (after recovery: its partitions may have changed)."""
        heap = []
        for key, raw in self.table.data.items():
            found = self.parse(raw) if raw is not None else None
            if found is not None:
                heap.append((found[0], bytes(key), found[1]))
        heapq.heapify(heap)
        self._heap = heap
        return len(heap)

    def sweep(self, partitions: Iterable[int], *, now: float | None = None, limit: int = 10_000) -> int:
        """Delete up to ``limit`` expired entries of ``partitions``; return how many were deleted.

        Entries of partitions this worker does not own stay noted: their
        owner deletes them; here they are dropped once they expire.
        """
        now = time.time() if now is None else now
        owned = set(partitions)
        data = self.table.data
        deleted = 0
        while self._heap and self._heap[0][0] <= now and deleted < limit:
            expires_at, key, partition = heapq.heappop(self._heap)
            if partition not in owned:
                continue
            raw = data.get(key)
            found = self.parse(raw) if raw is not None else None
            if found is None or found[0] != expires_at:
                continue  # gone already, or written again since: its new expiry is noted
            try:
                del data[key]
            except KeyError:
                continue
            self.table.send_changelog(partition, key, None)
            deleted += 1
        self.deleted += deleted
        if deleted:
            log.debug("%s: %d expired entries deleted", self.name, deleted)
        return deleted

    def __len__(self) -> int:
        return len(self._heap)
