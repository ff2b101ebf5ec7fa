"""Failures end to end: retries, retry tiers, dead letters, circuits, pacing, order.

One worker with short delays (quick retries 0.2 s doubling, tiers 1/2/3 s);
each test uses its own organization and sink paths.
"""

from __future__ import annotations

import itertools
import time

import httpx
import orjson
import pytest

from notification_actions.models import NotificationAction
from tests.support.fakes.http_sink import Answer, HttpSink
from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import FakeSlack
from tests.support.kafka import consume_until
from tests.support.pipeline import Pipeline, action, event, running_pipeline

SLACK_TOKEN = "xoxb-failures-0000000000-slacktoken"
PD_KEY = "R" * 32
_orgs = itertools.count(7000)


@pytest.fixture(scope="module")
def slack(sink):
    return FakeSlack(sink, SLACK_TOKEN)


@pytest.fixture(scope="module")
def pagerduty(sink):
    return FakePagerDuty(sink, [PD_KEY])


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory, slack, pagerduty):
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory.mktemp("failures"),
        NOTIFICATION_ACTIONS_QUICK_RETRIES="2",
        NOTIFICATION_ACTIONS_QUICK_RETRY_BASE_SECONDS="0.2",
        NOTIFICATION_ACTIONS_QUICK_RETRY_CAP_SECONDS="3",
        NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS="[1, 2, 3]",
        NOTIFICATION_ACTIONS_MAX_ATTEMPTS="30",
        NOTIFICATION_ACTIONS_SLACK_API_URL=slack.url,
        NOTIFICATION_ACTIONS_PAGERDUTY_EVENTS_URL=pagerduty.url,
    ) as pipe:
        yield pipe


def outcomes_for(records, key: str) -> list[dict]:
    return [orjson.loads(r.value) for r in records if r.key == key.encode()]


async def wait_outcomes(pipeline: Pipeline, key: str, done, timeout: float = 60) -> list[dict]:
    records = await consume_until(pipeline.bootstrap, pipeline.topic("outcomes"),
                                  lambda rs: done(outcomes_for(rs, key)), timeout=timeout)
    return outcomes_for(records, key)


async def one_webhook(pipeline: Pipeline, sink: HttpSink, name: str, answers=None, route=None) -> tuple[int, str, str]:
    org = next(_orgs)
    path = f"/{name}/{org}"
    if answers:
        sink.script(path, answers)
    if route:
        sink.route(path, route)
    await pipeline.put_actions(action(f"a{org}", org, sink.url + path))
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    await pipeline.publish(event(f"e{org}", org))
    return org, path, f"e{org}:a{org}"


def circuits(pipeline: Pipeline) -> dict:
    r = httpx.get(f"{pipeline.api}/circuits", headers={"Authorization": f"Bearer {pipeline.token}"})
    r.raise_for_status()
    return r.json()["circuits"]


async def test_500_500_200_is_delivered_once_after_three_attempts(pipeline, sink):
    org, path, key = await one_webhook(pipeline, sink, "flaky", answers=[500, 500, 200])
    outcomes = await wait_outcomes(pipeline, key, lambda os: any(o["result"] == "ok" for o in os))
    assert [(o["result"], o["attempt"], o["status"]) for o in outcomes] == [
        ("retry", 1, 500), ("retry", 2, 500), ("ok", 3, 200)]
    assert len(sink.requests_to(path)) == 3


async def test_429_retry_after_is_honoured(pipeline, sink):
    org, path, key = await one_webhook(pipeline, sink, "limited", answers=[(429, {"Retry-After": "2"}, {}), 200])
    first, second = sink.wait_for_sync(2, 30, path_prefix=path)
    assert second.arrived - first.arrived >= 1.95, second.arrived - first.arrived


