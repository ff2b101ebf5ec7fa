"""A tenant's endpoint cannot make the worker wait for ever, nor for longer than its bounds.

Every wait read from a response (``Retry-After`` as seconds or an HTTP-date, a
JSON ``retry_after``, ``x-ratelimit-reset(-after)`` on a 2xx or an error) is
ignored when it is not a finite, non-negative number, and cut to bounds: an
in-process retry never sleeps longer than ``QUICK_RETRY_CAP_SECONDS``, a pacing
hold never longer than ``MAX_PACING_HOLD_SECONDS``, a retry-tier wait never
longer than the last tier's delay — and never longer than the delay of the tier
it waits in, because a record not yet due pauses its whole tier partition (for
every tenant whose retries share it).

Before: ``Retry-After: inf`` parked the delivery due at ``inf`` (never back,
its tier partition paused for good); ``x-ratelimit-reset-after: 1e12`` on a 204
held the target for 1e12 s (its next delivery slept in memory, its partition's
commits stuck behind it); an HTTP-date in year 9999 paused tier 0 for everyone.
"""

from __future__ import annotations

import math
import time

import httpx
import orjson
import pytest
from aiokafka.partitioner import murmur2

from notification_actions.errors import RetryableDeliveryError
from notification_actions.models import NotificationAction, decode_event
from notification_actions.models.delivery import Delivery, Origin
from notification_actions.registrations.support import http
from notification_actions.settings import Settings
from notification_actions.streams import delay, pacing
from notification_actions.streams.pacing import Pacer
from notification_actions.streams.retry import Attempt, RetryPolicy
from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.fakes.http_sink import Answer
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event

URL = "https://hooks.example.com/x"
ONE_DAY = 86_400.0
HOLD_BOUND = 60.0  # the longest pacing hold (pacing.MAX_PACING_HOLD_SECONDS)
HELD = 10.0  # the hostile pipeline's MAX_PACING_HOLD_SECONDS (tests/hostile/conftest.py)
FAR_DATE = "Fri, 31 Dec 9999 23:59:59 GMT"
NOT_A_WAIT = ["inf", "Infinity", "-inf", "nan", "NaN", "-1", "-0.5"]
HUGE = ["1e12", "1e308", "9" * 400, FAR_DATE]


def response(status: int, headers: dict, body: bytes = b"") -> httpx.Response:
    return httpx.Response(status, headers=headers, content=body, request=httpx.Request("POST", URL))


def bucket(value: str, name: str = "x-ratelimit-reset-after") -> httpx.Response:
    return response(204, {"x-ratelimit-remaining": "0", name: value})


# --- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", NOT_A_WAIT)
def test_a_wait_that_is_not_a_finite_non_negative_number_is_absent(value):
    assert http.retry_after_seconds(response(429, {"retry-after": value})) is None
    assert http.bucket_empty_for(bucket(value)) is None
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": value}
    assert http.retry_after_seconds(response(403, exhausted)) in (None, 0.0)  # epoch "-1" is simply past
    assert http.bucket_empty_for(bucket(value, "x-ratelimit-reset")) in (None, 0.0)


@pytest.mark.parametrize("body", [b'{"retry_after": -5}', b'{"retry_after": 1e400}', b'{"retry_after": NaN}',
                                  b'{"retry_after": "inf"}'])
def test_a_json_retry_after_that_is_not_a_wait_is_absent(body):
    assert http.retry_after_seconds(response(429, {}, body)) is None


