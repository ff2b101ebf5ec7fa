"""Faust's ``Monitor`` without its bookkeeping per record.

Faust adds its monitor to every app's sensors. For each message in and out,
each stream event, send and table get or set, it updates counters keyed by
topic, stream and task, stamps times and appends to deques of latencies; for
each record fetched it notes its partition's high water. Only Faust's own web
views read any of it, and they are off (``worker/app.py``); the service's
metrics are its own (``metrics.py``). :class:`QuietMonitor` keeps the rare
hooks (commits, rebalances, assignments) and makes the per-record ones do
nothing (``docs/benchmarks.md``, issue 16, third round).
"""

from __future__ import annotations

from typing import Any

from faust.sensors.monitor import Monitor

__all__ = ["QuietMonitor"]


class QuietMonitor(Monitor):
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_topic_buffer_full(self, tp: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:  # called per record fetched
        return None
