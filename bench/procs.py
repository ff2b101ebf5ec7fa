"""The processes a benchmark drives — broker, workers, sink, naive peer — and /proc readings.

Every worker is a real ``notification-actions worker`` subprocess started from
a boot script that first imports :mod:`bench.noop` (so the no-op registration
exists in that process); CPU time and memory are read from ``/proc/<pid>``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
BOOT = "import bench.noop; from notification_actions.cli import main; main()"
BROKER_ENV = "NOTIFICATION_ACTIONS_BENCH_BROKER"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def unique(prefix: str) -> str:
    """A fresh name for a run's app id and topics (a shared broker keeps old runs' topics)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[tuple[str, str]]:
    """``(bootstrap, kafka version)``: ``$NOTIFICATION_ACTIONS_BENCH_BROKER`` or a LocalKafka of our own."""
    from notification_actions.settings import Settings

    version = Settings(_env_file=None).kafka_version
    configured = os.environ.get(BROKER_ENV)
    if configured:
        yield configured.removeprefix("kafka://"), f"{version} (external broker, version assumed)"
        return
    from notification_actions.kafka.local import LocalKafka, free_port_block

    kafka = LocalKafka(workdir / "kafka", port=free_port_block(2), version=version, heap="512m")
    kafka.start()
    try:
        yield kafka.bootstrap, version
    finally:
        kafka.stop()


