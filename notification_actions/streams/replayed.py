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

import faust

from notification_actions.errors import InvalidEvent
from notification_actions.kafka import headers as h
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.loop import Crash
from notification_actions.models import decode_event
from notification_actions.models.delivery import Origin
from notification_actions.models.replay import ReplayRequest
from notification_actions.settings import Settings
from notification_actions.streams.dead_letters import DeadLetters
from notification_actions.streams.matching import MatchingStage
from notification_actions.tables.actions import ActionIndex
from notification_actions.tables.throttle import ThrottleTable

__all__ = ["ReplayStage"]


def _request(event: faust.EventT) -> ReplayRequest:
    raw = dict(event.message.headers or []).get(h.REPLAY)
    if raw is None:
        raise InvalidEvent(f"no {h.REPLAY} header: not written by replay", field=h.REPLAY)
    try:
        return ReplayRequest.from_header(bytes(raw))
    except ValueError as exc:
        raise InvalidEvent(f"invalid {h.REPLAY} header: {exc}".splitlines()[0], field=h.REPLAY) from exc


class ReplayStage(MatchingStage):
    """The matching stage's agent over the replay topic: each record's trigger and scope from its header."""

    name = "replay"

    def __init__(self, settings: Settings, index: ActionIndex, throttle: ThrottleTable, deliveries: faust.TopicT,
                 dead_events: DeadLetters, gaps: GapReader, crash: Crash) -> None:
        super().__init__(settings, {}, index, throttle, deliveries, dead_events, gaps, crash)

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
        deliveries = self.match(decoded, request.source, takes=request.takes_action, throttle=request.throttle)
        for delivery in deliveries:
            delivery.force = request.force
        await self._send(event, deliveries)
