"""A regex condition cannot stall the other tenants (catastrophic backtracking).

With Python's ``re``, ``^(\\w+\\s?)*$`` against a 40-character ``data.event`` that
does not match held the event loop for longer than any deadline: every tenant
stalled, and a restarted worker hung on the same record again.
"""

from __future__ import annotations

import orjson

from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event

EVIL = r"^(\w+\s?)*$"


async def test_a_backtracking_pattern_runs_in_linear_time(pipeline, sink):
    org = new_org()
    await pipeline.put_actions(action(f"evil{org}", org, f"{sink.url}/evil/{org}",
                                      conditions=[{"path": "data.event", "op": "regex", "value": EVIL}]))
    pipeline.wait_actions(org, lambda a: f"evil{org}" in a)
    await pipeline.publish(*(event(f"evil{org}-{i}", org, event="a" * 40 + "!") for i in range(20)),
                           event(f"evil{org}-match", org, event="member invite"))
    await bystander_still_served(pipeline, sink)
    [hit] = await sink.wait_for(1, 30, path_prefix=f"/evil/{org}")  # the one that matches still fires
    assert hit.json()["event"]["id"] == f"evil{org}-match"


async def test_a_pattern_re2_refuses_is_a_rejected_config_with_its_reason(pipeline, sink):
    org = new_org()
    for i, pattern in enumerate([r"(a+)\1", r"(?=x)y", "x" * 1001]):
        await pipeline.put_actions(action(f"re{org}-{i}", org, f"{sink.url}/re/{org}",
                                          conditions=[{"path": "data.event", "op": "regex", "value": pattern}]))
    rejected = await consume_until(
        pipeline.bootstrap, pipeline.topic("config_rejected"),
        lambda rs: sum(1 for r in rs if r.key.startswith(f"re{org}-".encode())) >= 3,
    )
    reasons = {r.key.decode(): orjson.loads(r.value)["reasons"] for r in rejected if r.key.startswith(f"re{org}-".encode())}
    assert all(rs[0]["field"] == "conditions.0.value" for rs in reasons.values()), reasons
    assert "RE2" in reasons[f"re{org}-0"][0]["error"] and "RE2" in reasons[f"re{org}-1"][0]["error"]
    assert "at most 1000 characters" in reasons[f"re{org}-2"][0]["error"]
    assert not pipeline.actions_of(org)
