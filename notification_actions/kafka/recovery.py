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
recovery ends after reading (``flush_buffers`` before ``_set_recovery_ended``),
but not when a rebalance finds nothing to recover, so the buffers are also
flushed when a rebalance completes, before the tables' ``on_recover``
callbacks read them; a record read after recovery is written at once, as with
``recovery_buffer_size=1``.

:func:`resume_where_read` mends a hole in Faust's changelog reading. Faust
pauses a changelog partition by taking it out of its set of active partitions;
a batch the Kafka client has already handed over is then iterated, and the
paused partition's records in it are skipped without a word — but the client's
position has moved past them. A stream partition gets them again (Faust seeks
it to its committed offset when it resumes it); a changelog partition has no
committed offset, so they were lost. Two workers starting together (two
rebalances within a second or two, ``worker --processes 2``) lost the first
records the other worker wrote to the actions changelog in about one start of
three with 1-s heartbeats: that worker's table and index lacked those actions,
and it never fired them. Now every time Faust resumes a changelog partition it
is first sought to the record after the last one recovery has read from it.
A record read twice is harmless: Faust applies a changelog record only when
its offset is past the last one it read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust
from aiokafka.errors import IllegalStateError

__all__ = ["RECOVERY_BATCH", "batch_recovery", "resume_where_read"]

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

        async def flush(sender: Any, **kwargs: Any) -> None:
            recovery.flush_buffers()

        app.on_rebalance_complete.connect(flush)
    sizes.tables.add(id(table))


def resume_where_read(app: faust.App) -> None:
    """Seek a table's changelog partition to the record after the last one read, whenever Faust resumes it."""
    consumer = app.consumer
    if getattr(consumer, "_resumes_where_read", False):
        return
    recovery = app.tables.recovery
    resume = consumer.resume_partitions

    def resume_partitions(tps: Iterable[Any]) -> None:
        tps = set(tps)
        for tp in tps & set(recovery.tp_to_table):
            # the offsets recovery compares a changelog record with (faust/tables/recovery.py: _slurp_changelogs)
            seen = (recovery.active_offsets if tp in recovery.active_tps else recovery.standby_offsets).get(tp)
            after = seen + 1 if seen is not None and seen >= 0 else 0
            try:
                consumer._thread.seek(tp, after)  # what Consumer.seek does, without awaiting
            except IllegalStateError:  # no longer assigned (a rebalance began): nothing to read from it
                continue
            if after > 0:
                consumer._read_offset[tp] = after
            else:
                consumer._read_offset.pop(tp, None)
        resume(tps)

    consumer.resume_partitions = resume_partitions
    consumer._resumes_where_read = True
