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

__all__ = ["Circuit", "CircuitTable", "MAX_SKIPPED"]

#: heads the watchdog moved past that a circuit remembers (so that one coming back late is still fired)
MAX_SKIPPED = 1000


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
    # which circuit of the target this is (a new one for each opening; 0: stored before generations):
    # a delivery's place is (generation, seq), so a stale duplicate from a closed circuit is not this one's
    generation: int = 0
    done: list[int] = Field(default_factory=list)     # places finished ahead of the head (dead-lettered)
    skipped: list[int] = Field(default_factory=list)  # heads the watchdog moved past: fired if they come back
    head_due_by: float | None = None  # the parked head is overdue after this (the watchdog's deadline)
    partition: int | None = None      # the changelog partition (for the watchdog's writes, outside a stream)

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

    def _put(self, target: str, circuit: Circuit | None, *, partition: int | None = None) -> None:
        """Write (``None``: delete) ``target``'s circuit: in a stream, through the table; outside one
        (``partition`` given: the watchdog's timer), to the store and the changelog partition directly."""
        key = target.encode()
        if partition is not None:
            value = None if circuit is None else orjson.dumps(circuit.model_dump())
            if value is None:
                self.table.data.pop(key, None)
            else:
                self.table.data[key] = value
            self.table.send_changelog(partition, key, value)
            return
        if circuit is None:
            del self.table[key]
            return
        event = faust.current_event()
        if event is not None:
            circuit.partition = event.message.partition
        self.table[key] = orjson.dumps(circuit.model_dump())

    def enqueue(self, target: str, tier: int, *, reserve_for: str | None = None, failed: bool = False) -> int:
        """Give a delivery the next place in ``target``'s queue (opening the circuit); return its seq.

        With ``reserve_for`` (a record's origin), the place is kept for that delivery:
        :meth:`reserved` finds it when the delivery is handled. ``failed``: it is parked after a failed
        attempt, so the circuit is *failing* until it closes."""
        circuit = self.get(target)
        if circuit is None:
            circuit = Circuit(opened_at=time.time(), failing=failed, generation=time.time_ns())
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

    def finish(self, target: str, seq: int, *, delivered: bool = False) -> None:
        """The delivery with ``seq`` is done (delivered or dead); at the head, the next one not done yet
        becomes head; behind it, its place is noted as done. A head ``delivered`` means the target
        answers again: the circuit is no longer failing, so those behind it wait only about as long as
        the places ahead of them take, not a tier's delay each."""
        circuit = self.get(target)
        if circuit is None or not circuit.head <= seq < circuit.next:
            return
        if delivered and seq == circuit.head:
            circuit.failing = False
        if seq > circuit.head:
            if seq not in circuit.done:
                circuit.done.append(seq)
                self._put(target, circuit)
            return
        self._advance(target, circuit)

    def _advance(self, target: str, circuit: Circuit, *, partition: int | None = None) -> None:
        circuit.head += 1
        while circuit.head in circuit.done:
            circuit.done.remove(circuit.head)
            circuit.head += 1
        circuit.head_due_by = None
        circuit.reserved = {origin: place for origin, place in circuit.reserved.items() if place >= circuit.head}
        if circuit.head >= circuit.next:
            self._put(target, None, partition=partition)
            log.warning("circuit closed for %s after %.0fs", target, time.time() - circuit.opened_at)
        else:
            self._put(target, circuit, partition=partition)

    def head_parked(self, target: str, seq: int, overdue_after: float) -> None:
        """The head (``seq``) waits in a retry tier: it is overdue ``overdue_after`` seconds from now."""
        circuit = self.get(target)
        if circuit is not None and seq == circuit.head:
            circuit.head_due_by = time.time() + overdue_after
            self._put(target, circuit)

    def head_back(self, target: str, seq: int) -> None:
        """The head (``seq``) came back from its tier: no longer overdue."""
        circuit = self.get(target)
        if circuit is not None and seq == circuit.head and circuit.head_due_by is not None:
            circuit.head_due_by = None
            self._put(target, circuit)

    def take_skipped(self, target: str, seq: int) -> bool:
        """Whether ``seq`` is a head the watchdog moved past (now come back); it is one no longer."""
        circuit = self.get(target)
        if circuit is None or seq not in circuit.skipped:
            return False
        circuit.skipped.remove(seq)
        self._put(target, circuit)
        return True

    def overdue(self, partitions: set[int], now: float | None = None) -> dict[str, Circuit]:
        """Circuits of ``partitions`` whose parked head has not come back by its deadline."""
        now = time.time() if now is None else now
        return {t: c for t, c in self.open_circuits().items()
                if c.head_due_by is not None and c.head_due_by < now and c.partition in partitions}

    def skip_head(self, target: str, circuit: Circuit) -> int:
        """The watchdog's move, outside a stream: the next place becomes head (the overdue one is noted in
        ``skipped``, and fired if it comes back). Returns the place skipped."""
        skipped = circuit.head
        circuit.skipped = [*circuit.skipped, skipped][-MAX_SKIPPED:]
        self._advance(target, circuit, partition=circuit.partition)
        return skipped

    def open_circuits(self) -> dict[str, Circuit]:
        """This worker's open circuits (its partitions only)."""
        return {k.decode(): Circuit.model_validate(orjson.loads(v)) for k, v in self.table.items()}
