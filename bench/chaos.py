"""``python -m bench.chaos`` (``make chaos``): scale-out under faults, counted at the sink.

Three workers on a three-node cluster (``bench/chaos_rig.py``: replication 3,
8 partitions) under a steady stream of ``audit-log`` events (``Knobs.rate``/s,
one webhook target per organization, each event with a per-organization
``data.seq``), one scenario after another on the same deployment:

- ``worker kill -9 ×2``: kill -9 one worker, then another, while events flow;
- ``rolling SIGTERM restart``: SIGTERM each worker in turn and start it again;
- ``broker kill -9 ×2``: kill -9 a broker (the group's coordinator), restart it,
  wait until every replica is in sync again; then another;
- ``sink 5xx 30 s``: the sink answers 503 for 30 s, then recovers.

After each, the killed pieces are started again and the harness waits for the
drain (every acknowledged event delivered, or a deadline), then for quiet (late
duplicates). Counting is in ``bench/chaos_count.py``. ``--short`` runs the suite's
version instead (one worker kill -9 and one broker kill -9 + restart, 1,000
events); ``--record`` writes the table into docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from bench.chaos_count import Row, SinkView, count, details, table
from bench.chaos_rig import FAST_FAILOVER, Knobs, Rig, action_id
from bench.procs import machine, workdir

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
Script = Callable[["Run"], Awaitable[None]]


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Flow:
    """Events at ``rate``/s, round robin over the organizations, until :meth:`finish` (or ``count`` sent).

    Event ``i`` goes to organization ``1 + i % orgs`` with ``seq = i // orgs``; its id is
    ``<tag>-<org>-<seq>``. Only events the broker acknowledged (acks=all) are expected.
    """

    def __init__(self, bootstrap: str, topic: str, tag: str, orgs: int, rate: float, count: int | None) -> None:
        self.bootstrap, self.topic, self.tag, self.orgs, self.rate = bootstrap, topic, tag, orgs, rate
        self.count, self.sent, self.limit = count, 0, count
        self.expected: dict[str, tuple[int, int]] = {}
        self.not_acked: list[str] = []

    def finish(self, tail: int) -> None:
        """Send ``tail`` more events, then stop (a fixed-count flow keeps its count)."""
        if self.count is None:
            self.limit = self.sent + tail

    def next_keys(self) -> set[str]:
        """Per organization, the dedup key of its next event (its last one, if the flow's count ends first)."""
        seq, keys = self.sent // self.orgs + 1, set()
        for org in range(1, self.orgs + 1):
            s = seq
            if self.limit is not None:
                while s > 0 and s * self.orgs + org - 1 >= self.limit:
                    s -= 1
            keys.add(f"{self.tag}-{org}-{s}:{action_id(org)}")
        return keys

    async def wait_sent(self, n: int) -> None:
        """Let ``n`` more events flow (or the flow end)."""
        target = self.sent + n
        while self.sent < target and (self.limit is None or self.sent < self.limit):
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                    linger_ms=5, request_timeout_ms=30_000)  # fmt: skip
        await producer.start()
        pending = []
        try:
            start = time.monotonic()
            while self.limit is None or self.sent < self.limit:
                delay = start + self.sent / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                org, seq = 1 + self.sent % self.orgs, self.sent // self.orgs
                event_id = f"{self.tag}-{org}-{seq}"
                value = {"id": event_id, "organization_id": org, "occurred_at": "2026-11-26T20:00:00Z",
                         "data": {"event": "member.invite", "actor": "chaos@example.com", "seq": seq,
                                  "sent_at": time.time()}}  # fmt: skip
                future = await producer.send(self.topic, orjson.dumps(value), key=str(org).encode())
                pending.append((f"{event_id}:{action_id(org)}", org, seq, future))
                self.sent += 1
                pending = await self._collect(pending, wait=False)
            await self._collect(pending, wait=True)
        finally:
            await producer.stop()

    async def _collect(self, pending: list, wait: bool) -> list:
        if wait:
            await asyncio.gather(*(f for *_, f in pending), return_exceptions=True)
        left = []
        for key, org, seq, future in pending:
            if not future.done():
                left.append((key, org, seq, future))
            elif future.exception() is None:
                self.expected[key] = (org, seq)
            else:
                self.not_acked.append(key)
                log(f"event {key} not acknowledged: {future.exception()!r}")
        return left


@dataclass(frozen=True)
class Scenario:
    name: str
    script: Script
    count: int | None = None  # a fixed number of events; None: flow while the script runs, then `tail`
    tail: int = 250
    drain: float = 300.0  # deadline for every delivery to arrive after the flow ended
    restart_workers: bool = True  # start the killed workers again before the drain


