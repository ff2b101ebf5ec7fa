"""What to do after a failed attempt, and how a delivery is parked in a retry tier.

A retryable failure first gets up to ``quick_retries`` in-process attempts
with jittered exponential backoff (``quick_retry_base_seconds`` doubling; a
``Retry-After`` is honoured when it is at most ``quick_retry_cap_seconds``).
Rate limiting (HTTP 429, Slack's ``ratelimited``) waits without spending that
budget. Then the delivery moves to the retry tiers (``retry_delays_seconds``,
one topic each, each retry one tier further, the last tier repeating) until
it succeeds, fails permanently, or passes ``max_attempts`` or
``max_delivery_age_seconds``: then it is dead-lettered.

Attempt count, first-attempt time, due time, tier and the last error travel
in headers (``na-attempts``, ``na-first-attempt-at``, ``na-due-at``,
``na-tier``, ``na-last-error``) as well as in the delivery itself.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Literal

import faust

from notification_actions.errors import DeliveryError
from notification_actions.settings import Settings
from notification_actions.kafka import headers as h
from notification_actions.models.delivery import Delivery

__all__ = ["Decision", "RetryPolicy", "RetryTiers"]

RATE_LIMIT_CODES = {"429", "ratelimited", "rate_limited"}


@dataclass(frozen=True)
class Decision:
    kind: Literal["quick", "park", "dead"]
    wait: float = 0.0        # seconds: in-process sleep (quick) or tier delay (park)
    tier: int | None = None  # park: the tier to wait in
    rate_limited: bool = False


class RetryPolicy:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def decide(self, delivery: Delivery, error: DeliveryError, quick_used: int, now: float | None = None) -> Decision:
        """The next step for ``delivery`` whose attempt just failed with a retryable ``error``."""
        s = self.settings
        now = time.time() if now is None else now
        if delivery.attempt >= s.max_attempts or now - delivery.matched_at > s.max_delivery_age_seconds:
            return Decision("dead")
        retry_after = getattr(error, "retry_after", None)
        rate_limited = (error.code or "") in RATE_LIMIT_CODES or error.status == 429
        if retry_after is not None:
            wait = retry_after
        else:
            # full jitter (AWS architecture blog): uniform in [base·2^n / 2, base·2^n]
            backoff = s.quick_retry_base_seconds * (2 ** quick_used)
            wait = random.uniform(backoff / 2, backoff)
        if wait <= s.quick_retry_cap_seconds and (rate_limited or quick_used < s.quick_retries):
            return Decision("quick", wait=wait, rate_limited=rate_limited)
        last = len(s.retry_delays_seconds) - 1
        tier = 0 if delivery.tier is None else min(delivery.tier + 1, last)
        return Decision("park", wait=max(s.retry_delays_seconds[tier], retry_after or 0.0), tier=tier)


class RetryTiers:
    """Sends deliveries to the retry tier topics (through Faust's producer, so
    they are flushed before the deliveries offset is committed)."""

    def __init__(self, topics: list[faust.TopicT]) -> None:
        self.topics = topics

    async def send(self, key: bytes, delivery: Delivery, *, tier: int, wait: float) -> float:
        due = time.time() + wait
        delivery.tier = tier
        await self.topics[tier].send(
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
