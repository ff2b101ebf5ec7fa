"""The first restart after a bulk load: M actions published at once to a fresh worker.

A fresh worker loads ``M`` actions (published with aiokafka in batches to the
config topic) until ``/readyz`` reports them all, and is stopped (SIGTERM) at
once — as an operator's bulk import followed by a deploy would. It is then
started again on the same RocksDB data dir: **seconds from process start to
``/readyz`` 200 with M actions**, and the same for a second restart (nothing left
to catch up). Also the stop's own seconds (SIGTERM → exit), since a worker may
only make the restart cheap by doing the work at the stop.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from bench import kio
from bench.matching import action
from bench.plan import Scenario
from bench.procs import Worker, unique, worker_env


class RestartBench(Scenario):
    def _rep(self, rep: int) -> None:
        level = self.plan.levels[-1]
        m = level.actions
        env = worker_env(self.bootstrap, unique("br"), self.work / f"restart-data-{rep}")
        log = self.work / f"restart-worker-{rep}.log"
        w = Worker(env, log).start()
        try:
            w.wait_ready(timeout=180)
            records = [(a["id"].encode(), orjson.dumps(a))
                       for org in range(level.orgs) for p in range(1, level.per_org + 1)
                       for a in (action(org, p),)]
            started = time.monotonic()
            asyncio.run(kio.produce(self.bootstrap, env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"], records))
            w.wait_actions(m)
            loaded = time.monotonic() - started
            stop_started = time.monotonic()
            w.stop(timeout=300)
            stopped = time.monotonic() - stop_started
            w = Worker(env, log).start()
            first = w.wait_ready(actions=m, timeout=600)
            w.stop(timeout=300)
            w = Worker(env, log).start()
            second = w.wait_ready(actions=m, timeout=600)
        finally:
            w.stop(timeout=300)
        self.r.add(f"bulk_load_s@{m}", loaded)
        self.r.add(f"bulk_stop_s@{m}", stopped)
        self.r.add(f"first_restart_s@{m}", first)
        self.r.add(f"second_restart_s@{m}", second)
        self.log(f"  bulk load of {m:,} actions: loaded in {loaded:.1f}s, stop {stopped:.1f}s, "
                 f"first restart ready in {first:.1f}s, second {second:.1f}s")
