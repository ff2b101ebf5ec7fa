"""A refused config record cannot break ``dlq redrive`` for everyone.

Redrive read actions from the raw config topic, which also carries records the
workers refused: one refused record made every redrive die with a pydantic
traceback. It now reads what the workers hold (the actions changelog).
"""

from __future__ import annotations

import orjson

from tests.hostile.conftest import new_org
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event, run_cli


async def test_redrive_ignores_refused_config_records(pipeline, sink):
    org = new_org()
    sink.script(f"/redrive/{org}", [(400, {}, {"error": "not yet"})])
    await pipeline.put_actions(action(f"rd{org}", org, f"{sink.url}/redrive/{org}"))
    pipeline.wait_actions(org, lambda a: f"rd{org}" in a)
    await pipeline.publish(event(f"e{org}", org))
    key = f"e{org}:rd{org}"
    await consume_until(pipeline.bootstrap, pipeline.topic("deliveries_dlq"),
                        lambda rs: any(r.headers.get("na-dedup-key") == key for r in rs), timeout=30)

    # a hostile tenant's records: refused by the workers, still on the config topic
    await pipeline.put_raw_config(f"bad{org}".encode(), orjson.dumps({"id": f"bad{org}", "organization_id": True}))
    await pipeline.put_raw_config(f"bad2{org}".encode(), b"[1, 2, 3]")
    await consume_until(pipeline.bootstrap, pipeline.topic("config_rejected"),
                        lambda rs: {f"bad{org}".encode(), f"bad2{org}".encode()} <= {r.key for r in rs})

    done = run_cli(pipeline.env, "dlq", "redrive", "--action", f"rd{org}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"re-submitted 1 of 1" in done.stdout and b"Traceback" not in done.stderr
    got = await sink.wait_for(2, 30, path_prefix=f"/redrive/{org}")  # the 400, then the redriven 200
    assert [r.headers["webhook-id"] for r in got] == [key, key]
