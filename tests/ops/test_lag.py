"""Consumer lag: the status rules, then `lag` and `/lag` against a real broker and real workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import orjson
import pytest

from notification_actions.ops.lag import Reading, Sample, evaluate, status_of
from tests.support.kafka import produce
from tests.support.pipeline import event


def reading(committed: int | None, end: int, *, members: int = 1, group: str = "g", due: float | None = None) -> Reading:
    lag = end - (committed or 0)
    return Reading(group, "t", 0, committed, end, lag, 1.0 if lag else 0.0, members, due)


# --- status rules ----------------------------------------------------------------
def test_no_lag_is_ok_whoever_consumes():
    assert status_of([reading(5, 5, members=0)]) == "OK"
    assert status_of([reading(5, 9), reading(9, 9)]) == "OK"


def test_lag_without_members_is_stop_even_from_one_reading():
    assert status_of([reading(None, 500, members=0)]) == "STOP"
    assert status_of([reading(3, 10, members=0), reading(3, 12, members=0)]) == "STOP"


def test_a_live_group_whose_offset_does_not_move_stalls():
    assert status_of([reading(3, 10), reading(3, 10), reading(3, 11)]) == "STALL"
    assert status_of([reading(3, 10)]) == "OK"  # one reading cannot show a stuck offset


def test_growing_lag_while_moving_warns():
    assert status_of([reading(1, 10), reading(2, 13), reading(3, 17)]) == "WARN"
    assert status_of([reading(1, 10), reading(2, 13), reading(5, 15)]) == "OK"  # shrank once: keeping up
    assert status_of([reading(1, 10), reading(2, 13)]) == "OK"  # two readings are not a trend


def test_a_retry_tier_waiting_for_its_head_is_ok_until_it_is_due():
    later = time.time() + 60
    assert status_of([reading(0, 4, members=0, due=later)]) == "OK"
    assert status_of([reading(0, 4, members=0, due=time.time() - 1)]) == "STOP"


def test_evaluate_reports_the_worst_status_and_its_exit_code():
    ok = Reading("g", "a", 0, 5, 5, 0, 0.0, 0)
    stuck = Reading("g", "b", 1, None, 7, 7, 3.0, 0)
    report = evaluate([Sample(1.0, [ok, stuck]), Sample(2.0, [ok, stuck])])
    assert report.status == "STOP" and report.exit_code == 2
    assert report.window_seconds == 1.0
    as_dict = report.to_dict()
    assert as_dict["groups"]["g"] == {"members": 0, "status": "STOP", "lag": 7}
    assert {(p["topic"], p["status"]) for p in as_dict["partitions"]} == {("a", "OK"), ("b", "STOP")}
    assert evaluate([Sample(1.0, [ok])]).exit_code == 0


# --- real broker, real workers -------------------------------------------------------
def run_lag(env: dict[str, str], *args: str) -> tuple[int, dict]:
    """``notification-actions lag --json`` in a subprocess (its own settings from ``env``)."""
    proc = subprocess.run(
        [sys.executable, "-m", "notification_actions", "lag", "--json", *args],
        env={**os.environ, **env}, capture_output=True, timeout=120,
    )
    assert proc.stdout, proc.stderr.decode()
    return proc.returncode, orjson.loads(proc.stdout)


def topic_lag(report: dict, topic: str) -> list[dict]:
    return [p for p in report["partitions"] if p["topic"] == topic]


@pytest.fixture
def lag_env(worker_env):
    return {**worker_env, "NOTIFICATION_ACTIONS_LAG_SAMPLE_INTERVAL_SECONDS": "1",
            "NOTIFICATION_ACTIONS_LAG_WINDOW_SAMPLES": "3"}


async def test_lag_while_stopped_then_caught_up(lag_env, start_worker, kafka_bootstrap):
    topic = lag_env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + "audit-log"
    first = start_worker(lag_env).wait_ready()
    assert first.stop() == 0  # the group exists, with its offsets, and nobody consumes

    await produce(kafka_bootstrap, topic, [(str(i % 7).encode(), orjson.dumps(event(f"lag{i}", i % 7))) for i in range(500)])
    code, report = run_lag(lag_env, "--samples", "2", "--interval", "0.5")
    rows = topic_lag(report, topic)
    assert sum(p["lag"] for p in rows) == 500
    lagging = [p for p in rows if p["lag"]]
    assert lagging and all(p["lag_seconds"] > 0 and p["status"] == "STOP" for p in lagging)
    assert report["status"] == "STOP" and code == 2
    assert report["groups"][lag_env["NOTIFICATION_ACTIONS_APP_ID"]]["members"] == 0
    assert report["samples"] == 2

    second = start_worker(lag_env, name="again").wait_ready()
    deadline = time.monotonic() + 60
    while True:
        code, report = run_lag(lag_env, "--samples", "1")
        if sum(p["lag"] for p in report["partitions"]) == 0:
            break
        assert time.monotonic() < deadline, f"never caught up: {report}"
        time.sleep(1)
    code, report = run_lag(lag_env)  # the defaults: 3 samples, 1 s apart
    assert code == 0 and report["status"] == "OK" and report["samples"] == 3
    assert all(p["status"] == "OK" and p["lag"] == 0 for p in report["partitions"])
    assert report["groups"][lag_env["NOTIFICATION_ACTIONS_APP_ID"]]["members"] >= 1

    # The worker's own window agrees, and /lag wants the token.
    api = f"http://127.0.0.1:{second.web_port}/lag"
    assert httpx.get(api).status_code == 401
    assert httpx.get(api, headers={"Authorization": "Bearer wrong"}).status_code == 401
    headers = {"Authorization": f"Bearer {lag_env['NOTIFICATION_ACTIONS_API_TOKEN']}"}
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(api, headers=headers)
        body = r.json() if r.status_code == 200 else {}
        if body.get("status") == "OK" and body.get("samples") == 3:
            break
        assert time.monotonic() < deadline, f"/lag never settled: {r.status_code} {r.text[:500]}"
        time.sleep(0.5)
    assert sum(p["lag"] for p in topic_lag(body, topic)) == 0
    assert {p["group"] for p in body["partitions"]} == {
        lag_env["NOTIFICATION_ACTIONS_APP_ID"], lag_env["NOTIFICATION_ACTIONS_APP_ID"] + "-retry"}


async def test_a_parked_delivery_not_yet_due_is_lag_by_design(lag_env, start_worker, kafka_bootstrap):
    # The delay queue holds its partition (offset still, lag 1, group alive):
    # STALL by the general rule, but the head is not due, so OK.
    worker = start_worker(lag_env).wait_ready()
    retry_topic = lag_env["NOTIFICATION_ACTIONS_DELIVERIES_TOPIC"] + ".retry.0"
    due = repr(time.time() + 3600).encode()
    await produce(kafka_bootstrap, retry_topic, [(b"k", b"{}")], headers=[("na-due-at", due)])
    headers = {"Authorization": f"Bearer {lag_env['NOTIFICATION_ACTIONS_API_TOKEN']}"}
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(f"http://127.0.0.1:{worker.web_port}/lag", headers=headers)
        rows = [p for p in r.json().get("partitions", []) if p["topic"] == retry_topic and p["lag"]] if r.status_code == 200 else []
        if rows:
            break
        assert time.monotonic() < deadline, r.text[:500]
        time.sleep(0.5)
    assert rows[0]["status"] == "OK" and rows[0]["lag"] == 1 and rows[0]["lag_seconds"] >= 0



async def test_a_sample_asks_for_its_topics_only_and_creates_none(worker_env):
    """The probe names its topics (the whole cluster's metadata stalled the worker's loop
    every sample), with auto-creation off: a topic nobody created is "unknown" (3) and left
    out. (Kafka 4.1 here creates no topic for a Metadata request even with the flag on, so
    this cannot tell the flag's value; it is set for the brokers that would.)"""
    from notification_actions.ops.lag import LagProbe
    from tests.support.worker_process import settings_from

    probe = LagProbe(settings_from(worker_env))
    await probe.start()
    try:
        assert (await probe.sample()).readings == []  # no worker ever ran: none of its topics exist
        wanted = sorted({t for topics in probe.groups.values() for t in topics})
        assert {d["topic"]: d["error_code"] for d in await probe.describe(wanted)} == {t: 3 for t in wanted}
    finally:
        await probe.close()
