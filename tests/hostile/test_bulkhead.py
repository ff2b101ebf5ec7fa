"""A bulkhead per target: one slow endpoint cannot take every pending slot of the worker.

The dispatch agent accepts at most ``max(MAX_IN_FLIGHT * 8, 256)`` unfinished
deliveries; one target's deliveries run one at a time, in order. A tenant whose
endpoint answers just before the HTTP timeout, fed a few hundred events, used
to fill all of them: the stream stopped reading and every other tenant waited
for the slow target's backlog. Now a target holds at most
``MAX_PENDING_PER_TARGET`` deliveries in memory; the later ones wait on the
broker, parked behind the target's circuit like deliveries behind an open
circuit, and come back in order, each delivered once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from notification_actions.models import NotificationAction
from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.fakes.http_sink import Answer
from tests.support.pipeline import action, event

SLOW = 2.0  # seconds the slow endpoint takes; the short_tiers worker's HTTP timeout is 4 s
EVENTS = 300  # more than the worker's pending bound (256 with MAX_IN_FLIGHT=32)


def circuits(pipe) -> dict:
    r = httpx.get(f"{pipe.api}/circuits", headers={"Authorization": f"Bearer {pipe.token}"}, timeout=5)
    r.raise_for_status()
    return r.json()["circuits"]


async def test_a_slow_target_with_hundreds_of_events_does_not_hold_up_other_tenants(short_tiers, sink):
    pipe = short_tiers
    org = new_org()
    path = f"/slow/{org}"
    recovered = threading.Event()

    async def answer(record):
        if not recovered.is_set():
            await asyncio.sleep(SLOW)
        return Answer(200, {}, {"ok": True})

    sink.route(path, answer)
    await pipe.put_actions(action(f"slow{org}", org, f"{sink.url}{path}"))
    pipe.wait_actions(org, lambda a: f"slow{org}" in a)
    expected = [f"s{org}-{i:03d}" for i in range(EVENTS)]
    await pipe.publish(*(event(e, org) for e in expected))
    await sink.wait_for(1, 30, path_prefix=path)

    # Another tenant is served in a small fraction of EVENTS × SLOW (600 s); before: after about 90 s.
    started = time.monotonic()
    await bystander_still_served(pipe, sink, timeout=30)
    slow_so_far = len(sink.requests_to(path))
    assert slow_so_far < EVENTS // 4, slow_so_far  # it really was served beside the backlog, not after it
    assert time.monotonic() - started < 45

    # The endpoint recovers: every one of its deliveries arrives, once each, in order, and its circuit closes.
    recovered.set()
    got = await sink.wait_for(EVENTS, 240, path_prefix=path)
    ids = [r.json()["event"]["id"] for r in got]
    assert ids == expected, [i for i in ids if ids.count(i) > 1][:5] or ids[:20]
    target = NotificationAction.model_validate(action(f"slow{org}", org, f"{sink.url}{path}")).target_key()
    deadline = time.monotonic() + 30
    while target in circuits(pipe):
        assert time.monotonic() < deadline, f"a circuit never closed: {circuits(pipe)}"
        await asyncio.sleep(0.2)
    assert len(sink.requests_to(path)) == EVENTS


async def test_a_burst_to_a_healthy_target_is_back_long_before_a_tier_delay(pipeline, sink):
    """A target that is healthy but not instant gets a burst beyond its share of memory: the later
    deliveries are parked, and come back about when the target can take them — not after the first
    tier's delay (30 s on this worker), which is for targets that fail."""
    pipe = pipeline
    org = new_org()
    path = f"/steady/{org}"

    async def answer(record):
        await asyncio.sleep(0.2)  # ten in 2 s: past its share after about ten
        return Answer(200, {}, {"ok": True})

    sink.route(path, answer)
    await pipe.put_actions(action(f"steady{org}", org, f"{sink.url}{path}"))
    pipe.wait_actions(org, lambda a: f"steady{org}" in a)
    expected = [f"b{org}-{i:02d}" for i in range(40)]
    started = time.monotonic()
    await pipe.publish(*(event(e, org) for e in expected))
    # 40 × 0.2 s = 8 s of firing, one at a time; a parked one waiting a tier delay would take past 30 s
    got = await sink.wait_for(len(expected), 27, path_prefix=path)
    assert [r.json()["event"]["id"] for r in got] == expected  # once each, in order
    assert time.monotonic() - started < 30
    target = NotificationAction.model_validate(action(f"steady{org}", org, f"{sink.url}{path}")).target_key()
    log = pipe.worker.log_path.read_text(errors="replace").splitlines()
    assert any(target in line and "later ones wait in the retry tiers" in line for line in log)  # it was parked
    deadline = time.monotonic() + 30
    while (circuit := circuits(pipe).get(target)) is not None:  # read once: it may close between two reads
        assert not circuit["failing"], circuit
        assert time.monotonic() < deadline, f"a circuit never closed: {circuit}"
        await asyncio.sleep(0.2)
    assert len(sink.requests_to(path)) == len(expected)
