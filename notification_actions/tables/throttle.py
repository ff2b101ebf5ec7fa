"""Per-action throttles: at most ``limit`` deliveries per ``window_seconds`` per key.

Fixed windows aligned to the epoch (a window starts at a multiple of its
length), counted in a Faust ``Table`` co-partitioned with the event topics, so
a throttle survives restarts and rebalances. Events are keyed by organization
and an action belongs to one organization, so all of an action's counts live
on one partition. Time is the worker's clock when the event is matched.

The count is per value of the throttle's ``key``, a dotted event path read by
``models/paths.py`` exactly as conditions and templates read it (so
``data.tags.0`` is the first tag). See :func:`throttle_key`.

Stored value: ``[window start, count, window end, changelog partition]``; a
window's entry is deleted once it ends, with a tombstone (``tables/expiry.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import faust
import orjson

from notification_actions.models import NotificationAction
from notification_actions.models.paths import MISSING, resolve
from notification_actions.tables.expiry import Expiry
from notification_actions.tables.raw import raw_codecs

__all__ = ["ThrottleTable", "throttle_key"]


def throttle_key(action: NotificationAction, event: Mapping[str, Any]) -> bytes:
    """The table key ``event`` is counted under for ``action``: ``<action id>|<group>``.

    ``group`` is empty when the throttle has no ``key`` (one count per action),
    else the JSON of the value at that path of the envelope ``event``. A
    missing value counts as JSON ``null``: every event where the path leads
    nowhere (or to a ``null``) shares the one bucket ``<action id>|null``.
    """
    path = action.throttle.key if action.throttle is not None else None
    if path is None:
        return f"{action.id}|".encode()
    value = resolve(event, path)
    return f"{action.id}|{orjson.dumps(None if value is MISSING else value).decode()}".encode()


def _expiry_of(raw: bytes) -> tuple[float, int] | None:
    stored = orjson.loads(raw)
    if len(stored) < 4 or stored[3] is None:
        return None  # written before windows were expired: kept
    return float(stored[2]), int(stored[3])


class ThrottleTable:
    def __init__(self, app: faust.App, *, partitions: int) -> None:
        self.table = app.Table(
            "throttle",
            partitions=partitions,
            **raw_codecs(),
            help="Fixed-window delivery counters per action and throttle key.",
            on_recover=self._seed,
        )
        self.expiry = Expiry(self.table, _expiry_of, name="throttle")

    async def _seed(self) -> None:
        self.expiry.seed()

    def allow(self, action: NotificationAction, event: dict, *, now: float | None = None) -> bool:
        """Count one delivery for ``action`` and say whether it is within the limit.

        Must run inside stream iteration (Faust picks the partition from the
        current event). A refused delivery is not counted.
        """
        throttle = action.throttle
        if throttle is None:
            return True
        key = throttle_key(action, event)
        now = time.time() if now is None else now
        window_start = now - (now % throttle.window_seconds)
        raw = self.table.get(key)
        start, count = orjson.loads(raw)[:2] if raw is not None else (window_start, 0)
        if start != window_start:
            start, count = window_start, 0
        if count >= throttle.limit:
            return False
        event = faust.current_event()
        partition = event.message.partition if event is not None else None
        end = window_start + throttle.window_seconds
        self.table[key] = orjson.dumps([start, count + 1, end, partition])
        if count == 0:  # a new window: noted once
            self.expiry.note(key, end, partition)
        return True
