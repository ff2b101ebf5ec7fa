"""One worker shared by the hostile-tenant tests, and the checks every one of them makes.

Each test plays one tenant's worst input against this worker, then asserts what
another tenant still receives (counts against deadlines), that the worker is
alive, and that its peak RSS stays under :data:`RSS_BOUND_MB` (a safety bound,
not a benchmark).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from tests.support.fakes.http_sink import HttpSink
from tests.support.pipeline import Pipeline, action, event, running_pipeline

RSS_BOUND_MB = 1024
_orgs = itertools.count(70_000)


@pytest.fixture(scope="package")
def pipeline(kafka_bootstrap, tmp_path_factory):
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("hostile"),
                          NOTIFICATION_ACTIONS_MAX_PACING_HOLD_SECONDS="10") as pipe:  # test_waits: 10 s, not 60
        yield pipe


@pytest.fixture(scope="package")
def short_tiers(kafka_bootstrap, tmp_path_factory):
    """A second worker whose retry tiers wait 1 s and 2 s, with no quick retries and a 4 s HTTP timeout:
    for the tests that need deliveries to reach (and come back from) the tiers in test time."""
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory.mktemp("hostile-tiers"),
        NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS="[1, 2]",
        NOTIFICATION_ACTIONS_QUICK_RETRIES="0",
        NOTIFICATION_ACTIONS_HTTP_TIMEOUT_SECONDS="4",
    ) as pipe:
        yield pipe


def new_org() -> int:
    return next(_orgs)


def peak_rss_mb(pipe: Pipeline) -> float:
    """The worker's high-water resident set (VmHWM), in MB."""
    status = Path(f"/proc/{pipe.worker.proc.pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kb / 1024


async def bystander_still_served(pipe: Pipeline, sink: HttpSink, *, events: int = 5, timeout: float = 30.0) -> None:
    """Another organization's action gets every one of its events, in time; the worker is alive and small."""
    org = new_org()
    await pipe.put_actions(action(f"by{org}", org, f"{sink.url}/bystander/{org}"))
    pipe.wait_actions(org, lambda a: f"by{org}" in a, timeout=timeout)
    await pipe.publish(*(event(f"by{org}-{i}", org) for i in range(events)))
    got = await sink.wait_for(events, timeout, path_prefix=f"/bystander/{org}")
    assert sorted(r.json()["event"]["id"] for r in got) == sorted(f"by{org}-{i}" for i in range(events))
    assert pipe.worker.proc.poll() is None, "the worker died"
    assert httpx.get(f"{pipe.api}/healthz", timeout=5).status_code == 200
    assert peak_rss_mb(pipe) < RSS_BOUND_MB, f"peak RSS {peak_rss_mb(pipe):.0f} MB"
