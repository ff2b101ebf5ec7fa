"""The per-target bulkhead: which deliveries of a target wait in memory, and their places in its queue.

A slow target holds at most ``MAX_PENDING_PER_TARGET`` deliveries in the
dispatch agent's memory; a later one is not taken into memory, nor waited
for, but parked at once, behind the target's circuit
(``DispatchStage.overflow``), so that one slow target cannot take every
pending slot and stop the stream for everyone. It waits on the broker and
comes back in order, as deliveries behind an open circuit do.

A target that fires quickly may hold more: as many as it fires in
:data:`DRAIN_BUDGET_SECONDS`, up to half the pending set (beyond that, the
stream waits for it, as it did for every target before: briefly, since it is
fast). A delivery parked behind a circuit that is not *failing* (none of its
deliveries has been parked after a failed attempt: it was opened for want of
memory) waits about as long as those ahead of it are projected to take
(:func:`overflow_wait`: its places ahead × its target's pace, at least
:data:`DRAIN_BUDGET_SECONDS`, at most its tier's delay), so a burst to a
healthy target is back as soon as the target can take it; behind a failing
circuit it waits the tier's delay, as it always did. A target that has not finished a delivery yet is watched
for :data:`PROBE_SECONDS` before its pace is judged. The rule lives in
``kafka/loop.py`` and ``kafka/inflight.py`` (a per-key share of the in-flight
set); the places in the targets' queues live here.
"""

from __future__ import annotations

import faust

from notification_actions.models.delivery import Delivery, Origin
from notification_actions.tables.circuits import CircuitTable

__all__ = ["DRAIN_BUDGET_SECONDS", "PROBE_SECONDS", "Places", "overflow_wait"]

#: a target may hold as many deliveries in memory as it fires in this time (at least MAX_PENDING_PER_TARGET)
DRAIN_BUDGET_SECONDS = 2.0
#: how long the stream waits, once, for a target's first delivery to finish before it knows its pace
PROBE_SECONDS = 0.1


def overflow_wait(ahead: int, pace: float | None, tier_delay: float) -> float:
    """How long a delivery parked behind a circuit that is not failing waits: the time the ``ahead``
    places before it take at ``pace`` seconds each (unknown: the least), at least
    :data:`DRAIN_BUDGET_SECONDS` (few early returns to park again), at most ``tier_delay`` (what it
    would wait behind a failure)."""
    return min(max(ahead * (pace or 0.0), DRAIN_BUDGET_SECONDS), tier_delay)


class Places:
    """Places in the targets' queues for the deliveries in memory (keyed by their record's origin)."""

    def __init__(self, circuits: CircuitTable) -> None:
        self.circuits = circuits
        self._started: set[str] = set()    # deliveries whose job runs
        self._unplaced: set[str] = set()   # of those, the ones with no place in their target's queue

    def started(self, event: faust.EventT) -> str:
        """The job of ``event``'s delivery starts; returns its origin (the key of everything here)."""
        origin = str(Origin.of(event))
        self._started.add(origin)
        return origin

    def ended(self, origin: str) -> None:
        self._started.discard(origin)
        self._unplaced.discard(origin)

    def reserved(self, origin: str, delivery: Delivery) -> Delivery:
        """``delivery`` at the place reserved for it, if it has none of its own and one is reserved."""
        if delivery.seq is None and (seq := self.circuits.reserved(delivery.target_key, origin)) is not None:
            circuit = self.circuits.get(delivery.target_key)
            return delivery.placed(seq, circuit.generation if circuit is not None else None)
        return delivery

    def place(self, origin: str, delivery: Delivery) -> Delivery:
        """For a running delivery: :meth:`reserved`, noting whether it has a place. Call it just before
        the delivery's ``seq`` is used, with no ``await`` between: a reservation may come at any await."""
        delivery = self.reserved(origin, delivery)
        if delivery.seq is None:
            self._unplaced.add(origin)
        else:
            self._unplaced.discard(origin)
        return delivery

    def enqueue(self, origin: str, target: str, tier: int, *, failed: bool = False) -> int:
        """The next place in ``target``'s queue for the delivery of ``origin``, which now has one
        (``failed``: it is parked after a failed attempt)."""
        seq = self.circuits.enqueue(target, tier, failed=failed)
        self._unplaced.discard(origin)
        return seq

    def reserve_ahead(self, target: str, ahead: list[faust.EventT], tier: int) -> int:
        """Reserve places in ``target``'s queue, in order, for the deliveries ``ahead`` in memory that
        will want one: those still to start with no place of their own, and those firing without one.
        Returns how many were reserved."""
        circuit = self.circuits.get(target)
        known = set(circuit.reserved) if circuit is not None else set()
        count = 0
        for item in ahead:
            origin = str(Origin.of(item))
            if origin in known:
                continue  # reserved already, or a record read twice (it shares the place)
            known.add(origin)
            if origin in self._started and origin not in self._unplaced:
                continue  # running, with a place
            if origin not in self._started:
                try:
                    waiting = Delivery.from_bytes(item.value)
                except Exception:
                    continue  # it is dead-lettered at its turn
                if waiting.seq is not None or waiting.target_key != target:
                    continue  # it has a place already
            self.circuits.enqueue(target, tier, reserve_for=origin)
            self._unplaced.discard(origin)
            count += 1
        return count
