"""``python -m bench [--quick] [--record before|after]``: run every scenario, print the table and ratios.

The broker is ``$NOTIFICATION_ACTIONS_BENCH_BROKER`` when set, otherwise a
local Apache Kafka started on a free port for the run (and stopped after).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import sys
import time
from pathlib import Path

from bench import report
from bench.delivery import DeliveryBench
from bench.matching import MatchingBench
from bench.plan import FULL, QUICK, Results
from bench.procs import broker, machine, workdir
from bench.rebalance import RebalanceBench
from bench.restart import RestartBench
from bench.throughput import ThroughputBench


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each (a smoke run)")
    parser.add_argument("--record", choices=("before", "after"), help="write the results into docs/benchmarks.md")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="py-spy the worker during matching (default: on in full runs when py-spy exists)")
    parser.add_argument("--only", choices=("matching", "restart", "delivery", "rebalance", "throughput"),
                        help="run one group of the scenarios")
    parser.add_argument("--reps", type=int, help="runs per scenario (default: the plan's, 3 in a full run)")
    parser.add_argument("--json", type=Path, help="also write every run's values as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data dirs)")
    args = parser.parse_args(argv)

    # SIGTERM unwinds like Ctrl-C, so the workers, sink and broker we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = QUICK if args.quick else FULL
    if args.reps:
        plan = dataclasses.replace(plan, reps=args.reps)
    profile = args.profile if args.profile is not None else (not args.quick and shutil.which("py-spy") is not None)
    results = Results()
    started = time.monotonic()
    with workdir(args.keep) as work:
        log(f"work dir {work}")
        with broker(work) as (bootstrap, kafka_version):
            log(f"broker {bootstrap}")
            if args.only in (None, "matching"):
                log("matching scenarios (ceiling, M actions, memory, recovery)")
                MatchingBench(bootstrap, plan, work, results, log, profile).run()
            if args.only in (None, "restart"):
                log("restart scenario (bulk load of the largest level, stop, first and second restart)")
                RestartBench(bootstrap, plan, work, results, log).run()
            if args.only in (None, "throughput"):
                log("throughput scenarios (match-only on 8 partitions: 1/2/4 processes, bare Faust, arroyo)")
                ThroughputBench(bootstrap, plan, work, results, log).run()
            if args.only in (None, "delivery"):
                log("delivery scenarios (end to end, slow service, naive peer)")
                DeliveryBench(bootstrap, plan, work, results, log).run()
            if args.only in (None, "rebalance"):
                log("rebalance scenario (a second worker process joins, then leaves, under a fixed rate)")
                RebalanceBench(bootstrap, plan, work, results, log).run()
            about = machine(kafka_version)
    results.notes["wall time"] = f"{time.monotonic() - started:.0f} s for the whole run"
    body = report.text(results, plan, about)
    print(body)
    if args.json:
        args.json.write_text(json.dumps({"values": results.values, "notes": results.notes}, indent=1))
    if args.record:
        report.record(args.record, body)
        log(f"recorded as '{args.record}' in {report.DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
