"""Events → matched against the actions → one delivery per match.

One agent consumes every ``events.<trigger>`` topic through the guarded loop
of ``kafka/loop.py`` (records Faust skipped read back first; each event acked
once handled). Each event is decoded once; an invalid one goes untouched to
the events DLQ with the reason and its place in headers, and the agent
carries on; so does an event whose matching failed unexpectedly
(``InternalError``). Only a failure to write to the DLQ, or to read back
what Faust skipped, stops the worker, so nothing is committed past it.

A valid event meets only the actions of its (organization, trigger) through
the index, then, in order: enabled, project scope, conditions, throttle. Each
survivor becomes a ``Delivery`` keyed by its target, so one target's
deliveries share a partition and keep their order. An event one of whose
deliveries would be larger than a record may hold goes to the events DLQ
(``DeliveryTooLarge``), none of its deliveries sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust

from notification_actions.errors import InvalidEvent, Problem
from notification_actions.logs import context
from notification_actions.metrics import DETACHED, Metrics
from notification_actions.models import ActionTrigger, Event, NotificationAction, check_event
from notification_actions.settings import Settings
from notification_actions.models.delivery import Delivery, Origin
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.loop import Crash, ConsumeLoop
from notification_actions.kafka.produced import max_value_bytes, send
from notification_actions.streams.dead_letters import DeadLetters
from notification_actions.tables.actions import ActionIndex
from notification_actions.tables.throttle import ThrottleTable

log = logging.getLogger(__name__)

__all__ = ["MatchingStage", "in_scope", "matching_actions"]


def in_scope(action: NotificationAction, event: Event) -> bool:
    """Project scope: an org-wide action takes every event of its organization;
    a project-scoped one only events of its projects (never project-less ones)."""
    if not action.enabled:
        return False
    if not action.projects:
        return True
    return event.project_id is not None and event.project_id in action.projects


def matching_actions(index: ActionIndex, event: Event) -> tuple[list[NotificationAction], dict]:
    """The actions of ``event``'s (organization, trigger) in scope whose conditions hold, and
    the event as a dict (empty when there is no candidate). Throttles are not applied here."""
    candidates = index.lookup(event.organization_id, event.trigger)
    if not candidates:
        return [], {}
    as_dict = event.as_dict()
    return [a for a in candidates if in_scope(a, event) and a.conditions_match(as_dict)], as_dict


class MatchingStage:
    metrics: Metrics = DETACHED
    name = "matching"  # of its consume loop, in logs

    def __init__(
        self,
        settings: Settings,
        topic_triggers: dict[str, ActionTrigger],
        index: ActionIndex,
        throttle: ThrottleTable,
        deliveries: faust.TopicT,
        dead_events: DeadLetters,
        gaps: GapReader,
        crash: Crash,
    ) -> None:
        self.settings = settings
        self.topic_triggers = topic_triggers
        self.index = index
        self.throttle = throttle
        self.deliveries = deliveries
        self.dead_events = dead_events
        self.gaps = gaps
        self.loop = ConsumeLoop(self.name, gaps, self.handle, self._internal_error, crash=crash)
        self.counts = {"valid": 0, "invalid": 0, "matched": 0, "throttled": 0}
        self._valid_children: dict[ActionTrigger | None, Any] = {}

    async def agent(self, stream: faust.StreamT) -> None:
        await self.loop.run(stream)

    def idle(self) -> bool:
        """Every event taken is handled and acked (the tail sweep of gaps.py only looks at idle stages)."""
        return self.loop.idle()

    async def _internal_error(self, event: faust.EventT, exc: Exception) -> None:
        # The loop's guard: a failure of ours is the event's dead letter, with its reason.
        log.error("%s failed at %s", self.name, Origin.of(event), exc_info=exc)
        await self.dead_events.send_record(
            event, [Problem("", f"internal error: {type(exc).__name__}")], error_class="InternalError"
        )

    async def handle(self, event: faust.EventT) -> None:
        topic = event.message.topic
        try:
            checked = check_event(
                event.value,
                topic_trigger=self.topic_triggers.get(topic),
                max_bytes=self.settings.max_event_bytes,
                key=event.key,  # must be the organization id: partitions and throttle state follow it
            )
        except InvalidEvent as exc:
            self.counts["invalid"] += 1
            self.metrics.events.labels(getattr(self.topic_triggers.get(topic), "slug", "unknown"), "invalid").inc()
            await self.dead_events.send_record(event, exc.at(str(Origin.of(event))).problems, error_class="InvalidEvent")
            return
        self.counts["valid"] += 1
        self._valid_counter(checked.trigger).inc()
        if not self.index.lookup(checked.organization_id, checked.trigger):
            return  # most events: no action of their (organization, trigger); no Origin, no Event built
        await self._send(event, self.match(checked.event(), Origin.of(event)))

    async def _send(self, event: faust.EventT, deliveries: list[Delivery]) -> None:
        """Write ``event``'s deliveries; all or none: when one would not fit a record, the event goes to
        the events DLQ instead (a refused one would leave the event half sent)."""
        records = [(d, d.target_key.encode(), d.to_bytes()) for d in deliveries]
        for delivery, key, value in records:
            if len(value) > (limit := max_value_bytes(self.deliveries, key)):
                await self._too_large(event, delivery, len(value), limit)
                return
        for _, key, value in records:
            await send(self.deliveries, key=key, value=value)

    async def _too_large(self, event: faust.EventT, delivery: Delivery, size: int, limit: int) -> None:
        """A valid event whose delivery (the event and its action together) is more than a record may hold:
        the event goes to the events DLQ, saying so; none of its deliveries is sent."""
        why = (f"its delivery to action {delivery.action.id} would be {size:,} bytes, more than the {limit:,} a "
               f"record may hold (the producer's max request size less key and framing): a delivery carries the "
               f"action beside the event, so events must stay well under MAX_EVENT_BYTES "
               f"({self.settings.max_event_bytes:,})")
        log.warning("event %s at %s to the events DLQ: %s", delivery.event.id, Origin.of(event), why)
        await self.dead_events.send_record(event, [Problem("", why)], error_class="DeliveryTooLarge")

    def _valid_counter(self, trigger: ActionTrigger) -> Any:
        """``events_consumed_total{trigger, "valid"}``, looked up once per trigger (``labels()`` per
        event was ~7 % of the handler's samples, the slug ~5 %)."""
        events, cache = self.metrics.events, self._valid_children
        if cache.get(None) is not events:  # the app attaches its Metrics after building the stage
            cache.clear()
            cache[None] = events
        child = cache.get(trigger)
        if child is None:
            child = cache[trigger] = events.labels(trigger.slug, "valid")
        return child

    def match(self, event: Event, origin: Origin, *, takes: Callable[[NotificationAction], bool] | None = None,
              throttle: bool = True) -> list[Delivery]:
        """The deliveries one valid event gives rise to: of the actions ``takes`` (all when None), under
        the throttles unless ``throttle`` is False (updates throttle state)."""
        actions, as_dict = matching_actions(self.index, event)
        out = []
        for action in actions:
            if takes is not None and not takes(action):
                continue
            if throttle and not self.throttle.allow(action, as_dict):
                self.counts["throttled"] += 1
                self.metrics.throttled.labels(action.trigger_type.slug, action.service_type.slug).inc()
                log.info("delivery throttled: action %s, event %s", action.id, event.id,
                         extra=context(organization_id=event.organization_id, action_id=action.id, event_id=event.id))
                continue
            out.append(Delivery.build(event, action, origin))
            self.metrics.matches.labels(action.trigger_type.slug, action.service_type.slug).inc()
        self.counts["matched"] += len(out)
        return out
