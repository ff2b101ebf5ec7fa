"""Deliveries → registration ``fire()`` → outcomes; retries, circuits, dead letters.

The agent reads the deliveries topic through the guarded loop of
``kafka/loop.py``, which hands each delivery (records Faust skipped, read
back, first) to an :class:`InFlight` set — per-target order, bounded
pending — while at most ``max_in_flight`` fires run at once. A slow target
holds at most ``max_pending_per_target`` deliveries in memory (a fast one
more: ``kafka/loop.py``'s per-key share): a later one is parked at once
behind the target's circuit (:meth:`DispatchStage.overflow`,
``bulkhead.py``), so a slow target cannot take every pending slot. Per
delivery, in order:

1. skip it if its dedup key already succeeded (a crash, a rebalance, a replay)
   — once its turn has come, if it has a place in its target's queue;
2. if its target's circuit is open, give it a place in the target's queue
   (the one reserved for it, if any) and park it behind the circuit's head
   (``tables/circuits.py``) unless it *is* the head;
3. pace to the registration's ``rate_limit`` and fire (``firing.py``: the
   integration resolved — credentials never travel in deliveries, and one of
   another organization than the action's is refused — and the registration's
   ``fire()`` bounded): one :class:`Attempt`;
4. write an outcome for every attempt, then do what
   ``RetryPolicy.decide`` (``retry.py``) says: ok — mark the dedup key;
   quick — retry in-process; park — write it to retry tier *n*; dead —
   dead-letter it. Each step gives the delivery a new value
   (``next_attempt``, ``queued``, …); none is changed in place;
5. ack — the loop's, in offset order per partition (``acks.py``), so the
   committed offset never passes a delivery still in flight, nor one whose
   outcome, parked record or dead letter the broker has not acked yet
   (``kafka/produced.py``: a write that fails for good stops the worker).

``handle()`` turns every failure of a delivery into an outcome; what still
escapes it (a broken producer: an outcome that cannot be written) stops the
worker, and the delivery is never acked, so it is fired again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust

from notification_actions.errors import PermanentDeliveryError
from notification_actions.metrics import DETACHED, Metrics
from notification_actions.registrations.base import Registry
from notification_actions.settings import Settings
from notification_actions.streams.dead_letters import DeadLetters
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.loop import Crash, ConsumeLoop
from notification_actions.kafka.produced import send
from notification_actions.kafka.rebalance import RebalanceWatch
from notification_actions.streams.bulkhead import DRAIN_BUDGET_SECONDS, PROBE_SECONDS, Places, overflow_wait
from notification_actions.streams.firing import Firing, ids, last_error
from notification_actions.streams.pacing import Pacer
from notification_actions.models.delivery import Delivery, Origin, Outcome
from notification_actions.streams.retry import Attempt, RetryPolicy, RetryTiers
from notification_actions.tables.circuits import CircuitTable
from notification_actions.tables.dedup import DedupTable
from notification_actions.tables.directory import DirectoryTable
from notification_actions.tables.integrations import IntegrationsTable

log = logging.getLogger(__name__)

__all__ = ["DispatchStage"]


class DispatchStage:
    metrics: Metrics = DETACHED

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        integrations: IntegrationsTable,
        directory: DirectoryTable,
        dedup: DedupTable,
        circuits: CircuitTable,
        outcomes: faust.TopicT,
        tiers: RetryTiers,
        dead_letters: DeadLetters,
        crash: Crash,
        gaps: GapReader,
        rebalance: RebalanceWatch,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.integrations = integrations
        self.directory = directory
        self.dedup = dedup
        self.circuits = circuits
        self.outcomes = outcomes
        self.tiers = tiers
        self.dead_letters = dead_letters
        self.gaps = gaps
        self.rebalance = rebalance  # a sleep ends when one starts; a delivery not yet fired waits in its tier
        # On rebalance and on shutdown Faust waits (stream_wait_empty) until
        # every message this stream took is acked, then commits: in-flight
        # deliveries finish and record their outcomes first.
        self.loop = ConsumeLoop(
            "dispatch", gaps, self.handle, self._cannot_record, crash=crash,
            max_pending=max(settings.max_in_flight * 8, 256),
            max_per_key=settings.max_pending_per_target, overflow=self.overflow,
            per_key_budget=DRAIN_BUDGET_SECONDS, per_key_probe=PROBE_SECONDS,
        )
        self.policy = RetryPolicy(settings)
        self.pacer = Pacer(max_hold=settings.max_pacing_hold_seconds)
        self.counts = {"ok": 0, "retry": 0, "dead": 0, "parked": 0, "duplicate": 0, "yielded": 0}
        self.fire = Firing(settings, registry, integrations, directory)  # one attempt (firing.py)
        self.places = Places(circuits)  # the per-target bulkhead's places in the queues (bulkhead.py)

    async def agent(self, stream: faust.StreamT) -> None:
        self.fire.open()
        self.rebalance.bind(asyncio.get_running_loop())
        await self.loop.run(stream)

    def idle(self) -> bool:
        """Nothing in flight (the tail sweep of gaps.py only looks at idle stages)."""
        return self.loop.idle()

    async def close(self, *args: object, **kwargs: object) -> None:
        """Close the HTTP client; connected to ``app.on_before_shutdown`` (after the drain)."""
        await self.fire.close()

    async def _cannot_record(self, event: faust.EventT, exc: Exception) -> None:
        # Only a broken producer gets here (handle() turns every delivery
        # failure into an outcome): the outcome could not be recorded.
        # Re-raised, it is fatal to the loop, which logs it and stops the
        # worker; the delivery is not acked, so the commit cannot pass it.
        raise exc

    # --- one delivery -----------------------------------------------------------
    async def handle(self, event: faust.EventT) -> None:
        origin = self.places.started(event)
        try:
            delivery = await self._decode(event)
            if delivery is None:
                return
            delivery = self.places.place(origin, delivery)
            circuit = self.circuits.get(delivery.target_key)
            if delivery.seq is not None and circuit is not None and not delivery.of_circuit(circuit.generation):
                # a place in a circuit that closed since (a stale duplicate, say): not this circuit's
                delivery = self.places.place(origin, delivery.out_of_queue())
            if circuit is None:  # no circuit, or it closed meanwhile: an ordinary one
                if not self._duplicate(delivery):
                    await self._attempt(event, origin, self.places.place(origin, delivery.out_of_queue()))
                return
            if delivery.seq is not None and delivery.seq < circuit.head:
                if not self.circuits.take_skipped(delivery.target_key, delivery.seq):
                    self._repeat(delivery)
                    return
                delivery = delivery.out_of_queue()  # late, after the watchdog moved on: it takes a new place
            if delivery.seq == circuit.head:
                self.circuits.head_back(delivery.target_key, delivery.seq)
            if delivery.seq in (None, circuit.head) and self._duplicate(delivery):
                self._finish(delivery)  # at the head: the next one becomes head
                return
            if delivery.seq != circuit.head:  # new to the open circuit, or behind its head: wait in its tier
                await self._wait_behind(event, origin, delivery)
                return
            await self._attempt(event, origin, delivery)
        finally:
            self.places.ended(origin)

    async def overflow(self, event: faust.EventT, ahead: list[faust.EventT]) -> None:
        """A delivery whose target already holds its share of memory waits on the broker instead, parked
        behind its target's circuit (opened for it if need be), and comes back in order; those ``ahead``
        of it in memory get their places first (``bulkhead.py``)."""
        delivery = await self._decode(event)
        if delivery is None:
            return
        origin, target = str(Origin.of(event)), delivery.target_key
        delivery = self.places.reserved(origin, delivery)  # read again after a crash: its place was kept
        circuit = self.circuits.get(target)
        tier = self.policy.tier(circuit.tier) if circuit is not None else 0
        if circuit is None:
            if self._duplicate(delivery):
                return
            delivery = delivery.out_of_queue()
            log.warning("%d deliveries to %s in memory: later ones wait in the retry tiers, in order",
                        len(ahead), target, extra=ids(delivery))
        else:
            if delivery.seq is not None and not delivery.of_circuit(circuit.generation):
                delivery = self.places.reserved(origin, delivery.out_of_queue())  # of a circuit closed since
            if delivery.seq is not None and delivery.seq < circuit.head:
                if not self.circuits.take_skipped(target, delivery.seq):
                    self._repeat(delivery)
                    return
                delivery = delivery.out_of_queue()  # late, after the watchdog moved on: a new place
            if delivery.seq in (None, circuit.head) and self._duplicate(delivery):
                self._finish(delivery)
                return
        if delivery.seq is None:
            self.places.reserve_ahead(target, ahead, tier)
        await self._wait_behind(event, origin, delivery)

    async def _decode(self, event: faust.EventT) -> Delivery | None:
        try:
            return Delivery.from_bytes(event.value)
        except Exception as exc:
            await self.dead_letters.send_undecodable(event, exc)
            self.metrics.dead_letters.labels("unknown").inc()
            return None

    def _duplicate(self, delivery: Delivery) -> bool:
        """Its dedup key already succeeded (a crash, a rebalance, a replay): counted, not fired again."""
        if delivery.force or not self.dedup.delivered(delivery.dedup_key):
            return False
        self.counts["duplicate"] += 1
        self.metrics.duplicates.labels(delivery.action.service_type.slug).inc()
        log.info("delivery %s already succeeded; not firing again", delivery.dedup_key, extra=ids(delivery))
        return True

    def _repeat(self, delivery: Delivery) -> None:
        """A record of a place already done in its circuit (read twice: a crash, a rebalance): counted."""
        self.counts["duplicate"] += 1
        self.metrics.duplicates.labels(delivery.action.service_type.slug).inc()
        log.info("delivery %s: its place %s in the circuit is done already; not firing again",
                 delivery.dedup_key, delivery.seq, extra=ids(delivery))

    async def _wait_behind(self, event: faust.EventT, origin: str, delivery: Delivery) -> None:
        """Park ``delivery`` behind its target's circuit head (opening the circuit if need be), in the
        circuit's tier: for that tier's delay behind a failing circuit, else about as long as the places
        ahead of it take (``bulkhead.overflow_wait``). Past ``MAX_DELIVERY_AGE_SECONDS`` it is
        dead-lettered instead, and its place is done."""
        if time.time() - delivery.matched_at > self.settings.max_delivery_age_seconds:
            await self._expire(event, origin, delivery)
            return
        target = delivery.target_key
        circuit = self.circuits.get(target)
        tier = self.policy.tier(circuit.tier) if circuit is not None else 0  # may name a removed tier
        seq = self.places.enqueue(origin, target, tier) if delivery.seq is None else delivery.seq
        circuit = self.circuits.get(target)
        wait = self.policy.tier_delay(tier)
        if circuit is not None and not circuit.failing:
            wait = overflow_wait(seq - circuit.head, self.loop.pace(event.key), wait)
        await self._park(event, delivery.queued(seq, tier), wait)

    async def _attempt(self, event: faust.EventT, origin: str, delivery: Delivery) -> None:
        """Fire, then do what ``RetryPolicy.decide`` says, until the delivery is done or parked."""
        target = delivery.target_key
        action = delivery.action
        registration = self.registry.find(action.trigger_type, action.service_type, action.target_type)
        rate = registration.rate_limit if registration is not None else None
        quick_used, failed, wait = 0, False, 0.0
        while True:
            wait += self.pacer.reserve(target, rate)
            if await self.rebalance.sleep(wait):  # ends at once when a rebalance is on (kafka/rebalance.py)
                await self._yield_to_rebalance(event, origin, delivery, failed=failed)
                return
            wait = 0.0
            delivery = delivery.first_attempted(time.time())
            attempt = await self.fire(delivery)
            decision = self.policy.decide(delivery, attempt, quick_used)
            if decision.kind == "ok":
                await self._record(delivery, "ok", attempt)
                if attempt.result is not None and attempt.result.wait_after:
                    self.pacer.hold(target, attempt.result.wait_after)
                self.dedup.mark_delivered(delivery.dedup_key)
                self._finish(self.places.place(origin, delivery), delivered=True)
                return
            if decision.kind == "dead":
                outcome = await self._record(delivery, "dead", attempt)
                await self.dead_letters.send_delivery(event.key, delivery, outcome)
                self.metrics.dead_letters.labels(action.service_type.slug).inc()
                self._finish(self.places.place(origin, delivery))
                return
            await self._record(delivery, "retry", attempt)
            delivery = delivery.next_attempt(last_error(attempt))
            self.metrics.retries.labels(action.service_type.slug, "quick" if decision.kind == "quick" else "tier").inc()
            if decision.kind == "quick":
                if not decision.rate_limited:
                    quick_used += 1
                failed, wait = True, min(decision.wait, self.settings.quick_retry_cap_seconds)
                continue  # the backoff is slept with the pacing wait, at the loop's head
            assert decision.tier is not None
            await self._requeue(event, origin, delivery, decision.tier, decision.wait, failed=True)
            return

    async def _yield_to_rebalance(self, event: faust.EventT, origin: str, delivery: Delivery, *, failed: bool) -> None:
        """A rebalance is on: ``delivery`` (not fired since it last slept) waits in its retry tier, in its
        place in its target's queue, rather than hold up the rebalance; due at once, so that the
        partition's next owner fires it (``failed``: an attempt of it failed and it was to be retried)."""
        circuit = self.circuits.get(delivery.target_key)
        tier = self.policy.tier(delivery.tier if delivery.tier is not None else circuit.tier if circuit else 0)
        self.counts["yielded"] += 1
        log.info("delivery %s waits in retry tier %d: a rebalance is on", delivery.dedup_key, tier, extra=ids(delivery))
        await self._requeue(event, origin, delivery, tier, 0.0, failed=failed)

    async def _requeue(
        self, event: faust.EventT, origin: str, delivery: Delivery, tier: int, wait: float, *, failed: bool
    ) -> None:
        """Park ``delivery`` in ``tier`` for ``wait`` s at its place in its target's queue (a new place at
        the back when it has none); ``failed``: after a failed attempt, so the circuit is failing."""
        delivery = self.places.place(origin, delivery)
        target = delivery.target_key
        if delivery.seq is None:
            seq = self.places.enqueue(origin, target, tier, failed=failed)
        else:
            seq = delivery.seq
            if failed:
                self.circuits.moved_to(target, tier)
        await self._park(event, delivery.queued(seq, tier), wait)

    def _finish(self, delivery: Delivery, *, delivered: bool = False) -> None:
        if delivery.seq is not None:
            self.circuits.finish(delivery.target_key, delivery.seq, delivered=delivered)

    async def _expire(self, event: faust.EventT, origin: str, delivery: Delivery) -> None:
        error = PermanentDeliveryError("waited in the retry path past MAX_DELIVERY_AGE_SECONDS", code="max_delivery_age")
        outcome = await self._record(delivery, "dead", Attempt(None, error, 0.0, None))
        await self.dead_letters.send_delivery(event.key, delivery, outcome)
        self.metrics.dead_letters.labels(delivery.action.service_type.slug).inc()
        self._finish(self.places.place(origin, delivery))

    def watchdog(self, partitions: set[int]) -> int:
        """Circuits of ``partitions`` whose parked head has not come back within 3 x its tier's delay
        (its record lost from the tier topic, say) move on to their next place, said in the log and
        counted; the skipped head is fired if it comes back after all. Returns how many moved."""
        moved = 0
        for target, circuit in self.circuits.overdue(partitions).items():
            seq = self.circuits.skip_head(target, circuit)
            self.metrics.circuit_heads_lost.inc()
            log.error("circuit of %s: its head (place %d) did not come back from retry tier %d within 3 x its "
                      "delay; the next place is head now (the lost one is fired if it comes back)",
                      target, seq, circuit.tier)
            moved += 1
        return moved

    async def _park(self, event: faust.EventT, delivery: Delivery, wait: float) -> None:
        """Write ``delivery`` to the retry tier it is queued in (``delivery.tier``), counted; a circuit's
        head is watched (``watchdog``) until it comes back."""
        circuit = self.circuits.get(delivery.target_key)
        if circuit is not None and delivery.seq is not None and delivery.tier is not None:
            delivery = delivery.queued(delivery.seq, delivery.tier, circuit.generation)
            if delivery.seq == circuit.head:
                self.circuits.head_parked(delivery.target_key, delivery.seq, 3 * self.policy.tier_delay(delivery.tier))
        self.counts["parked"] += 1
        self.metrics.parked.labels(delivery.action.service_type.slug, str(delivery.tier)).inc()
        await self.tiers.send(event.key, delivery, wait=wait)

    async def _record(self, delivery: Delivery, result: str, attempt: Attempt) -> Outcome:
        """Write one attempt's outcome (the outcomes topic's one record per attempt)."""
        outcome = self.fire.outcome(delivery, result, attempt)
        self.counts[result] += 1
        service = delivery.action.service_type.slug
        self.metrics.deliveries.labels(service, result).inc()
        self.metrics.fire_duration.labels(service).observe(attempt.latency_ms / 1000)
        if result != "dead":  # a dead letter is logged where it is written
            log.log(logging.INFO if result == "ok" else logging.WARNING,
                    "delivery %s %s: %s attempt %d in %.0f ms%s", delivery.dedup_key, result, service,
                    outcome.attempt, attempt.latency_ms,
                    f" ({outcome.error_class}: {outcome.error})" if outcome.error else "",
                    extra=ids(delivery))
        await send(self.outcomes, key=delivery.dedup_key.encode(), value=outcome.to_bytes())
        return outcome