class Run:
    """One scenario's flow, the rig, the sink's view and the kill -9 times."""

    def __init__(self, rig: Rig, view: SinkView, flow: Flow) -> None:
        self.rig, self.view, self.flow = rig, view, flow
        self.kills: list[float] = []

    async def do(self, fn, *args):
        """A blocking rig call, in a thread: the flow goes on meanwhile."""
        return await asyncio.to_thread(fn, *args)

    async def kill_worker(self, slot: int) -> None:
        self.kills.append(time.time())
        await self.do(self.rig.kill_worker, slot)

    async def kill_broker(self, node: int) -> None:
        self.kills.append(time.time())
        await self.do(self.rig.kill_broker, node)

    async def progress(self, timeout: float = 120.0) -> float:
        """Wait until every target got a first delivery of an event sent from now on; seconds waited."""
        started = time.monotonic()
        want = self.flow.next_keys()
        missing = await self.view.wait_delivered(want, timeout)
        if missing:
            raise TimeoutError(f"{len(missing)} targets made no progress in {timeout:.0f} s, e.g. "
                               f"{sorted(missing)[:3]}\n{self.rig.worker_tails()}")  # fmt: skip
        waited = time.monotonic() - started
        log(f"  every target delivering again ({waited:.1f} s)")
        return waited


# --- the scenarios ------------------------------------------------------------------
async def worker_kills(run: Run) -> None:
    await run.flow.wait_sent(500)
    await run.kill_worker(2)
    await run.progress()
    await run.flow.wait_sent(250)
    await run.kill_worker(1)
    await run.progress()
    await run.flow.wait_sent(250)


async def rolling_restart(run: Run) -> None:
    await run.flow.wait_sent(250)
    for slot in range(len(run.rig.workers)):
        code = await run.do(run.rig.stop_worker, slot)
        if code != 0:
            log(f"  worker {slot + 1} exited with {code} on SIGTERM")
        await run.do(run.rig.start_worker, slot)
        await run.progress()
        await run.flow.wait_sent(150)


async def broker_kills(run: Run) -> None:
    await run.flow.wait_sent(250)
    first = await run.rig.coordinator()
    for node in (first, 1 + first % 3):
        await run.kill_broker(node)
        await run.flow.wait_sent(250)
        await run.progress(timeout=180)
        await run.do(run.rig.start_broker, node)
        log(f"  replicas in sync after {await run.rig.wait_in_sync():.1f} s")
        await run.progress(timeout=180)
        await run.flow.wait_sent(250)


async def sink_failure(run: Run) -> None:
    await run.flow.wait_sent(250)
    window = await run.do(run.rig.sink_fail, 30.0)
    await asyncio.sleep(max(0.0, window["until"] - time.time()))  # the fault lasts 30 s, by definition
    await run.progress(timeout=240)
    await run.flow.wait_sent(250)


async def short(run: Run) -> None:
    await run.flow.wait_sent(150)
    await run.kill_worker(len(run.rig.workers) - 1)
    await run.flow.wait_sent(250)
    node = await run.rig.coordinator()
    await run.kill_broker(node)
    await run.flow.wait_sent(150)
    await run.progress(timeout=120)
    await run.do(run.rig.start_broker, node)


FULL = [
    Scenario("worker kill -9 ×2", worker_kills),
    Scenario("rolling SIGTERM restart", rolling_restart),
    Scenario("broker kill -9 ×2 (+ restart)", broker_kills),
    Scenario("sink 5xx 30 s", sink_failure, drain=420.0),
]
SHORT = [Scenario("worker kill -9 + broker kill -9 (short)", short, count=1_000, drain=120.0,
                  restart_workers=False)]
SHORT_KNOBS = Knobs(heap="320m", broker_overrides=FAST_FAILOVER)


async def run_scenario(rig: Rig, view: SinkView, scenario: Scenario, index: int) -> tuple[Row, list[float]]:
    log(f"scenario {scenario.name}")
    tag = f"s{index}"
    flow = Flow(rig.bootstrap, rig.events_topic, tag, rig.knobs.orgs, rig.knobs.rate, scenario.count)
    run = Run(rig, view, flow)
    started = time.monotonic()
    producing = asyncio.create_task(flow.run())
    try:
        await scenario.script(run)
        flow.finish(scenario.tail)
        await run.do(rig.restore, scenario.restart_workers)
        await producing
    finally:
        producing.cancel()
    log(f"  {flow.sent:,} events sent; draining")
    missing = await view.wait_delivered(set(flow.expected), scenario.drain)
    if missing:
        log(f"  {len(missing)} deliveries missing after {scenario.drain:.0f} s, e.g. {sorted(missing)[:5]}")
    await view.wait_quiet(f"{tag}-", quiet=5.0, timeout=60.0)
    seconds = time.monotonic() - started
    row = count(scenario.name, view.records, flow.expected, run.kills, rig.knobs.dup_window, seconds,
                len(flow.not_acked))  # fmt: skip
    return row, run.kills


