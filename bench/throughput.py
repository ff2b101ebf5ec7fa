"""Match-only throughput on 8 partitions: our worker at 1, 2 and 4 processes beside its peers.

One events topic of 8 partitions; the run's 100 actions (10 organizations × 10,
the no-op registration) and events of 1,000 other organizations: each event is
decoded, validated and looked up in the index, and matches nothing — the work
every event does before any delivery. Measured one after the other on the same
topic, each consumer in a group of its own whose offsets are first committed at
the topic's end (so it reads only what is published for it):

- ours: ``notification-actions worker --processes P`` for P in the plan; its
  rate is read from ``notification_actions_events_consumed_total`` of every
  process's ``/metrics?name[]=…`` (that counter only: a full scrape costs the
  worker ~7 ms of CPU), CPU from ``/proc`` of every process;
- ``bench/peers.py``: a bare Faust agent decoding each event (the framework's
  ceiling for our match-only stage), one that also produces one record per
  event (the floor for an end-to-end pipeline, which writes at least the
  delivery), and the same decode + ``matching_actions`` job on sentry-arroyo.

Each consumer is started and handles ``warm`` events (joins, recovers, warms up).
Then it is frozen (SIGSTOP of its process group: a supervisor and every child),
``events`` more are published, and it is thawed (SIGCONT): the window runs from
the thaw to the last event handled, for every consumer alike. The publisher is
off the CPUs during the window — on two cores it took a share from a second
process that a second process on a host of its own would have (the fourth
round's 2 ÷ 1 ran with the publisher beside it).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import orjson

from bench import kio
from bench.matching import action
from bench.plan import Plan, Results
from bench.procs import REPO, CpuSampler, Proc, Worker, children, free_port, unique, worker_env

TRIGGER = "audit-log"
PARTITIONS = 8
METRIC = b"notification_actions_events_consumed_total"


def events(tag: str, n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        org = 1_000 + i % 1_000  # no action: the index is asked, nothing matches
        out.append((str(org).encode(), orjson.dumps({
            "id": f"{tag}-{i}", "organization_id": org, "project_id": 1, "occurred_at": "2026-11-26T20:00:00Z",
            "data": {"event": "member.invite", "actor": "bench@example.com"},
        })))
    return out


def consumed(port: int) -> int:
    """Events this worker process consumed (valid and invalid), from its /metrics; -1 when not up."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", params={"name[]": METRIC.decode()}, timeout=2.0).content
    except httpx.HTTPError:
        return -1
    return int(sum(float(line.rsplit(b" ", 1)[1]) for line in body.splitlines() if line.startswith(METRIC)))