async def test_400_is_dead_lettered_after_one_attempt_with_every_header(pipeline, sink):
    org, path, key = await one_webhook(pipeline, sink, "bad", answers=[(400, {}, {"error": "bad payload"})])
    dead = await consume_until(pipeline.bootstrap, pipeline.topic("deliveries_dlq"),
                               lambda rs: any(r.headers.get("na-dedup-key") == key for r in rs), timeout=30)
    [record] = [r for r in dead if r.headers.get("na-dedup-key") == key]
    h = record.headers
    assert h["na-error-class"] == "PermanentDeliveryError"
    assert h["na-error-code"] == "400" and "400" in h["na-error-message"]
    assert h["na-attempts"] == "1"
    assert h["na-first-attempt-at"].endswith("Z") and h["na-last-attempt-at"].endswith("Z")
    assert h["na-origin-topic"] == pipeline.events_topic() and h["na-origin-offset"].isdigit()
    assert h["na-origin-partition"].isdigit()
    assert h["na-action-id"] == f"a{org}" and h["na-organization-id"] == str(org)
    assert orjson.loads(record.value)["dedup_key"] == key
    assert len(sink.requests_to(path)) == 1


async def test_a_sink_down_for_a_while_is_reached_through_the_retry_tiers(pipeline, sink):
    up_at = time.monotonic() + 8
    org, path, key = await one_webhook(
        pipeline, sink, "down",
        route=lambda r: Answer(200 if time.monotonic() >= up_at else 503, {}, {}),
    )
    outcomes = await wait_outcomes(pipeline, key, lambda os: any(o["result"] == "ok" for o in os), timeout=90)
    assert [o["result"] for o in outcomes][-1] == "ok"
    assert sum(1 for o in outcomes if o["result"] == "ok") == 1
    assert len(outcomes) >= 4  # 3 in-process attempts, then at least one from a tier
    parked = await consume_until(pipeline.bootstrap, pipeline.env["NOTIFICATION_ACTIONS_DELIVERIES_TOPIC"] + ".retry.0",
                                 lambda rs: any(r.headers.get("na-dedup-key") == key for r in rs), timeout=10)
    [first_park] = [r for r in parked if r.headers.get("na-dedup-key") == key][:1]
    assert first_park.headers["na-tier"] == "0" and first_park.headers["na-attempts"] == "3"
    assert float(first_park.headers["na-due-at"]) > 0 and first_park.headers["na-last-error"]
    ok = [r for r in sink.requests_to(path) if r.arrived >= up_at]
    assert len(ok) == 1


async def test_while_one_target_is_down_others_arrive_and_its_circuit_opens_and_closes(pipeline, sink):
    down_org, ok_org = next(_orgs), next(_orgs)
    up_at = time.monotonic() + 10
    sink.route(f"/broken/{down_org}", lambda r: Answer(200 if time.monotonic() >= up_at else 503, {}, {}))
    await pipeline.put_actions(action(f"a{down_org}", down_org, f"{sink.url}/broken/{down_org}"),
                               action(f"a{ok_org}", ok_org, f"{sink.url}/fine/{ok_org}"))
    pipeline.wait_actions(down_org, lambda a: f"a{down_org}" in a)
    pipeline.wait_actions(ok_org, lambda a: f"a{ok_org}" in a)
    events = [event(f"e{o}-{i}", o, seq=i) for i in range(10) for o in (down_org, ok_org)]
    await pipeline.publish(*events)

    # B's deliveries all arrive within their usual deadline while A is down.
    sink.wait_for_sync(10, 15, path_prefix=f"/fine/{ok_org}")
    assert time.monotonic() < up_at, "target B must not wait for target A's recovery"
    target_a = NotificationAction.model_validate(action(f"a{down_org}", down_org, f"{sink.url}/broken/{down_org}")).target_key()
    assert target_a.startswith("webhook:specific:-:url-") and "/broken/" not in target_a  # the URL is a credential
    deadline = time.monotonic() + 10
    while target_a not in circuits(pipeline):
        assert time.monotonic() < deadline, f"circuit for A never opened: {circuits(pipeline)}"
        time.sleep(0.2)
    assert circuits(pipeline)[target_a]["waiting"] >= 1
    # Parked behind the circuit, A is not hammered: far fewer attempts than deliveries × attempts.
    hits_while_down = len([r for r in sink.requests_to(f"/broken/{down_org}") if r.arrived < up_at])
    assert hits_while_down <= 12, hits_while_down

    # After recovery every one of A's deliveries arrives, in order, and the circuit closes.
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 10:
        assert time.monotonic() < deadline, f"A's deliveries after recovery: {got}"
        got = [r.json()["event"]["data"]["seq"] for r in sink.requests_to(f"/broken/{down_org}") if r.arrived >= up_at]
        time.sleep(0.2)
    assert got == list(range(10))
    deadline = time.monotonic() + 10
    while target_a in circuits(pipeline):
        assert time.monotonic() < deadline, "circuit for A never closed"
        time.sleep(0.2)


