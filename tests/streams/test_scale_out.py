"""Scale-out under faults, the short version of ``make chaos`` (``bench/chaos.py``).

Three real workers on a three-node cluster this test starts itself (free
ports, torn down after), 8 partitions replicated 3 times, 1,000 events at
50/s to 24 webhook targets of the bench sink: one worker is killed -9, then
the broker coordinating the workers' group is killed -9 and restarted, while
events flow. Counted at the sink: nothing lost, per-target order kept, and
duplicates only of deliveries in flight at a kill -9 (first delivered at
most ``Knobs.dup_window`` s before it), no more of them than one worker can
have in flight (``MAX_IN_FLIGHT``).

The 0.1 % goal of the full run (``docs/reliability.md``) is not asserted
here: one kill -9 re-sends the fires it interrupted — a few, sometimes none —
and 0.1 % of 1,000 is one.
"""

from __future__ import annotations

import time

import pytest

from bench.chaos import SHORT, SHORT_KNOBS, run
from bench.chaos_count import details, table
from notification_actions.settings import Settings

MAX_IN_FLIGHT = Settings(_env_file=None).max_in_flight


@pytest.mark.timeout(280)
def test_three_workers_on_three_brokers_lose_nothing_through_a_worker_and_a_broker_kill(tmp_path):
    started = time.monotonic()
    rows, _ = run(SHORT_KNOBS, SHORT, tmp_path)
    (row,) = rows
    report = "\n".join([table(rows), *details(rows)])
    print(f"\n{report}\n({time.monotonic() - started:.0f} s)")
    assert row.not_acked == 0, report
    assert row.events == 1_000, report
    assert row.lost == 0, report
    assert row.order_violations == 0, report
    assert row.dups_outside == 0, report
    assert row.duplicates <= MAX_IN_FLIGHT, report
