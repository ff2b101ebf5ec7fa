"""One tenant's actions waiting for their integration never hold up another tenant's config.

An action is given 5 s for its integration to arrive (they travel on
different topics). The config agent waited in line: five actions naming
integrations that never come delayed every later config change, of every
organization, by 25 s. Waits now run beside each other, one action id's
versions still in offset order.
"""

from __future__ import annotations

import time

import orjson

from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event

WAIT_SECONDS = 5.0  # streams/config.py INTEGRATION_WAIT_SECONDS


async def test_actions_waiting_for_integrations_do_not_delay_another_organization(pipeline, sink):
    a, b = new_org(), new_org()
    waiting = [action(f"w{a}-{i}", a, f"{sink.url}/wait/{a}/{i}", integration_id=f"never-{a}-{i}") for i in range(5)]
    await pipeline.put_actions(*waiting, action(f"b{b}", b, f"{sink.url}/wait-b/{b}"))
    started = time.monotonic()  # all six are on the broker
    pipeline.wait_actions(b, lambda got: f"b{b}" in got, timeout=2.5)  # far below one wait, let alone five
    assert time.monotonic() - started < WAIT_SECONDS

    # B's action is live, and A's five are refused for their integration, none lost
    await pipeline.publish(event(f"b{b}-1", b))
    await sink.wait_for(1, 30, path_prefix=f"/wait-b/{b}")
    ids = {w["id"].encode() for w in waiting}
    rejected = await consume_until(pipeline.bootstrap, pipeline.topic("config_rejected"),
                                   lambda rs: ids <= {r.key for r in rs}, timeout=60)
    for record in (r for r in rejected if r.key in ids):
        assert [p["field"] for p in orjson.loads(record.value)["reasons"]] == ["integration_id"]
    assert not any(f"w{a}" in key for key in pipeline.actions_of(a))


async def test_a_later_version_never_overtakes_one_still_waiting(pipeline, sink):
    org = new_org()
    integration = {"id": f"late-{org}", "organization_id": org, "provider": "webhook", "name": "late",
                   "credentials": {"signing_secret": "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZg=="}}
    first = action(f"v{org}", org, f"{sink.url}/v1/{org}", integration_id=f"late-{org}")
    second = action(f"v{org}", org, f"{sink.url}/v2/{org}")
    await pipeline.put_actions(first, second)  # the first waits for its integration, the second must not pass it
    await pipeline.put_integration(integration)
    applied = f"action v{org} applied"
    deadline = time.monotonic() + 30
    while pipeline.worker.log_path.read_text(errors="replace").count(applied) < 2:
        assert time.monotonic() < deadline, "the two versions were not both applied"
        time.sleep(0.1)
    assert pipeline.actions_of(org)[f"v{org}"]["target_identifier"].endswith(f"/v2/{org}"), "v1 overtook v2"
    await pipeline.publish(event(f"v{org}-1", org))
    [got] = await sink.wait_for(1, 30, path_prefix=f"/v2/{org}")
    assert not sink.requests_to(f"/v1/{org}")
    assert got.json()["event"]["id"] == f"v{org}-1"
    await bystander_still_served(pipeline, sink)
