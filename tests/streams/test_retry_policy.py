"""RetryPolicy.decide: the one place that says what follows an attempt (ok, quick, park in tier n, dead).

A pure function of the delivery, the attempt and the settings; the end-to-end
retries, tiers and circuits are covered on a real broker in test_failures.py.
"""

from __future__ import annotations

import orjson
import pytest

from notification_actions.errors import PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import NotificationAction, decode_event
from notification_actions.models.delivery import Delivery, Origin
from notification_actions.registrations.base import FireResult
from notification_actions.settings import Settings
from notification_actions.streams.retry import Attempt, Decision, RetryPolicy
from tests.support.pipeline import action, event

NOW = 1_800_000_000.0


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, quick_retries=2, quick_retry_base_seconds=0.5, quick_retry_cap_seconds=10.0,
                    retry_delays_seconds=[30.0, 120.0, 600.0], max_attempts=10, max_delivery_age_seconds=86_400.0,
                    **overrides)


def delivery(**changes) -> Delivery:
    d = Delivery.build(
        decode_event(orjson.dumps(event("e1", 1, trigger="audit-log")), topic_trigger=None, max_bytes=1 << 20),
        NotificationAction.model_validate(action("a1", 1, "https://hooks.example.com/x")),
        Origin(topic="events.audit-log", partition=0, offset=7),
    )
    return d.model_copy(update={"matched_at": NOW - 60, **changes})


def failed(error: Exception) -> Attempt:
    return Attempt(result=None, error=error, latency_ms=12.0)


def decide(d: Delivery, attempt: Attempt, quick_used: int = 0, **overrides) -> Decision:
    return RetryPolicy(settings(**overrides)).decide(d, attempt, quick_used, now=NOW)


def test_a_success_is_ok():
    attempt = Attempt(result=FireResult(status=200), error=None, latency_ms=3.0)
    assert attempt.ok and decide(delivery(), attempt) == Decision("ok")


@pytest.mark.parametrize("error", [PermanentDeliveryError("410 gone", status=410), KeyError("a registration bug")])
def test_anything_but_a_retryable_failure_is_dead_at_once(error):
    attempt = failed(error)
    assert not attempt.ok and decide(delivery(), attempt) == Decision("dead")


def test_a_retryable_failure_gets_quick_retries_with_jittered_doubling_backoff():
    error = RetryableDeliveryError("500", status=500)
    first = decide(delivery(), failed(error), quick_used=0)
    second = decide(delivery(attempt=2), failed(error), quick_used=1)
    assert first.kind == second.kind == "quick" and not first.rate_limited
    assert 0.25 <= first.wait <= 0.5 and 0.5 <= second.wait <= 1.0


def test_once_the_quick_retries_are_spent_it_parks_in_the_next_tier_and_stays_in_the_last():
    error = RetryableDeliveryError("500", status=500)
    assert decide(delivery(attempt=3), failed(error), quick_used=2) == Decision("park", wait=30.0, tier=0)
    assert decide(delivery(attempt=4, tier=0), failed(error), quick_used=2) == Decision("park", wait=120.0, tier=1)
    assert decide(delivery(attempt=5, tier=2), failed(error), quick_used=2) == Decision("park", wait=600.0, tier=2)


def test_rate_limiting_waits_without_spending_the_quick_budget():
    error = RetryableDeliveryError("slow down", status=429, retry_after=2.0)
    assert decide(delivery(), failed(error), quick_used=2) == Decision("quick", wait=2.0, rate_limited=True)


def test_a_retry_after_longer_than_the_cap_parks_for_at_least_that_long():
    error = RetryableDeliveryError("503", status=503, retry_after=200.0)
    # in the first tier whose delay covers it (tier 0 waits 30 s, 1 waits 120 s, 2 waits 600 s): a tier's
    # partition waits for its head, so no wait is longer than the delay of the tier it waits in
    assert decide(delivery(), failed(error)) == Decision("park", wait=200.0, tier=2)


@pytest.mark.parametrize("changes", [{"attempt": 10}, {"matched_at": NOW - 86_401}])
def test_past_the_attempts_or_the_age_limit_a_retryable_failure_is_dead(changes):
    assert decide(delivery(**changes), failed(RetryableDeliveryError("500", status=500))) == Decision("dead")


def test_the_delivery_is_given_new_values_never_changed_in_place():
    d = delivery()
    started = d.first_attempted(NOW)
    retried = started.next_attempt("RetryableDeliveryError: 500")
    parked = retried.queued(4, 1)
    assert (d.first_attempt_at, d.attempt, d.last_error, d.seq, d.tier) == (None, 1, None, None, None)
    assert started.first_attempted(NOW + 5).first_attempt_at == NOW  # the first one stays
    assert (retried.attempt, retried.last_error) == (2, "RetryableDeliveryError: 500")
    assert (parked.seq, parked.tier, parked.attempt) == (4, 1, 2)
    assert parked.out_of_queue().seq is None and parked.out_of_queue().tier == 1 and parked.seq == 4
    assert Delivery.from_bytes(parked.to_bytes()) == parked
