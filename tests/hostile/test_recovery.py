"""Actions stored before today's limits existed are not applied on recovery, and recovery goes on.

A stored action with a regex RE2 refuses (written when Python's ``re`` was the
engine) must not fire, must reach the rejected topic with its reason, be counted
in metrics, and must not stop the worker from recovering the others.
"""

from __future__ import annotations

import httpx
import orjson

from tests.support.kafka import consume_until, produce
from tests.support.pipeline import Pipeline, action, event
from tests.support.worker_process import WorkerProcess, unique, worker_env_for


async def test_a_stored_action_the_new_rules_refuse_is_reported_not_applied(kafka_bootstrap, tmp_path, sink):
    env = worker_env_for(kafka_bootstrap, unique(), tmp_path)
    org = 71_001
    old = action("old-regex", org, f"{sink.url}/old/{org}",
                 conditions=[{"path": "data.event", "op": "regex", "value": r"(a)\1"}])
    good = action("still-good", org, f"{sink.url}/good/{org}")
    stored = [{**doc, "projects": [], "enabled": True, "target_display": None, "integration_id": None,
               "sentry_app_id": None, "throttle": None, "template": None} for doc in (old, good)]
    changelog = f"{env['NOTIFICATION_ACTIONS_APP_ID']}-actions-changelog"
    await produce(kafka_bootstrap, changelog, [(d["id"].encode(), orjson.dumps(d)) for d in stored])

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        pipe = Pipeline(kafka_bootstrap, env, worker.web_port)
        assert set(pipe.wait_actions(org, lambda a: "still-good" in a)) == {"still-good"}
        rejected = await consume_until(kafka_bootstrap, env["NOTIFICATION_ACTIONS_CONFIG_REJECTED_TOPIC"],
                                       lambda rs: any(r.key == b"old-regex" for r in rs))
        report = orjson.loads(next(r for r in rejected if r.key == b"old-regex").value)
        assert report["source"]["topic"] == changelog
        assert report["reasons"][0]["field"] == "conditions.0.value" and "RE2" in report["reasons"][0]["error"]
        metrics = httpx.get(f"{pipe.api}/metrics").text
        assert 'notification_actions_config_rejected_total{kind="stored_action"} 1.0' in metrics
        await pipe.publish(event(f"e{org}", org, event="aa"))
        [got] = await sink.wait_for(1, 30, path_prefix=f"/good/{org}")
        assert got.json()["event"]["id"] == f"e{org}" and not sink.requests_to(f"/old/{org}")
    finally:
        worker.stop()
