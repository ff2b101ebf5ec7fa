"""Per-action throttles: at most ``limit`` deliveries per ``window_seconds`` per key.

Fixed windows aligned to the epoch (a window starts at a multiple of its
length), counted in a Faust ``Table`` co-partitioned with the event topics, so
a throttle survives restarts and rebalances. Events are keyed by organization
and an action belongs to one organization, so all of an action's counts live
on one partition. Time is the worker's clock when the event is matched.
"""

from __future__ import annotations

import time

import faust
import orjson

from notification_actions.models import NotificationAction
from notification_actions.tables.raw import raw_codecs

__all__ = ["ThrottleTable"]


def _lookup(data: dict, path: str) -> object:
    node: object = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class ThrottleTable:
    def __init__(self, app: faust.App, *, partitions: int) -> None:
        self.table = app.Table(
            "throttle",
            partitions=partitions,
            **raw_codecs(),
            help="Fixed-window delivery counters per action and throttle key.",
        )

    def allow(self, action: NotificationAction, event: dict, *, now: float | None = None) -> bool:
        """Count one delivery for ``action`` and say whether it is within the limit.

        Must run inside stream iteration (Faust picks the partition from the
        current event). A refused delivery is not counted.
        """
        throttle = action.throttle
        if throttle is None:
            return True
        group = "" if throttle.key is None else orjson.dumps(_lookup(event, throttle.key)).decode()
        key = f"{action.id}|{group}".encode()
        now = time.time() if now is None else now
        window_start = now - (now % throttle.window_seconds)
        raw = self.table.get(key)
        start, count = orjson.loads(raw) if raw is not None else (window_start, 0)
        if start != window_start:
            start, count = window_start, 0
        if count >= throttle.limit:
            return False
        self.table[key] = orjson.dumps([start, count + 1])
        return True
