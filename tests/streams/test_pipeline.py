"""Events → matching → deliveries → webhook, end to end: real broker, real worker, real sink.

One worker serves the whole module; each test uses its own organization ids,
so tests never see each other's deliveries.
"""

from __future__ import annotations

import base64
import itertools

import orjson
import pytest

from tests.support.fakes.http_sink import HttpSink
from tests.support.kafka import produce, consume_until
from tests.support.pipeline import Pipeline, action, event, running_pipeline

SECRET = "whsec_" + base64.b64encode(b"a-very-secret-signing-key-0123456789").decode()
_orgs = itertools.count(1000)


def new_org() -> int:
    return next(_orgs)


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory):
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("pipeline"), NOTIFICATION_ACTIONS_MAX_EVENT_BYTES="4000") as pipe:
        yield pipe


def bodies(sink: HttpSink, path: str) -> list[dict]:
    return [r.json() for r in sink.requests_to(path)]


async def test_event_to_signed_webhook(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    path = f"/signed/{org}"
    sink.require_signature(path, SECRET)
    await pipeline.put_integration(
        {"id": f"i{org}", "organization_id": org, "provider": "webhook", "name": "hooks",
         "credentials": {"signing_secret": SECRET}}
    )
    await pipeline.put_actions(action(f"a{org}", org, sink.url + path, integration_id=f"i{org}"))
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    await pipeline.publish(event(f"e{org}", org, actor="sam@acme.io"))

    [request] = sink.wait_for_sync(1, 30, path_prefix=path)
    assert request.verified is True
    assert request.headers["webhook-id"] == f"e{org}:a{org}"
    body = request.json()
    assert body["type"] == "audit-log"
    assert body["event"]["id"] == f"e{org}" and body["event"]["organization_id"] == org
    assert body["event"]["data"]["actor"] == "sam@acme.io"
    assert body["action"]["id"] == f"a{org}"
    assert SECRET not in request.text

    outcomes = await consume_until(
        pipeline.bootstrap, pipeline.topic("outcomes"),
        lambda rs: any(r.key == f"e{org}:a{org}".encode() for r in rs), timeout=30,
    )
    [outcome] = [orjson.loads(r.value) for r in outcomes if r.key == f"e{org}:a{org}".encode()]
    assert outcome["result"] == "ok" and outcome["status"] == 200 and outcome["service"] == "webhook"
    assert outcome["organization_id"] == org and outcome["action_id"] == f"a{org}"
    assert SECRET.encode() not in b"".join(r.value for r in outcomes)


async def test_project_scope(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    await pipeline.put_actions(
        action(f"wide{org}", org, f"{sink.url}/scope/{org}/wide"),
        action(f"p10{org}", org, f"{sink.url}/scope/{org}/p10", projects=[10]),
    )
    pipeline.wait_actions(org, lambda a: len(a) == 2)
    await pipeline.publish(
        event(f"{org}-p10", org, project=10), event(f"{org}-p11", org, project=11), event(f"{org}-none", org)
    )
    wide = sink.wait_for_sync(3, 30, path_prefix=f"/scope/{org}/wide")
    assert sorted(r.json()["event"]["id"] for r in wide) == sorted([f"{org}-p10", f"{org}-p11", f"{org}-none"])
    # The wide action saw all three, so matching has passed every event: p10 got exactly one.
    p10 = sink.wait_for_sync(1, 30, path_prefix=f"/scope/{org}/p10")
    assert [r.json()["event"]["id"] for r in p10] == [f"{org}-p10"]


async def test_conditions(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    url = f"{sink.url}/cond/{org}"
    await pipeline.put_actions(
        action(f"c{org}", org, url, conditions=[{"path": "data.event", "op": "in", "value": ["member.invite"]}]),
        action(f"all{org}", org, url),  # same target: its deliveries are ordered with the conditional one's
    )
    pipeline.wait_actions(org, lambda a: len(a) == 2)
    await pipeline.publish(
        event(f"{org}-remove", org, event="member.remove"), event(f"{org}-invite", org, event="member.invite")
    )
    got = sink.wait_for_sync(3, 30, path_prefix=f"/cond/{org}")
    pairs = sorted((r.json()["action"]["id"], r.json()["event"]["id"]) for r in got)
    assert pairs == sorted([(f"all{org}", f"{org}-remove"), (f"all{org}", f"{org}-invite"), (f"c{org}", f"{org}-invite")])


async def test_throttle(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    url = f"{sink.url}/throttle/{org}"
    await pipeline.put_actions(
        action(f"t{org}", org, url, throttle={"limit": 2, "window_seconds": 3600}, conditions=[
            {"path": "data.event", "op": "eq", "value": "member.invite"}]),
        action(f"s{org}", org, url, conditions=[{"path": "data.event", "op": "eq", "value": "sentinel"}]),
    )
    pipeline.wait_actions(org, lambda a: len(a) == 2)
    await pipeline.publish(*[event(f"{org}-{i}", org) for i in range(5)])
    await pipeline.publish(event(f"{org}-sentinel", org, event="sentinel"))
    # The sentinel shares the throttled action's target, so it arrives after every
    # delivery matched before it: when it is here, the count is final.
    sink.wait_for_sync(3, 30, path_prefix=f"/throttle/{org}")
    got = [r.json()["action"]["id"] for r in sink.requests_to(f"/throttle/{org}")]
    assert got.count(f"t{org}") == 2 and got[-1] == f"s{org}"


async def test_throttle_key_indexes_a_list(pipeline: Pipeline, sink: HttpSink):
    """``key: data.tags.0`` counts per first tag, as a condition on that path reads it.

    Events with no first tag (no ``tags``, ``tags: null``, an empty list, a
    ``null`` first tag) share one bucket, as a missing key value always has. A window of 10**9 s (epoch-aligned: the next edge is in 2033) so the
    test cannot straddle one and see a bucket's count reset.
    """
    org = new_org()
    path = f"/throttle-key/{org}"
    await pipeline.put_actions(
        action(f"t{org}", org, sink.url + path, throttle={"limit": 1, "window_seconds": 10**9, "key": "data.tags.0"},
               conditions=[{"path": "data.event", "op": "eq", "value": "member.invite"}]),
        action(f"s{org}", org, sink.url + path, conditions=[{"path": "data.event", "op": "eq", "value": "sentinel"}]),
    )
    pipeline.wait_actions(org, lambda a: len(a) == 2)
    tags = {"red-1": ["red"], "blue": ["blue", "red"], "red-2": ["red", "blue"], "green": ["green"],
            "none": None, "empty": [], "null": [None]}
    await pipeline.publish(*[event(f"{org}-{name}", org, tags=t) for name, t in tags.items()],
                           event(f"{org}-absent", org))
    await pipeline.publish(event(f"{org}-sentinel", org, event="sentinel"))
    # Same target: the sentinel's delivery comes after every one matched before it.
    sink.wait_for_sync(5, 30, path_prefix=path)
    got = [(r.json()["action"]["id"], r.json()["event"]["id"]) for r in sink.requests_to(path)]
    assert got[-1] == (f"s{org}", f"{org}-sentinel")
    # One per first tag (red, blue, green), and one for "no first tag" (the first of those).
    assert sorted(got[:-1]) == sorted((f"t{org}", f"{org}-{n}") for n in ("red-1", "blue", "green", "none"))


async def test_hot_reload_disable_and_delete(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    base = f"/reload/{org}"
    sentinel = action(f"s{org}", org, f"{sink.url}{base}/v2", conditions=[
        {"path": "data.event", "op": "eq", "value": "sentinel"}])
    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}{base}/v1"), sentinel)
    pipeline.wait_actions(org, lambda a: len(a) == 2)
    await pipeline.publish(event(f"{org}-1", org))
    sink.wait_for_sync(1, 30, path_prefix=f"{base}/v1")

    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}{base}/v2"))
    pipeline.wait_actions(org, lambda a: a[f"a{org}"]["target_identifier"].endswith("/v2"))
    await pipeline.publish(event(f"{org}-2", org))
    sink.wait_for_sync(1, 30, path_prefix=f"{base}/v2")

    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}{base}/v2", enabled=False))
    pipeline.wait_actions(org, lambda a: a[f"a{org}"]["enabled"] is False)
    await pipeline.publish(event(f"{org}-3", org), event(f"{org}-s3", org, event="sentinel"))
    sink.wait_for_sync(2, 30, path_prefix=f"{base}/v2")

    await pipeline.delete_action(f"a{org}")
    pipeline.wait_actions(org, lambda a: f"a{org}" not in a)
    await pipeline.publish(event(f"{org}-4", org), event(f"{org}-s4", org, event="sentinel"))
    sink.wait_for_sync(3, 30, path_prefix=f"{base}/v2")

    seen = [r.json()["event"]["id"] for r in sink.requests_to(base)]
    assert seen == [f"{org}-1", f"{org}-2", f"{org}-s3", f"{org}-s4"]


async def test_invalid_config_is_rejected_and_old_version_stays(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    good = action(f"a{org}", org, f"{sink.url}/keep/{org}")
    await pipeline.put_actions(good)
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)

    bad_versions = {
        "trigger_type": {**good, "trigger_type": "nope"},
        "service_type": {**good, "service_type": "slack", "target_type": "user"},
        "colour": {**good, "colour": "red"},
        "target_identifier": {**good, "target_identifier": "ftp://example.com/x"},
        "integration_id": {**good, "integration_id": "missing"},
    }
    for doc in bad_versions.values():
        await pipeline.put_actions(doc)
    await pipeline.put_raw_config(f"a{org}".encode(), b"{not json")
    await pipeline.put_raw_config(b"other-key", orjson.dumps(good))

    rejected = await consume_until(
        pipeline.bootstrap, pipeline.topic("config_rejected"),
        lambda rs: sum(1 for r in rs if orjson.loads(r.value)["value"].find(f'"a{org}"') >= 0
                       or r.key == f"a{org}".encode()) >= 7,
        timeout=60,
    )
    reports = [orjson.loads(r.value) for r in rejected if r.key in (f"a{org}".encode(), b"other-key")
               and (f"a{org}" in orjson.loads(r.value)["value"] or r.key == f"a{org}".encode())]
    fields = {reason["field"] for rep in reports for reason in rep["reasons"]}
    for name in ("trigger_type", "service_type", "colour", "target_identifier", "integration_id", "id"):
        assert any(f == name or f.startswith(name) for f in fields), (name, fields)
    assert all({"topic", "partition", "offset"} <= set(rep["source"]) for rep in reports)
    assert all(r.headers["na-origin-topic"] == pipeline.topic("config") for r in rejected)

    # the old version still fires
    assert pipeline.actions_of(org)[f"a{org}"]["target_identifier"] == good["target_identifier"]
    await pipeline.publish(event(f"{org}-after", org))
    [req] = sink.wait_for_sync(1, 30, path_prefix=f"/keep/{org}")
    assert req.json()["event"]["id"] == f"{org}-after"


async def test_invalid_events_go_to_dlq_and_the_worker_carries_on(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}/dlq/{org}"))
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    bad = {
        "not-json": b"{oops",
        "not-object": b"[1, 2]",
        "missing-org": orjson.dumps({"id": "x", "occurred_at": "2026-11-26T20:00:00Z"}),
        "naive-time": orjson.dumps({**event("y", org), "occurred_at": "2026-11-26T20:00:00"}),
        "wrong-trigger": orjson.dumps(event("z", org, trigger="billing")),
        "oversize": orjson.dumps(event("big", org, blob="x" * 5000)),
        "bad-data": orjson.dumps({**event("w", org), "data": {"event": 5}}),
    }
    marker = f"dlq-{org}"
    for name, value in bad.items():  # keyed right (the key must be the organization id): named in a header
        await produce(pipeline.bootstrap, pipeline.events_topic(), [(str(org).encode(), value)],
                      headers=[("test-case", f"{marker}-{name}".encode())])
    await pipeline.publish(event(f"{org}-good", org))

    [req] = sink.wait_for_sync(1, 30, path_prefix=f"/dlq/{org}")
    assert req.json()["event"]["id"] == f"{org}-good"
    dead = await consume_until(
        pipeline.bootstrap, pipeline.topic("events_dlq"),
        lambda rs: sum(1 for r in rs if r.headers.get("test-case", "").startswith(marker)) >= len(bad), timeout=30,
    )
    mine = {r.headers["test-case"].removeprefix(marker + "-"): r for r in dead
            if r.headers.get("test-case", "").startswith(marker)}
    assert set(mine) == set(bad)
    for name, record in mine.items():
        assert record.value == bad[name], f"{name}: the dead letter must be the original bytes"
        assert record.headers["na-error-class"] == "InvalidEvent"
        assert record.headers["na-origin-topic"] == pipeline.events_topic()
        assert record.headers["na-origin-offset"].isdigit()
        assert record.headers["na-error-message"]
    fields = {n: {p["field"] for p in orjson.loads(mine[n].headers["na-error-fields"])} for n in mine}
    assert "organization_id" in fields["missing-org"]
    assert "occurred_at" in fields["naive-time"]
    assert "trigger" in fields["wrong-trigger"]
    assert any(f.startswith("data.event") for f in fields["bad-data"])


# --- property: random organizations, projects, triggers and actions -----------
import asyncio  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from notification_actions.models import ActionTrigger, example_event  # noqa: E402

TRIGGERS = ["audit-log", "quota", "release-created"]
_scenarios = itertools.count()

scenario = st.fixed_dictionaries({
    "actions": st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(TRIGGERS), st.lists(st.integers(1, 3), max_size=2, unique=True)),
        min_size=1, max_size=6,
    ),
    "events": st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(TRIGGERS), st.one_of(st.none(), st.integers(1, 3))),
        min_size=1, max_size=12,
    ),
})


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenario)
def test_property_every_expected_delivery_arrives_and_none_crosses_organizations(pipeline, sink, case):
    n = next(_scenarios)
    orgs = [new_org() for _ in range(3)]
    tag = f"/prop/{n}-{orgs[0]}"
    actions = [
        action(f"p{n}-{i}-{orgs[0]}", orgs[o], f"{sink.url}{tag}/{i}", trigger=t, projects=projects)
        for i, (o, t, projects) in enumerate(case["actions"])
    ]
    events = []
    for j, (o, t, project) in enumerate(case["events"]):
        e = example_event(ActionTrigger.parse(t), organization_id=orgs[o], project_id=project)
        events.append((t, {**e.model_dump(mode="json"), "id": f"pe{n}-{j}-{orgs[0]}"}))
    expected = {
        (e["id"], a["id"])
        for t, e in events for a in actions
        if a["organization_id"] == e["organization_id"] and a["trigger_type"] == t
        and (not a["projects"] or e.get("project_id") in a["projects"])
    }

    async def run() -> None:
        await pipeline.put_actions(*actions)
        for org in set(a["organization_id"] for a in actions):
            mine = {a["id"] for a in actions if a["organization_id"] == org}
            pipeline.wait_actions(org, lambda current, mine=mine: mine <= set(current))
        for t, e in events:
            await pipeline.publish(e, trigger=t)

    asyncio.run(run())
    if expected:
        sink.wait_for_sync(len(expected), 60, path_prefix=tag)
    got = [r.json() for r in sink.requests_to(tag)]
    assert all(b["event"]["organization_id"] == b["action"]["organization_id"] for b in got)
    assert {(b["event"]["id"], b["action"]["id"]) for b in got} == expected
