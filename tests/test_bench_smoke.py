"""The benchmark harness runs end to end (``python -m bench --quick``) and prints every ratio.

A smoke run on the session's broker with tiny sizes: it asserts only that the
harness completes and reports, never how fast anything was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RATIOS = (
    "matching ÷ ceiling",
    "throughput",  # "M=<largest> ÷ M=<smallest> throughput"
    "slow service ÷ bound",
    "ours ÷ naive",
    "p99 produce→fire",
    "peak RSS with",
    "ready after restart with",
    "first restart after the bulk load",
    "match-only ÷ bare Faust decode",
    "end-to-end deliveries/s ÷ bare Faust consume+produce",
    "2 processes ÷ 1 process",
    "CPU µs/event at",
)


@pytest.mark.timeout(420)
def test_bench_quick_completes_and_prints_every_ratio(kafka_bootstrap):
    env = {**os.environ, "NOTIFICATION_ACTIONS_BENCH_BROKER": kafka_bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-profile"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    ratio_rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and " ≥ " in line
                  or line.startswith("| ") and " ≤ " in line]
    for label in RATIOS:
        assert any(label in row for row in ratio_rows), f"ratio {label!r} missing from:\n{done.stdout}"
    assert "ceiling" in done.stdout and "naive peer" in done.stdout
    assert "sentry-arroyo" in done.stdout and "bare Faust agent" in done.stdout
