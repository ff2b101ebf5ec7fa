"""Acks each partition's messages in offset order, whatever order their work finishes in.

Faust commits the highest contiguous acked offset, but its head check is
skipped while ``_committed_offset`` is unknown and is off by one after
(``min(acked) - committed > 1``): an un-acked message at the head of a
partition can be passed. Deliveries finish out of order by design (a slow
target beside fast ones), so the dispatch agent acks through this queue: a
finished message is acked only once every earlier message of its partition
is, and the committed offset never passes a delivery still in flight.
(Messages Faust never handed over at all are ``gaps.py``'s business.)
"""

from __future__ import annotations

from collections import defaultdict, deque

__all__ = ["OrderedAcks", "Ticket"]


class Ticket:
    __slots__ = ("done", "event")

    def __init__(self, event) -> None:
        self.event = event
        self.done = False


class OrderedAcks:
    def __init__(self) -> None:
        self._queues: dict[object, deque[Ticket]] = defaultdict(deque)

    def track(self, event) -> Ticket:
        """Call in offset order per partition, before the event's work starts."""
        ticket = Ticket(event)
        self._queues[event.message.tp].append(ticket)
        return ticket

    def done(self, ticket: Ticket) -> int:
        """Mark the ticket's work finished; ack every finished message at the head. Returns how many."""
        ticket.done = True
        queue = self._queues[ticket.event.message.tp]
        acked = 0
        while queue and queue[0].done:
            queue.popleft().event.ack()
            acked += 1
        return acked

    def clear(self, tp) -> bool:
        """Nothing of partition ``tp`` is tracked and not yet acked: an item handled now may be acked
        at once, without a ticket (``loop.py``'s inline stages)."""
        return not self._queues.get(tp)

    def waiting(self) -> int:
        """Messages tracked but not yet acked (finished or not)."""
        return sum(len(q) for q in self._queues.values())
