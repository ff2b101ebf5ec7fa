"""Inspecting and redriving the dead-letter topics.

``list`` summarises a DLQ; ``redrive`` re-submits selected dead letters and
leaves the DLQ itself untouched (it is read with a group-less consumer, so
no offsets move and a redrive can be repeated).

- Deliveries DLQ: each selected delivery goes back to the deliveries topic
  with its original dedup key, so one that succeeded in the meantime is not
  sent twice. It takes the action's *current* definition as the workers hold
  it (the actions changelog: the config topic also carries refused records)
  — the usual fix is an action's config; a deleted, refused or disabled
  action is skipped and reported. Attempts, tier and queue position start afresh.
- Events DLQ: each selected event goes back, byte for byte, to the topic it
  came from (``na-origin-topic``), with the producer's own headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from notification_actions.models import NotificationAction
from notification_actions.settings import Settings
from notification_actions.kafka import headers as h
from notification_actions.models.delivery import Delivery

__all__ = ["DeadLetter", "Filters", "read_dead_letters", "redrive", "summarise"]


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    raw_headers: list[tuple[str, bytes]]

    @property
    def error_class(self) -> str:
        return self.headers.get(h.ERROR_CLASS, "?")


@dataclass(frozen=True)
class Filters:
    organization_id: int | None = None
    action_id: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def accept(self, letter: DeadLetter) -> bool:
        hd = letter.headers
        if self.organization_id is not None and hd.get(h.ORGANIZATION_ID) != str(self.organization_id):
            if _event_org(letter) != self.organization_id:
                return False
        if self.action_id is not None and hd.get(h.ACTION_ID) != self.action_id:
            return False
        if self.error_class is not None and letter.error_class != self.error_class:
            return False
        when = letter.timestamp_ms / 1000
        if self.since is not None and when < self.since.timestamp():
            return False
        if self.until is not None and when >= self.until.timestamp():
            return False
        return True


def _event_org(letter: DeadLetter) -> int | None:
    """An events-DLQ record's organization, when its value is readable enough to say."""
    try:
        doc = orjson.loads(letter.value or b"")
        org = doc.get("organization_id") if isinstance(doc, dict) else None
        return org if isinstance(org, int) else None
    except orjson.JSONDecodeError:
        return None


async def read_dead_letters(
    settings: Settings, topic: str, filters: Filters = Filters(), timeout: float = 60.0
) -> list[DeadLetter]:
    """Every record of ``topic`` up to its current end that ``filters`` accepts."""
    from notification_actions.kafka.io import read_to_end

    out = []
    for r in await read_to_end(settings, topic, timeout):
        raw = list(r.headers or [])
        letter = DeadLetter(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, h.decode(raw), raw)
        if filters.accept(letter):
            out.append(letter)
    return sorted(out, key=lambda d: (d.timestamp_ms, d.partition, d.offset))


def summarise(letters: list[DeadLetter]) -> dict[str, Counter]:
    """Counts by action, service, error class (and code), and origin topic."""
    by: dict[str, Counter] = {"action": Counter(), "service": Counter(), "error": Counter(), "origin": Counter()}
    for letter in letters:
        hd = letter.headers
        by["error"][f"{letter.error_class} {hd.get(h.ERROR_CODE, '')}".strip()] += 1
        by["origin"][hd.get(h.ORIGIN_TOPIC, "?")] += 1
        if h.ACTION_ID in hd:
            by["action"][hd[h.ACTION_ID]] += 1
            try:
                service = orjson.loads(letter.value or b"")["action"]["service_type"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                service = "?"
            by["service"][service] += 1
    return by


@dataclass
class RedriveReport:
    sent: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    planned: list[tuple[str, str]] = field(default_factory=list)  # (topic, what) for --dry-run


def plan_deliveries(
    letters: list[DeadLetter], actions: dict[str, NotificationAction], report: RedriveReport
) -> Iterator[tuple[str, bytes, bytes]]:
    """``(topic-less) key, value`` pairs to re-submit for deliveries-DLQ records."""
    for letter in letters:
        where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
        try:
            delivery = Delivery.from_bytes(letter.value or b"")
        except Exception:
            report.skipped.append((where, "not a delivery (undecodable); fix or drop it by hand"))
            continue
        current = actions.get(delivery.action.id)
        if current is None:
            report.skipped.append((delivery.dedup_key, f"action {delivery.action.id} no longer exists"))
            continue
        if not current.enabled:
            report.skipped.append((delivery.dedup_key, f"action {delivery.action.id} is disabled"))
            continue
        fresh = delivery.model_copy(update={
            "action": current, "attempt": 1, "first_attempt_at": None, "last_error": None, "seq": None, "tier": None,
            "force": False,
        })
        yield delivery.dedup_key, fresh.target_key.encode(), fresh.to_bytes()


async def redrive(
    settings: Settings,
    letters: list[DeadLetter],
    *,
    events: bool,
    dry_run: bool,
    progress: Callable[[int], None] = lambda n: None,
) -> RedriveReport:
    """Re-submit ``letters`` (see the module docstring); the DLQ is not changed."""
    from notification_actions.kafka.io import publish
    from notification_actions.tables.state import load_state

    report = RedriveReport()
    if events:
        plan = []
        for letter in letters:
            origin = letter.headers.get(h.ORIGIN_TOPIC)
            if not origin:
                report.skipped.append((f"{letter.topic}[{letter.partition}]@{letter.offset}", "no na-origin-topic"))
                continue
            kept = [(k, v) for k, v in letter.raw_headers if not k.startswith("na-")]
            kept.append(("na-redriven-from", f"{letter.topic}[{letter.partition}]@{letter.offset}".encode()))
            plan.append((origin, letter.key, letter.value, kept))
    else:
        actions = (await load_state(settings, integrations=False, directories=False)).actions
        plan = [(settings.deliveries_topic, key, value, [("na-redriven-from", dedup.encode())])
                for dedup, key, value in plan_deliveries(letters, actions, report)]
    if dry_run:
        report.planned = [(topic, (key or b"").decode(errors="replace")) for topic, key, _, _ in plan]
        return report
    for topic in sorted({p[0] for p in plan}):
        records = [(key, value, hdrs) for t, key, value, hdrs in plan if t == topic]
        for start in range(0, len(records), 500):
            chunk = records[start:start + 500]
            report.sent += await publish(settings, topic, chunk)
            progress(len(chunk))
    return report