class ThroughputBench:
    def __init__(self, bootstrap: str, plan: Plan, work: Path, results: Results, log) -> None:
        self.bootstrap, self.plan, self.work, self.r, self.log = bootstrap, plan, work, results, log
        self.prefix = unique("bt")
        self.env = worker_env(bootstrap, self.prefix, work / "tp-data",
                              NOTIFICATION_ACTIONS_TOPIC_PARTITIONS=str(PARTITIONS))
        self.topic = self.env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
        self.out_topic = f"{self.prefix}.peer-out"
        self.actions = [action(org, p) for org in range(10) for p in range(1, 11)]
        self.actions_file = work / "tp-actions.json"

    def run(self) -> None:
        asyncio.run(kio.create_topic(self.bootstrap, self.topic, PARTITIONS))
        asyncio.run(kio.create_topic(self.bootstrap, self.out_topic, PARTITIONS))
        asyncio.run(kio.create_topic(self.bootstrap, self.env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"], 1))
        records = [(a["id"].encode(), orjson.dumps(a)) for a in self.actions]
        asyncio.run(kio.produce(self.bootstrap, self.env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"], records))
        self.actions_file.write_text(json.dumps(self.actions))
        for rep in range(self.plan.reps):
            for processes in self.plan.process_counts:
                self._ours(processes, rep)
            for kind in ("faust-decode", "faust-produce", "arroyo"):
                self._peer(kind, rep)

    def _publish(self, tag: str, n: int) -> None:
        asyncio.run(kio.produce(self.bootstrap, self.topic, events(tag, n)))

    def _publish_frozen(self, consumer: Proc, tag: str, n: int) -> float:
        """Publish ``n`` events while ``consumer`` is frozen; returns the time it was thawed."""
        records = events(tag, n)
        with consumer.frozen():
            asyncio.run(kio.produce(self.bootstrap, self.topic, records))
        return time.time()

    def _ours(self, processes: int, rep: int) -> None:
        group = unique("btw")
        asyncio.run(kio.commit_at_end(self.bootstrap, f"{group}-app", self.topic))
        env = {**self.env, "NOTIFICATION_ACTIONS_APP_ID": f"{group}-app",
               "NOTIFICATION_ACTIONS_DATA_DIR": str(self.work / f"tp-{group}")}
        w = Worker(env, self.work / f"tp-ours-{processes}.log", processes=processes).start()
        ports = [w.web_port + i for i in range(processes)]
        try:
            for port in ports:
                w.wait_ready(actions=len(self.actions), timeout=300, port=port)
            pids = children(w.pid) if processes > 1 else [w.pid]
            warm, n = self.plan.tp_warm, self.plan.tp_events
            self._publish(f"w{group}", warm)
            self._wait_count(ports, warm, w)
            samplers = [CpuSampler(pid) for pid in pids]
            start = self._publish_frozen(w, f"m{group}", n)
            _, end, got = self._wait_count(ports, warm + n, w, since=warm)
            for s in samplers:
                s.stop()
        finally:
            w.stop(timeout=150)
        self.r.expect(f"match-only, {processes} process(es), run {rep + 1}", got - warm, n)
        rate = (got - warm) / (end - start) if end > start else float("nan")
        cpu = sum(s.between(start, end) for s in samplers)
        self.r.add(f"tp_ours@{processes}", rate)
        self.r.add(f"tp_cpu@{processes}", cpu / max(1, got - warm) * 1e6)
        self.log(f"  match-only, {processes} process(es), rep {rep + 1}: {rate:,.0f} events/s, "
                 f"{cpu / max(1, got - warm) * 1e6:,.0f} µs CPU/event")

    def _wait_count(self, ports: list[int], total: int, w: Worker, since: int = 0,
                    stall: float = 30.0) -> tuple[float, float, int]:
        """Poll the processes' counters until ``total``: (last time at ``since``, first at ``total``, count).

        Every 0.05 s around the start and the end of the window, seldom in between: rendering
        /metrics costs the worker CPU (at 10 polls a second, ~6 % of its samples in a profile).
        """
        start = time.time()
        last, changed = -1, time.monotonic()
        while True:
            if not w.alive():
                raise RuntimeError(f"worker exited with {w.proc.returncode}:\n{w.tail()}")
            now = time.time()
            got = sum(max(0, consumed(p)) for p in ports)
            if got <= since:
                start = now
            if got != last:
                last, changed = got, time.monotonic()
            if got >= total or time.monotonic() - changed > stall:
                return start, now, got
            pause = 0.05
            if got > since and now > start:  # half the time the rest should take at the pace so far
                pause = min(1.0, max(0.05, (total - got) / ((got - since) / (now - start)) / 2))
            time.sleep(pause)

    def _peer(self, kind: str, rep: int) -> None:
        group = unique(f"bp{kind[:6]}")
        asyncio.run(kio.commit_at_end(self.bootstrap, group, self.topic))
        stamps = self.work / f"{group}.json"
        env = {
            "BENCH_PEER_BROKER": self.bootstrap, "BENCH_PEER_GROUP": group, "BENCH_PEER_TOPIC": self.topic,
            "BENCH_PEER_OUT": self.out_topic, "BENCH_PEER_ACTIONS": str(self.actions_file),
            "BENCH_PEER_WARM": str(self.plan.tp_warm), "BENCH_PEER_MEASURED": str(self.plan.tp_events),
            "BENCH_PEER_STAMPS": str(stamps), "BENCH_PEER_DATA_DIR": str(self.work / group),
            "PYTHONPATH": str(REPO),
        }
        argv = [sys.executable, "-m", "bench.peers", kind]
        if kind != "arroyo":
            argv += ["worker", "-l", "warn", "--web-host", "127.0.0.1", "--web-port", str(free_port())]
        peer = Proc(argv, env, self.work / f"tp-{kind}.log").start()
        try:
            self._publish(f"w{group}", self.plan.tp_warm)
            self._wait_stamp(stamps, "warm", peer)
            sampler = CpuSampler(peer.pid)
            start = self._publish_frozen(peer, f"m{group}", self.plan.tp_events)
            got = self._wait_stamp(stamps, "last", peer)
            sampler.stop()
        finally:
            peer.stop(timeout=30)
        if got is None:
            self.r.expect(f"{kind} run {rep + 1}", 0, self.plan.tp_events)
            return
        span = got["last"] - start  # from the thaw, as ours
        rate = got["count"] / span if span > 0 else float("nan")
        cpu = sampler.between(start, got["last"])
        key = kind.replace("-", "_")
        self.r.add(f"tp_{key}", rate)
        self.r.add(f"tp_cpu_{key}", cpu / got["count"] * 1e6)
        self.log(f"  {kind}, rep {rep + 1}: {rate:,.0f} events/s, {cpu / got['count'] * 1e6:,.0f} µs CPU/event")

    def _wait_stamp(self, path: Path, field: str, peer: Proc, timeout: float = 300.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not peer.alive() and not path.exists():
                raise RuntimeError(f"peer exited with {peer.proc.returncode}:\n{peer.tail()}")
            try:
                got = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                got = {}
            if field in got:
                return got
            time.sleep(0.1)
        self.log(f"  peer gave no '{field}' within {timeout:.0f}s:\n{peer.tail()}")
        return None
