"""One guarded consume loop for every stage: read back, handle, guard, ack.

Every agent (the three config agents, matching, dispatch) runs its stream
through a :class:`ConsumeLoop`. Per record the stream hands over:

1. **read back** — ``GapReader.before(event)`` returns the records of its
   partition Faust fetched but never handed over (``gaps.py``); they are
   handled first, so order holds;
2. **handle** — each item (the read-back ones, then the event) goes to the
   stage's ``handle`` coroutine: inline, in the agent's task (integrations,
   directory, matching), or — given ``max_pending`` — as a job of an
   :class:`InFlight` set (dispatch; config actions, which may wait for their
   integration): one key's items in order, other keys' beside them. Each
   job is its own asyncio task created from the agent's task, so it sees the
   event Faust put in the context, which is how a table write finds its
   partition (``inflight.py``). Agent concurrency stays 1. Given
   ``max_per_key`` and ``overflow`` too, each key has a *share* of the set:
   ``max_per_key`` jobs, or as many as it finishes in ``per_key_budget``
   seconds when that is more, up to half the set. When the whole worker is
   slow (a loaded machine slows every key, and no key is judged by it), the
   budget is the time half the set of typical jobs takes, times
   :data:`TYPICAL_MARGIN` — a key at the worker's own pace is never parked
   before it holds half the set; only one slower than the rest is — at most
   :data:`MAX_BUDGET_FACTOR` times ``per_key_budget``. A key none of whose
   jobs has finished yet is watched for ``per_key_probe`` seconds, once, to
   learn its pace. An item beyond its key's share is not held in memory: it
   goes, inline, to ``overflow(item, ahead)`` (``ahead``: the items of its key
   still in memory, oldest first; :meth:`ConsumeLoop.pace` tells how long its
   jobs take) — dispatch parks it on the broker, behind
   its target's circuit — so a slow key cannot take every pending slot. A
   fast key at half the set waits for a slot, as every key did before (a
   short wait: it is fast);
3. **guard** — an exception from ``handle`` goes to the stage's
   ``on_error(item, exc)`` (matching dead-letters the event, config writes a
   rejected record); when ``on_error`` returns, the item counts as handled.
   When ``on_error`` raises (dispatch re-raises: only a broken producer gets
   there), the failure is *fatal*;
4. **ack** — the stream is read with ``noack()``, and every item, handed over
   or read back, is acked the same way: through :class:`OrderedAcks`, once
   handled *and* once the broker acked every record its handling wrote
   (``produced.py``: a write that failed for good is fatal, like a failure
   of ``on_error``), in offset order per partition. (An inline stage's item
   that wrote nothing, with nothing earlier of its partition waiting, is
   acked at once without a ticket: the same order, at less cost per event.) The committed offset never passes
   an item not yet handled, and Faust's ``stream_wait_empty`` (left on) waits
   for exactly these acks before a rebalance or a stop commits.

A fatal failure is logged and handed to ``crash`` (the app's: the worker stops,
and its successor reads again from the committed offset). The item is never
acked, and since acks go in offset order nothing after it in its partition is
acked either. The read-back itself raising is fatal too: the event that
revealed the hole is tracked but never acked, so no commit passes the hole —
rather than carry on without the skipped records, the worker stops. After a
fatal failure the loop takes no further record.

:meth:`ConsumeLoop.idle` — nothing taken and not yet acked — is what the tail
sweep of ``gaps.py`` asks before it seeks a partition back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import faust

from notification_actions.kafka.acks import OrderedAcks, Ticket
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.inflight import InFlight
from notification_actions.kafka.produced import Written, collecting, confirm
from notification_actions.models.delivery import Origin

log = logging.getLogger(__name__)

__all__ = ["ConsumeLoop"]

#: a key's budget is at least the time half the set of typical jobs takes, times this (the module docstring)
TYPICAL_MARGIN = 1.5
#: ... and at most this many times ``per_key_budget`` (jobs of slow keys count in "typical" too)
MAX_BUDGET_FACTOR = 15

Handle = Callable[[faust.EventT], Awaitable[None]]
Overflow = Callable[[faust.EventT, list[faust.EventT]], Awaitable[None]]
OnError = Callable[[faust.EventT, Exception], Awaitable[None]]
Crash = Callable[[BaseException], Awaitable[None]]


class ConsumeLoop:
    def __init__(
        self,
        name: str,
        gaps: GapReader,
        handle: Handle,
        on_error: OnError,
        *,
        crash: Crash,
        max_pending: int | None = None,
        max_per_key: int | None = None,
        overflow: Overflow | None = None,
        per_key_budget: float = 0.0,
        per_key_probe: float = 0.0,
    ) -> None:
        self.name = name  # for the log: which stage's loop
        self.gaps = gaps
        self.handle = handle
        self.on_error = on_error
        self.crash = crash
        self.max_pending = max_pending  # None: handle inline; else jobs in an InFlight set
        self.max_per_key = max_per_key  # with overflow: at most this many of one key's jobs in the set
        self.overflow = overflow
        self.per_key_budget = per_key_budget  # a fast key may hold as many jobs as it finishes in this time
        self.per_key_probe = per_key_probe  # how long to watch a key that has finished no job yet
        self.failed: BaseException | None = None
        self._taking = False
        self._acks: OrderedAcks | None = None
        self._jobs: InFlight | None = None
        self._confirming: set[asyncio.Task] = set()  # items waiting for the broker's acks of their records

    async def run(self, stream: faust.StreamT) -> None:
        """Consume ``stream`` until it ends or a failure is fatal (see the module docstring)."""
        acks = self._acks = OrderedAcks()  # an agent restarted by Faust starts afresh
        jobs = self._jobs = InFlight(max_pending=self.max_pending) if self.max_pending else None
        async for event in stream.noack().events():
            if self.failed is not None:
                return  # the worker is stopping: take nothing more
            self._taking = True
            try:
                try:
                    items = (event,) if self.gaps.in_order(event) else (*await self.gaps.before(event), event)
                except Exception as exc:
                    acks.track(event)  # never done: no ack passes the hole this event revealed
                    await self._fatal(exc, f"reading back the records skipped before {Origin.of(event)}")
                    return
                for item in items:
                    if jobs is None:  # inline: tracked only if it must wait (see _handle)
                        await self._handle(item, None, acks)
                    elif self._over(jobs, item) and not await self._share(jobs, item.key):
                        ahead = jobs.queued(item.key)
                        await self._handle(item, acks.track(item), acks, lambda item=item: self.overflow(item, ahead))
                    else:
                        ticket = acks.track(item)
                        await jobs.submit(item.key, lambda i=item, t=ticket: self._handle(i, t, acks), tag=item)
                    if self.failed is not None:
                        return
            finally:
                self._taking = False

    def idle(self) -> bool:
        """Nothing taken and not yet acked (the tail sweep of gaps.py only looks at idle stages)."""
        return not self._taking and (self._acks is None or self._acks.waiting() == 0)

    def pace(self, key: object) -> float | None:
        """Seconds a job of ``key`` takes, smoothed over its last ones (``InFlight.pace``); ``None`` when
        not known."""
        return self._jobs.pace(key) if self._jobs is not None else None

    def _over(self, jobs: InFlight, item: faust.EventT) -> bool:
        """``item``'s key already holds ``max_per_key`` jobs (see :meth:`_share` for more)."""
        return self.overflow is not None and self.max_per_key is not None and jobs.pending(item.key) >= self.max_per_key

    async def _share(self, jobs: InFlight, key: object) -> bool:
        """Whether one more job of ``key`` is within its share of the set (the module docstring)."""
        assert self.max_per_key is not None
        if self.per_key_budget <= 0:
            return False
        fast_bound = max(self.max_per_key, jobs.max_pending // 2)
        typical = TYPICAL_MARGIN * fast_bound * (jobs.typical() or 0.0)
        budget = min(max(self.per_key_budget, typical), MAX_BUDGET_FACTOR * self.per_key_budget)
        probed = False
        while (pending := jobs.pending(key)) >= self.max_per_key:
            took = jobs.estimate(key) or 0.0
            if not jobs.timed(key):  # none of its jobs has finished: its pace is not known
                if probed or took >= self.per_key_probe:
                    return False  # its first job has run for the probe's time already: slow
                probed = True  # watch its first job until it has run that long, once
                await jobs.freed(key, self.per_key_probe - took)
                continue
            if (jobs.drain(key, more=1) or 0.0) > budget:
                return False  # slow: it does not finish those it holds and one more within the budget
            if pending < fast_bound:
                return True
            await jobs.freed(key, budget / fast_bound)  # fast, at its bound: a slot soon
        return True

    async def _handle(
        self, item: faust.EventT, ticket: Ticket | None, acks: OrderedAcks,
        work: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Handle ``item``; ack it once handled and once its records are on the broker.

        ``ticket`` None: an inline stage, whose items are handled one by one in offset order, so
        an item is tracked only after its handling, and only when it must wait — it caused
        records, or an earlier item of its partition still waits for the broker's acks. Most
        items (an event that matched nothing) are acked at once, without a ticket."""
        with collecting() as caused:
            try:
                try:
                    await (work() if work is not None else self.handle(item))
                except Exception as exc:
                    await self.on_error(item, exc)
            except Exception as exc:
                if ticket is None:
                    acks.track(item)  # never done: no ack passes the item that failed
                await self._fatal(exc, f"handling {Origin.of(item)}")
                return
        if ticket is None:
            if not caused and acks.clear(item.message.tp):
                item.ack()
                return
            ticket = acks.track(item)
        if not caused:
            acks.done(ticket)
            return
        # acked once the broker has every record it caused; meanwhile the stream (and its key) go on
        task = asyncio.create_task(self._ack_when_written(ticket, acks, caused))
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)

    async def _ack_when_written(self, ticket: Ticket, acks: OrderedAcks, caused: list[Written]) -> None:
        try:
            await confirm(caused)
        except Exception as exc:
            await self._fatal(exc, f"writing the records {Origin.of(ticket.event)} caused")
            return
        acks.done(ticket)

    async def _fatal(self, exc: Exception, doing: str) -> None:
        if self.failed is None:
            self.failed = exc
        log.critical("%s: %s failed; stopping the worker so that no commit passes it: %r",
                     self.name, doing, exc, exc_info=exc)
        await self.crash(exc)
