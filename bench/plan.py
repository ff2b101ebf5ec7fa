"""How big each scenario is (full and ``--quick``), and where results are collected."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Level:
    """``orgs`` organizations × ``per_org`` actions each (one per project): ``actions`` in all."""

    orgs: int
    per_org: int = 10

    @property
    def actions(self) -> int:
        return self.orgs * self.per_org


@dataclass(frozen=True)
class Plan:
    reps: int
    events: int  # events per matching / ceiling / full-speed repetition
    levels: tuple[Level, ...]
    e2e_events: int
    rates: tuple[int, ...]
    rate_seconds: float
    targets: int  # distinct webhook targets (URLs) for the e2e and slow scenarios
    slow_events: int
    slow_delay: float
    naive_events: int
    profile_events: int
    label: str
    tp_events: int = 40_000  # match-only events per throughput run (8 partitions)
    tp_warm: int = 2_000  # handled before the timed ones: joins, recovery, warm-up
    process_counts: tuple[int, ...] = (1, 2, 4)
    long_rate_seconds: float = 30.0  # the lowest fixed rate runs this long (its p99 is a goal)
    rebalance_rate: int = 100  # events/s while a second worker process joins and leaves
    rebalance_steady_seconds: float = 10.0  # each stretch: steady, after the join is ready, after the leave


# N is sized for this pipeline's current speed on a 2-core machine (a full
# run takes ~10 minutes); the action counts are the issue's. The full-speed
# end-to-end run drains 10,000 events: 2,000 lasted ~4 s, a third of it the
# restarted worker's first fetches.
FULL = Plan(
    reps=3, events=5_000, levels=(Level(10), Level(1_000), Level(10_000)),
    e2e_events=10_000, rates=(200, 1_000), rate_seconds=3.0, targets=256,
    slow_events=1_600, slow_delay=0.2, naive_events=20, profile_events=5_000, label="full",
)
QUICK = Plan(
    reps=1, events=300, levels=(Level(2), Level(20)),
    e2e_events=200, rates=(200, 1_000), rate_seconds=0.5, targets=64,
    slow_events=100, slow_delay=0.2, naive_events=4, profile_events=300, label="quick",
    tp_events=1_000, tp_warm=100, process_counts=(1, 2), long_rate_seconds=0.5,
    rebalance_rate=50, rebalance_steady_seconds=2.0,
)


@dataclass
class Results:
    """Every repetition's value per metric; medians are what the report shows."""

    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    profile: list[str] = field(default_factory=list)
    shortfalls: list[str] = field(default_factory=list)

    def expect(self, what: str, got: int, wanted: int) -> None:
        """Note a run where fewer records came out than went in (lost events are results too)."""
        if got != wanted:
            self.shortfalls.append(f"{what}: {got:,} of {wanted:,} arrived")

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        got = [v for v in self.values.get(key, []) if v == v]  # drop NaN
        return statistics.median(got) if got else float("nan")

    def has(self, key: str) -> bool:
        return bool(self.values.get(key))


class Scenario:
    """A group of the bench with its inputs; :meth:`run` repeats :meth:`_rep` ``plan.reps`` times."""

    def __init__(self, bootstrap: str, plan: Plan, work, results: Results, log) -> None:
        self.bootstrap, self.plan, self.work, self.r, self.log = bootstrap, plan, work, results, log

    def run(self) -> None:
        for rep in range(self.plan.reps):
            self._rep(rep)

    def _rep(self, rep: int) -> None:
        raise NotImplementedError
