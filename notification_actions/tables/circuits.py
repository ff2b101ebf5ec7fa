"""Per-target circuits: a target whose delivery is in the retry path is *open*.

While a target's circuit is open, its deliveries wait in the retry path, in
order: each takes a place in the target's queue (:meth:`CircuitTable.enqueue`,
a sequence number), and only the circuit's *head* (the oldest still waiting)
is fired; later ones are parked behind it — written to the same or a later
retry tier topic. That keeps a broken target from being hammered (one
attempt per tier delay, not one per delivery), keeps other targets
unaffected, and keeps order across retries: a resolve never overtakes its
trigger. The circuit closes when its last parked delivery is done. A circuit
is *failing* once one of its deliveries was parked after a failed attempt;
one opened only for want of memory (the bulkhead) is not, and those behind
it wait only about as long as the places ahead of them take
(``streams/bulkhead.py``).

A place can also be *reserved* for a delivery still held in memory
(``enqueue(..., reserve_for=origin)``): when a target's later delivery is parked
while earlier ones wait in memory (the dispatch agent's per-target bulkhead),
those earlier ones get the places before it. A reservation is keyed by the
delivery's record (``topic[partition]@offset``) and kept in the table, so a
delivery read again after a crash finds its place; it is dropped once its
place is done.

A Faust ``Table`` keyed by target key, co-partitioned with the deliveries
topic (whose key is also the target key), written from that target's
in-order chain in the dispatch agent, and from the agent's own task for a
delivery beyond the target's share of memory (with no ``await`` between a
read and its write, so the two never interleave mid-change).
"""

from __future__ import annotations

import logging
import time

import faust
import orjson
from pydantic import BaseModel, Field

from notification_actions.tables.raw import raw_codecs

log = logging.getLogger(__name__)

__all__ = ["Circuit", "CircuitTable"]


class Circuit(BaseModel):
    head: int = 0          # sequence number of the oldest delivery in the queue
    next: int = 0          # sequence number the next delivery enqueued gets
    tier: int = 0          # the latest tier a parked delivery of this target waits in
    # a delivery of it was parked after a failed attempt, not only for want of memory (a circuit stored
    # before this field existed was opened by a failure)
    failing: bool = True
    opened_at: float = 0.0
    # places reserved for deliveries held in memory: their record (topic[partition]@offset) -> seq
    reserved: dict[str, int] = Field(default_factory=dict)

    @property
    def waiting(self) -> int:
        return self.next - self.head


class CircuitTable:
    def __init__(self, app: faust.App, *, partitions: int) -> None:
        self.table = app.Table(
            "circuits",
            partitions=partitions,
            **raw_codecs(),
            help="Targets with deliveries waiting in the retry path, and their queue positions.",
        )

    def get(self, target: str) -> Circuit | None:
        raw = self.table.get(target.encode())
        return Circuit.model_validate(orjson.loads(raw)) if raw is not None else None

    def _put(self, target: str, circuit: Circuit) -> None:
        self.table[target.encode()] = orjson.dumps(circuit.model_dump())

    def enqueue(self, target: str, tier: int, *, reserve_for: str | None = None, failed: bool = False) -> int:
        """Give a delivery the next place in ``target``'s queue (opening the circuit); return its seq.

        With ``reserve_for`` (a record's origin), the place is kept for that delivery:
        :meth:`reserved` finds it when the delivery is handled. ``failed``: it is parked after a failed
        attempt, so the circuit is *failing* until it closes."""
        circuit = self.get(target)
        if circuit is None:
            circuit = Circuit(opened_at=time.time(), failing=failed)
            log.warning("circuit opened for %s", target)
        seq = circuit.next
        circuit.next += 1
        circuit.tier = max(circuit.tier, tier)
        circuit.failing = circuit.failing or failed
        if reserve_for is not None:
            circuit.reserved[reserve_for] = seq
        self._put(target, circuit)
        return seq

    def reserved(self, target: str, origin: str) -> int | None:
        """The place reserved in ``target``'s queue for the delivery read from ``origin``, if any."""
        circuit = self.get(target)
        return circuit.reserved.get(origin) if circuit is not None else None

    def moved_to(self, target: str, tier: int) -> None:
        """The head failed again and moved on to ``tier``: later deliveries must wait there too, behind it."""
        circuit = self.get(target)
        if circuit is not None and (tier > circuit.tier or not circuit.failing):
            circuit.tier, circuit.failing = max(tier, circuit.tier), True
            self._put(target, circuit)

    def finish(self, target: str, seq: int) -> None:
        """The delivery with ``seq`` is done (delivered or dead); the next one becomes head."""
        circuit = self.get(target)
        if circuit is None or seq != circuit.head:
            return
        circuit.head += 1
        circuit.reserved = {origin: place for origin, place in circuit.reserved.items() if place >= circuit.head}
        if circuit.head >= circuit.next:
            del self.table[target.encode()]
            log.warning("circuit closed for %s after %.0fs", target, time.time() - circuit.opened_at)
        else:
            self._put(target, circuit)

    def open_circuits(self) -> dict[str, Circuit]:
        """This worker's open circuits (its partitions only)."""
        return {k.decode(): Circuit.model_validate(orjson.loads(v)) for k, v in self.table.items()}
