"""Prometheus metrics of one app, served at ``/metrics`` (names and labels: docs/operations.md).

Each :class:`Metrics` owns a ``CollectorRegistry`` of its own, so several apps
(or tests) in one process never collide in the global default registry.
The stages hold a ``metrics`` attribute that ``app.build()`` points at the
app's instance; until then it is :data:`DETACHED`, an instance nobody
serves, so a stage built on its own (a unit test) still counts safely.

Counters and the fire histogram move where things happen (streams/*);
gauges of state (open circuits, table sizes, readiness) are read when
scraped; the consumer lag gauges are set by the lag sampler (``lag.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE", "DETACHED", "LoopCounter", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "notification_actions"
# Fire latency: a webhook answers in tens of ms, a slow API in seconds; the
# top buckets cover the HTTP timeout (15 s by default, fire() gets twice that).
FIRE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
STATUSES = ("OK", "WARN", "STALL", "STOP")


class LagRow(Protocol):
    """One partition's evaluated lag (``ops/lag.py``'s ``PartitionLag``); metrics imports nothing of the app."""

    group: str
    topic: str
    partition: int
    lag: int
    lag_seconds: float | None
    status: str


class Metrics:
    """Every metric of one app, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = LoopCounter(
            f"{PREFIX}_events_consumed", "Events read from the event topics, by trigger and result (valid/invalid).",
            ["trigger", "result"], registry=r,
        )
        self.matches = LoopCounter(
            f"{PREFIX}_matches", "Deliveries created by matching (event × action), by trigger and service.",
            ["trigger", "service"], registry=r,
        )
        self.throttled = Counter(
            f"{PREFIX}_throttled", "Matches dropped by an action's throttle, by trigger and service.",
            ["trigger", "service"], registry=r,
        )
        self.deliveries = Counter(
            f"{PREFIX}_deliveries", "Fire attempts by service and result (ok/retry/dead).",
            ["service", "result"], registry=r,
        )
        self.fire_duration = Histogram(
            f"{PREFIX}_fire_duration_seconds", "Duration of one fire() attempt, by service.",
            ["service"], buckets=FIRE_BUCKETS, registry=r,
        )
        self.retries = Counter(
            f"{PREFIX}_retries", "Retryable failures followed by another attempt: kind=quick (in-process) or "
            "tier (parked in a retry tier).", ["service", "kind"], registry=r,
        )
        self.parked = Counter(
            f"{PREFIX}_parked", "Deliveries written to a retry tier topic (after a failure, behind an open "
            "circuit, or beyond their target's share of memory), by service and tier.", ["service", "tier"],
            registry=r,
        )
        self.circuit_heads_lost = Counter(
            f"{PREFIX}_circuit_heads_lost", "Circuits whose parked head did not come back within 3 x its tier's "
            "delay (its record lost): the next delivery became head.", registry=r,
        )
        self.retry_forwarded = Counter(
            f"{PREFIX}_retry_forwarded", "Due deliveries moved from the retry tiers back to the deliveries topic.",
            registry=r,
        )
        self.dead_letters = Counter(
            f"{PREFIX}_dead_letters", "Deliveries written to the deliveries DLQ, by service "
            "(`unknown` for undecodable records).", ["service"], registry=r,
        )
        self.config_rejected = Counter(
            f"{PREFIX}_config_rejected", "Config records refused, by kind (action/integration/directory).",
            ["kind"], registry=r,
        )
        self.cross_organization_refused = Counter(
            f"{PREFIX}_cross_organization_refused", "Deliveries dead-lettered because the integration they name "
            "belongs to another organization than their action, by service.", ["service"], registry=r,
        )
        self.duplicates = Counter(
            f"{PREFIX}_duplicates_skipped", "Deliveries not fired because their dedup key already succeeded.",
            ["service"], registry=r,
        )
        self.lag_messages = Gauge(
            f"{PREFIX}_consumer_lag_messages", "End offset minus committed offset, per group/topic/partition.",
            ["group", "topic", "partition"], registry=r,
        )
        self.lag_seconds = Gauge(
            f"{PREFIX}_consumer_lag_seconds", "Age of the oldest unconsumed message (0 without lag).",
            ["group", "topic", "partition"], registry=r,
        )
        self.lag_status = Gauge(
            f"{PREFIX}_consumer_lag_status", "1 for the partition's current lag status (OK/WARN/STALL/STOP), "
            "0 for the others.", ["group", "topic", "partition", "status"], registry=r,
        )
        self.lag_sampled = Gauge(
            f"{PREFIX}_consumer_lag_last_sample_timestamp_seconds", "When the lag sampler last succeeded "
            "(Unix time; 0 before the first sample).", registry=r,
        )

    def record_lag(self, rows: Iterable[LagRow], sampled_at: float) -> None:
        """Replace the lag gauges with one evaluated sample (partitions that vanished disappear)."""
        self.lag_messages.clear()
        self.lag_seconds.clear()
        self.lag_status.clear()
        for row in rows:
            labels = (row.group, row.topic, str(row.partition))
            self.lag_messages.labels(*labels).set(row.lag)
            self.lag_seconds.labels(*labels).set(row.lag_seconds or 0.0)
            for status in STATUSES:
                self.lag_status.labels(*labels, status).set(1 if row.status == status else 0)
        self.lag_sampled.set(sampled_at)

    def watch(self, service: Any) -> None:
        """Register the gauges read from ``service``'s state at scrape time (``worker/app.py``'s
        ``Service``: its ``actions``, ``integrations``, ``directory``, ``circuits`` and ``ready()``)."""
        self.registry.register(_StateCollector(service))

    def exposition(self, names: Iterable[str] = ()) -> bytes:
        """The registry in Prometheus text format; given ``names`` (``/metrics?name[]=…``, as
        prometheus_client's own handler takes them), only those samples: a poller that wants one
        counter does not pay for every partition's lag (~7 ms per full scrape of a busy worker)."""
        wanted = list(names)
        return generate_latest(self.registry.restricted_registry(wanted) if wanted else self.registry)