async def test_slack_deliveries_to_one_channel_are_spaced(pipeline, sink, slack):
    org = next(_orgs)
    await pipeline.put_integration({"id": f"s{org}", "organization_id": org, "provider": "slack",
                                    "credentials": {"bot_token": SLACK_TOKEN}})
    await pipeline.put_actions({"id": f"a{org}", "organization_id": org, "trigger_type": "audit-log",
                                "service_type": "slack", "target_type": "specific",
                                "target_identifier": f"C{org}", "integration_id": f"s{org}"})
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    await pipeline.publish(*[event(f"e{org}-{i}", org) for i in range(4)])
    deadline = time.monotonic() + 30
    while len([p for p in slack.posted if p["channel"] == f"C{org}"]) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    arrivals = [r.arrived for r in sink.requests_to("/slack/chat.postMessage") if r.json()["channel"] == f"C{org}"]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(g >= 0.95 for g in gaps), gaps


async def test_a_resolve_never_overtakes_its_trigger_across_retries(pipeline, sink, pagerduty):
    org = next(_orgs)
    await pipeline.put_integration({"id": f"p{org}", "organization_id": org, "provider": "pagerduty",
                                    "credentials": {"integration_keys": {"PSVC1": PD_KEY}},
                                    "metadata": {"services": [{"id": "PSVC1", "name": "API"}]}})
    await pipeline.put_actions({"id": f"a{org}", "organization_id": org, "trigger_type": "spike-protection",
                                "service_type": "pagerduty", "target_type": "specific",
                                "target_identifier": "PSVC1", "integration_id": f"p{org}"})
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    # the trigger fails 4 times: 3 in-process attempts, then once more from tier 0
    pagerduty.fail_next(*[(500, {}, {"status": "error"})] * 4)
    spike = {"id": f"on{org}", "organization_id": org, "project_id": 10, "occurred_at": "2026-11-26T20:00:00Z",
             "data": {"status": "activated", "project_id": 10}}
    await pipeline.publish(spike, {**spike, "id": f"off{org}", "data": {"status": "deactivated", "project_id": 10}},
                           trigger="spike-protection")
    key = f"spike-protection:{org}:10"
    deadline = time.monotonic() + 60
    while pagerduty.incidents.get(key) != "resolved":
        assert time.monotonic() < deadline, [e["event_action"] for e in pagerduty.events if e["dedup_key"] == key]
        time.sleep(0.2)
    assert [e["event_action"] for e in pagerduty.events if e["dedup_key"] == key] == ["trigger", "resolve"]


