"""Builders and waits shared by the pipeline tests (real worker, real broker, real sink)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import orjson

from tests.support.kafka import produce


def action(action_id: str, org: int, url: str, *, trigger: str = "audit-log", **extra: Any) -> dict:
    return {
        "id": action_id,
        "organization_id": org,
        "trigger_type": trigger,
        "service_type": "webhook",
        "target_type": "specific",
        "target_identifier": url,
        **extra,
    }


def event(event_id: str, org: int, *, project: int | None = None, trigger: str | None = None, **data: Any) -> dict:
    out = {
        "id": event_id,
        "organization_id": org,
        "occurred_at": "2026-11-26T20:00:00Z",
        "data": {"event": "member.invite", "actor": "jane@acme.io", **data},
    }
    if project is not None:
        out["project_id"] = project
    if trigger is not None:
        out["trigger"] = trigger
    return out


class Pipeline:
    """One running worker's topics and API, for a test to talk to."""

    def __init__(self, bootstrap: str, env: dict[str, str], web_port: int) -> None:
        self.bootstrap = bootstrap
        self.env = env
        self.api = f"http://127.0.0.1:{web_port}"
        self.token = env["NOTIFICATION_ACTIONS_API_TOKEN"]

    def topic(self, name: str) -> str:
        return self.env[f"NOTIFICATION_ACTIONS_{name.upper()}_TOPIC"]

    def events_topic(self, trigger: str = "audit-log") -> str:
        return self.env["NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX"] + trigger

    async def put_actions(self, *actions: dict) -> None:
        await produce(self.bootstrap, self.topic("config"), [(a["id"].encode(), orjson.dumps(a)) for a in actions])

    async def put_raw_config(self, key: bytes | None, value: bytes | None) -> None:
        await produce(self.bootstrap, self.topic("config"), [(key, value)])

    async def delete_action(self, action_id: str) -> None:
        await produce(self.bootstrap, self.topic("config"), [(action_id.encode(), None)])

    async def put_integration(self, record: dict) -> None:
        await produce(self.bootstrap, self.topic("integrations"), [(record["id"].encode(), orjson.dumps(record))])

    async def publish(self, *events: dict, trigger: str = "audit-log") -> None:
        await produce(
            self.bootstrap,
            self.events_topic(trigger),
            [(str(e.get("organization_id", 0)).encode(), orjson.dumps(e)) for e in events],
        )

    async def publish_raw(self, value: bytes | None, *, key: bytes = b"1", trigger: str = "audit-log") -> None:
        await produce(self.bootstrap, self.events_topic(trigger), [(key, value)])

    def actions_of(self, org: int) -> dict[str, dict]:
        r = httpx.get(f"{self.api}/organizations/{org}/actions", headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return {a["id"]: a for a in r.json()["actions"]}

    def wait_actions(self, org: int, predicate, timeout: float = 30.0) -> dict[str, dict]:
        """Poll the worker's API until its view of ``org``'s actions satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.actions_of(org)
            if predicate(current):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"actions of org {org} never reached the expected state: {current}")
            time.sleep(0.1)


def run_cli(env: dict[str, str], *args: str, input: bytes | None = None, timeout: float = 120):
    """Run ``notification-actions ARGS`` as a user would, with the test's settings."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "notification_actions", *args],
        env={**os.environ, **env}, input=input, capture_output=True, timeout=timeout,
    )


@contextlib.contextmanager
def running_pipeline(bootstrap: str, tmp, *, ready_timeout: float = 90.0, **env_overrides: str):
    """A real worker on its own topics (settings overridden by ``env_overrides``), stopped after.

    ``ready_timeout``: how long it may take to start (on a broker shared with other suites,
    with thousands of topics, creating the worker's own ones alone can take a minute)."""
    from tests.support.worker_process import WorkerProcess, unique, worker_env_for

    env = worker_env_for(bootstrap, unique(), tmp, **env_overrides)
    worker = WorkerProcess(env, tmp / "worker.log").start()
    try:
        worker.wait_ready(ready_timeout)
        pipe = Pipeline(bootstrap, env, worker.web_port)
        pipe.worker = worker
        yield pipe
    finally:
        worker.stop()
