"""The results table, the ratios against the goals, and docs/benchmarks.md."""

from __future__ import annotations

import math
import re
from pathlib import Path

from bench.plan import Plan, Results

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _fmt(v: float, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:,.{digits}f}"


def _runs(r: Results, key: str, digits: int) -> str:
    return ", ".join(_fmt(v, digits) for v in r.values.get(key, []))


def rows(r: Results, plan: Plan) -> list[tuple[str, str, str, str]]:
    """``(scenario, metric, median, every run)`` rows."""
    out = []

    def row(scenario: str, metric: str, key: str, digits: int = 0) -> None:
        if r.has(key):
            out.append((scenario, metric, _fmt(r.median(key), digits), _runs(r, key, digits)))

    row("ceiling: aiokafka consume + orjson decode", "events/s", "ceiling")
    for level in plan.levels:
        m = level.actions
        label = f"matching, M={m:,} ({level.orgs:,} orgs)"
        row(label, "events/s", f"matching@{m}")
        row(label, "CPU µs/event (worker)", f"cpu_us@{m}")
        row(label, "ceiling beside it, events/s", f"ceiling@{m}")
    for level in plan.levels:
        m = level.actions
        row(f"load {m:,} actions (config topic → index)", "s (cumulative level)", f"load_s@{m}", 1)
        row(f"load {m:,} actions", "actions/s", f"load_per_s@{m}")
        row(f"restart, RocksDB, M={m:,}", "s to /readyz 200", f"ready_s@{m}", 1)
    last = plan.levels[-1].actions
    row(f"bulk load of {last:,} actions to a fresh worker", "s until the index holds them", f"bulk_load_s@{last}", 1)
    row(f"bulk load of {last:,} actions, then SIGTERM", "s to exit", f"bulk_stop_s@{last}", 1)
    row(f"bulk load of {last:,} actions, first restart", "s to /readyz 200", f"first_restart_s@{last}", 1)
    row(f"bulk load of {last:,} actions, second restart", "s to /readyz 200", f"second_restart_s@{last}", 1)
    row(f"memory, M={last:,}", "peak RSS after loading, MB", f"hwm_loaded_mb@{last}", 0)
    row(f"memory, M={last:,}", "peak RSS, restarted + drained, MB", "hwm_restarted_mb", 0)
    row(f"memory, M={last:,}", "RSS, restarted + drained, MB", "rss_restarted_mb", 0)
    for n in plan.process_counts:
        label = f"match-only, 8 partitions, ours × {n} process{'es' if n > 1 else ''}"
        row(label, "events/s", f"tp_ours@{n}")
        row(label, "CPU µs/event (all processes)", f"tp_cpu@{n}")
    for key, label in (("faust_decode", "bare Faust agent: stream.events() + orjson decode"),
                       ("faust_produce", "bare Faust agent: decode + produce one record"),
                       ("arroyo", "sentry-arroyo: decode_event + matching_actions")):
        row(f"{label}, 8 partitions", "events/s", f"tp_{key}")
        row(f"{label}, 8 partitions", "CPU µs/event", f"tp_cpu_{key}")
    row("end to end → fast sink, full speed", "deliveries/s", "e2e_full")
    row("end to end → fast sink, full speed", "CPU µs/delivery (worker)", "e2e_cpu")
    label = "bare Faust agent + one POST per event, our HTTP client (faust-http peer, same run)"
    row(label, "deliveries/s", "e2e_http_peer")
    row(label, "CPU µs/delivery", "e2e_http_peer_cpu")
    for rate in plan.rates:
        for p in ("p50", "p95", "p99", "max"):
            row(f"end to end at {rate:,} events/s", f"{p} produce→fire, ms", f"lat_{p}@{rate}", 1)
    for name, label in (("steady", "steady (one worker)"), ("join", "a second process joins"),
                        ("leave", "the second process leaves")):
        scenario = f"rebalance at {plan.rebalance_rate}/s, {label}"
        row(scenario, "longest gap between fires, s", f"rb_gap_{name}", 2)
        row(scenario, "p99 produce→fire, ms", f"rb_p99_{name}", 0)
        row(scenario, "max produce→fire, ms", f"rb_max_{name}", 0)
    row("slow service (200 ms), many targets", "deliveries/s", "slow", 1)
    row("slow service bound (max_in_flight ÷ latency)", "deliveries/s", "bound", 1)
    row("naive peer (Faust agent awaiting each POST)", "deliveries/s", "naive", 2)
    return out


