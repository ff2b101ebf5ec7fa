"""Per-target pacing: deliveries to one target are spaced to its service's rate.

A registration may declare ``rate_limit = (count, seconds)`` per target (Slack:
about one message per second per channel; PagerDuty: 120 per minute per
routing key), and a service may say so itself: a response whose rate-limit
headers show an empty bucket (Discord, GitHub) holds the target until it
refills. Over the limit a delivery *waits*; it does not fail. Deliveries
of one target run in order in one chain on one worker, so the pacing state
can live in memory: a target's partition, and so its chain, moves with it.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["Pacer"]


class Pacer:
    def __init__(self, max_targets: int = 100_000) -> None:
        self._next_at: dict[str, float] = {}
        self._max_targets = max_targets

    async def wait(self, target: str, rate: tuple[int, float] | None) -> float:
        """Sleep until ``target`` may take one more delivery; return the seconds waited."""
        now = time.monotonic()
        at = max(now, self._next_at.get(target, now))
        if rate is not None:
            count, seconds = rate
            self._next_at[target] = at + seconds / count
            if len(self._next_at) > self._max_targets:
                self._forget_idle(now)
        if at > now:
            await asyncio.sleep(at - now)
        return at - now

    def hold(self, target: str, seconds: float) -> None:
        """The service said ``target``'s bucket is empty: nothing more for ``seconds``."""
        until = time.monotonic() + seconds
        self._next_at[target] = max(self._next_at.get(target, 0.0), until)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, at in self._next_at.items() if at < now]:
            del self._next_at[key]