class _Cell:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class LoopCounter:
    """A labelled counter moved once per event, from the event loop's thread only, and scraped from it
    (the web views run on the same loop): a float per label set, without the lock prometheus_client's
    ``Counter`` takes on every ``inc()`` (~2 µs per event in the match-only profile). ``labels(...)``
    returns a cell to keep and ``inc()``; the text is that of a ``Counter`` without ``_created``."""

    def __init__(self, name: str, documentation: str, labelnames: list[str], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._cells: dict[tuple[str, ...], _Cell] = {}
        registry.register(self)

    def labels(self, *values: str) -> _Cell:
        cell = self._cells.get(values)
        if cell is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values!r}")
            cell = self._cells[values] = _Cell()
        return cell

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def describe(self) -> list[CounterMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = self._family()
        for values, cell in list(self._cells.items()):
            family.add_metric(list(values), cell.value)
        yield family


def _safely(read: Callable[[], float]) -> float | None:
    # A scrape must answer even while tables recover or rebalance.
    try:
        return float(read())
    except Exception as exc:
        log.debug("metric read failed: %r", exc)
        return None


class _StateCollector:
    """Gauges computed from the service when scraped: nothing to keep in step."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def describe(self) -> list:
        # Names only (no read of the service): what lets ``/metrics?name[]=…`` find these gauges.
        return [GaugeMetricFamily(f"{PREFIX}_{name}", "") for name in ("table_entries", "open_circuits", "ready")]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        s = self.service
        tables = GaugeMetricFamily(
            f"{PREFIX}_table_entries", "Entries in a table on this worker (actions: the matching index; "
            "dedup, throttle: live entries awaiting expiry).",
            labels=["table"],
        )
        for name, read in (
            ("actions", lambda: len(s.actions.index)),
            ("integrations", lambda: len(s.integrations.table)),
            ("directory", lambda: len(s.directory.table)),
            # entries noted for expiry on this worker (tables/expiry.py): what it holds alive
            ("dedup", lambda: len(s.dedup.expiry)),
            ("throttle", lambda: len(s.throttle.expiry)),
        ):
            value = _safely(read)
            if value is not None:
                tables.add_metric([name], value)
        yield tables
        circuits = _safely(lambda: len(s.circuits.open_circuits()))
        if circuits is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_open_circuits", "Targets whose circuit is open (deliveries waiting in the retry "
                "path), on this worker's partitions.", value=circuits,
            )
        yield GaugeMetricFamily(
            f"{PREFIX}_ready", "1 when tables are recovered and partitions assigned (as /readyz).",
            value=1.0 if _safely(lambda: s.ready()) else 0.0,
        )


DETACHED = Metrics()
