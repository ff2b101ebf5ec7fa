"""Ceiling, matching at M actions, memory and recovery, and the profile — one worker lineage.

The worker holds a growing action set (each level adds organizations; every
organization has ``per_org`` actions, one per project, all on audit-log → the
no-op registration), so each event meets the same ``per_org`` candidates and
matches exactly one whatever M is: only the total size changes.

A repetition stops the worker, publishes N events, measures the ceiling on
exactly those records, then restarts the worker (RocksDB store, same data
dir) and lets it drain them. Publishing while the worker is down keeps the
producer off the two CPUs during the measurement; the restart also gives
the time-to-ready with M actions in RocksDB. Throughput is taken from the
``at`` time stamps of the outcomes (first → last); CPU is the worker's
utime+stime over that same window.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from pathlib import Path

import orjson

from bench import kio
from bench.plan import Level, Plan, Results
from bench.procs import CpuSampler, Worker, status_kb, unique, worker_env
from bench.profile import top_frames

TRIGGER = "audit-log"


def action(org: int, project: int) -> dict:
    return {
        "id": f"m{org}-{project}", "organization_id": org, "projects": [project],
        "trigger_type": TRIGGER, "service_type": "sentry_app", "target_type": "specific",
        "target_identifier": f"t{org}-{project}",
    }


def events(tag: str, level: Level, n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        org, project = i % level.orgs, (i // level.orgs) % level.per_org + 1
        out.append((str(org).encode(), orjson.dumps({
            "id": f"{tag}-{i}", "organization_id": org, "project_id": project,
            "occurred_at": "2026-11-26T20:00:00Z",
            "data": {"event": "member.invite", "actor": "bench@example.com", "sent_at": time.time()},
        })))
    return out


class MatchingBench:
    def __init__(self, bootstrap: str, plan: Plan, work: Path, results: Results, log, profile: bool) -> None:
        self.bootstrap, self.plan, self.work, self.r, self.log = bootstrap, plan, work, results, log
        self.profile = profile
        self.env = worker_env(bootstrap, unique("bm"), work / "matching-data")
        self.events_topic = self.env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
        self.outcomes_topic = self.env["NOTIFICATION_ACTIONS_OUTCOMES_TOPIC"]
        self.worker: Worker | None = None

    def _start(self) -> Worker:
        self.worker = Worker(self.env, self.work / "matching-worker.log").start()
        return self.worker

    def run(self) -> None:
        w = self._start()
        w.wait_ready(timeout=180)
        loaded = 0
        try:
            for level in self.plan.levels:
                self._load(loaded, level)
                loaded = level.orgs
                for rep in range(self.plan.reps):
                    self._rep(level, rep)
            last = self.plan.levels[-1]
            w = self.worker
            self.r.add("rss_restarted_mb", status_kb(w.pid, "VmRSS") / 1024)
            self.r.add("hwm_restarted_mb", status_kb(w.pid, "VmHWM") / 1024)
            if self.profile:
                self._profile(last)
        finally:
            if self.worker is not None:
                self.worker.stop()

    def _load(self, done_orgs: int, level: Level) -> None:
        """Publish the organizations this level adds; time until the index holds them all."""
        self.log(f"loading actions up to {level.actions} ({level.orgs} organizations)")
        records = [
            (a["id"].encode(), orjson.dumps(a))
            for org in range(done_orgs, level.orgs) for p in range(1, level.per_org + 1)
            for a in (action(org, p),)
        ]
        started = time.monotonic()
        asyncio.run(kio.produce(self.bootstrap, self.env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"], records))
        self.worker.wait_actions(level.actions)
        took = time.monotonic() - started
        self.r.add(f"load_s@{level.actions}", took)
        self.r.add(f"load_per_s@{level.actions}", len(records) / took)
        self.r.add(f"hwm_loaded_mb@{level.actions}", status_kb(self.worker.pid, "VmHWM") / 1024)

    def _rep(self, level: Level, rep: int) -> None:
        m, n = level.actions, self.plan.events
        self.worker.stop()
        ev_start = asyncio.run(kio.end_offsets(self.bootstrap, self.events_topic))
        out_start = asyncio.run(kio.end_offsets(self.bootstrap, self.outcomes_topic))
        asyncio.run(kio.produce(self.bootstrap, self.events_topic, events(f"m{m}r{rep}", level, n)))
        ev_end = asyncio.run(kio.end_offsets(self.bootstrap, self.events_topic))
        ceiling, count = asyncio.run(kio.ceiling(self.bootstrap, self.events_topic, ev_start, ev_end))
        assert count == n, f"ceiling read {count} of {n} events"
        self.r.add("ceiling", ceiling)
        self.r.add(f"ceiling@{m}", ceiling)

        w = self._start()
        sampler = CpuSampler(w.pid)
        self.r.add(f"ready_s@{m}", w.wait_ready(actions=m, timeout=600))
        asyncio.run(kio.wait_total(self.bootstrap, self.outcomes_topic, out_start, n, timeout=30 + n / 20))
        sampler.stop()
        out_end = asyncio.run(kio.end_offsets(self.bootstrap, self.outcomes_topic))
        records = asyncio.run(kio.read_range(self.bootstrap, self.outcomes_topic, out_start, out_end))
        outcomes = [orjson.loads(rec.value) for rec in records]
        ok = [o["at"] for o in outcomes if o["result"] == "ok"]
        self.r.expect(f"matching M={m:,} run {rep + 1}, ok outcomes", len(ok), n)
        if len(ok) < 2:
            self.log(f"  M={m} rep {rep + 1}: only {len(ok)} of {n} outcomes; worker log tail:\n{w.tail()}")
            return
        first, last = min(ok), max(ok)
        rate = kio.rate(ok)
        cpu = sampler.between(first, last)
        self.r.add(f"matching@{m}", rate)
        self.r.add(f"cpu_us@{m}", cpu / (len(ok) - 1) * 1e6)
        self.log(f"  M={m} rep {rep + 1}: ceiling {ceiling:,.0f}/s, worker {rate:,.0f} events/s, "
                 f"{cpu / (len(ok) - 1) * 1e6:,.0f} µs CPU/event, ready in {self.r.values[f'ready_s@{m}'][-1]:.1f}s")

    def _profile(self, level: Level) -> None:
        """py-spy on the running worker while it drains a fresh batch (not a measured repetition)."""
        spy = shutil.which("py-spy")
        if spy is None:
            self.r.notes["profile"] = "py-spy not installed: `pip install py-spy` to get the profile"
            return
        n, w = self.plan.profile_events, self.worker
        out = self.work / "profile.txt"
        out_start = asyncio.run(kio.end_offsets(self.bootstrap, self.outcomes_topic))
        proc = subprocess.Popen(
            [spy, "record", "--pid", str(w.pid), "--rate", "100", "--format", "raw",
             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        asyncio.run(kio.produce(self.bootstrap, self.events_topic, events(f"p{level.actions}", level, n)))
        asyncio.run(kio.wait_total(self.bootstrap, self.outcomes_topic, out_start, n, timeout=30 + n / 20))
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not out.exists():
            self.r.notes["profile"] = "py-spy produced no output (ptrace not permitted?)"
            return
        self.r.profile = top_frames(out.read_text())
        self.r.notes["profile"] = (f"py-spy, 100 Hz, worker holding {level.actions:,} actions draining "
                                   f"{n:,} events (producer running beside it)")
