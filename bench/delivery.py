"""End to end, slow service and the naive peer: events → webhook → the bench sink (another process).

Two sets of org-wide webhook actions, one per organization, each with its own
URL (a target of its own, since one target's deliveries are sequential by
design): organizations ``0..targets-1`` post to ``/hook/<org>`` (answered at
once), organizations ``FAST+..`` to ``/slow/<org>`` (answered after the slow
delay). Rates are counted at the sink, first → last arrival; latency is the
sink's arrival time minus ``data.sent_at``, stamped when the harness sends
the event (one machine, one clock).

Beside each full-speed run, the ``faust-http`` peer (``bench/peers.py``): a bare
Faust agent POSTing each event to ``/hook/<org>`` with our HTTP client, ``max_in_flight``
at once, on the same number of events with the same organizations, from a topic
of its own (as many partitions as ours) in a fresh group: the framework + HTTP
floor the end-to-end rate is divided by. For both, the CPU µs per delivery is
the process's utime+stime over the sink's first → last arrival ÷ the deliveries
after the first.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson

from bench import kio
from bench.plan import Plan, Results
from bench.procs import REPO, CpuSampler, Proc, Sink, Worker, free_port, unique, worker_env

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


def cpu_per_delivery(sampler: CpuSampler, stats: dict) -> float:
    """CPU µs of the sampled process per delivery over the sink's first → last arrival (NaN with fewer than two)."""
    if stats["count"] < 2 or stats["last"] == stats["first"]:
        return float("nan")
    return sampler.between(stats["first"], stats["last"]) / (stats["count"] - 1) * 1e6


class DeliveryBench:
    def __init__(self, bootstrap: str, plan: Plan, work: Path, results: Results, log) -> None:
        self.bootstrap, self.plan, self.work, self.r, self.log = bootstrap, plan, work, results, log
        self.prefix = unique("bd")
        self.env = worker_env(bootstrap, self.prefix, work / "delivery-data")
        self.topic = self.env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
        self.partitions = int(self.env["NOTIFICATION_ACTIONS_TOPIC_PARTITIONS"])
        self.peer_topic = f"{self.prefix}.http-peer-events"  # the faust-http peer's: our worker never reads it
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
        sampler = CpuSampler(self._start().pid)
        try:
            self.worker.wait_ready(timeout=300)
            stats = self.sink.wait_count(n, timeout=30 + n / 10)
        finally:
            sampler.stop()
        self._drained("end to end, full speed", "e2e_full", "e2e_cpu", rep, stats, sampler, self.worker)
        self._http_peer(rep)

    def _drained(self, what: str, rate_key: str, cpu_key: str, rep: int, stats: dict, sampler: CpuSampler,
                 proc: Proc) -> None:
        """Record one full-speed drain at the sink: its count against N, deliveries/s and CPU per delivery."""
        n = self.plan.e2e_events
        self.r.expect(f"{what} run {rep + 1}, deliveries", stats["count"], n)
        if stats["count"] < n:
            self.log(f"  shortfall: {stats['count']} of {n}; log tail:\n{proc.tail()}")
        rate, cpu = sink_rate(stats), cpu_per_delivery(sampler, stats)
        self.r.add(rate_key, rate)
        self.r.add(cpu_key, cpu)
        self.log(f"  {what}, rep {rep + 1}: {rate:,.0f} deliveries/s, {cpu:,.0f} µs CPU/delivery")

    def _http_peer(self, rep: int) -> None:
        """The faust-http peer on N events of its own topic: publish, start it, count at the sink, stop it."""
        n, t = self.plan.e2e_events, self.plan.targets
        group = unique("bdh")
        asyncio.run(kio.create_topic(self.bootstrap, self.peer_topic, self.partitions))
        asyncio.run(kio.commit_at_end(self.bootstrap, group, self.peer_topic))  # earlier reps' events are not its
        now = time.time()
        asyncio.run(kio.produce(self.bootstrap, self.peer_topic, [event(f"h{rep}", i, i % t, now) for i in range(n)]))
        self.sink.reset()
        env = {
            "BENCH_PEER_BROKER": self.bootstrap, "BENCH_PEER_GROUP": group, "BENCH_PEER_TOPIC": self.peer_topic,
            "BENCH_PEER_PARTITIONS": str(self.partitions), "BENCH_PEER_URL": self.sink.url,
            "BENCH_PEER_IN_FLIGHT": str(self.max_in_flight), "BENCH_PEER_DATA_DIR": str(self.work / group),
            "PYTHONPATH": str(REPO),
        }
        peer = Proc([sys.executable, "-m", "bench.peers", "faust-http", "worker", "-l", "warn",
                     "--web-host", "127.0.0.1", "--web-port", str(free_port())], env, self.work / "http-peer.log")
        sampler = CpuSampler(peer.start().pid)
        try:
            stats = self.sink.wait_count(n, timeout=60 + n / 10)  # its join comes first: the sink window skips it
        finally:
            sampler.stop()
            peer.stop(timeout=30)
        self._drained("faust-http peer (bare Faust + one POST per event)", "e2e_http_peer", "e2e_http_peer_cpu",
                      rep, stats, sampler, peer)

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