async def test_redrive_after_fixing_the_action_delivers_exactly_once(pipeline, sink):
    from tests.support.pipeline import run_cli

    org = next(_orgs)
    sink.script(f"/unfixed/{org}", [(400, {}, {"error": "wrong path"})])
    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}/unfixed/{org}"))
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    await pipeline.publish(event(f"e{org}", org))
    key = f"e{org}:a{org}"
    await consume_until(pipeline.bootstrap, pipeline.topic("deliveries_dlq"),
                        lambda rs: any(r.headers.get("na-dedup-key") == key for r in rs), timeout=30)

    listed = run_cli(pipeline.env, "dlq", "list", "--org", str(org), "--json")
    assert listed.returncode == 0, listed.stderr.decode()
    summary = orjson.loads(listed.stdout)
    assert summary["total"] == 1 and summary["action"] == {f"a{org}": 1}
    assert summary["service"] == {"webhook": 1} and summary["error"] == {"PermanentDeliveryError 400": 1}

    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}/fixed/{org}"))
    pipeline.wait_actions(org, lambda a: a[f"a{org}"]["target_identifier"].endswith(f"/fixed/{org}"))

    dry = run_cli(pipeline.env, "dlq", "redrive", "--action", f"a{org}", "--dry-run")
    assert dry.returncode == 0 and b"1 of 1 selected would be re-submitted" in dry.stdout, dry.stdout + dry.stderr
    first = run_cli(pipeline.env, "dlq", "redrive", "--action", f"a{org}")
    assert first.returncode == 0 and b"re-submitted 1 of 1" in first.stdout, first.stdout + first.stderr
    [delivered] = sink.wait_for_sync(1, 30, path_prefix=f"/fixed/{org}")
    assert delivered.headers["webhook-id"] == key

    # Again: the dead letter is still there (the DLQ is untouched) but already delivered.
    again = run_cli(pipeline.env, "dlq", "redrive", "--action", f"a{org}")
    assert again.returncode == 0 and b"re-submitted 1 of 1" in again.stdout
    # A later event to the same target is fired after the redriven repeat (same chain):
    await pipeline.publish(event(f"later{org}", org))
    got = sink.wait_for_sync(2, 30, path_prefix=f"/fixed/{org}")
    assert [r.headers["webhook-id"] for r in got] == [key, f"later{org}:a{org}"]


async def test_dead_events_can_be_redriven_to_their_topic(pipeline, sink):
    from tests.support.pipeline import run_cli

    org = next(_orgs)
    bad = orjson.dumps({**event(f"bad{org}", org), "trigger": "billing"})  # disagrees with its topic
    await pipeline.publish_raw(bad, key=str(org).encode())
    await consume_until(pipeline.bootstrap, pipeline.topic("events_dlq"),
                        lambda rs: any(r.value == bad for r in rs), timeout=30)
    done = run_cli(pipeline.env, "dlq", "redrive", "--topic", pipeline.topic("events_dlq"), "--org", str(org))
    assert done.returncode == 0 and b"re-submitted 1 of 1" in done.stdout, done.stdout + done.stderr
    back = await consume_until(pipeline.bootstrap, pipeline.events_topic(),
                               lambda rs: sum(1 for r in rs if r.value == bad) >= 2, timeout=30)
    again = [r for r in back if r.value == bad][1]
    assert again.key == str(org).encode() and "na-redriven-from" in again.headers


async def test_an_empty_rate_limit_bucket_makes_the_next_delivery_wait(pipeline, sink):
    org = next(_orgs)
    path = f"/discord-bucket/{org}"
    # Discord: 204, and the headers say the bucket is empty for 1.5 s.
    sink.script(path, [(204, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.5"}, None)] * 2)
    await pipeline.put_integration({"id": f"d{org}", "organization_id": org, "provider": "discord",
                                    "credentials": {"webhook_url": f"{sink.url}{path}/token"}})
    await pipeline.put_actions({"id": f"a{org}", "organization_id": org, "trigger_type": "audit-log",
                                "service_type": "discord", "target_type": "specific",
                                "target_identifier": "#alerts", "integration_id": f"d{org}"})
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    await pipeline.publish(event(f"e{org}-1", org), event(f"e{org}-2", org))
    first, second = sink.wait_for_sync(2, 30, path_prefix=path)
    assert second.arrived - first.arrived >= 1.45, second.arrived - first.arrived
