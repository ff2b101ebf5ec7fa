"""A GlobalTable that recovers in batches and still follows its changelog live.

Faust keeps reading a table's changelog after recovery (so every worker sees
every other worker's config writes) only when the table's
``recovery_buffer_size`` is 1 (``faust/tables/recovery.py``, "the specific
scenario where recovery_buffer=1"), and its docs give ``partitions=1,
recovery_buffer_size=1`` as the cure for a GlobalTable stuck in a recovery
loop with several workers. But the same size is used *during* recovery: each
changelog record is then written to RocksDB on its own, with its offset, in two
writes. After a bulk load of 100,000 actions the first restart re-read ~37,000
records that way (Faust's reader was that far behind the worker's own writes
when it stopped), and took ~21 s to be ready.

:func:`batch_recovery` keeps the table's ``recovery_buffer_size`` at 1 — so the
partition is resumed after recovery exactly as before — and replaces the
recovery's cache of buffer sizes (``Recovery.buffer_sizes``, read for every
changelog record) with one that answers ``batch`` for the table's partitions
while recovery is under way and 1 afterwards. Faust flushes every buffer when
recovery ends (``flush_buffers`` before ``_set_recovery_ended``), so nothing
stays buffered, and a record read after recovery is written at once, as with
``recovery_buffer_size=1``.
"""

from __future__ import annotations

from typing import Any

import faust

__all__ = ["RECOVERY_BATCH", "batch_recovery"]

RECOVERY_BATCH = 1_000  # Faust's default recovery_buffer_size


class _BufferSizes(dict):
    """``Recovery.buffer_sizes`` with a size that follows recovery for some tables."""

    def __init__(self, recovery: Any, batch: int) -> None:
        super().__init__()
        self.recovery = recovery
        self.batch = batch
        self.tables: set[int] = set()  # id() of the tables that recover in batches

    def get(self, tp: Any, default: Any = None) -> Any:
        table = self.recovery.tp_to_table.get(tp)
        if table is not None and id(table) in self.tables:
            return self.batch if self.recovery.in_recovery else 1
        return super().get(tp, default)


def batch_recovery(app: faust.App, table: faust.GlobalTable, batch: int = RECOVERY_BATCH) -> None:
    """Recover ``table`` (``recovery_buffer_size=1``) ``batch`` records at a time; live, one at a time."""
    if getattr(table, "recovery_buffer_size", None) != 1:
        raise ValueError("batch_recovery is for a table with recovery_buffer_size=1 (live changelog reads)")
    recovery = app.tables.recovery
    sizes = recovery.buffer_sizes
    if not isinstance(sizes, _BufferSizes):
        sizes = _BufferSizes(recovery, batch)
        sizes.update(recovery.buffer_sizes)
        recovery.buffer_sizes = sizes
    sizes.tables.add(id(table))
