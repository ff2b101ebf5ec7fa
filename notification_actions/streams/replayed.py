"""Replayed events → matched within their replay's scope, under the live throttles → deliveries.

``replay`` and the backfill jobs do not write deliveries themselves: they copy the
events they select to the replay topic (``models/replay.py``), which is
co-partitioned with the event topics (key = organization id, the event's own
partition). This agent, beside the matching agent and on the same guarded loop
(``kafka/loop.py``), takes them in the worker that owns that partition, so a
replayed delivery is counted in the very throttle window live events are counted
in (``tables/throttle.py``; a process outside the workers cannot write a Faust
table). Per record, in order: the ``na-replay`` header, the event, the actions of
its (organization, trigger) as live matching finds them (enabled, project scope,
conditions), the replay's scope, then the throttle unless the replay lifted it.
Each delivery keeps its dedup key; ``force`` marks it to fire even so.

A record without a valid header or event goes to the events DLQ untouched, with the
reason and the replay topic's topic/partition/offset in headers; the agent carries on.
"""

from __future__ import annotations

import logging

import faust

from notification_actions.errors import InvalidEvent, Problem
from notification_actions.kafka import headers as h
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.loop import ConsumeLoop, Crash
from notification_actions.kafka.produced import send
from notification_actions.logs import context
from notification_actions.metrics import DETACHED, Metrics
from notification_actions.models import decode_event
from notification_actions.models.delivery import Delivery, Origin
from notification_actions.models.replay import ReplayRequest
from notification_actions.settings import Settings
from notification_actions.streams.dead_letters import DeadLetters
from notification_actions.streams.matching import matching_actions
from notification_actions.tables.actions import ActionIndex
from notification_actions.tables.throttle import ThrottleTable

log = logging.getLogger(__name__)

__all__ = ["ReplayStage"]


def _request(event: faust.EventT) -> ReplayRequest:
    raw = dict(event.message.headers or []).get(h.REPLAY)
    if raw is None:
        raise InvalidEvent(f"no {h.REPLAY} header: not written by replay", field=h.REPLAY)
    try:
        return ReplayRequest.from_header(bytes(raw))
    except ValueError as exc:
        raise InvalidEvent(f"invalid {h.REPLAY} header: {exc}".splitlines()[0], field=h.REPLAY) from exc


class ReplayStage:
    metrics: Metrics = DETACHED

    def __init__(self, settings: Settings, index: ActionIndex, throttle: ThrottleTable, deliveries: faust.TopicT,
                 dead_events: DeadLetters, gaps: GapReader, crash: Crash) -> None:
        self.settings = settings
        self.index = index
        self.throttle = throttle
        self.deliveries = deliveries
        self.dead_events = dead_events
        self.gaps = gaps
        self.loop = ConsumeLoop("replay", gaps, self.handle, self._internal_error, crash=crash)
        self.counts = {"valid": 0, "invalid": 0, "matched": 0, "throttled": 0}

    async def agent(self, stream: faust.StreamT) -> None:
        await self.loop.run(stream)

    def idle(self) -> bool:
        return self.loop.idle()

    async def _internal_error(self, event: faust.EventT, exc: Exception) -> None:
        log.error("replayed event failed at %s", Origin.of(event), exc_info=exc)
        await self.dead_events.send_record(
            event, [Problem("", f"internal error: {type(exc).__name__}")], error_class="InternalError"
        )

    async def handle(self, event: faust.EventT) -> None:
        origin = Origin.of(event)
        try:
            request = _request(event)
            decoded = decode_event(event.value, topic_trigger=request.trigger,
                                   max_bytes=self.settings.max_event_bytes, key=event.key)
        except InvalidEvent as exc:
            self.counts["invalid"] += 1
            await self.dead_events.send_record(event, exc.at(str(origin)).problems, error_class="InvalidEvent")
            return
        self.counts["valid"] += 1
        if not request.takes_event(decoded):
            return
        actions, as_dict = matching_actions(self.index, decoded)
        for action in actions:
            if not request.takes_action(action):
                continue
            if request.throttle and not self.throttle.allow(action, as_dict):
                self.counts["throttled"] += 1
                self.metrics.throttled.labels(action.trigger_type.slug, action.service_type.slug).inc()
                log.info("replayed delivery throttled: action %s, event %s", action.id, decoded.id,
                         extra=context(organization_id=decoded.organization_id, action_id=action.id,
                                       event_id=decoded.id))
                continue
            delivery = Delivery.build(decoded, action, request.source)
            delivery.force = request.force
            self.counts["matched"] += 1
            self.metrics.matches.labels(action.trigger_type.slug, action.service_type.slug).inc()
            await send(self.deliveries, key=delivery.target_key.encode(), value=delivery.to_bytes())
