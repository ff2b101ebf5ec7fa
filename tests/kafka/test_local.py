"""The local Kafka broker: real JVMs from Maven Central jars, no mocks.

Jars are shared with the CLI through the settings' ``kafka_home`` cache, so
only the first run anywhere pays for the Maven download.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from notification_actions.kafka.local import (
    LocalKafka,
    LocalKafkaError,
    broker_answers,
    ensure_jars,
    free_port_block,
)
from notification_actions.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings()
CACHE = SETTINGS.kafka_home
VERSION = SETTINGS.kafka_version
MARKER = ".complete"  # ensure_jars' "download complete" file inside libs/

# A killed node is noticed after ~3 s instead of Kafka's 9 s, which keeps the
# acks=all writes right after kill(3) from waiting long for the ISR to shrink.
FAST_FAILOVER = {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}


def jvms_of(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``data_dir``."""
    needle = str(data_dir.resolve()).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                pass  # exited while we looked
    return pids


# --- 3 nodes: acks=all survives one killed node -------------------------------


async def write(producer: AIOKafkaProducer, topic: str, values: list[bytes]) -> list[bytes]:
    """Send ``values`` and return the ones acknowledged (all of them, or this raises)."""
    futures = [await producer.send(topic, value, key=value) for value in values]
    await asyncio.gather(*futures)
    return values


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[bytes]:
    """Every value in ``topic`` from the start, once ``expected`` of them have arrived."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(seen) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            seen += [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return seen


async def acks_all_through_a_crash(cluster: LocalKafka) -> None:
    # From inside a running event loop, on purpose: broker_answers must cope.
    assert broker_answers(cluster.bootstrap)
    topic = f"acks-all-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=3, replication_factor=3, topic_configs={"min.insync.replicas": "2"})]
        )
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=cluster.bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=30_000
    )
    await producer.start()
    try:
        acked = await write(producer, topic, [f"before-{i}".encode() for i in range(50)])
        cluster.kill(3)
        assert [n["alive"] for n in cluster.status()["nodes"]] == [True, True, False]
        acked += await write(producer, topic, [f"after-{i}".encode() for i in range(50)])
    finally:
        await producer.stop()

    consumed = await read_all(cluster.bootstrap, topic, expected=len(acked))
    assert len(consumed) == len(acked) == 100
    assert sorted(consumed) == sorted(acked)


def test_three_nodes_keep_taking_acks_all_writes_after_one_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    cluster = LocalKafka(
        data_dir, port=free_port_block(6), nodes=3, version=VERSION, cache_dir=CACHE, heap="320m",
        overrides=FAST_FAILOVER,
    )  # fmt: skip
    assert cluster.bootstrap.count(",") == 2
    try:
        cluster.start(timeout=120)
        state = cluster.status()
        assert state["ready"] and [n["alive"] for n in state["nodes"]] == [True, True, True]
        asyncio.run(acks_all_through_a_crash(cluster))
    finally:
        cluster.stop()
    assert jvms_of(data_dir) == []
    assert not cluster.status()["running"]


# --- CLI -------------------------------------------------------------------------


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m notification_actions.cli.kafka ARGS`` as its own process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "notification_actions.cli.kafka", *map(str, args)],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=env,
    )  # fmt: skip


def test_cli_start_status_stop(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "single", free_port_block(2)
    try:
        started = cli("start", "--port", port, "--data-dir", data_dir, "--heap", "256m")
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == f"127.0.0.1:{port}"
        # The CLI process has exited; the broker it started keeps serving.
        assert broker_answers(f"127.0.0.1:{port}")

        up = cli("status", "--data-dir", data_dir)
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads(up.stdout)
        assert state["ready"] and state["running"] and state["bootstrap"] == f"127.0.0.1:{port}"
        assert state["nodes"][0]["alive"] and state["nodes"][0]["port"] == port

        again = cli("start", "--port", port, "--data-dir", data_dir)  # already running: a no-op
        assert again.returncode == 0 and again.stdout.strip() == f"127.0.0.1:{port}", again.stderr
        assert json.loads(cli("status", "--data-dir", data_dir).stdout)["nodes"][0]["pid"] == state["nodes"][0]["pid"]

        stopped = cli("stop", "--data-dir", data_dir)
        assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped", stopped.stderr
        down = cli("status", "--data-dir", data_dir)
        assert down.returncode == 1
        assert json.loads(down.stdout) | {"nodes": None} == {
            "bootstrap": f"127.0.0.1:{port}", "nodes": None, "running": False, "ready": False,
        }  # fmt: skip
        assert cli("stop", "--data-dir", data_dir).stdout.strip() == "not running"
    finally:
        LocalKafka.from_data_dir(data_dir).stop()
    assert jvms_of(data_dir) == []


# --- failures say what failed ------------------------------------------------------


def test_port_in_use_is_reported_before_any_jvm_starts(tmp_path: Path) -> None:
    port = free_port_block(2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port + 1))
        squatter.listen()
        with pytest.raises(LocalKafkaError, match=f"port {port + 1} .*already in use"):
            LocalKafka(tmp_path / "k", port=port, version=VERSION, cache_dir=CACHE).start()
    assert jvms_of(tmp_path / "k") == []
    assert not broker_answers(f"127.0.0.1:{port}", timeout=0.5)


def test_a_jvm_dying_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "k", port=free_port_block(2), version=VERSION, cache_dir=CACHE, heap="1m")
    with pytest.raises(LocalKafkaError, match=r"(?s)node 1 exited with code 1 while starting.*Too small .*heap"):
        broker.start()
    assert jvms_of(tmp_path / "k") == []


# --- jars ---------------------------------------------------------------------------


def test_ensure_jars_second_call_is_a_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libs = ensure_jars(VERSION, CACHE)
    assert libs == CACHE / f"kafka-{VERSION}" / "libs"
    assert list(libs.glob(f"kafka_2.13-{VERSION}.jar")) and list(libs.glob("log4j-slf4j2-impl-*.jar"))
    # log4j-slf4j2-impl only binds to the SLF4J 2 API; with 1.x the broker logs nothing.
    assert not list(libs.glob("slf4j-api-1.*.jar")) and list(libs.glob("slf4j-api-2.*.jar"))
    marker = libs / MARKER
    before = marker.stat().st_mtime_ns

    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn here: a cache miss would fail
    assert ensure_jars(VERSION, CACHE) == libs
    assert marker.stat().st_mtime_ns == before


def test_missing_mvn_is_named_and_leaves_no_half_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match=r"Maven \('mvn'\) is not on PATH"):
        ensure_jars(VERSION, tmp_path / "cache")
    assert list((tmp_path / "cache" / f"kafka-{VERSION}").iterdir()) == []


def test_failing_mvn_shows_its_output(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match=r"(?s)mvn failed \(exit \d+\).*0\.0\.0-no-such-version"):
        ensure_jars("0.0.0-no-such-version", tmp_path / "cache")
    assert list((tmp_path / "cache" / "kafka-0.0.0-no-such-version").iterdir()) == []