async def run_all(rig: Rig, scenarios: list[Scenario], dump: Path | None = None) -> list[Row]:
    view = SinkView(rig.sink.url)
    rows = []
    try:
        for i, scenario in enumerate(scenarios, 1):
            row, _ = await run_scenario(rig, view, scenario, i)
            rows.append(row)
            log(f"  {row.scenario}: {row.delivered:,}/{row.events:,} delivered, {row.lost} lost, "
                f"{row.duplicates} duplicates ({row.dups_outside} not at a kill -9), "
                f"{row.order_violations} order violations")  # fmt: skip
    finally:
        if dump is not None:
            await view.refresh()
            dump.write_bytes(orjson.dumps(view.records))
            log(f"sink records in {dump}")
    return rows


def run(
    knobs: Knobs, scenarios: list[Scenario], work: Path, dump: Path | None = None
) -> tuple[list[Row], dict[str, str]]:
    """Start the rig in ``work``, run ``scenarios`` on it, stop everything; the rows and the machine.

    ``dump``: write every request the sink recorded there (JSON), for a diagnosis."""
    with Rig(work, knobs, log) as rig:
        try:
            rows = asyncio.run(run_all(rig, scenarios, dump))
        finally:
            log(f"worker logs in {work}")
        return rows, machine(rig.version)


# --- docs/reliability.md ------------------------------------------------------------
def body(rows: list[Row], about: dict[str, str], knobs: Knobs, wall: float, load: str = "?") -> str:
    """The results block: machine, run, table, examples. ``load``: the load averages seen during the run
    (the machine may be shared)."""
    mem = about.get("memory", "?")
    lines = [
        f"Machine: {about.get('nproc')} cores ({about.get('cpu')}), {mem} RAM, {about.get('os')}; "
        f"Python {about.get('python')}, Apache Kafka {about.get('kafka')}, faust-streaming "
        f"{about.get('faust-streaming')}, aiokafka {about.get('aiokafka')}; commit {about.get('commit')}.",
        "",
        f"Run: {knobs.workers} workers, 3 brokers (replication 3, min.insync.replicas 2), {knobs.partitions} "
        f"partitions, {knobs.orgs} targets, {knobs.rate:g} events/s, session timeout {knobs.session_timeout:g} s, "
        f"duplicates in flight at a kill -9: first delivered from {knobs.dup_window:g} s before it to 1 s after; "
        f"{wall:.0f} s in all; load average {load}.",
        "",
        table(rows),
    ]
    if extra := details(rows):
        lines += ["", *extra]
    return "\n".join(lines) + "\n"


def record(text: str, doc: Path = DOC) -> None:
    """Replace the results block of docs/reliability.md (the rest of the page is kept)."""
    start, end = "<!-- chaos:results -->", "<!-- /chaos:results -->"
    current = doc.read_text() if doc.exists() else f"# Reliability\n\n{start}\n{end}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    doc.write_text(pattern.sub(lambda _: f"{start}\n{text.rstrip()}\n{end}", current))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the suite's version: one worker and one broker kill")
    parser.add_argument("--only", action="append", help="run the scenarios whose name contains this (repeatable)")
    parser.add_argument("--rate", type=float, default=Knobs.rate, help="events per second")
    parser.add_argument("--record", action="store_true", help="write the table into docs/reliability.md")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (worker, sink and broker logs)")
    parser.add_argument("--records", type=Path, help="write every request the sink recorded here (JSON)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop what we started
    scenarios = SHORT if args.short else FULL
    if args.only:
        scenarios = [s for s in scenarios if any(o in s.name for o in args.only)]
    knobs = replace(SHORT_KNOBS if args.short else Knobs(), rate=args.rate)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with workdir(args.keep, prefix="na-chaos-") as work:
        log(f"work dir {work}")
        rows, about = run(knobs, scenarios, work, args.records)
    load = f"{load_before:.1f} at the start, {os.getloadavg()[1]:.1f} over the last 5 min"
    text = body(rows, about, knobs, time.monotonic() - started, load)
    print(text)
    if args.record:
        record(text)
        log(f"recorded in {DOC}")
    return 0 if all(r.ok() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
