"""End to end, slow service and the naive peer: events → webhook → the bench sink (another process).

Two sets of org-wide webhook actions, one per organization, each with its own
URL (a target of its own, since one target's deliveries are sequential by
design): organizations ``0..targets-1`` post to ``/hook/<org>`` (answered at
once), organizations ``FAST+..`` to ``/slow/<org>`` (answered after the slow
delay). Rates are counted at the sink, first → last arrival; latency is the
sink's arrival time minus ``data.sent_at``, stamped when the harness sends
the event (one machine, one clock).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson

from bench import kio
from bench.plan import Plan, Results
from bench.procs import REPO, Proc, Sink, Worker, free_port, unique, worker_env

TRIGGER = "audit-log"
SLOW_BASE = 100_000


def event(tag: str, i: int, org: int, sent_at: float) -> tuple[bytes, bytes]:
    return str(org).encode(), orjson.dumps({
        "id": f"{tag}-{i}", "organization_id": org, "occurred_at": "2026-11-26T20:00:00Z",
        "data": {"event": "member.invite", "actor": "bench@example.com", "sent_at": sent_at},
    })


def sink_rate(stats: dict) -> float:
    """Deliveries/s from the first to the last arrival (NaN with fewer than two)."""
    if stats["count"] < 2 or stats["last"] == stats["first"]:
        return float("nan")
    return (stats["count"] - 1) / (stats["last"] - stats["first"])


class DeliveryBench:
    def __init__(self, bootstrap: str, plan: Plan, work: Path, results: Results, log) -> None:
        self.bootstrap, self.plan, self.work, self.r, self.log = bootstrap, plan, work, results, log
        self.env = worker_env(bootstrap, unique("bd"), work / "delivery-data")
        self.topic = self.env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
        self.max_in_flight = int(self.env.get("NOTIFICATION_ACTIONS_MAX_IN_FLIGHT", "32"))
        self.worker: Worker | None = None
        self.sink = Sink(work / "sink.log", plan.slow_delay)

    def _start(self) -> Worker:
        self.worker = Worker(self.env, self.work / "delivery-worker.log").start()
        return self.worker

    def run(self) -> None:
        self.sink.start().wait_up()
        try:
            self._start().wait_ready(timeout=180)
            self._load()
            for rep in range(self.plan.reps):
                self._full_speed(rep)
            for rate in self.plan.rates:
                for rep in range(self.plan.reps):
                    self._fixed_rate(rate, rep)
            for rep in range(self.plan.reps):
                self._slow(rep)
            self.worker.stop()
            self._naive()
        finally:
            if self.worker is not None:
                self.worker.stop()
            self.sink.stop()

    def _load(self) -> None:
        t = self.plan.targets
        actions = []
        for org, path in [(o, f"/hook/{o}") for o in range(t)] + [(SLOW_BASE + o, f"/slow/{o}") for o in range(t)]:
            actions.append({
                "id": f"w{org}", "organization_id": org, "trigger_type": TRIGGER, "service_type": "webhook",
                "target_type": "specific", "target_identifier": self.sink.url + path,
            })
        records = [(a["id"].encode(), orjson.dumps(a)) for a in actions]
        asyncio.run(kio.produce(self.bootstrap, self.env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"], records))
        self.worker.wait_actions(len(actions), timeout=300)

    def _full_speed(self, rep: int) -> None:
        """Stop, publish N, restart: the worker drains a backlog at full speed."""
        n, t = self.plan.e2e_events, self.plan.targets
        self.worker.stop()
        now = time.time()
        asyncio.run(kio.produce(self.bootstrap, self.topic, [event(f"f{rep}", i, i % t, now) for i in range(n)]))
        self.sink.reset()
        self._start().wait_ready(timeout=300)
        stats = self.sink.wait_count(n, timeout=30 + n / 10)
        self.r.expect(f"end to end full speed run {rep + 1}, deliveries", stats["count"], n)
        if stats["count"] < n:
            self.log(f"  shortfall: {stats['count']} of {n}; worker log tail:\n{self.worker.tail()}")
        rate = sink_rate(stats)
        self.r.add("e2e_full", rate)
        self.log(f"  end to end, full speed, rep {rep + 1}: {rate:,.0f} deliveries/s")

    def _fixed_rate(self, rate: int, rep: int) -> None:
        t = self.plan.targets
        seconds = self.plan.long_rate_seconds if rate == min(self.plan.rates) else self.plan.rate_seconds
        count = int(rate * seconds)
        self.sink.reset()
        asyncio.run(kio.produce_paced(
            self.bootstrap, self.topic, lambda i, now: event(f"r{rate}x{rep}", i, i % t, now), rate, count
        ))
        stats = self.sink.wait_count(count, timeout=30 + count / 10)
        self.r.expect(f"end to end at {rate}/s run {rep + 1}, deliveries", stats["count"], count)
        for p in ("p50", "p95", "p99", "max"):
            self.r.add(f"lat_{p}@{rate}", float("nan") if stats[f"{p}_ms"] is None else stats[f"{p}_ms"])
        self.log(f"  latency at {rate}/s, rep {rep + 1}: p50 {stats['p50_ms']} ms, "
                 f"p95 {stats['p95_ms']} ms, p99 {stats['p99_ms']} ms, max {stats['max_ms']} ms")

    def _slow(self, rep: int) -> None:
        n, t = self.plan.slow_events, self.plan.targets
        self.sink.reset()
        now = time.time()
        asyncio.run(kio.produce(
            self.bootstrap, self.topic, [event(f"s{rep}", i, SLOW_BASE + i % t, now) for i in range(n)]
        ))
        stats = self.sink.wait_count(n, timeout=30 + n / 5)
        self.r.expect(f"slow service run {rep + 1}, deliveries", stats["count"], n)
        rate = sink_rate(stats)
        self.r.add("slow", rate)
        self.r.notes["bound"] = f"{self.max_in_flight} in flight ÷ {self.plan.slow_delay * 1000:.0f} ms"
        self.r.values["bound"] = [self.max_in_flight / self.plan.slow_delay]
        self.log(f"  slow service, rep {rep + 1}: {rate:,.1f} deliveries/s "
                 f"(bound {self.max_in_flight / self.plan.slow_delay:.0f}/s)")

    def _naive(self) -> None:
        """bench/naive.py on the same slow sink: one awaited POST at a time."""
        name = unique("naive")
        topic = f"{name}.events"
        env = {
            "BENCH_NAIVE_APP_ID": name, "BENCH_NAIVE_BROKER": f"kafka://{self.bootstrap}",
            "BENCH_NAIVE_TOPIC": topic, "BENCH_NAIVE_URL": self.sink.url + "/slow/naive",
            "BENCH_NAIVE_DATA_DIR": str(self.work / "naive-data"), "PYTHONPATH": str(REPO),
        }
        naive = Proc([sys.executable, "-m", "bench.naive", "worker", "-l", "warn",
                      "--web-port", str(free_port())], env, self.work / "naive.log")
        n = self.plan.naive_events
        asyncio.run(kio.create_topic(self.bootstrap, topic, 4))
        naive.start()
        try:
            for rep in range(self.plan.reps):
                self.sink.reset()
                now = time.time()
                asyncio.run(kio.produce(self.bootstrap, topic, [event(f"n{rep}", i, 0, now) for i in range(n)]))
                stats = self.sink.wait_count(n, timeout=120 + n * self.plan.slow_delay * 3)
                self.r.expect(f"naive peer run {rep + 1}, deliveries", stats["count"], n)
                rate = sink_rate(stats)
                self.r.add("naive", rate)
                self.log(f"  naive peer, rep {rep + 1}: {rate:,.2f} deliveries/s")
        finally:
            naive.stop()
