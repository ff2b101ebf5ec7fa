"""Command-line output that pipes: ``lag``, ``dlq list`` and ``dlq redrive`` through a real pipe (``| grep``)
print whole names — rich used to fold a topic at 80 columns, and grep found nothing — and ``--json`` parses.
Against the real broker, with topics and a dead letter made for the test."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys

import orjson
import pytest

from tests.support.kafka import create_topics, produce
from tests.support.worker_process import unique, worker_env_for

LONG = "a-deployment-name-long-enough-that-a-table-at-80-columns-must-fold-it"


@pytest.fixture(scope="module")
def env(kafka_bootstrap, tmp_path_factory):
    env = worker_env_for(kafka_bootstrap, f"{unique()}.{LONG}", tmp_path_factory.mktemp("pipes"))
    topics = [env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + "audit-log", env["NOTIFICATION_ACTIONS_DELIVERIES_DLQ_TOPIC"]]
    asyncio.run(create_topics(kafka_bootstrap, topics, partitions=2))
    asyncio.run(produce(kafka_bootstrap, topics[0], [(b"1", b"{}")]))  # lag: nobody consumes it
    asyncio.run(produce(kafka_bootstrap, topics[1], [(b"k", b"not a delivery")], headers=[
        ("na-action-id", f"action-{LONG}".encode()), ("na-organization-id", b"1"),
        ("na-error-class", b"PermanentDeliveryError"), ("na-origin-topic", topics[0].encode())]))
    return env


def piped(env: dict[str, str], command: str, into: str) -> subprocess.CompletedProcess:
    """``notification-actions COMMAND | INTO`` in a shell: stdout is a pipe, as in a script."""
    line = f"{shlex.quote(sys.executable)} -m notification_actions {command} | {into}"
    return subprocess.run(["sh", "-c", line], env={**os.environ, **env, "COLUMNS": "80"}, capture_output=True,
                          timeout=120)


def test_lag_piped_to_grep_finds_the_whole_topic_name(env):
    topic = env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + "audit-log"
    assert len(topic) > 80
    done = piped(env, "lag --all --samples 1", f"grep -F {shlex.quote(topic)}")
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 2 and all(topic in line for line in lines), lines  # both partitions, one line each
    assert any(line.endswith("STOP") for line in lines), lines
    assert "\x1b[" not in done.stdout.decode()  # no colour codes in a pipe

    report = orjson.loads(piped(env, "lag --all --samples 1 --json", "cat").stdout)
    assert {p["topic"] for p in report["partitions"]} == {topic} and report["status"] == "STOP"


def test_dlq_list_and_redrive_pipe_whole_and_as_json(env):
    action = f"action-{LONG}"
    done = piped(env, "dlq list", f"grep -F {shlex.quote(action)}")
    assert done.returncode == 0 and action in done.stdout.decode(), done.stdout.decode() + done.stderr.decode()

    listed = orjson.loads(piped(env, "dlq list --json", "cat").stdout)
    assert listed["total"] == 1 and listed["action"] == {action: 1}

    plan = orjson.loads(piped(env, "dlq redrive --dry-run --json", "cat").stdout)
    assert plan["dry_run"] is True and plan["selected"] == 1 and plan["planned"] == []
    assert "undecodable" in plan["skipped"][0]["why"]
