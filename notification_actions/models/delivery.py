"""Typed records that travel between the stages: ``Delivery`` and ``Outcome``, and ``Origin``.

A ``Delivery`` is not changed in place: each step of its way gives a new value
(``first_attempted``, ``next_attempt``, ``queued``, ``placed``, ``out_of_queue``), so what
was fired, recorded and parked is always the value the code names.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from notification_actions.models.action import NotificationAction
from notification_actions.models.event import Event

__all__ = ["Delivery", "Origin", "Outcome", "dedup_key"]


def dedup_key(event_id: str, action_id: str) -> str:
    """The identity of a delivery: one per (event, action), stable across replays."""
    return f"{event_id}:{action_id}"


class Origin(BaseModel):
    """Where a record came from, for dead letters and error messages."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    @classmethod
    def of(cls, event: Any) -> "Origin":
        """Where ``event`` was read: a Faust event, or a record read back (``event.message``)."""
        message = event.message
        return cls(topic=message.topic, partition=message.partition, offset=message.offset)


class Delivery(BaseModel):
    """One (event, action) match on its way to a service.

    Carries a snapshot of the action as it was when the event matched, and only a
    *reference* to the integration: credentials are resolved at fire time and
    never travel in a delivery.
    """

    dedup_key: str
    event: Event
    action: NotificationAction
    origin: Origin
    matched_at: float
    attempt: int = 1
    first_attempt_at: float | None = None
    last_error: str | None = None
    # Set while the delivery waits in the retry path: its place in its
    # target's queue (see tables/circuits.py) and the tier it waits in.
    seq: int | None = None
    tier: int | None = None
    # ... of which circuit of the target (its generation; None: written before generations)
    generation: int | None = None
    # A forced replay (``replay --force``) fires even if the dedup key succeeded.
    force: bool = False

    @classmethod
    def build(cls, event: Event, action: NotificationAction, origin: Origin) -> "Delivery":
        return cls(
            dedup_key=dedup_key(event.id, action.id),
            event=event,
            action=action,
            origin=origin,
            matched_at=time.time(),
        )

    @property
    def target_key(self) -> str:
        """Deliveries with the same target key are fired in order (it is also the Kafka key)."""
        return self.action.target_key()

    def first_attempted(self, at: float) -> "Delivery":
        """This delivery with the time of its first attempt (``at``, unless one is already known)."""
        return self if self.first_attempt_at is not None else self.model_copy(update={"first_attempt_at": at})

    def next_attempt(self, last_error: str) -> "Delivery":
        """The delivery to try again after an attempt that failed with ``last_error``."""
        return self.model_copy(update={"attempt": self.attempt + 1, "last_error": last_error})

    def queued(self, seq: int, tier: int, generation: int | None = None) -> "Delivery":
        """This delivery at place ``seq`` of its target's queue (of circuit ``generation``, when given),
        waiting in retry tier ``tier``."""
        update: dict = {"seq": seq, "tier": tier}
        if generation is not None:
            update["generation"] = generation
        return self.model_copy(update=update)

    def placed(self, seq: int, generation: int | None = None) -> "Delivery":
        """This delivery at place ``seq`` of its target's queue, reserved for it while it waited in memory."""
        return self.model_copy(update={"seq": seq, "generation": generation})

    def out_of_queue(self) -> "Delivery":
        """This delivery with no place in a queue (its circuit closed meanwhile): an ordinary one again."""
        return self if self.seq is None else self.model_copy(update={"seq": None, "generation": None})

    def of_circuit(self, generation: int) -> bool:
        """Whether its place (if any) is in the circuit of ``generation`` (one written before generations
        existed is taken to be)."""
        return self.seq is not None and (self.generation is None or generation == 0 or self.generation == generation)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Delivery":
        return cls.model_validate_json(raw)


class Outcome(BaseModel):
    """One record per fire attempt, written to the outcomes topic (no secrets)."""

    dedup_key: str
    action_id: str
    organization_id: int
    trigger: str
    service: str
    target: str
    result: Literal["ok", "retry", "dead"]
    attempt: int
    latency_ms: float
    status: int | None = None
    error_class: str | None = None
    error: str | None = None
    code: str | None = None
    detail: str = ""
    at: float

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Outcome":
        return cls.model_validate_json(raw)

    def log_fields(self) -> dict[str, Any]:
        return {
            "delivery_id": self.dedup_key,
            "action_id": self.action_id,
            "organization_id": self.organization_id,
        }
