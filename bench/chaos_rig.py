"""The chaos runs' rig: a 3-node cluster, the recording sink, three workers, and the faults.

:class:`Rig` starts a :class:`~notification_actions.kafka.local.LocalKafka` of
three nodes (topics replicated 3 times, ``min.insync.replicas=2``), the bench
sink (``bench/sink.py``, its own process, recording every request) and
``Knobs.workers`` real ``notification-actions worker`` subprocesses, each in a
*slot* with its own RocksDB data dir and log (a restarted worker reuses its
slot's). One webhook action per organization, each its own URL: one target
per organization. The faults are plain methods (kill -9 or SIGTERM a worker,
kill -9 or restart a broker node); the waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.procs import Sink, Worker, unique, worker_env

TRIGGER = "audit-log"


@dataclass(frozen=True)
class Knobs:
    """The sizes of a run. ``dup_window``: a duplicate whose first arrival came at most this long
    before a kill -9 counts as *in flight at the kill* (commit interval 1 s, plus fires and flushes)."""

    orgs: int = 24
    rate: float = 50.0
    workers: int = 3
    partitions: int = 8
    session_timeout: float = 10.0
    heap: str = "512m"
    dup_window: float = 5.0
    log_level: str = "info"
    broker_overrides: tuple[tuple[str, str], ...] = ()  # extra server.properties (e.g. FAST_FAILOVER)


# A killed broker is fenced after 3 s instead of Kafka's 9 s (as in tests/kafka/test_local.py):
# the suite's short run uses it to stay short; `make chaos` keeps Kafka's defaults.
FAST_FAILOVER = (("broker.session.timeout.ms", "3000"), ("broker.heartbeat.interval.ms", "500"))


def action_id(org: int) -> str:
    return f"c{org}"


class Rig:
    def __init__(self, work: Path, knobs: Knobs, log) -> None:
        from notification_actions.kafka.local import LocalKafka, free_port_block
        from notification_actions.settings import Settings

        self.work, self.knobs, self.log = work, knobs, log
        self.version = Settings(_env_file=None).kafka_version
        self.kafka = LocalKafka(work / "kafka", port=free_port_block(6), nodes=3, version=self.version,
                                heap=knobs.heap, overrides=dict(knobs.broker_overrides))  # fmt: skip
        self.bootstrap = self.kafka.bootstrap
        self.prefix = unique("chaos")
        self.env = worker_env(
            self.bootstrap.replace(",", ";"), self.prefix, work / "data",
            NOTIFICATION_ACTIONS_TOPIC_PARTITIONS=str(knobs.partitions),
            NOTIFICATION_ACTIONS_TOPIC_REPLICATION_FACTOR="3",
            NOTIFICATION_ACTIONS_SESSION_TIMEOUT_SECONDS=str(knobs.session_timeout),
            NOTIFICATION_ACTIONS_LOG_LEVEL=knobs.log_level,
        )  # fmt: skip
        self.group = self.env["NOTIFICATION_ACTIONS_APP_ID"]
        self.events_topic = self.env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
        self.sink = Sink(work / "sink.log", delay=0.2)
        self.workers: list[Worker | None] = [None] * knobs.workers
        self.down_brokers: set[int] = set()

    # --- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        started = time.monotonic()
        self.kafka.start()
        self.log(f"cluster {self.bootstrap} up in {time.monotonic() - started:.0f} s")
        self.sink.start().wait_up()
        for slot in range(self.knobs.workers):  # together: each creates the topics still missing
            self.workers[slot] = self._spawn(slot)
        for worker in self.workers:
            worker.wait_ready(timeout=240)
        asyncio.run(self._load_actions())
        for worker in self.workers:
            worker.wait_actions(self.knobs.orgs, timeout=120)
        self.log(f"{self.knobs.workers} workers ready with {self.knobs.orgs} actions "
                 f"({time.monotonic() - started:.0f} s since start)")

    def close(self) -> None:
        running = [w for w in self.workers if w is not None and w.alive()]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(running))) as pool:
            list(pool.map(lambda w: w.stop(timeout=30), running))
        self.sink.stop()
        self.kafka.stop()

    def __enter__(self) -> Rig:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, slot: int) -> Worker:
        env = {**self.env, "NOTIFICATION_ACTIONS_DATA_DIR": str(self.work / f"data-w{slot + 1}")}
        return Worker(env, self.work / f"worker-{slot + 1}.log").start()

    async def _load_actions(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for org in range(1, self.knobs.orgs + 1):
                record = {"id": action_id(org), "organization_id": org, "trigger_type": TRIGGER,
                          "service_type": "webhook", "target_type": "specific",
                          "target_identifier": f"{self.sink.url}/hook/{org}"}  # fmt: skip
                await producer.send_and_wait(self.env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"],
                                             orjson.dumps(record), key=action_id(org).encode())  # fmt: skip
        finally:
            await producer.stop()

    # --- faults (blocking: the harness runs them in a thread) ------------------------
    def _running(self, slot: int) -> Worker:
        """The worker in ``slot``; one that exited without the harness asking is an error of the run."""
        worker = self.workers[slot]
        if worker is None or not worker.alive():
            code = worker.proc.returncode if worker is not None and worker.proc is not None else None
            raise RuntimeError(f"worker {slot + 1} exited on its own (exit code {code}); "
                               f"its log ends:\n{worker.tail(15) if worker else ''}")  # fmt: skip
        return worker

    def kill_worker(self, slot: int) -> None:
        worker = self._running(slot)
        worker.kill()
        self.log(f"kill -9 worker {slot + 1} (pid {worker.pid})")

    def stop_worker(self, slot: int) -> int:
        """SIGTERM and wait for the exit (a worker drains and commits); its exit code."""
        worker = self._running(slot)
        started = time.monotonic()
        worker.stop(timeout=90)
        code = worker.proc.returncode
        self.log(f"SIGTERM worker {slot + 1}: exit {code} after {time.monotonic() - started:.1f} s")
        return code

    def start_worker(self, slot: int) -> None:
        worker = self.workers[slot] = self._spawn(slot)
        took = worker.wait_ready(timeout=240)
        self.log(f"worker {slot + 1} started, ready after {took:.1f} s")

    def kill_broker(self, node: int) -> None:
        self.kafka.kill(node)
        self.down_brokers.add(node)
        self.log(f"kill -9 broker node {node}")

    def start_broker(self, node: int) -> None:
        started = time.monotonic()
        self.kafka.start_node(node, timeout=240)
        self.down_brokers.discard(node)
        self.log(f"broker node {node} restarted, serving after {time.monotonic() - started:.1f} s")

    def restore(self, workers: bool = True) -> None:
        """Start every broker that is down, and every worker (in parallel) unless ``workers`` is false."""
        for node in sorted(self.down_brokers):
            self.start_broker(node)
        if not workers:
            return
        dead = [slot for slot, w in enumerate(self.workers) if w is None or not w.alive()]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(dead))) as pool:
            list(pool.map(self.start_worker, dead))

    def sink_fail(self, seconds: float, status: int = 503) -> dict:
        r = httpx.post(f"{self.sink.url}/_fail", params={"seconds": seconds, "status": status}, timeout=10)
        r.raise_for_status()
        self.log(f"sink answers {status} for {seconds:g} s")
        return r.json()

    # --- conditions -----------------------------------------------------------------
    async def coordinator(self) -> int:
        """The node that coordinates the workers' consumer group."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            return await admin.find_coordinator(self.group)
        finally:
            await admin.close()

    async def wait_in_sync(self, timeout: float = 180.0) -> float:
        """Wait until every partition of every topic has all its replicas in sync; seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        lagging: list[str] = []
        while time.monotonic() < deadline:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
            try:
                await admin.start()
                topics = await admin.describe_topics()
                lagging = [f"{t['topic']}/{p['partition']}" for t in topics for p in t["partitions"]
                           if set(p["isr"]) != set(p["replicas"])]  # fmt: skip
                if topics and not lagging:
                    return time.monotonic() - started
            except Exception as exc:  # a node still starting: ask again
                lagging = [f"({type(exc).__name__}: {exc})"]
            finally:
                await admin.close()
            await asyncio.sleep(1.0)
        raise TimeoutError(f"replicas not in sync after {timeout:.0f} s: {lagging[:10]}")

    def worker_tails(self, lines: int = 30) -> str:
        return "\n".join(f"--- worker {slot + 1}:\n{w.tail(lines)}" for slot, w in enumerate(self.workers) if w)
