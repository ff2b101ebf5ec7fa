"""Operating it: the config CLI, test-fire, replay/backfill and the HTTP API's auth.

Real broker, real worker, the real command line in subprocesses.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.fakes.http_sink import HttpSink
from tests.support.api import wait_until
from tests.support.pipeline import Pipeline, action, event, run_cli, running_pipeline

_orgs = itertools.count(9000)


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory):
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("operate")) as pipe:
        yield pipe


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


def listed(pipeline: Pipeline, org: int) -> list[str]:
    out = run_cli(pipeline.env, "actions", "list", "--org", str(org), "--json")
    assert out.returncode == 0, out.stderr.decode()
    return [a["id"] for a in orjson.loads(out.stdout)]


async def test_actions_put_list_delete_round_trip(pipeline: Pipeline, sink: HttpSink, tmp_path):
    org = next(_orgs)
    doc = tmp_path / "action.json"
    doc.write_bytes(orjson.dumps(action(f"a{org}", org, f"{sink.url}/cli/{org}")))
    put = run_cli(pipeline.env, "actions", "put", str(doc))
    assert put.returncode == 0, put.stderr.decode()
    wait_until(lambda: listed(pipeline, org) == [f"a{org}"], what="list shows the action")

    deleted = run_cli(pipeline.env, "actions", "delete", f"a{org}")
    assert deleted.returncode == 0, deleted.stderr.decode()
    wait_until(lambda: listed(pipeline, org) == [], what="list no longer shows the action")


async def test_an_invalid_action_prints_its_reasons_and_publishes_nothing(pipeline: Pipeline, sink: HttpSink):
    org = next(_orgs)
    before = await end_offsets(pipeline.bootstrap, pipeline.topic("config"))
    bad = [action(f"ok{org}", org, f"{sink.url}/fine"),  # valid, but the batch is refused as a whole
           {**action(f"b{org}", org, "ftp://example.com/x"), "colour": "red"},
           action(f"c{org}", org, f"{sink.url}/x", integration_id="nope")]
    out = run_cli(pipeline.env, "actions", "put", "-", input=orjson.dumps(bad))
    assert out.returncode == 1
    err = out.stderr.decode()
    assert "record 1: refused" in err and "colour" in err
    assert "record 2: refused" in err and "integration_id" in err and "not found" in err
    assert "record 0" not in err
    assert await end_offsets(pipeline.bootstrap, pipeline.topic("config")) == before


async def test_test_fire_prints_the_outcome(pipeline: Pipeline, sink: HttpSink):
    org = next(_orgs)
    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}/tf/{org}"))
    wait_until(lambda: listed(pipeline, org) == [f"a{org}"], what="action held")
    out = run_cli(pipeline.env, "test-fire", f"a{org}")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().startswith("ok; status 200")
    [request] = sink.requests_to(f"/tf/{org}")
    assert request.headers["webhook-id"].startswith("test-fire:")
    assert request.json()["event"]["organization_id"] == org

    sink.script(f"/tf/{org}", [(500, {}, {"error": "boom"})])
    failed = run_cli(pipeline.env, "test-fire", f"a{org}")
    assert failed.returncode == 1
    assert "failed: RetryableDeliveryError" in failed.stdout.decode() and "status 500" in failed.stdout.decode()
    missing = run_cli(pipeline.env, "test-fire", "no-such-action")
    assert missing.returncode == 1 and b"not held by the workers" in missing.stderr


async def test_replay_of_a_time_range_fires_exactly_that_range_once(pipeline: Pipeline, sink: HttpSink):
    org = next(_orgs)
    url = f"{sink.url}/replay/{org}"
    only = lambda name: [{"path": "data.event", "op": "eq", "value": name}]  # noqa: E731
    await pipeline.put_actions(action(f"s{org}", org, url, conditions=only("sentinel")))
    pipeline.wait_actions(org, lambda a: f"s{org}" in a)

    now = datetime.now(timezone.utc).replace(microsecond=0)
    hours_ago = lambda h, i: int((now - timedelta(hours=h)).timestamp() * 1000) + i  # noqa: E731
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    await producer.start()
    try:
        futures = []
        for i in range(1000):
            stamp = hours_ago(3, i) if i < 300 else hours_ago(2, i) if i < 700 else hours_ago(1, i)
            futures.append(await producer.send(pipeline.events_topic(), key=str(org).encode(),
                                               value=orjson.dumps(event(f"r{i}", org)), timestamp_ms=stamp))
        await producer.send_and_wait(pipeline.events_topic(), key=str(org).encode(),
                                     value=orjson.dumps(event(f"s1-{org}", org, event="sentinel")))
        for f in futures:
            await f
    finally:
        await producer.stop()
    # The sentinel arrives after the worker has passed all 1,000 (one partition, in order): none matched live.
    sink.wait_for_sync(1, 30, path_prefix=f"/replay/{org}")
    await pipeline.put_actions(action(f"a{org}", org, url, conditions=only("member.invite")))
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    wait_until(lambda: f"a{org}" in listed(pipeline, org), what="action in the changelog")

    since = (now - timedelta(hours=2)).isoformat()
    until = (now - timedelta(hours=1)).isoformat()
    deliveries_before = await end_offsets(pipeline.bootstrap, pipeline.topic("deliveries"))
    dry = run_cli(pipeline.env, "replay", "--topic", pipeline.events_topic(), "--since", since, "--until", until,
                  "--dry-run")
    assert dry.returncode == 0, dry.stderr.decode()
    assert "would fire 400 deliveries" in dry.stdout.decode() and f"action a{org}: 400" in dry.stdout.decode()
    assert await end_offsets(pipeline.bootstrap, pipeline.topic("deliveries")) == deliveries_before

    real = run_cli(pipeline.env, "replay", "--topic", pipeline.events_topic(), "--since", since, "--until", until)
    assert real.returncode == 0 and "for 400 deliveries (before throttles)" in real.stdout.decode(), real.stdout + real.stderr
    got = sink.wait_for_sync(401, 120, path_prefix=f"/replay/{org}")
    assert sorted(r.json()["event"]["id"] for r in got[1:]) == sorted(f"r{i}" for i in range(300, 700))

    again = run_cli(pipeline.env, "replay", "--topic", pipeline.events_topic(), "--since", since, "--until", until)
    assert again.returncode == 0 and "for 400 deliveries (before throttles)" in again.stdout.decode()
    await pipeline.publish(event(f"s2-{org}", org, event="sentinel"))  # same target: fired after the repeats
    wait_until(lambda: any(r.json()["event"]["id"] == f"s2-{org}" for r in sink.requests_to(f"/replay/{org}")),
               what="second sentinel")
    assert len(sink.requests_to(f"/replay/{org}")) == 402, "a second replay without --force sent something again"


async def test_api_needs_the_token_health_does_not(pipeline: Pipeline):
    api = pipeline.api
    assert httpx.get(f"{api}/organizations/1/actions").status_code == 401
    assert httpx.get(f"{api}/organizations/1/actions", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(f"{api}/organizations/1/actions", headers={"Authorization": f"Bearer {pipeline.token}"})
    assert ok.status_code == 200 and "actions" in ok.json()
    assert httpx.get(f"{api}/organizations/1/available-actions").status_code == 401
    assert httpx.get(f"{api}/circuits").status_code == 401
    assert httpx.get(f"{api}/healthz").status_code == 200
    assert httpx.get(f"{api}/readyz").status_code == 200


async def test_available_actions_lists_only_the_asking_organizations(pipeline: Pipeline):
    mine, other = next(_orgs), next(_orgs)
    secret = "xoxb-available-actions-secret-token"
    await pipeline.put_integration({"id": f"slack-{mine}", "organization_id": mine, "provider": "slack",
                                    "name": "Mine", "credentials": {"bot_token": secret},
                                    "metadata": {"channels": [{"id": "C1", "name": "#alerts"}]}})
    await pipeline.put_integration({"id": f"pd-{mine}", "organization_id": mine, "provider": "pagerduty",
                                    "credentials": {"integration_keys": {"PSVC1": "k" * 32}},
                                    "metadata": {"services": [{"id": "PSVC1", "name": "API"}]}})
    await pipeline.put_integration({"id": f"slack-{other}", "organization_id": other, "provider": "slack",
                                    "name": "Theirs", "credentials": {"bot_token": "xoxb-theirs"},
                                    "metadata": {"channels": [{"id": "C9", "name": "#theirs"}]}})
    url = f"{pipeline.api}/organizations/{mine}/available-actions"
    headers = {"Authorization": f"Bearer {pipeline.token}"}

    def listed_integrations():
        r = httpx.get(url, headers=headers)
        assert r.status_code == 200
        return {a["action"]["integrationId"] for a in r.json()["actions"]} - {None}

    wait_until(lambda: listed_integrations() == {f"slack-{mine}", f"pd-{mine}"}, what="both integrations listed")
    body = httpx.get(url, headers=headers)
    actions = body.json()["actions"]
    assert all({"action", "requires"} <= set(a) for a in actions)
    assert {"triggerType", "serviceType", "targetType", "integrationId", "integrationName", "targetIdentifier",
            "targetDisplay"} <= set(actions[0]["action"])
    assert f"slack-{other}" not in body.text and "#theirs" not in body.text
    assert secret not in body.text and "k" * 32 not in body.text
    slack = [a for a in actions if a["action"]["integrationId"] == f"slack-{mine}"]
    assert {a["action"]["triggerType"] for a in slack} >= {"audit-log", "spike-protection"}
    assert all(a["action"]["targetIdentifier"] == "C1" for a in slack)
