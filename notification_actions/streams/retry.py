"""What follows an attempt, and how a delivery is parked in a retry tier.

``fire()`` gives one :class:`Attempt`; :meth:`RetryPolicy.decide` — the one
place the retry decision is taken — turns it, with the delivery, into a
:class:`Decision`:

- ``ok`` — it succeeded;
- ``dead`` — a permanent failure (or anything but a ``RetryableDeliveryError``),
  or past ``max_attempts`` or ``max_delivery_age_seconds``: dead-letter it;
- ``quick`` — a retryable failure gets up to ``quick_retries`` in-process
  attempts with jittered exponential backoff (``quick_retry_base_seconds``
  doubling; a ``Retry-After`` is honoured when it is at most
  ``quick_retry_cap_seconds``). Rate limiting (HTTP 429, Slack's
  ``ratelimited``) waits without spending that budget;
- ``park`` in tier *n* — then the delivery moves to the retry tiers
  (``retry_delays_seconds``, one topic each, each retry one tier further, the
  last tier repeating) until one of the above.

Waits are bounded whatever the service says (it runs the endpoint): an
unusable ``retry_after`` (not finite, negative) counts as absent; an
in-process wait is at most ``quick_retry_cap_seconds``; a longer one parks in
the first tier (from the next one on) whose delay covers it, and never waits
longer than that tier's delay — or the last tier's, when none covers it. Each
tier's topic is paused until its head is due (``delay.py``), so a wait longer
than the tier's own delay would hold up every delivery behind it, whatever
its tenant. A tier index read from a delivery or a circuit that is past the
configured tiers (``RETRY_DELAYS_SECONDS`` was shortened) is the last tier
(:meth:`RetryPolicy.tier`).

Attempt count, first-attempt time, due time, tier and the last error travel
in headers (``na-attempts``, ``na-first-attempt-at``, ``na-due-at``,
``na-tier``, ``na-last-error``) as well as in the delivery itself.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Literal

import faust

from notification_actions.errors import RetryableDeliveryError
from notification_actions.models import Integration
from notification_actions.registrations.base import FireResult
from notification_actions.settings import Settings
from notification_actions.kafka import headers as h
from notification_actions.kafka.produced import send
from notification_actions.models.delivery import Delivery

__all__ = ["Attempt", "Decision", "RetryPolicy", "RetryTiers", "usable_wait"]

RATE_LIMIT_CODES = {"429", "ratelimited", "rate_limited"}


@dataclass(frozen=True)
class Attempt:
    """One ``fire()``: what the service answered or the error, how long it took, and
    the integration it was fired with (to mask its credentials in what is recorded)."""

    result: FireResult | None
    error: Exception | None
    latency_ms: float
    integration: Integration | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Decision:
    kind: Literal["ok", "quick", "park", "dead"]
    wait: float = 0.0        # seconds: in-process sleep (quick) or tier delay (park)
    tier: int | None = None  # park: the tier to wait in
    rate_limited: bool = False


def usable_wait(seconds: object) -> float | None:
    """``seconds`` if it is a finite, non-negative number of seconds, else ``None`` (absent)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return float(seconds)


class RetryPolicy:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def tier(self, tier: int) -> int:
        """``tier`` as an index of the configured tiers: one past the last is the last."""
        return min(max(tier, 0), len(self.settings.retry_delays_seconds) - 1)

    def tier_delay(self, tier: int) -> float:
        """The delay of tier ``tier`` (read through :meth:`tier`)."""
        return self.settings.retry_delays_seconds[self.tier(tier)]

    def decide(self, delivery: Delivery, attempt: Attempt, quick_used: int, now: float | None = None) -> Decision:
        """The next step for ``delivery`` after ``attempt``, with ``quick_used`` quick retries spent."""
        if attempt.ok:
            return Decision("ok")
        error = attempt.error
        if not isinstance(error, RetryableDeliveryError):
            return Decision("dead")
        s = self.settings
        now = time.time() if now is None else now
        if delivery.attempt >= s.max_attempts or now - delivery.matched_at > s.max_delivery_age_seconds:
            return Decision("dead")
        retry_after = usable_wait(getattr(error, "retry_after", None))
        rate_limited = (error.code or "") in RATE_LIMIT_CODES or error.status == 429
        if retry_after is not None:
            wait = retry_after
        else:
            # full jitter (AWS architecture blog): uniform in [base·2^n / 2, base·2^n]
            backoff = s.quick_retry_base_seconds * (2 ** quick_used)
            wait = random.uniform(backoff / 2, backoff)
        if wait <= s.quick_retry_cap_seconds and (rate_limited or quick_used < s.quick_retries):
            return Decision("quick", wait=wait, rate_limited=rate_limited)
        delays = s.retry_delays_seconds
        last = len(delays) - 1
        tier = 0 if delivery.tier is None else min(self.tier(delivery.tier) + 1, last)
        wait = delays[tier]
        if retry_after is not None and retry_after > wait:
            while tier < last and delays[tier] < retry_after:
                tier += 1
            wait = min(retry_after, delays[tier])
        return Decision("park", wait=wait, tier=tier)


class RetryTiers:
    """Sends deliveries to the retry tier topics (the delivery is acked once the broker has them)."""

    def __init__(self, topics: list[faust.TopicT]) -> None:
        self.topics = topics

    async def send(self, key: bytes, delivery: Delivery, *, wait: float) -> float:
        """Write ``delivery`` to the topic of the tier it waits in (``delivery.tier``), due in ``wait`` s.

        The caller reads the tier through ``RetryPolicy.tier`` and bounds ``wait``; a tier past
        the topics is the last one here too, and ``wait`` is never negative or infinite."""
        tier = delivery.tier
        if tier is None:
            raise ValueError(f"delivery {delivery.dedup_key} has no retry tier to wait in")
        if not 0 <= tier < len(self.topics):
            tier = min(max(tier, 0), len(self.topics) - 1)
            delivery = delivery.model_copy(update={"tier": tier})
        wait = usable_wait(wait) or 0.0
        due = time.time() + wait
        await send(
            self.topics[tier],
            cut=True,  # too large for the broker: kept, cut; it comes back undecodable, to the deliveries DLQ
            key=key,
            value=delivery.to_bytes(),
            headers=h.encode(
                {
                    h.DUE_AT: repr(due),
                    h.TIER: tier,
                    h.ATTEMPTS: delivery.attempt - 1,
                    h.FIRST_ATTEMPT_AT: h.iso(delivery.first_attempt_at),
                    h.LAST_ERROR: delivery.last_error,
                    h.ACTION_ID: delivery.action.id,
                    h.ORGANIZATION_ID: delivery.action.organization_id,
                    h.DEDUP_KEY: delivery.dedup_key,
                }
            ),
        )
        return due
