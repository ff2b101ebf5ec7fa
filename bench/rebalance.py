"""The rebalance pause: how long deliveries stop while a second worker process joins, and leaves.

One worker fires webhook deliveries to the sink (``targets`` organizations, one
action each) while events arrive at a fixed rate (``rebalance_rate``/s). After a
steady stretch a second worker of the same group starts (its own data dir);
once it is ready and a steady stretch later it is stopped with SIGTERM. From the
sink's arrival times: the **longest gap between two fires** in the steady
stretch (what the rate alone gives), from the second worker's start until a
steady stretch after it is ready (**join**), and from its SIGTERM until a
steady stretch after it exited (**leave**); and the produce→fire p99 and max of
the deliveries whose events were sent in each of those windows.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import orjson

from bench import kio
from bench.delivery import event
from bench.plan import Scenario
from bench.procs import Sink, Worker, unique, worker_env

TRIGGER = "audit-log"


def longest_gap(arrivals: list[float], start: float, end: float) -> float:
    """Seconds of the longest stretch in [start, end] without an arrival (its edges count)."""
    inside = sorted(a for a in arrivals if start <= a <= end)
    points = [start, *inside, end]
    return max(b - a for a, b in zip(points, points[1:]))


def p99_max(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return float("nan"), float("nan")
    lat = sorted(latencies)
    return lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))], lat[-1]


class RebalanceBench(Scenario):
    def _rep(self, rep: int) -> None:
        steady, rate, t = self.plan.rebalance_steady_seconds, self.plan.rebalance_rate, self.plan.targets
        sink = Sink(self.work / f"rebalance-sink-{rep}.log", self.plan.slow_delay).start().wait_up()
        env = worker_env(self.bootstrap, unique("bj"), self.work / f"rebalance-a-{rep}")
        first = Worker(env, self.work / f"rebalance-a-{rep}.log").start()
        second: Worker | None = None
        sender: threading.Thread | None = None
        try:
            first.wait_ready(timeout=180)
            actions = [{"id": f"r{o}", "organization_id": o, "trigger_type": TRIGGER, "service_type": "webhook",
                        "target_type": "specific", "target_identifier": f"{sink.url}/hook/{o}"} for o in range(t)]
            asyncio.run(kio.produce(self.bootstrap, env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"],
                                    [(a["id"].encode(), orjson.dumps(a)) for a in actions]))
            first.wait_actions(t, timeout=300)
            topic = env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
            warm = int(rate * 2)  # fires flowing before the measured stretch
            asyncio.run(kio.produce_paced(self.bootstrap, topic, lambda i, now: event("w", i, i % t, now), rate, warm))
            sink.wait_count(warm, timeout=60)
            sink.reset()
            # Long enough for: steady, join (start → ready + steady), leave (SIGTERM → exit + steady).
            total = int(rate * (steady * 3 + 120))
            stop_sending = threading.Event()

            def send() -> None:
                asyncio.run(kio.produce_paced(self.bootstrap, topic, lambda i, now: event(f"rb{rep}", i, i % t, now),
                                              rate, total, stop=stop_sending))

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            t0 = time.time()
            time.sleep(steady)  # the steady stretch: what the rate alone gives
            join_at = time.time()
            second = Worker({**env, "NOTIFICATION_ACTIONS_DATA_DIR": str(self.work / f"rebalance-b-{rep}")},
                            self.work / f"rebalance-b-{rep}.log").start()
            second.wait_ready(timeout=180)
            time.sleep(steady)  # the join's rebalance settles
            leave_at = time.time()
            second.stop(timeout=120)
            time.sleep(steady)  # the leave's rebalance settles
            end_at = time.time()
            stop_sending.set()
            sender.join(60)
            sink.wait_count(10**9, timeout=30, stall=5.0)  # what is still on its way
            records = httpx.get(f"{sink.url}/_records", timeout=30).json()["records"]
        finally:
            for w in (second, first):
                if w is not None:
                    w.stop(timeout=120)
            sink.stop()
        arrivals = [rec[0] for rec in records]
        lat = [(rec[6], (rec[0] - rec[6]) * 1000) for rec in records if rec[6]]
        for name, start, end in (("steady", t0, join_at), ("join", join_at, leave_at), ("leave", leave_at, end_at)):
            gap = longest_gap(arrivals, start, end)
            p99, most = p99_max([ms for sent, ms in lat if start <= sent < end])
            self.r.add(f"rb_gap_{name}", gap)
            self.r.add(f"rb_p99_{name}", p99)
            self.r.add(f"rb_max_{name}", most)
            self.log(f"  rebalance rep {rep + 1}, {name}: longest gap {gap:.2f}s, p99 {p99:.0f} ms, max {most:.0f} ms")
