"""The local broker's JVMs as processes: alive or dead (zombies and recycled pids included)."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["is_dead", "jvm_running", "wait_dead"]


def is_dead(pid: int) -> bool:
    """True once no thread of ``pid`` is left (our own child is reaped on the way)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child (no zombie then)
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        # A JVM's main thread turns zombie before its other threads (and its
        # sockets) are gone: dead means no thread is left.
        return state in ("Z", "X") and len(os.listdir(f"/proc/{pid}/task")) <= 1
    except (OSError, IndexError):
        return True


def jvm_running(pid: int, props: Path) -> bool:
    """True if ``pid`` is alive and really a JVM started with ``props`` (pids get recycled)."""
    if is_dead(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"java" in cmdline[0] and str(props).encode() in cmdline


def wait_dead(pids: list[int], deadline: float) -> list[int]:
    """Wait until every pid is dead or ``deadline`` (monotonic) passes; return those still alive."""
    while True:
        alive = [p for p in pids if not is_dead(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)
