"""A real Apache Kafka broker (KRaft, 1 or 3 nodes) run from Maven Central jars.

Used by the worker's embedded default, the ``kafka`` CLI group and the tests.
Node ``i`` (1-based) of a cluster with base port ``P`` listens on ``P + 2(i-1)``
(clients) and ``P + 2(i-1) + 1`` (controller) and keeps everything under
``data_dir/node-<i>/``: ``server.properties``, ``data/``, ``kafka.log``
(the JVM's output) and ``kafka.pid``; ``data_dir/cluster.json`` records the
cluster's shape for :meth:`LocalKafka.from_data_dir`. The JVMs run in their
own session, so they outlive the process that started them; any process can
stop them later from the pid files.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from notification_actions.kafka.local.jars import (
    DEFAULT_CACHE_DIR,
    LocalKafkaError,
    ensure_jars,
    find_java,
    log_tail,
    tail,
)
from notification_actions.kafka.local.probe import broker_answers, free_port_block, metadata_brokers, port_free
from notification_actions.kafka.local.procs import is_dead, jvm_running, wait_dead
from notification_actions.kafka.local.secure import LISTENER, SecureListener
from notification_actions.kafka.security import Security

__all__ = ["LocalKafka", "LocalKafkaError", "broker_answers", "ensure_jars", "free_port_block"]

log = logging.getLogger(__name__)

_LOG4J2 = Path(__file__).resolve().parent / "log4j2.xml"
_LOG_ROTATE_BYTES = 20_000_000
# Covers the controller's graceful Raft shutdown (5 s) with room to spare.
_NO_QUORUM_GRACE = 10.0
# A local broker: start-up time matters more than peak throughput, and on a
# 2-core machine C2 compiler and parallel GC threads slow three starting JVMs.
_JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError"]


def _new_cluster_id() -> str:
    # Kafka's own format (Uuid.randomUuid): URL-safe base64 of 16 bytes, never starting with '-'.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class LocalKafka:
    """A local KRaft cluster of 1 (combined mode) or 3 nodes, all in ``data_dir``.

    ``overrides`` are extra ``server.properties`` entries, applied last. ``secure``: the
    client listener is SASL_SSL (``secure.py``) instead of PLAINTEXT.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 9092,
        nodes: int = 1,
        version: str = "4.1.1",
        cache_dir: Path | None = None,
        heap: str = "512m",
        overrides: dict[str, str] | None = None,
        secure: bool = False,
    ) -> None:
        if nodes not in (1, 3):
            raise ValueError(f"nodes must be 1 or 3, not {nodes}")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port, self.nodes, self.version, self.heap = port, nodes, version, heap
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else DEFAULT_CACHE_DIR
        self.overrides = dict(overrides or {})
        self.tls = SecureListener(self.data_dir / "secure") if secure else None
        self.bootstrap = ",".join(f"127.0.0.1:{self._ports(i)[0]}" for i in self._ids)

    @classmethod
    def from_data_dir(cls, data_dir: Path, **defaults: Any) -> LocalKafka:
        """The cluster last started in ``data_dir`` (its ``cluster.json``), else one built from ``defaults``."""
        try:
            saved = json.loads((Path(data_dir) / "cluster.json").read_text())
        except (OSError, ValueError):
            saved = {}
        keys = ("port", "nodes", "version", "heap", "overrides", "secure")
        return cls(data_dir, **{**defaults, **{k: saved[k] for k in keys if k in saved}})

    # --- layout --------------------------------------------------------------

    @property
    def security(self) -> Security | None:
        """How a client connects to the client listener (None: plaintext)."""
        return self.tls.security() if self.tls else None

    @property
    def _ids(self) -> range:
        return range(1, self.nodes + 1)

    def _ports(self, i: int) -> tuple[int, int]:
        broker = self.port + 2 * (i - 1)
        return broker, broker + 1

    def _dir(self, i: int) -> Path:
        return self.data_dir / f"node-{i}"

    def _pid(self, node_dir: Path) -> int | None:
        """Pid of the JVM running ``node_dir``'s server.properties, if there is one."""
        try:
            pid = int((node_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if jvm_running(pid, node_dir / "server.properties") else None

    def _properties(self, i: int) -> str:
        broker, controller = self._ports(i)
        rf, min_isr = (3, 2) if self.nodes == 3 else (1, 1)
        name = LISTENER if self.tls else "PLAINTEXT"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(i),
            "listeners": f"{name}://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"{name}://127.0.0.1:{broker}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": name,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{name}:{name}",
            "log.dirs": str(self._dir(i) / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(rf),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(min_isr),
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(min_isr),
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.nodes == 1:
            # Dynamic quorum: goes with `format --standalone` (see KAFKA.md).
            props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{controller}"
        else:
            props["controller.quorum.voters"] = ",".join(f"{n}@127.0.0.1:{self._ports(n)[1]}" for n in self._ids)
        props.update(self.tls.properties() if self.tls else {})
        props.update(self.overrides)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    # --- life cycle ----------------------------------------------------------

    def start(self, timeout: float = 180.0) -> LocalKafka:
        """Start every node not already running and wait until all answer metadata requests.

        Downloads the jars first if needed (not counted in ``timeout``) and formats
        storage only where ``meta.properties`` is missing, so a restart keeps data.
        """
        return self._start([i for i in self._ids if self._pid(self._dir(i)) is None], timeout)

    def start_node(self, node_id: int, timeout: float = 180.0) -> None:
        """Restart one node (e.g. after :meth:`kill`) and wait until it serves again."""
        self._check_id(node_id)
        if self._pid(self._dir(node_id)) is None:
            self._start([node_id], timeout)

    def _start(self, todo: list[int], timeout: float) -> LocalKafka:
        self._check_saved()
        for i in todo:
            for port, role in zip(self._ports(i), ("client", "controller")):
                if not port_free(port):
                    raise LocalKafkaError(
                        f"port {port} on 127.0.0.1 (node {i} {role} port) is already in use; "
                        "another Kafka or service runs there: stop it or choose another port"
                    )
        started: dict[int, subprocess.Popen[bytes]] = {}
        if todo:
            libs, java = ensure_jars(self.version, self.cache_dir), find_java()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            saved = {"port": self.port, "nodes": self.nodes, "version": self.version, "heap": self.heap,
                     "overrides": self.overrides, "secure": self.tls is not None}  # fmt: skip
            (self.data_dir / "cluster.json").write_text(json.dumps(saved) + "\n")
            if self.tls:
                self.tls.ensure(java)
            for i in todo:
                self._dir(i).mkdir(exist_ok=True)
                (self._dir(i) / "server.properties").write_text(self._properties(i))
                if self.tls:  # it holds the users' passwords
                    (self._dir(i) / "server.properties").chmod(0o600)
            self._format([i for i in todo if not (self._dir(i) / "data" / "meta.properties").exists()], libs, java)
            started = {i: self._launch(i, libs, java) for i in todo}
        try:
            self._wait_ready(started, timeout)
        except BaseException:
            for i, proc in started.items():
                proc.kill()
                proc.wait()
                (self._dir(i) / "kafka.pid").unlink(missing_ok=True)
            raise
        return self

    def _check_id(self, node_id: int) -> None:
        if node_id not in self._ids:
            raise ValueError(f"node ids of this cluster are 1..{self.nodes}, not {node_id}")

    def _check_saved(self) -> None:
        try:
            saved = json.loads((self.data_dir / "cluster.json").read_text())
        except (OSError, ValueError):
            return
        if saved.get("nodes", self.nodes) != self.nodes:
            raise LocalKafkaError(
                f"{self.data_dir} holds a {saved['nodes']}-node cluster, not {self.nodes} nodes; "
                "use the same node count or another data dir"
            )
        if saved.get("secure", False) != (self.tls is not None) and self._existing_cluster_id():
            was = "with" if saved.get("secure") else "without"
            raise LocalKafkaError(f"the cluster in {self.data_dir} was made {was} --secure (its users are "
                                  "made at format time); start it the same way or use another data dir")
        running = [i for i in self._ids if self._pid(self._dir(i)) is not None]
        if running and saved.get("port", self.port) != self.port:
            raise LocalKafkaError(
                f"the cluster in {self.data_dir} already runs on port {saved['port']}, not {self.port}"
            )

    def _format(self, ids: list[int], libs: Path, java: str) -> None:
        if not ids:
            return
        cluster_id = self._existing_cluster_id() or _new_cluster_id()
        extra = (["--standalone"] if self.nodes == 1 else []) + (self.tls.format_args() if self.tls else [])
        log4j = f"-Dlog4j2.configurationFile={_LOG4J2}"
        tool = [java, *_JVM_FLAGS, log4j, "-cp", f"{libs}/*", "kafka.tools.StorageTool"]
        procs = {
            i: subprocess.Popen(
                [*tool, "format", "-t", cluster_id, "-c", str(self._dir(i) / "server.properties"), *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for i in ids
        }  # fmt: skip
        for i, proc in procs.items():
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise LocalKafkaError(
                    f"formatting the storage of Kafka node {i} ({self._dir(i) / 'data'}) failed "
                    f"(exit {proc.returncode}):\n{tail(out)}"
                )

    def _existing_cluster_id(self) -> str | None:
        for i in self._ids:
            try:
                text = (self._dir(i) / "data" / "meta.properties").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("cluster.id="):
                    return line.partition("=")[2].strip()
        return None

    def _launch(self, i: int, libs: Path, java: str) -> subprocess.Popen[bytes]:
        node_dir = self._dir(i)
        cmd = [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", *_JVM_FLAGS,
               f"-Dlog4j2.configurationFile={_LOG4J2}", "-cp", f"{libs}/*", "kafka.Kafka",
               str(node_dir / "server.properties")]  # fmt: skip
        log_file = node_dir / "kafka.log"
        if log_file.exists() and log_file.stat().st_size > _LOG_ROTATE_BYTES:
            log_file.replace(node_dir / "kafka.log.1")
        with log_file.open("ab") as out:
            out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            out.flush()
            # Own session: the JVM outlives the CLI that started it and gets no terminal signals.
            proc = subprocess.Popen(
                cmd, cwd=node_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        tmp = node_dir / "kafka.pid.tmp"
        tmp.write_text(f"{proc.pid}\n")
        tmp.replace(node_dir / "kafka.pid")
        return proc

    def _wait_ready(self, started: dict[int, subprocess.Popen[bytes]], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, proc in started.items():
                if proc.poll() is not None:
                    log_file = self._dir(i) / "kafka.log"
                    raise LocalKafkaError(
                        f"Kafka node {i} exited with code {proc.returncode} while starting; "
                        f"last lines of {log_file}:\n{log_tail(log_file)}"
                    )
            if self._all_serving(min(2.0, max(0.2, deadline - time.monotonic()))):
                return
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- {self._dir(i) / 'kafka.log'}:\n{log_tail(self._dir(i) / 'kafka.log')}"
                                  for i in self._ids)  # fmt: skip
                raise LocalKafkaError(f"Kafka at {self.bootstrap} did not answer within {timeout:.0f}s\n{tails}")
            time.sleep(0.25)

    def _all_serving(self, timeout: float) -> bool:
        """Every node answers on its own port and sees every node as a live broker."""
        want = set(self._ids)
        for i in self._ids:
            seen = metadata_brokers(f"127.0.0.1:{self._ports(i)[0]}", timeout, self.security)
            if seen is None or not want <= seen:
                return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node of ``data_dir`` (SIGTERM, then SIGKILL after ``timeout``), from any process.

        A node left without a controller quorum (the others already gone) cannot
        finish its controlled shutdown and would wait minutes: it is killed after
        a short grace instead.
        """
        node_dirs = sorted(self.data_dir.glob("node-*"))
        running = {d: pid for d in node_dirs if (pid := self._pid(d)) is not None}
        for pid in running.values():
            os.kill(pid, signal.SIGTERM)
        majority = len(node_dirs) // 2 + 1
        deadline, no_quorum_since = time.monotonic() + timeout, None
        while alive := [pid for pid in running.values() if not is_dead(pid)]:
            now = time.monotonic()
            if len(alive) < majority:
                no_quorum_since = no_quorum_since or now
            if now >= deadline or (no_quorum_since and now - no_quorum_since > _NO_QUORUM_GRACE):
                break
            time.sleep(0.1)
        for pid in alive:
            log.warning("Kafka JVM %d of %s did not stop in time; killing it", pid, self.data_dir)
            os.kill(pid, signal.SIGKILL)
        if left := wait_dead(alive, time.monotonic() + 10):
            raise LocalKafkaError(f"Kafka JVM(s) {left} of {self.data_dir} survived SIGKILL")
        for d in running:
            (d / "kafka.pid").unlink(missing_ok=True)

    def kill(self, node_id: int) -> None:
        """SIGKILL one node, as a crash would (for fault tests)."""
        self._check_id(node_id)
        node_dir = self._dir(node_id)
        pid = self._pid(node_dir)
        if pid is None:
            raise LocalKafkaError(f"Kafka node {node_id} of {self.data_dir} is not running")
        os.kill(pid, signal.SIGKILL)
        if wait_dead([pid], time.monotonic() + 10):
            raise LocalKafkaError(f"Kafka node {node_id} (pid {pid}) survived SIGKILL")
        (node_dir / "kafka.pid").unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        """``{"bootstrap", "nodes": [{"id", "pid", "alive", "port"}], "running", "ready"}``, and
        ``client_env`` (the settings file of a client) when secure.

        ``running``: some node's JVM is alive; ``ready``: a broker answers metadata requests.
        """
        nodes = []
        for i in self._ids:
            pid = self._pid(self._dir(i))
            nodes.append({"id": i, "pid": pid, "alive": pid is not None, "port": self._ports(i)[0]})
        running = any(n["alive"] for n in nodes)
        ready = running and broker_answers(self.bootstrap, security=self.security)
        state = {"bootstrap": self.bootstrap, "nodes": nodes, "running": running, "ready": ready}
        return {**state, "client_env": str(self.tls.env_file)} if self.tls else state

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafka({str(self.data_dir)!r}, bootstrap={self.bootstrap!r}, version={self.version!r})"