@pytest.mark.parametrize("value", HUGE)
def test_a_huge_wait_is_cut_to_a_day(value):
    got = http.retry_after_seconds(response(429, {"retry-after": value}))
    assert got is not None and math.isfinite(got) and got <= ONE_DAY
    if value != FAR_DATE:
        after = http.bucket_empty_for(bucket(value))
        assert after is not None and math.isfinite(after) and after <= ONE_DAY
    epoch = http.retry_after_seconds(response(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e300"}))
    assert epoch is not None and epoch <= ONE_DAY
    assert http.retry_after_seconds(response(429, {}, b'{"retry_after": 1e300}')) <= ONE_DAY
    assert http.MAX_RESPONSE_WAIT_SECONDS <= ONE_DAY


def test_ordinary_waits_are_read_as_before():
    assert http.retry_after_seconds(response(429, {"retry-after": "30"})) == 30.0
    assert http.retry_after_seconds(response(429, {"retry-after": "1.5"})) == 1.5
    assert http.retry_after_seconds(response(429, {"retry-after": "Fri, 01 Jan 2000 00:00:00 GMT"})) == 0.0  # past
    assert http.bucket_empty_for(bucket("1.5")) == 1.5


# --- the pipeline's own bounds --------------------------------------------------------------------

def _settings() -> Settings:
    return Settings(_env_file=None, quick_retries=2, quick_retry_base_seconds=0.5, quick_retry_cap_seconds=10.0,
                    retry_delays_seconds=[30.0, 120.0, 600.0], max_attempts=10)


def _delivery(**changes) -> Delivery:
    d = Delivery.build(
        decode_event(orjson.dumps(event("e1", 1, trigger="audit-log")), topic_trigger=None, max_bytes=1 << 20),
        NotificationAction.model_validate(action("a1", 1, URL)),
        Origin(topic="events.audit-log", partition=0, offset=7),
    )
    return d.model_copy(update=changes)


@pytest.mark.parametrize("retry_after", [math.inf, math.nan, -1.0, -math.inf])
def test_a_registration_s_unusable_retry_after_is_treated_as_absent(retry_after):
    error = RetryableDeliveryError("429", status=429, retry_after=retry_after)
    decision = RetryPolicy(_settings()).decide(_delivery(), Attempt(None, error, 1.0), 0)
    assert decision.kind == "quick" and 0.25 <= decision.wait <= 0.5


@pytest.mark.parametrize("retry_after", [1e12, 1e308, 700.0])
def test_a_long_retry_after_waits_in_a_tier_never_longer_than_the_last_delay(retry_after):
    error = RetryableDeliveryError("503", status=503, retry_after=retry_after)
    decision = RetryPolicy(_settings()).decide(_delivery(), Attempt(None, error, 1.0), 0)
    assert (decision.kind, decision.tier, decision.wait) == ("park", 2, 600.0)


def test_a_retry_after_waits_in_the_first_tier_that_waits_that_long():
    error = RetryableDeliveryError("503", status=503, retry_after=200.0)
    decision = RetryPolicy(_settings()).decide(_delivery(), Attempt(None, error, 1.0), 0)
    assert (decision.kind, decision.tier, decision.wait) == ("park", 2, 200.0)  # tier 2 waits 600 s >= 200 s
    for tier in range(3):
        d = RetryPolicy(_settings()).decide(_delivery(tier=tier), Attempt(None, error, 1.0), 2)
        assert d.wait <= _settings().retry_delays_seconds[d.tier]


@pytest.mark.parametrize("seconds", [1e12, 1e308])
def test_a_pacing_hold_is_cut(seconds):
    pacer = Pacer()
    pacer.hold("t", seconds)
    assert 0 < pacer.held_for("t") <= pacing.MAX_PACING_HOLD_SECONDS <= HOLD_BOUND


@pytest.mark.parametrize("seconds", [math.inf, math.nan, -1.0, -math.inf])
def test_an_unusable_pacing_hold_is_ignored(seconds):
    pacer = Pacer()
    pacer.hold("t", seconds)
    assert pacer.held_for("t") == 0.0


@pytest.mark.parametrize("due", ["inf", "1e308", repr(time.time() + 10 * ONE_DAY), "nan", "garbage"])
def test_a_tier_partition_is_paused_no_longer_than_the_tier_s_delay(due):
    now = time.time()
    wait = delay.pause_for([("na-due-at", due.encode())], written_at=now - 1, tier_delay=30.0, now=now)
    assert 0.0 <= wait <= 29.0 + 1e-6


# --- end to end -----------------------------------------------------------------------------------

async def test_retry_after_inf_then_200_is_delivered_soon(pipeline, sink):
    org = new_org()
    path = f"/retry-inf/{org}"
    sink.script(path, [(429, {"Retry-After": "inf"}, {"error": "slow down"}), (200, {}, {"ok": True})])
    await pipeline.put_actions(action(f"ri{org}", org, f"{sink.url}{path}"))
    pipeline.wait_actions(org, lambda a: f"ri{org}" in a)
    await pipeline.publish(event(f"e{org}", org))
    first, second = await sink.wait_for(2, 30, path_prefix=path)  # before: the second never came
    assert second.arrived - first.arrived < 11  # an in-process retry: at most QUICK_RETRY_CAP_SECONDS
    await bystander_still_served(pipeline, sink)


async def test_an_empty_bucket_for_1e12_seconds_holds_its_target_no_longer_than_the_bound(pipeline, sink):
    org = new_org()
    path = f"/discord-hold/{org}"
    sink.script(path, [(204, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1e12"}, None)])
    await pipeline.put_integration({"id": f"dh{org}", "organization_id": org, "provider": "discord",
                                    "credentials": {"webhook_url": f"{sink.url}{path}/token"}})
    await pipeline.put_actions({"id": f"dh{org}", "organization_id": org, "trigger_type": "audit-log",
                                "service_type": "discord", "target_type": "specific",
                                "target_identifier": "#alerts", "integration_id": f"dh{org}"})
    pipeline.wait_actions(org, lambda a: f"dh{org}" in a)
    await pipeline.publish(*(event(f"e{org}-{i}", org) for i in range(3)))
    await sink.wait_for(1, 30, path_prefix=path)
    await bystander_still_served(pipeline, sink)  # while the hostile target is held
    got = await sink.wait_for(3, HELD + 30, path_prefix=path)  # before: 1 of 3, for ever
    assert got[1].arrived - got[0].arrived <= HELD + 5
    assert [r.json()["embeds"][0]["footer"]["text"].rsplit(" ", 1)[1] for r in got] == [
        f"e{org}-{i}" for i in range(3)]


def _tier_partition(url: str, org: int, action_id: str, partitions: int = 4) -> int:
    key = NotificationAction.model_validate(action(action_id, org, url)).target_key().encode()
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def test_a_retry_after_in_year_9999_does_not_pause_other_tenants_retries(short_tiers, sink):
    pipe = short_tiers
    hostile = new_org()
    hostile_url = f"{sink.url}/year-9999/{hostile}"
    sink.route(f"/year-9999/{hostile}", lambda r: Answer(429, {"Retry-After": FAR_DATE}, {"error": "later"}))
    await pipe.put_actions(action(f"y{hostile}", hostile, hostile_url))
    pipe.wait_actions(hostile, lambda a: f"y{hostile}" in a)
    await pipe.publish(event(f"e{hostile}", hostile))
    key = f"e{hostile}:y{hostile}"
    await consume_until(pipe.bootstrap, pipe.topic("outcomes"),
                        lambda rs: any(r.key == key.encode() for r in rs), timeout=30)

    # A bystander whose first attempt fails waits in tier 0, in the hostile target's partition of it.
    other = new_org()
    partition = _tier_partition(hostile_url, hostile, f"y{hostile}")
    url = next(u for i in range(1000) if _tier_partition(u := f"{sink.url}/after-9999/{other}/{i}", other,
                                                          f"b{other}") == partition)
    sink.script(url.removeprefix(sink.url), [(503, {}, {"error": "busy"})])
    await pipe.put_actions(action(f"b{other}", other, url))
    pipe.wait_actions(other, lambda a: f"b{other}" in a)
    await pipe.publish(event(f"e{other}", other))
    got = await sink.wait_for(2, 20, path_prefix=url.removeprefix(sink.url))  # before: the retry never came back
    assert got[1].arrived - got[0].arrived < 10
    assert pipe.worker.proc.poll() is None