def worker_env(bootstrap: str, prefix: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Settings for an isolated worker: its own group, topics and data dir."""
    env = {
        "NOTIFICATION_ACTIONS_BROKER": f"kafka://{bootstrap}",
        "NOTIFICATION_ACTIONS_APP_ID": f"{prefix}-app",
        "NOTIFICATION_ACTIONS_STORE": "rocksdb://",
        "NOTIFICATION_ACTIONS_DATA_DIR": str(data_dir),
        "NOTIFICATION_ACTIONS_TOPIC_PARTITIONS": "4",
        "NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX": f"{prefix}.events.",
        "NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_HTTP": "true",
        "NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_PRIVATE": "true",
        "NOTIFICATION_ACTIONS_LOG_LEVEL": os.environ.get("NOTIFICATION_ACTIONS_BENCH_LOG_LEVEL", "warning"),
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    for name in ("config", "integrations", "directory", "config_rejected", "events_dlq",
                 "deliveries", "deliveries_dlq", "outcomes"):
        env[f"NOTIFICATION_ACTIONS_{name.upper()}_TOPIC"] = f"{prefix}.{name.replace('_', '.')}"
    env.update(overrides)
    return env


# --- /proc ----------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (threads included), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid: int, name: str) -> int:
    """A ``VmHWM``/``VmRSS``-style field of ``/proc/<pid>/status``, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


class CpuSampler:
    """Samples a process's CPU time every ``interval`` s so a window's CPU can be read afterwards."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cpu-sampler")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), cpu_seconds(self.pid)))
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, when: float) -> float:
        """CPU seconds at wall time ``when`` (linear between the samples around it)."""
        s = self.samples
        if not s:
            return 0.0
        if when <= s[0][0]:
            return s[0][1]
        for (t0, c0), (t1, c1) in zip(s, s[1:]):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * ((when - t0) / (t1 - t0) if t1 > t0 else 0)
        return s[-1][1]

    def between(self, start: float, end: float) -> float:
        return self.at(end) - self.at(start)


# --- subprocesses ---------------------------------------------------------------
class Proc:
    """A subprocess in its own session with its output in ``log``."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, {**os.environ, **env}, log
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> "Proc":
        self.started_at = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (a worker drains and commits), SIGKILL of the group if it hangs."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the process group (a supervisor and its children alike) for the block; SIGCONT after.

        The throughput runs publish their timed events while the consumer is frozen, so the
        publisher is off the CPUs during the window. Keep the block well inside the group's
        session timeout (ours 30 s, Faust's 60 s, librdkafka's 45 s): no heartbeat is sent meanwhile.
        """
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the process group at once: a crash, nothing drained or committed."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def free_ports(n: int) -> int:
    """A port P with P .. P+n-1 all free (``worker --processes n`` serves WEB_PORT + i)."""
    for _ in range(100):
        port = free_port()
        try:
            with contextlib.ExitStack() as stack:
                for i in range(1, n):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port + i))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {n} consecutive free ports")


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (``worker --processes N``'s workers)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return sorted(out)


class Worker(Proc):
    """A ``notification-actions worker`` booted with the no-op registration (``processes`` of them)."""

    def __init__(self, env: dict[str, str], log: Path, processes: int = 1) -> None:
        self.web_port = free_ports(processes)
        self.processes = processes
        extra = ["--processes", str(processes)] if processes > 1 else []
        super().__init__([sys.executable, "-c", BOOT, "worker", *extra],
                         {**env, "NOTIFICATION_ACTIONS_WEB_PORT": str(self.web_port)}, log)

    def readyz(self, port: int | None = None) -> tuple[bool, int]:
        """``(ready, actions in the index)``; ``(False, -1)`` while the web server is not up."""
        try:
            r = httpx.get(f"http://127.0.0.1:{port or self.web_port}/readyz", timeout=2.0)
            body = r.json()
            return r.status_code == 200, int(body.get("actions", -1))
        except (httpx.HTTPError, ValueError):
            return False, -1

    def wait_ready(self, actions: int | None = None, timeout: float = 600.0, poll: float = 0.1,
                   port: int | None = None) -> float:
        """Seconds from process start until ``/readyz`` (of ``port``) is 200 (and reports ``actions``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            ready, count = self.readyz(port)
            if ready and (actions is None or count == actions):
                return time.monotonic() - self.started_at
            time.sleep(poll)
        raise TimeoutError(f"worker not ready (actions={actions}) within {timeout:.0f}s:\n{self.tail()}")

    def wait_actions(self, actions: int, timeout: float = 1800.0) -> None:
        """Wait until the index holds ``actions`` (readiness not required: loading is ongoing)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            _, last = self.readyz()
            if last == actions:
                return
            time.sleep(0.5)
        raise TimeoutError(f"index holds {last} of {actions} actions after {timeout:.0f}s:\n{self.tail()}")


class Sink(Proc):
    """``python -m bench.sink``: answers ``/hook/*`` at once and ``/slow/*`` after ``delay`` s."""

    def __init__(self, log: Path, delay: float) -> None:
        self.port = free_port()
        super().__init__([sys.executable, "-m", "bench.sink", "--port", str(self.port), "--delay", str(delay)],
                         {"PYTHONPATH": str(REPO)}, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, timeout: float = 20.0) -> "Sink":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                self.stats()
                return self
            time.sleep(0.1)
        raise TimeoutError(f"sink did not start:\n{self.tail()}")

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_stats", timeout=30).json()

    def reset(self) -> None:
        httpx.post(f"{self.url}/_reset", timeout=10).raise_for_status()

    def wait_count(self, n: int, timeout: float, stall: float = 20.0) -> dict[str, Any]:
        """Stats once ``n`` requests arrived, or once none came for ``stall`` s (the caller reports a shortfall)."""
        deadline = time.monotonic() + timeout
        last, changed = -1, time.monotonic()
        while True:
            stats = self.stats()
            now = time.monotonic()
            if stats["count"] != last:
                last, changed = stats["count"], now
            if stats["count"] >= n or (stats["count"] > 0 and now - changed > stall):
                return stats
            if now > deadline:
                return stats  # the caller reports the shortfall
            time.sleep(0.2)


def workdir(keep: bool, prefix: str = "na-bench-") -> contextlib.AbstractContextManager[Path]:
    """A temporary directory for data dirs and logs (kept with ``--keep``)."""
    if keep:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        return contextlib.nullcontext(path)
    return _tmp(prefix)


@contextlib.contextmanager
def _tmp(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def machine(kafka_version: str) -> dict[str, str]:
    """What the numbers were measured on."""
    import aiokafka
    import faust

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    try:
        head = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        head = "unknown"
    return {
        "commit": head,
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka": kafka_version,
        "faust-streaming": faust.__version__,
        "aiokafka": aiokafka.__version__,
    }
