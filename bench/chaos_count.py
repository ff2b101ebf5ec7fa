"""What the chaos runs count: the events sent, the sink's records, and one result row per scenario.

The sink records every request as ``[arrived, path, webhook-id, event id,
data.seq, status, data.sent_at]`` (``bench/sink.py``). A *delivery* is a 2xx answer; the
dedup key is the ``webhook-id`` header (``<event id>:<action id>``).

- **lost**: an event the broker acknowledged to the harness whose delivery
  never arrived (counted after the drain, which waits with a deadline);
- **duplicates**: deliveries beyond the first per dedup key; those whose first
  delivery came at most ``window`` seconds before a kill -9 (of a worker or a
  broker) were *in flight at the kill*, the others are counted apart;
- **order violations**: per target (path), first deliveries whose ``data.seq``
  is lower than one delivered to that target before;
- **latency**: first delivery's arrival minus ``data.sent_at`` (stamped when the
  harness sent the event; one machine, one clock), p99 and max: how long the
  fault held deliveries up.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

ARRIVED, PATH, KEY, EVENT, SEQ, STATUS, SENT = range(7)


class SinkView:
    """The sink's records, fetched incrementally."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.records: list[list] = []
        self.first_ok: dict[str, list] = {}  # dedup key -> its first 2xx record

    async def refresh(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"{self.url}/_records", params={"since": len(self.records)})
            r.raise_for_status()
            new = r.json()["records"]
        self.records += new
        for rec in new:
            if 200 <= rec[STATUS] < 300 and rec[KEY] is not None:
                self.first_ok.setdefault(rec[KEY], rec)

    async def wait_delivered(self, keys: set[str], timeout: float, poll: float = 0.5) -> set[str]:
        """Wait until every key in ``keys`` was delivered (or the deadline); the keys still missing."""
        deadline = time.monotonic() + timeout
        while True:
            await self.refresh()
            missing = {k for k in keys if k not in self.first_ok}
            if not missing or time.monotonic() >= deadline:
                return missing
            await asyncio.sleep(poll)

    async def wait_quiet(self, prefix: str, quiet: float, timeout: float) -> None:
        """Wait until no request for keys starting with ``prefix`` came for ``quiet`` s (late duplicates)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.refresh()
            last = max((r[ARRIVED] for r in self.records if (r[KEY] or "").startswith(prefix)), default=0.0)
            if time.time() - last >= quiet:
                return
            await asyncio.sleep(0.5)


@dataclass
class Row:
    scenario: str
    events: int
    delivered: int
    lost: int
    duplicates: int
    dups_outside: int  # duplicates not in flight at a kill -9
    order_violations: int
    failed_answers: int  # non-2xx answers the sink gave (the 5xx scenario's)
    seconds: float
    kills: int = 0  # kill -9s (workers and brokers)
    latency_p99: float = float("nan")
    latency_max: float = float("nan")
    not_acked: int = 0  # events the harness could not get acknowledged (not expected)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def dup_ratio(self) -> float:
        return self.duplicates / self.delivered if self.delivered else 0.0

    def ok(self, dup_bound: float = 0.001) -> bool:
        return (self.lost == 0 and self.order_violations == 0 and self.dups_outside == 0
                and self.dup_ratio <= dup_bound)  # fmt: skip


def count(
    scenario: str, records: list[list], expected: dict[str, tuple[int, int]], kills: list[float],
    window: float, seconds: float, not_acked: int = 0,
) -> Row:  # fmt: skip
    """One row from the sink's ``records`` and the ``expected`` dedup keys (key -> (org, seq))."""
    mine = [r for r in records if r[KEY] in expected]
    ok = [r for r in mine if 200 <= r[STATUS] < 300]
    per_key = Counter(r[KEY] for r in ok)
    first: dict[str, list] = {}
    for r in ok:
        first.setdefault(r[KEY], r)
    lost = sorted(set(expected) - set(first))
    dup_keys = [k for k, c in per_key.items() if c > 1]
    duplicates = sum(per_key[k] - 1 for k in dup_keys)

    def at_a_kill(rec: list) -> bool:
        return any(0 <= kill - rec[ARRIVED] <= window or 0 <= rec[ARRIVED] - kill <= 1.0 for kill in kills)

    outside = [k for k in dup_keys if not at_a_kill(first[k])]

    def near(key: str) -> str:
        t = first[key][ARRIVED]
        gap = min((kill - t for kill in kills), key=abs, default=float("nan"))
        when = f"{abs(gap) * 1000:.0f} ms {'before' if gap >= 0 else 'after'}"
        return f"{key} ×{per_key[key]} (first delivered {when} a kill -9)"

    lat = sorted(r[ARRIVED] - r[SENT] for r in first.values() if isinstance(r[SENT], (int, float)))
    violations: list[str] = []
    top: dict[str, tuple[int, str]] = {}  # target -> (highest seq delivered, its key)
    seen: set[str] = set()
    for r in ok:
        if r[KEY] in seen:
            continue
        seen.add(r[KEY])
        seq = r[SEQ] if isinstance(r[SEQ], int) else expected[r[KEY]][1]
        high = top.get(r[PATH])
        if high is not None and seq < high[0]:
            violations.append(f"{r[PATH]}: {r[KEY]} (seq {seq}) after {high[1]} (seq {high[0]})")
        else:
            top[r[PATH]] = (seq, r[KEY])
    return Row(
        scenario=scenario, events=len(expected), delivered=len(first), lost=len(lost), duplicates=duplicates,
        dups_outside=sum(per_key[k] - 1 for k in outside), order_violations=len(violations),
        failed_answers=sum(1 for r in mine if not 200 <= r[STATUS] < 300), seconds=seconds, not_acked=not_acked,
        kills=len(kills), latency_p99=lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
        latency_max=lat[-1] if lat else float("nan"),
        examples={"lost": lost[:10], "duplicates": [near(k) for k in sorted(dup_keys)][:10],
                  "duplicates outside a kill -9": sorted(outside)[:10], "order violations": violations[:10]},
    )  # fmt: skip


