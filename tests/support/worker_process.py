"""A real ``notification-actions worker`` in a subprocess, configured for one test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from notification_actions.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ISSUED: list[str] = []
"""Every name :func:`unique` gave out in this session: what the session's topics and groups start with."""


def unique(prefix: str = "t") -> str:
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    ISSUED.append(name)
    return name


def worker_env_for(bootstrap: str, prefix: str, tmp: Path, **overrides: str) -> dict[str, str]:
    """Settings for an isolated app: its own group, topics and data dir."""
    env = {
        "NOTIFICATION_ACTIONS_BROKER": f"kafka://{bootstrap}",
        "NOTIFICATION_ACTIONS_APP_ID": f"{prefix}-app",
        "NOTIFICATION_ACTIONS_STORE": "memory://",
        "NOTIFICATION_ACTIONS_DATA_DIR": str(tmp / "data"),
        "NOTIFICATION_ACTIONS_TOPIC_PARTITIONS": "4",
        "NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX": f"{prefix}.events.",
        "NOTIFICATION_ACTIONS_CONFIG_TOPIC": f"{prefix}.config",
        "NOTIFICATION_ACTIONS_INTEGRATIONS_TOPIC": f"{prefix}.integrations",
        "NOTIFICATION_ACTIONS_DIRECTORY_TOPIC": f"{prefix}.directory",
        "NOTIFICATION_ACTIONS_CONFIG_REJECTED_TOPIC": f"{prefix}.config.rejected",
        "NOTIFICATION_ACTIONS_EVENTS_DLQ_TOPIC": f"{prefix}.events.dlq",
        "NOTIFICATION_ACTIONS_DELIVERIES_TOPIC": f"{prefix}.deliveries",
        "NOTIFICATION_ACTIONS_DELIVERIES_DLQ_TOPIC": f"{prefix}.deliveries.dlq",
        "NOTIFICATION_ACTIONS_OUTCOMES_TOPIC": f"{prefix}.outcomes",
        "NOTIFICATION_ACTIONS_REPLAY_TOPIC": f"{prefix}.replay",
        "NOTIFICATION_ACTIONS_BACKFILLS_TOPIC": f"{prefix}.backfills",
        "NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_HTTP": "true",
        "NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_PRIVATE": "true",
        "NOTIFICATION_ACTIONS_API_TOKEN": "test-token",
        "NOTIFICATION_ACTIONS_HTTP_TIMEOUT_SECONDS": "5",
        "NOTIFICATION_ACTIONS_LOG_LEVEL": "info",
    }
    env.update(overrides)
    return env


def settings_from(env: dict[str, str]) -> Settings:
    old = dict(os.environ)
    try:
        os.environ.update(env)
        return Settings(_env_file=None)
    finally:
        os.environ.clear()
        os.environ.update(old)


class WorkerProcess:
    """``python -m notification_actions worker`` with ``env``; logs go to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path, *, web_port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.web_port = web_port or free_port()
        self.args = args
        self.env = {**os.environ, **env, "NOTIFICATION_ACTIONS_WEB_PORT": str(self.web_port)}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notification_actions", "worker", *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def wait_ready(self, timeout: float = 90.0) -> "WorkerProcess":
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.web_port}/readyz"
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: a graceful stop drains and commits."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"worker did not stop within {timeout:.0f}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing drained or committed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
