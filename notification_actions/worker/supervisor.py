"""``worker --processes N``: N worker processes on one host, supervised by the one the command started.

One Python process runs one event loop on one core; partitions are the unit of
scale, so a host's cores are used by several workers of the same consumer
group. The parent here does what must happen once — logging, the local broker
when none is configured, the connection check and the topics — then starts N
children, each a plain single-process worker of the same group:

- child ``i`` keeps its tables in ``DATA_DIR/p<i>`` and serves ``WEB_PORT + i``
  (a port of 0 stays 0: each picks a free one);
- it is started with the very command line of the parent (``sys.orig_argv``:
  the same interpreter, flags and entry point, so a boot script that registers
  something first does so in the children too), marked by
  ``NOTIFICATION_ACTIONS_WORKER_CHILD=<i>`` so it runs one worker and not N;
- it runs in a session of its own (a terminal's Ctrl-C reaches the parent only,
  which forwards one SIGTERM), and on Linux gets SIGTERM if the parent dies
  without stopping it (``PR_SET_PDEATHSIG``): no orphans after a kill -9;
- a child that exits while the parent is not stopping is restarted after a
  backoff (1 s doubling to 30 s, back to 1 s after it ran 60 s);
- SIGTERM or SIGINT to the parent forwards SIGTERM to every child and waits for
  each to drain and exit; one still running after ``stop_timeout`` is killed,
  and the parent's exit code is then non-zero (as when a child's drain failed).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from notification_actions.settings import Settings

log = logging.getLogger("notification_actions.worker.supervisor")

__all__ = ["CHILD_ENV", "Supervisor", "child_env", "run_processes"]

CHILD_ENV = "NOTIFICATION_ACTIONS_WORKER_CHILD"
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 1.0, 30.0, 60.0
POLL = 0.2
_PR_SET_PDEATHSIG = 1


def child_env(settings: Settings, index: int, *, broker: str | None = None) -> dict[str, str]:
    """The environment overrides of child ``index``: its data dir, its web port, the marker."""
    env = {
        CHILD_ENV: str(index),
        "NOTIFICATION_ACTIONS_DATA_DIR": str(Path(settings.data_dir) / f"p{index}"),
        "NOTIFICATION_ACTIONS_WEB_PORT": str(settings.web_port + index if settings.web_port else 0),
    }
    if broker is not None:
        env["NOTIFICATION_ACTIONS_BROKER"] = broker
    return env


def _child_argv() -> list[str]:
    """The parent's own command line (how it was started), or ``python -m notification_actions worker``."""
    argv = list(getattr(sys, "orig_argv", []))
    if argv and "worker" in argv[1:]:
        return [sys.executable, *argv[1:]]
    return [sys.executable, "-m", "notification_actions", "worker"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the parent's stop still stops the children


@dataclass
class Child:
    index: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Starts, watches and stops the children (see the module's docstring)."""

    def __init__(self, settings: Settings, processes: int, *, broker: str | None = None,
                 stop_timeout: float = 120.0, argv: list[str] | None = None) -> None:
        self.argv = argv or _child_argv()
        self.stop_timeout = stop_timeout
        base = {k: v for k, v in os.environ.items() if k != CHILD_ENV}
        self.children = [Child(i, {**base, **child_env(settings, i, broker=broker)}) for i in range(processes)]
        self.stopping = False

    def _spawn(self, child: Child) -> None:
        Path(child.env["NOTIFICATION_ACTIONS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        child.proc = subprocess.Popen(
            self.argv, env=child.env, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        child.started, child.restart_at = time.monotonic(), None
        log.info("worker process %d started: pid %d, web port %s, data in %s", child.index, child.proc.pid,
                 child.env["NOTIFICATION_ACTIONS_WEB_PORT"], child.env["NOTIFICATION_ACTIONS_DATA_DIR"])

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            log.warning("%s: stopping %d worker process(es)", signal.Signals(signum).name, len(self.children))
        self.stopping = True

    def run(self) -> int:
        """Until SIGTERM/SIGINT; then drain every child. Returns the exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                self._spawn(child)
            while not self.stopping:
                self._watch(time.monotonic())
                time.sleep(POLL)
            return self._stop_all()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _watch(self, now: float) -> None:
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                continue
            assert child.proc is not None
            code = child.proc.poll()
            if code is None:
                continue
            if now - child.started >= HEALTHY_AFTER:
                child.backoff = BACKOFF_FIRST
            log.error("worker process %d (pid %d) exited with %s; restarting it in %.0f s",
                      child.index, child.proc.pid, code, child.backoff)
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, BACKOFF_MAX)

    def _stop_all(self) -> int:
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in live:
            child.proc.send_signal(signal.SIGTERM)
        failed = 0
        deadline = time.monotonic() + self.stop_timeout
        for child in live:
            try:
                code = child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker process %d (pid %d) did not stop within %.0f s: killing it",
                          child.index, child.proc.pid, self.stop_timeout)
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
                failed += 1
                continue
            if code != 0:
                log.error("worker process %d (pid %d) exited with %s while stopping", child.index,
                          child.proc.pid, code)
                failed += 1
            else:
                log.info("worker process %d (pid %d) stopped", child.index, child.proc.pid)
        return 1 if failed else 0


def run_processes(settings: Settings, processes: int, *, broker_configured: bool, stop_timeout: float = 120.0) -> int:
    """``worker --processes N`` in the parent: the once-only steps, then :class:`Supervisor`."""
    from notification_actions.worker.runner import configure, preflight, start_embedded_broker

    configure(settings)
    embedded = start_embedded_broker(settings, broker_configured=broker_configured)
    try:
        preflight(settings)
        # The children reach the broker we started at the default address: none starts another.
        return Supervisor(settings, processes, broker=settings.broker if embedded else None,
                          stop_timeout=stop_timeout).run()
    finally:
        if embedded is not None:
            log.warning("stopping the local Apache Kafka this worker started")
            embedded.stop()