def ratios(r: Results, plan: Plan) -> list[tuple[str, str, str, str]]:
    """``(ratio, value, goal, met)``: each ratio and goal of the issue."""
    lo, hi = plan.levels[0].actions, plan.levels[-1].actions
    last = hi

    def ok(value: float, good: bool) -> str:
        return "n/a" if math.isnan(value) else ("yes" if good else "NO")

    out = []
    for level in plan.levels:
        m = level.actions
        v = r.median(f"matching@{m}") / r.median(f"ceiling@{m}")
        out.append((f"matching ÷ ceiling (M={m:,})", f"{v:.3f}", "≥ 0.50", ok(v, v >= 0.5)))
    v = r.median(f"matching@{hi}") / r.median(f"matching@{lo}")
    out.append((f"M={hi:,} ÷ M={lo:,} throughput", f"{v:.3f}", "≥ 0.85", ok(v, v >= 0.85)))
    v = r.median("slow") / r.median("bound")
    out.append(("slow service ÷ bound", f"{v:.3f}", "≥ 0.80", ok(v, v >= 0.8)))
    v = r.median("slow") / r.median("naive")
    out.append(("ours ÷ naive (slow service)", f"{v:.1f}", "≥ 20", ok(v, v >= 20)))
    v = r.median("tp_ours@1") / r.median("tp_faust_decode")
    out.append(("match-only ÷ bare Faust decode (8 partitions)", f"{v:.2f}", "≥ 0.9", ok(v, v >= 0.9)))
    v = r.median("e2e_full") / r.median("tp_faust_produce")
    out.append(("end-to-end deliveries/s ÷ bare Faust consume+produce", f"{v:.2f}", "≥ 0.5", ok(v, v >= 0.5)))
    v = r.median("e2e_full") / r.median("e2e_http_peer")
    out.append(("end to end ÷ bare Faust + one POST per event (same run, a floor, no goal)", _fmt(v, 2), "—", "n/a"))
    v = r.median("tp_ours@1") / r.median("tp_arroyo")
    out.append(("match-only ÷ sentry-arroyo match-only (a peer, no goal)", f"{v:.2f}", "—", "n/a"))
    if 2 in plan.process_counts:
        v = r.median("tp_ours@2") / r.median("tp_ours@1")
        out.append(("2 processes ÷ 1 process, match-only", f"{v:.2f}", "≥ 1.7", ok(v, v >= 1.7)))
    most = max(plan.process_counts)
    cpus = [r.median(f"tp_cpu@{n}") for n in plan.process_counts]
    v = cpus[-1] / cpus[0]
    shown = " / ".join(_fmt(c) for c in cpus)
    out.append((f"CPU µs/event at {' / '.join(map(str, plan.process_counts))} processes: {most} ÷ 1 "
                f"(flat: ≤ 1.2)", f"{v:.2f} ({shown})", "≤ 1.2", ok(v, v <= 1.2)))
    low_rate = min(plan.rates)
    v = r.median(f"lat_p99@{low_rate}")
    out.append((f"p99 produce→fire at {low_rate}/s for {plan.long_rate_seconds:g} s (ms)", _fmt(v, 1), "≤ 100",
                ok(v, v <= 100)))
    v = max(r.median(f"hwm_loaded_mb@{last}"), r.median("hwm_restarted_mb"))
    out.append((f"peak RSS with {last:,} actions (MB)", _fmt(v), "≤ 300", ok(v, v <= 300)))
    v = r.median(f"ready_s@{last}")
    out.append((f"ready after restart with {last:,} actions (s)", _fmt(v, 1), "≤ 10", ok(v, v <= 10)))
    first = r.median(f"first_restart_s@{last}")
    out.append((f"first restart after the bulk load of {last:,} actions, ready (s)", _fmt(first, 1), "≤ 10",
                ok(first, first <= 10)))
    return out


def _table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def text(r: Results, plan: Plan, machine: dict[str, str]) -> str:
    """Markdown: the machine, the table, the ratios, the notes and the profile."""
    out = ["Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()), ""]
    out.append(f"Plan: `{plan.label}` — {plan.reps} run(s) per scenario, medians; {plan.events:,} events per "
               f"matching run, {plan.e2e_events:,} per full-speed end-to-end run, fixed rates for "
               f"{plan.rate_seconds:g} s, {plan.targets} webhook targets, {plan.slow_events:,} slow-service "
               f"deliveries, {plan.naive_events} naive-peer deliveries.")
    out += ["", *_table(("scenario", "metric", "median", "runs"), rows(r, plan))]
    out += ["", *_table(("ratio / goal", "measured", "goal", "met"), ratios(r, plan))]
    if r.shortfalls:
        out += ["", "Shortfalls (events that produced no outcome/delivery; rates use what arrived):", ""]
        out += [f"- {line}" for line in r.shortfalls]
    if r.notes:
        out += ["", *[f"- {k}: {v}" for k, v in sorted(r.notes.items())]]
    if r.profile:
        out += ["", "Profile:", "", "```", *r.profile, "```"]
    return "\n".join(out) + "\n"


TEMPLATE = """# Benchmarks

Produced by the harness in `bench/` (see `bench/README.md` for the method):

```sh
python -m bench --record before   # or: --record after; --quick for a smoke run
```

## Before

<!-- bench:before -->
(not run yet)
<!-- /bench:before -->

## After

Numbers after the hot-path fixes: run `python -m bench --record after` on the same machine.

<!-- bench:after -->
(not run yet)
<!-- /bench:after -->
"""


def record(section: str, body: str, doc: Path = DOC) -> None:
    """Replace the ``section`` block of docs/benchmarks.md (created from the template if missing)."""
    current = doc.read_text() if doc.exists() else TEMPLATE
    start, end = f"<!-- bench:{section} -->", f"<!-- /bench:{section} -->"
    if start not in current:
        current = current.rstrip() + f"\n\n## {section.title()}\n\n{start}\n{end}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(pattern.sub(lambda _: f"{start}\n{body.rstrip()}\n{end}", current))
