"""Bounded state, shown: 200,000 deliveries with ``DEDUP_TTL_SECONDS=60``, and the dedup table's size.

A worker (no-op registration, RocksDB store) gets events at a fixed rate, one
delivery each, round robin over 64 organizations (one target each). Every second the harness reads ``table_entries{table="dedup"}``
from ``/metrics`` and the delivered count. Without expiry the table would end
with one key per delivery (200,000); with it, it holds about the last TTL's
keys — at most those delivered in any TTL + sweep interval — and nothing once a TTL has
passed after the last one. Prints the numbers; ``--record`` writes them into
docs/operations.md (between the ``bounded-state`` markers).

    python -m bench.bounded_state [--events 200000] [--rate 1000] [--ttl 60] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench import kio
from bench.procs import Worker, broker, machine, unique, worker_env, workdir

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
SWEEP_SECONDS = 5.0  # worker/app.py's EXPIRY_SWEEP_SECONDS


def metric(port: int, name: str, labels: str = "") -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(f"notification_actions_{name}") and labels in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


ORGS = 64  # one no-op action (one target) each; events round robin over them


def event(i: int, now: float) -> tuple[bytes, bytes]:
    org = i % ORGS + 1
    return str(org).encode(), orjson.dumps({
        "id": f"bs-{i}", "organization_id": org, "project_id": 1, "occurred_at": "2026-12-02T00:00:00Z",
        "data": {"event": "member.invite", "actor": "bench@example.com"}})


def run(events: int, rate: float, ttl: float, keep: bool) -> dict:
    with workdir(keep) as work, broker(work) as (bootstrap, version):
        env = worker_env(bootstrap, unique("bs"), work / "data", NOTIFICATION_ACTIONS_DEDUP_TTL_SECONDS=str(ttl))
        topic = env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + "audit-log"
        asyncio.run(kio.create_topic(bootstrap, topic, 4))
        noop = [{"id": f"bs-noop-{org}", "organization_id": org, "trigger_type": "audit-log",
                 "service_type": "sentry_app", "target_type": "specific", "target_identifier": f"bounded-{org}"}
                for org in range(1, ORGS + 1)]
        worker = Worker(env, work / "worker.log").start()
        try:
            worker.wait_ready(timeout=180)  # it creates its topics
            asyncio.run(kio.produce(bootstrap, env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"],
                                    [(a["id"].encode(), orjson.dumps(a)) for a in noop]))
            worker.wait_actions(ORGS, timeout=120)
            samples: list[tuple[float, float, float]] = []  # (seconds since start, delivered, dedup entries)
            stop = threading.Event()
            start = time.monotonic()

            def sample() -> None:
                while not stop.is_set():
                    try:
                        samples.append((time.monotonic() - start,
                                        metric(worker.web_port, "deliveries_total", 'result="ok"'),
                                        metric(worker.web_port, "table_entries", 'table="dedup"')))
                    except httpx.HTTPError:
                        pass
                    stop.wait(1.0)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            asyncio.run(kio.produce_paced(bootstrap, topic, event, rate, events))
            progress, seen = time.monotonic(), -1.0
            while (done := samples[-1][1] if samples else 0) < events:
                if done != seen:
                    progress, seen = time.monotonic(), done
                if time.monotonic() - progress > 60:
                    raise RuntimeError(f"no delivery for 60 s at {done:.0f} of {events}:\n{worker.tail()}")
                time.sleep(1)
            last_at = samples[-1][0]
            at_end = samples[-1][2]
            quiet = time.monotonic() + ttl + 2 * SWEEP_SECONDS + 5
            while time.monotonic() < quiet:
                time.sleep(1)
            stop.set()
            sampler.join()
        finally:
            worker.stop()
        delivered = samples[-1][1]
        steady = [entries for t, _, entries in samples if ttl + SWEEP_SECONDS < t <= last_at]
        # the keys a bounded table may hold: those delivered in the last TTL + sweep (+ one sample), at most
        span = ttl + SWEEP_SECONDS + 1.0
        window = max(d - next((d0 for t0, d0, _ in samples if t0 >= t - span), 0.0) for t, d, _ in samples)
        return {
            "events": events, "rate": rate, "ttl": ttl, "delivered": int(delivered),
            "seconds": round(last_at, 1), "peak": int(max(e for _, _, e in samples)),
            "steady_max": int(max(steady)) if steady else None,
            "bound": int(window), "at_end": int(at_end), "after_ttl": int(samples[-1][2]),
            "machine": machine(version),
        }


def table(r: dict) -> str:
    m = r["machine"]
    return "\n".join([
        f"`python -m bench.bounded_state --events {r['events']} --rate {r['rate']:.0f} --ttl {r['ttl']:.0f}`"
        f" on {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Python {m['python']}, "
        f"Kafka {m['kafka']}, commit {m['commit']}:",
        "",
        "| deliveries | sent at | TTL | dedup entries: peak | most delivered in any TTL + sweep | at the last "
        "delivery | a TTL later |",
        "|---|---|---|---|---|---|---|",
        f"| {r['delivered']:,} of {r['events']:,} in {r['seconds']} s | {r['rate']:.0f}/s | {r['ttl']:.0f} s "
        f"| {r['peak']:,} | {r['bound']:,} | {r['at_end']:,} | {r['after_ttl']:,} |",
    ])


def record(text: str) -> None:
    doc = DOC.read_text()
    block = f"<!-- bounded-state:start -->\n{text}\n<!-- bounded-state:end -->"
    pattern = re.compile(r"<!-- bounded-state:start -->.*?<!-- bounded-state:end -->", re.S)
    DOC.write_text(pattern.sub(block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--ttl", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (worker log)")
    parser.add_argument("--record", action="store_true", help="write the table into docs/operations.md")
    args = parser.parse_args()
    result = run(args.events, args.rate, args.ttl, args.keep)
    text = table(result)
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
