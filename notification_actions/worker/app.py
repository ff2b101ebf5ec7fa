"""The Faust app: topics, tables and agents wired together.

``build(settings)`` returns a :class:`Service` holding the app and every stage,
so tests and tools can reach the parts without module-level globals.
Agent concurrency is 1 everywhere (see ``kafka/inflight.py`` for why); every
agent consumes through the guarded loop of ``kafka/loop.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import faust

from notification_actions import registrations  # noqa: F401  (registers every service)
from notification_actions.ops.backfill import BackfillJobs
from notification_actions.ops.lag import LagSampler
from notification_actions.metrics import Metrics
from notification_actions.models.delivery import Outcome
from notification_actions.models.registry import REGISTRY, Registry
from notification_actions.settings import Settings
from notification_actions.streams.config import ConfigStage
from notification_actions.streams.dead_letters import DeadLetters
from notification_actions.streams.delay import DelayQueue
from notification_actions.streams.dispatch import DispatchStage
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.monitor import QuietMonitor
from notification_actions.kafka.rebalance import RebalanceWatch
from notification_actions.kafka.recovery import resume_where_read
from notification_actions.streams.matching import MatchingStage
from notification_actions.streams.replayed import ReplayStage
from notification_actions.streams.retry import RetryTiers
from notification_actions.kafka.security import faust_credentials
from notification_actions.kafka.topics import event_topics
from notification_actions.tables.actions import ActionsTable
from notification_actions.tables.circuits import CircuitTable
from notification_actions.tables.dedup import DedupTable
from notification_actions.tables.directory import DirectoryTable
from notification_actions.tables.integrations import IntegrationsTable
from notification_actions.tables.throttle import ThrottleTable
from notification_actions.worker.web import install_views

log = logging.getLogger(__name__)

__all__ = ["Service", "build"]

SETTLE_AFTER_CHANGES = 1_000
EXPIRY_SWEEP_SECONDS = 5.0
#: how often the circuit watchdog looks for parked heads that did not come back (streams/dispatch.py)
WATCHDOG_SECONDS = 5.0


@dataclass
class Service:
    settings: Settings
    app: faust.App
    actions: ActionsTable
    integrations: IntegrationsTable
    directory: DirectoryTable
    config: ConfigStage
    matching: MatchingStage
    dispatch: DispatchStage
    circuits: CircuitTable
    dedup: DedupTable | None = None
    throttle: ThrottleTable | None = None
    metrics: Metrics = field(default_factory=Metrics)
    lag: LagSampler | None = None
    replayed: ReplayStage | None = None
    #: backfill jobs run in this worker (ops/backfill.py): the HTTP routes start and read them
    backfills: BackfillJobs | None = None
    registry: Registry = REGISTRY
    outcomes: faust.TopicT | None = None
    api: Any = None  # api/actions.Routes, set by worker/web.install_views

    async def record_outcome(self, outcome: Outcome) -> None:
        """An attempt made outside the stream (an API test-fire) on the outcomes topic, as every attempt is."""
        if self.outcomes is not None:
            await (await self.outcomes.send(key=outcome.dedup_key.encode(), value=outcome.to_bytes()))

    def ready(self) -> bool:
        """Tables recovered and partitions assigned (what ``/readyz`` reports)."""
        app = self.app
        try:
            recovered = app.tables.recovery.completed.is_set()
            assigned = bool(app.consumer.assignment())
        except Exception:
            return False
        return recovered and assigned and not app.rebalancing


def _raw_topic(app: faust.App, *names: str, internal: bool = False, partitions: int | None = None) -> faust.TopicT:
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=internal,
        partitions=partitions,
    )


def _refused_stored_action_reporter(settings: Settings, rejected: DeadLetters, metrics: Metrics):
    """How the actions table reports a stored action today's rules refuse (``tables/actions.py``):
    a report on the rejected topic (origin: the actions changelog; offset unknown, -1) and a count.
    Every worker rebuilds the same table, so each reports it once per rebuild."""
    changelog = f"{settings.app_id}-actions-changelog"

    async def report(key: str, raw: bytes, problems: list) -> None:
        metrics.config_rejected.labels("stored_action").inc()
        record = SimpleNamespace(
            key=key.encode(), value=raw,
            message=SimpleNamespace(topic=changelog, partition=0, offset=-1, headers=[], timestamp=None),
        )
        await rejected.send_report(record, problems, error_class="RefusedStoredAction")

    return report


def build(settings: Settings, registry: Registry = REGISTRY) -> Service:
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=faust_credentials(settings),  # kafka/security.py: TLS and SASL
        store=settings.store,
        datadir=str(settings.data_dir),
        web_enabled=True,
        # Faust's own views serve tables in clear text without a token (worker/web.py drops the rest)
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_host=settings.web_host,
        web_port=settings.web_port,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000,
        autodiscover=False,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_seconds,
        # 1 s was measured too (a member learns of a rebalance at its next heartbeat): join and leave
        # pauses were no shorter (docs/benchmarks.md, issue 16, fourth round)
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        monitor=QuietMonitor(),  # Faust's per-record bookkeeping, read by nobody (kafka/monitor.py)
    )
    triggers = event_topics(settings)
    events = _raw_topic(app, *triggers)
    deliveries = _raw_topic(app, settings.deliveries_topic)
    outcomes = _raw_topic(app, settings.outcomes_topic)

    actions = ActionsTable(app)
    integrations = IntegrationsTable(app)
    directory = DirectoryTable(app)
    throttle = ThrottleTable(app, partitions=settings.topic_partitions)
    dedup = DedupTable(app, partitions=settings.topic_partitions, ttl_seconds=settings.dedup_ttl_seconds)
    circuits = CircuitTable(app, partitions=settings.topic_partitions)
    resume_where_read(app)  # no changelog record skipped while Faust paused its partition (kafka/recovery.py)

    def gaps(*topics: str) -> GapReader:  # one per stage; see kafka/gaps.py
        return GapReader(settings, lambda: app.consumer, topics)

    rejected = DeadLetters(_raw_topic(app, settings.config_rejected_topic), kind="config record")
    config = ConfigStage(
        settings, registry, actions, integrations, directory,
        rejected,
        gaps(settings.config_topic, settings.integrations_topic, settings.directory_topic),
        crash=app.crash,
    )
    matching = MatchingStage(
        settings, triggers, actions.index, throttle, deliveries,
        DeadLetters(_raw_topic(app, settings.events_dlq_topic), kind="event"),
        gaps(*triggers),
        crash=app.crash,
    )
    replayed = ReplayStage(
        settings, actions.index, throttle, deliveries, matching.dead_events, gaps(settings.replay_topic),
        crash=app.crash,
    )
    rebalance = RebalanceWatch(expire_after=settings.session_timeout_seconds * 2)
    app.sensors.add(rebalance)
    dispatch = DispatchStage(
        settings, registry, integrations, directory, dedup, circuits, outcomes,
        RetryTiers([_raw_topic(app, name) for name in settings.retry_topics()]),
        DeadLetters(_raw_topic(app, settings.deliveries_dlq_topic), kind="delivery"),
        crash=app.crash,
        gaps=gaps(settings.deliveries_topic),
        rebalance=rebalance,
    )
    delay = DelayQueue(settings)
    app.on_before_shutdown.connect(dispatch.close)

    app.agent(_raw_topic(app, settings.config_topic), name="config-actions")(config.actions_agent)
    app.agent(_raw_topic(app, settings.integrations_topic), name="config-integrations")(config.integrations_agent)
    app.agent(_raw_topic(app, settings.directory_topic), name="config-directory")(config.directory_agent)
    app.agent(events, name="match")(matching.agent)
    app.agent(_raw_topic(app, settings.replay_topic), name="replay")(replayed.agent)
    app.agent(deliveries, name="dispatch")(dispatch.agent)
    app.task(delay.run)

    @app.timer(interval=3.0)
    async def sweep_tails() -> None:
        # kafka/gaps.py: records at a partition's tail that never reached an idle stage.
        for stage in (config, matching, replayed, dispatch):
            try:
                await stage.gaps.sweep(idle=stage.idle())
            except Exception:  # a timer that raises would crash the worker
                log.warning("tail sweep of %s failed", type(stage).__name__, exc_info=True)

    @app.timer(interval=30.0)
    async def settle_heap() -> None:
        actions.settle_heap(after_changes=SETTLE_AFTER_CHANGES)

    def owned(topics: set[str]) -> set[int] | None:
        """The partitions of ``topics`` this worker owns; None while it rebalances or recovers (the
        timers that write tables outside a stream wait until it owns them for sure)."""
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return None
        return {tp.partition for tp in app.consumer.assignment() if tp.topic in topics}

    @app.timer(interval=WATCHDOG_SECONDS)
    async def circuit_watchdog() -> None:
        # streams/dispatch.py: a circuit whose parked head never came back moves on to its next place.
        try:
            if (partitions := owned({settings.deliveries_topic})) is not None:
                dispatch.watchdog(partitions)
        except Exception:  # a timer that raises would crash the worker
            log.exception("circuit watchdog failed; trying again in %ss", WATCHDOG_SECONDS)

    @app.timer(interval=EXPIRY_SWEEP_SECONDS)
    async def expire_state() -> None:
        # tables/expiry.py: expired dedup keys and throttle windows, deleted with tombstones.
        try:
            if (partitions := owned({settings.deliveries_topic})) is not None:
                dedup.expiry.sweep(partitions)
            if (partitions := owned({*triggers, settings.replay_topic})) is not None:
                throttle.expiry.sweep(partitions)
        except Exception:  # a timer that raises would crash the worker
            log.warning("expiring table state failed", exc_info=True)

    metrics = Metrics()
    actions.on_refused = _refused_stored_action_reporter(settings, rejected, metrics)
    config.metrics = matching.metrics = replayed.metrics = dispatch.metrics = dispatch.fire.metrics = delay.metrics = metrics
    lag = LagSampler(settings, metrics)
    app.task(lag.run)
    backfills = BackfillJobs(settings, rate=settings.backfill_events_per_second, lookup=actions.get)
    app.task(backfills.start_background)
    app.on_before_shutdown.connect(backfills.stop)

    service = Service(settings, app, actions, integrations, directory, config, matching, dispatch, circuits,
                      dedup, throttle, metrics, lag, replayed, backfills, registry, outcomes)
    metrics.watch(service)
    service.api = install_views(service)
    app.task(service.api.recent.run)
    app.on_before_shutdown.connect(service.api.close)
    return service
