"""``worker --processes 2``: two members of one consumer group on one host, supervised.

Against the real broker: both children join the group and share the events
topic's partitions (read from the group's description, as the broker has it),
a child killed -9 is restarted by the parent, and SIGTERM to the parent drains
both children and leaves none behind. Every child holds every action of the
config topic, at the start and after the restart: the children join within a
second or two of each other, which is when Faust used to skip records of the
actions changelog that the other child wrote (``kafka/recovery.py``,
``resume_where_read``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from tests.support.kafka import produce
from tests.support.pipeline import action
from tests.support.worker_process import WorkerProcess

TRIGGER = "audit-log"
ACTIONS = 100


def _two_free_ports() -> int:
    """A port P with P + 1 free as well (child i serves WEB_PORT + i)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two consecutive free ports")


def _children(parent: int) -> set[int]:
    """Pids whose parent is ``parent`` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == parent:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _holds_all(port: int) -> bool:
    """Ready, with every action of the config topic in its index."""
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0)
        return r.status_code == 200 and r.json()["actions"] == ACTIONS
    except httpx.HTTPError:
        return False


def _wait(what: str, check, worker: WorkerProcess, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"parent exited with {worker.proc.returncode}:\n{worker.log_tail()}"
        if got := check():
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout:.0f}s:\n{worker.log_tail(120)}")


async def _assignments(bootstrap: str, group: str, topic: str) -> list[set[int]]:
    """Per member of ``group``: the partitions of ``topic`` the broker says it owns."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    members = described[5] if isinstance(described, tuple) else described.members
    owned = []
    for member in members:
        raw = member[4]
        if not raw:
            owned.append(set())
            continue
        assignment = ConsumerProtocolMemberAssignment.decode(raw)
        owned.append({p for t, parts in assignment.assignment if t == topic for p in parts})
    return owned


@pytest.mark.timeout(300)
def test_two_processes_share_the_partitions_restart_a_crash_and_stop_cleanly(kafka_bootstrap, worker_env, tmp_path):
    port = _two_free_ports()
    # Written before the start: the child that owns the config partitions writes them to the actions
    # changelog while the other is still joining, and each must read the other's.
    records = [(f"a{i}".encode(), orjson.dumps(action(f"a{i}", 81_000 + i % 10, f"http://127.0.0.1:9/hook/{i}")))
               for i in range(ACTIONS)]
    asyncio.run(produce(kafka_bootstrap, worker_env["NOTIFICATION_ACTIONS_CONFIG_TOPIC"], records))
    worker_env = {**worker_env, "NOTIFICATION_ACTIONS_STORE": "rocksdb://"}  # the default; memory:// hid the skip
    parent = WorkerProcess(worker_env, tmp_path / "parent.log", web_port=port, args=("--processes", "2")).start()
    group = worker_env["NOTIFICATION_ACTIONS_APP_ID"]
    topic = worker_env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + TRIGGER
    try:
        _wait(f"both children ready with all {ACTIONS} actions", lambda: _holds_all(port) and _holds_all(port + 1), parent)
        children = _children(parent.proc.pid)
        assert len(children) == 2, children

        def shared() -> list[set[int]] | None:
            owned = asyncio.run(_assignments(kafka_bootstrap, group, topic))
            ok = (len(owned) == 2 and all(owned) and not (owned[0] & owned[1])
                  and owned[0] | owned[1] == {0, 1, 2, 3})
            return owned if ok else None

        _wait("two members owning the partitions between them", shared, parent)
        for i in (0, 1):
            assert (tmp_path / "data" / f"p{i}").is_dir()

        # A crash: the parent restarts the child, which rejoins the group.
        crashed = min(children)
        os.kill(crashed, signal.SIGKILL)
        _wait("a new child after the kill", lambda: len(_children(parent.proc.pid) - {crashed}) == 2, parent)
        assert not _alive(crashed) or crashed not in _children(parent.proc.pid)
        _wait(f"both children ready again with all {ACTIONS} actions",
              lambda: _holds_all(port) and _holds_all(port + 1), parent)
        _wait("two members again", shared, parent)
        children = _children(parent.proc.pid)
        assert len(children) == 2 and crashed not in children
        assert "restarting it in" in parent.log_path.read_text()
    finally:
        code = parent.stop(timeout=150)
    assert code == 0, parent.log_tail(120)
    left = [pid for pid in children if _alive(pid)]
    assert not left, f"child pids {left} outlived the parent"
