"""`/metrics`: Prometheus text that parses, series that move when events flow (real worker, broker, sink)."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from notification_actions.metrics import Metrics
from tests.support.fakes.http_sink import HttpSink
from tests.support.kafka import consume_until
from tests.support.pipeline import Pipeline, action, event

P = "notification_actions_"


def scrape(pipeline: Pipeline) -> dict[tuple[str, frozenset], float]:
    """Every sample of ``/metrics`` (no token), by (name, labels)."""
    r = httpx.get(f"{pipeline.api}/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((P + name, frozenset(labels.items())), 0.0)


def test_two_apps_in_one_process_keep_separate_registries():
    a, b = Metrics(), Metrics()
    a.deliveries.labels("webhook", "ok").inc()
    assert b"webhook" in a.exposition() and b"webhook" not in b.exposition()


@pytest.fixture
def pipeline(worker_env, start_worker, kafka_bootstrap):
    env = {**worker_env, "NOTIFICATION_ACTIONS_LAG_SAMPLE_INTERVAL_SECONDS": "1",
           "NOTIFICATION_ACTIONS_QUICK_RETRY_BASE_SECONDS": "0.05"}
    worker = start_worker(env).wait_ready()
    return Pipeline(kafka_bootstrap, env, worker.web_port)


async def test_metrics_parse_and_move_when_events_flow(pipeline: Pipeline):
    org = 4242
    with HttpSink.start_in_thread() as sink:
        sink.script(f"/m/{org}/flaky", [(503, {}, "busy")])  # then the default 200
        sink.script(f"/m/{org}/gone", [(410, {}, "gone")] * 5)
        await pipeline.put_actions(
            action(f"ok{org}", org, f"{sink.url}/m/{org}/ok"),
            action(f"flaky{org}", org, f"{sink.url}/m/{org}/flaky",
                   conditions=[{"path": "data.event", "op": "eq", "value": "flaky"}]),
            action(f"gone{org}", org, f"{sink.url}/m/{org}/gone",
                   conditions=[{"path": "data.event", "op": "eq", "value": "gone"}]),
        )
        pipeline.wait_actions(org, lambda a: len(a) == 3)
        before = scrape(pipeline)
        assert value(before, "table_entries", table="actions") == 3
        assert value(before, "ready") == 1

        await pipeline.publish(*[event(f"m{org}-{i}", org) for i in range(5)])
        await pipeline.publish(event(f"m{org}-flaky", org, event="flaky"), event(f"m{org}-gone", org, event="gone"))
        await pipeline.publish_raw(b"{not json")
        await pipeline.put_raw_config(f"bad{org}".encode(), b"{not json")
        # ok: 5 + 1 (flaky event) + 1 (gone event); flaky: 503 then 200; gone: 410
        sink.wait_for_sync(10, 30, path_prefix=f"/m/{org}/")
        await consume_until(  # the dead letter is written: every counter has moved
            pipeline.bootstrap, pipeline.topic("deliveries_dlq"),
            lambda rs: any(r.headers.get("na-dedup-key") == f"m{org}-gone:gone{org}" for r in rs), timeout=30,
        )
        await pipeline.publish(event(f"m{org}-0", org))  # a replay: its deliveries are duplicates
        await consume_until(
            pipeline.bootstrap, pipeline.topic("events_dlq"), lambda rs: len(rs) >= 1, timeout=30,
        )

        deadline = time.monotonic() + 30
        while True:
            after = scrape(pipeline)
            if value(after, "duplicates_skipped_total", service="webhook") - value(
                    before, "duplicates_skipped_total", service="webhook") >= 1 and value(
                    after, "config_rejected_total", kind="action") > value(before, "config_rejected_total", kind="action"):
                break
            assert time.monotonic() < deadline, "duplicate or rejected config never counted"
            time.sleep(0.3)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("events_consumed_total", trigger="audit-log", result="valid") == 8
    assert moved("events_consumed_total", trigger="audit-log", result="invalid") == 1
    # 5 plain events x 1 action, flaky and gone x 2 actions each, the replay's 1 (skipped later)
    assert moved("matches_total", trigger="audit-log", service="webhook") == 10
    assert moved("deliveries_total", service="webhook", result="ok") == 8
    assert moved("deliveries_total", service="webhook", result="retry") == 1
    assert moved("deliveries_total", service="webhook", result="dead") == 1
    assert moved("retries_total", service="webhook", kind="quick") == 1
    assert moved("dead_letters_total", service="webhook") == 1
    assert moved("duplicates_skipped_total", service="webhook") == 1
    assert moved("config_rejected_total", kind="action") == 1
    assert moved("fire_duration_seconds_count", service="webhook") == 10
    assert moved("fire_duration_seconds_sum", service="webhook") > 0
    assert value(after, "open_circuits") == 0

    # the lag gauges come from the worker's sampler
    app_id = pipeline.env["NOTIFICATION_ACTIONS_APP_ID"]
    deadline = time.monotonic() + 30
    while True:
        now = scrape(pipeline)
        groups = {dict(labels).get("group") for (name, labels) in now if name == P + "consumer_lag_messages"}
        if groups == {app_id, app_id + "-retry"}:
            break
        assert time.monotonic() < deadline, f"no lag gauges: {groups}"
        time.sleep(0.5)
    assert value(now, "consumer_lag_last_sample_timestamp_seconds") > time.time() - 60

    # name[] picks samples, as prometheus_client's own handler does: the lag gauges are not rendered
    r = httpx.get(f"{pipeline.api}/metrics", params=[("name[]", P + "events_consumed_total"), ("name[]", P + "ready")])
    assert r.status_code == 200, r.text
    picked = {(s.name, frozenset(s.labels.items())): s.value
              for family in text_string_to_metric_families(r.text) for s in family.samples}
    assert {name for name, _ in picked} == {P + "events_consumed_total", P + "ready"}
    assert value(picked, "events_consumed_total", trigger="audit-log", result="valid") >= 8
    # the endpoint is open: its parameter is bounded, and the refusal names it
    for params in ([("name[]", "x")] * 33, [("name[]", "x" * 201)]):
        refused = httpx.get(f"{pipeline.api}/metrics", params=params)
        assert refused.status_code == 400 and "'name[]'" in refused.json()["error"], refused.text


async def test_metrics_and_health_are_open_but_the_api_is_not(pipeline: Pipeline):
    assert httpx.get(f"{pipeline.api}/metrics").status_code == 200
    assert httpx.get(f"{pipeline.api}/healthz").status_code == 200
    assert httpx.get(f"{pipeline.api}/lag").status_code == 401
    assert httpx.get(f"{pipeline.api}/circuits").status_code == 401
    r = httpx.get(f"{pipeline.api}/lag", headers={"Authorization": f"Bearer {pipeline.token}"})
    assert r.status_code in (200, 503)  # 503 only until the first sample
    if r.status_code == 200:
        assert orjson.loads(r.content)["status"] in ("OK", "WARN", "STALL", "STOP")