HEADER = ("scenario", "events", "delivered", "lost", "duplicates", "dup %", "kill -9s",
          "dups not in flight at a kill -9", "order violations", "5xx answers", "latency p99 / max s",
          "s", "goal met")  # fmt: skip


def total(rows: list[Row]) -> Row:
    """The sum of ``rows`` (latency: the worst)."""
    def add(name: str) -> int | float:
        return sum(getattr(r, name) for r in rows)

    return Row(
        scenario="all scenarios", events=add("events"), delivered=add("delivered"), lost=add("lost"),
        duplicates=add("duplicates"), dups_outside=add("dups_outside"), order_violations=add("order_violations"),
        failed_answers=add("failed_answers"), seconds=add("seconds"), kills=add("kills"),
        latency_p99=max((r.latency_p99 for r in rows), default=float("nan")),
        latency_max=max((r.latency_max for r in rows), default=float("nan")), not_acked=add("not_acked"),
    )  # fmt: skip


def table(rows: list[Row]) -> str:
    """The markdown table of ``rows``, with a total line when there are several."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in rows + ([total(rows)] if len(rows) > 1 else []):
        cells = (r.scenario, f"{r.events:,}", f"{r.delivered:,}", f"{r.lost:,}", f"{r.duplicates:,}",
                 f"{100 * r.dup_ratio:.2f}", f"{r.kills}", f"{r.dups_outside:,}", f"{r.order_violations:,}",
                 f"{r.failed_answers:,}", f"{r.latency_p99:.1f} / {r.latency_max:.1f}", f"{r.seconds:.0f}",
                 "yes" if r.ok() else "**NO**")  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(rows: list[Row]) -> list[str]:
    """Examples of every lost, duplicated-outside-a-kill and reordered delivery, per scenario."""
    out = []
    for r in rows:
        if r.not_acked:
            out.append(f"- {r.scenario}: {r.not_acked} event(s) never acknowledged by Kafka (not counted)")
        for what, keys in r.examples.items():
            if keys:
                out.append(f"- {r.scenario}, {what} (first {len(keys)}): " + "; ".join(f"`{k}`" for k in keys))
    return out
