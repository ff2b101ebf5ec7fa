"""Per-target pacing: deliveries to one target are spaced to its service's rate.

A registration may declare ``rate_limit = (count, seconds)`` per target (Slack:
about one message per second per channel; PagerDuty: 120 per minute per
routing key), and a service may say so itself: a response whose rate-limit
headers show an empty bucket (Discord, GitHub) holds the target until it
refills. Over the limit a delivery *waits*; it does not fail. Deliveries
of one target run in order in one chain on one worker, so the pacing state
can live in memory: a target's partition, and so its chain, moves with it.

The endpoint chooses a hold's length, and a waiting delivery sleeps in memory
(its partition's commits wait behind it; a rebalance ends the sleep, and the
delivery waits in its retry tier instead): a hold is
never longer than ``MAX_PACING_HOLD_SECONDS`` (a setting; at most
:data:`MAX_PACING_HOLD_SECONDS`), and one that is not a finite,
non-negative number is ignored. A bucket that is still empty after the hold
answers the next delivery with a 429 or 403, whose wait the retry tiers take.
"""

from __future__ import annotations

import math
import time

__all__ = ["MAX_PACING_HOLD_SECONDS", "Pacer"]

#: the longest a response can hold its target (Discord's buckets refill within seconds)
MAX_PACING_HOLD_SECONDS = 60.0


class Pacer:
    def __init__(self, max_targets: int = 100_000, *, max_hold: float = MAX_PACING_HOLD_SECONDS) -> None:
        self._next_at: dict[str, float] = {}
        self._max_targets = max_targets
        self.max_hold = min(max_hold, MAX_PACING_HOLD_SECONDS)

    def reserve(self, target: str, rate: tuple[int, float] | None) -> float:
        """Take ``target``'s next slot; return the seconds until it (the caller sleeps them, and may
        end the sleep early: a rebalance, ``kafka/rebalance.py``)."""
        now = time.monotonic()
        at = min(max(now, self._next_at.get(target, now)), now + self.max_hold)
        if rate is not None:
            count, seconds = rate
            self._next_at[target] = at + seconds / count
            if len(self._next_at) > self._max_targets:
                self._forget_idle(now)
        return at - now

    def hold(self, target: str, seconds: float) -> None:
        """The service said ``target``'s bucket is empty: nothing more for ``seconds``
        (at most ``max_hold``; ignored unless a finite, non-negative number)."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        until = time.monotonic() + min(seconds, self.max_hold)
        self._next_at[target] = max(self._next_at.get(target, 0.0), until)

    def held_for(self, target: str) -> float:
        """Seconds until ``target`` may take its next delivery (0 when it may now)."""
        return max(0.0, self._next_at.get(target, 0.0) - time.monotonic())

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, at in self._next_at.items() if at < now]:
            del self._next_at[key]
