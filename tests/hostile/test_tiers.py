"""A retry tier removed by a settings change: what waits in it is retried on the last tier.

A delivery parked in tier *n* carries ``tier = n`` (and ``na-tier``), and its
target's circuit remembers the latest tier. Shortening
``RETRY_DELAYS_SECONDS`` left such deliveries in a topic no delay queue read
(they never came back), and ``retry_delays_seconds[circuit.tier]`` raised an
``IndexError`` for the next delivery to that target (which stopped the worker).
Every tier index is now read through ``RetryPolicy.tier``, which maps one past
the list to the last tier, and the delay queue also drains the topics of tiers
that no longer exist, with the last tier's delay.
"""

from __future__ import annotations

import orjson
import pytest

from notification_actions.errors import RetryableDeliveryError
from notification_actions.models import NotificationAction, decode_event
from notification_actions.models.delivery import Delivery, Origin
from notification_actions.settings import Settings
from notification_actions.streams.retry import Attempt, Decision, RetryPolicy
from tests.hostile.conftest import new_org
from tests.support.fakes.http_sink import Answer
from tests.support.kafka import consume_until
from tests.support.pipeline import Pipeline, action, event
from tests.support.worker_process import WorkerProcess, unique, worker_env_for


def _settings(delays: list[float]) -> Settings:
    return Settings(_env_file=None, quick_retries=0, retry_delays_seconds=delays, max_attempts=10)


def _delivery(**changes) -> Delivery:
    d = Delivery.build(
        decode_event(orjson.dumps(event("e1", 1, trigger="audit-log")), topic_trigger=None, max_bytes=1 << 20),
        NotificationAction.model_validate(action("a1", 1, "https://hooks.example.com/x")),
        Origin(topic="events.audit-log", partition=0, offset=7),
    )
    return d.model_copy(update=changes)


@pytest.mark.parametrize("tier", [1, 2, 3, 50])
def test_a_tier_past_the_list_is_the_last_tier(tier):
    policy = RetryPolicy(_settings([5.0]))
    assert policy.tier(tier) == 0 and policy.tier_delay(tier) == 5.0
    error = RetryableDeliveryError("503", status=503)
    assert policy.decide(_delivery(tier=tier, attempt=4), Attempt(None, error, 1.0), 0) == Decision(
        "park", wait=5.0, tier=0)
    two = RetryPolicy(_settings([5.0, 7.0]))
    assert two.tier(tier) == 1 and two.tier_delay(tier) == 7.0


def test_a_negative_tier_is_the_first():
    policy = RetryPolicy(_settings([5.0, 7.0]))
    assert policy.tier(-3) == 0 and policy.tier_delay(-3) == 5.0


def test_the_delay_queue_reads_the_topics_of_removed_tiers_with_the_last_delay():
    from notification_actions.streams.delay import tier_topics

    settings = _settings([5.0])
    base = settings.deliveries_topic
    existing = {f"{base}.retry.0", f"{base}.retry.1", f"{base}.retry.2", f"{base}.retry.x", f"{base}x.retry.3",
                "other.retry.4"}
    assert tier_topics(settings, existing) == {f"{base}.retry.0": 5.0, f"{base}.retry.1": 5.0,
                                               f"{base}.retry.2": 5.0}


async def test_a_delivery_parked_in_tier_2_is_delivered_after_a_restart_with_one_tier(kafka_bootstrap, tmp_path, sink):
    org = new_org()
    path = f"/removed-tier/{org}"
    up = {"now": False}
    sink.route(path, lambda r: Answer(200 if up["now"] else 503, {}, {}))
    env = worker_env_for(kafka_bootstrap, unique(), tmp_path, NOTIFICATION_ACTIONS_QUICK_RETRIES="0",
                         NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS="[1, 1, 60]")
    first = WorkerProcess({**env, "NOTIFICATION_ACTIONS_DATA_DIR": str(tmp_path / "w1")}, tmp_path / "w1.log")
    try:
        first.start().wait_ready()
        pipe = Pipeline(kafka_bootstrap, env, first.web_port)
        await pipe.put_actions(action(f"t{org}", org, f"{sink.url}{path}"))
        pipe.wait_actions(org, lambda a: f"t{org}" in a)
        await pipe.publish(event(f"e{org}-1", org))
        key = f"e{org}-1:t{org}"
        # 503 three times: tier 0, tier 1, then tier 2 (60 s)
        await consume_until(kafka_bootstrap, env["NOTIFICATION_ACTIONS_DELIVERIES_TOPIC"] + ".retry.2",
                            lambda rs: any(r.headers.get("na-dedup-key") == key for r in rs), timeout=60)
        await pipe.publish(event(f"e{org}-2", org))  # behind the open circuit, in tier 2 too
        await consume_until(kafka_bootstrap, env["NOTIFICATION_ACTIONS_DELIVERIES_TOPIC"] + ".retry.2",
                            lambda rs: any(r.headers.get("na-dedup-key") == f"e{org}-2:t{org}" for r in rs),
                            timeout=30)
    finally:
        stopped = first.stop()
    assert stopped == 0, first.log_tail()

    up["now"] = True
    second = WorkerProcess({**env, "NOTIFICATION_ACTIONS_DATA_DIR": str(tmp_path / "w2"),
                            "NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS": "[1]"}, tmp_path / "w2.log")
    try:
        second.start().wait_ready()
        # three 503s for the first before the restart; after it, both, in order (before: neither came back)
        got = await sink.wait_for(5, 30, path_prefix=path)
        assert [r.headers["webhook-id"] for r in got] == [key] * 4 + [f"e{org}-2:t{org}"]
        assert second.proc.poll() is None, second.log_tail()
    finally:
        second.stop()
