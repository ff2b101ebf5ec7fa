"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) into top frames."""

from __future__ import annotations

import re
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Frames every sample passes through on its way to the real work.
_PLUMBING = (
    "<module> (", "main (notification_actions/cli.py)", "worker (notification_actions/cli.py)", "run_worker (",
    "Command.", "Context.invoke (", "Group.invoke (", "Worker.execute_from_commandline (", ".run_until_complete (",
    ".run_forever (", "._run_once (", "Handle._run (", "Thread._bootstrap", "WorkerThread.run (", "Thread.run (",
)


def _plumbing(frame: str) -> bool:
    return any(part in frame for part in _PLUMBING)


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "notification_actions/", "/lib/python3"):
        if marker in path:
            path = path[path.index(marker):].replace("site-packages/", "")
            break
    return f"{m['func']} ({path})"


def top_frames(raw: str, n: int = 15) -> list[str]:
    """Lines describing the hottest frames: self time overall, inclusive time in our package."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";") if f.strip() and "(" in f]
        if not frames:
            continue
        k = int(count)
        total += k
        own[frames[-1]] += k
        for f in set(frames):
            inclusive[f] += k
    if total == 0:
        return ["(no samples)"]
    out = [f"{total} samples (active, non-idle threads)", "", "self time (leaf frames):"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in own.most_common(n)]
    ours = [(f, c) for f, c in inclusive.most_common()
            if ("notification_actions/" in f or "bench/" in f) and not _plumbing(f)]
    out += ["", "inclusive time, notification_actions frames:"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in ours[:n]]
    lib = [(f, c) for f, c in inclusive.most_common() if "notification_actions/" not in f and not _plumbing(f)]
    out += ["", "inclusive time, library frames:"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in lib[:n]]
    return out
