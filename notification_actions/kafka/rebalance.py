"""Whether a rebalance is on, and sleeps that end when one starts.

On a rebalance Faust waits until every record its streams took is acked
before it gives the partitions up (``stream_wait_empty``). A delivery that
sleeps in memory — an in-process retry's backoff, a wait for its target's
rate limit — would hold that wait for as long as it sleeps, and a member that
waits past the session timeout is evicted while another owner fires the same
deliveries. :class:`RebalanceWatch` is a Faust sensor: ``on_rebalance_start``
is the first thing Faust calls when partitions are revoked, before it waits.
:meth:`RebalanceWatch.sleep` ends early then (the dispatch stage parks the
delivery in its retry tier instead, ``streams/dispatch.py``), and
:attr:`RebalanceWatch.on` tells a delivery that has not fired yet to do the
same, so a rebalance waits for no more than the fires already under way.

Faust may call the sensor from its consumer's thread: the wake-up is handed to
the event loop the watch was bound to. A rebalance that never reports its end
stops counting after ``expire_after`` seconds, so a lost signal cannot park
every delivery forever.
"""

from __future__ import annotations

import asyncio
import time

from faust.sensors import Sensor

__all__ = ["RebalanceWatch"]


class RebalanceWatch(Sensor):
    def __init__(self, *, expire_after: float) -> None:
        super().__init__()
        self.expire_after = expire_after
        self.rebalances = 0  # rebalances seen (for the log and the tests)
        self._rebalance_since: float | None = None
        self._agents_loop: asyncio.AbstractEventLoop | None = None
        self._rebalance_wake: asyncio.Future | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop whose sleepers a rebalance wakes (the agents')."""
        self._agents_loop = loop

    def on_rebalance_start(self, app) -> dict:
        self.rebalances += 1
        self._rebalance_since = time.monotonic()
        if self._agents_loop is not None and not self._agents_loop.is_closed():
            self._agents_loop.call_soon_threadsafe(self._wake_sleepers)
        return super().on_rebalance_start(app)

    def on_rebalance_end(self, app, state: dict) -> None:
        self._rebalance_since = None

    @property
    def on(self) -> bool:
        """A rebalance has started and not ended (for at most ``expire_after`` seconds)."""
        return self._rebalance_since is not None and time.monotonic() - self._rebalance_since < self.expire_after

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; ``True`` — at once, or as soon as it starts — when a rebalance is on."""
        if self.on:
            return True
        if seconds <= 0:
            return False
        if self._rebalance_wake is None or self._rebalance_wake.done():
            self._rebalance_wake = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._rebalance_wake), seconds)
        except TimeoutError:
            return False
        return True

    def _wake_sleepers(self) -> None:
        if self._rebalance_wake is not None and not self._rebalance_wake.done():
            self._rebalance_wake.set_result(None)
