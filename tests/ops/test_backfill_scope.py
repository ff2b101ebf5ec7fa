"""Scoped replays and backfill jobs (issue 15), against the real broker and one real worker.

One worker for the module, with ``DEDUP_TTL_SECONDS=5``. Its world: four
organizations, 2,100 events stamped an hour ago (far older than the dedup
window) published before any action but the sentinels existed, so none was
delivered live; then the actions A, B (org 1), C (org 2), D, E (org 3) and T
(org 4, throttled). Each test asserts on what reached the sink and what landed
in the replay and deliveries topics.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from notification_actions.ops.backfill import BackfillConflict, BackfillJobs, UnknownAction
from notification_actions.tables.state import load_state
from tests.ops.test_operate import end_offsets, wait_until
from tests.support.kafka import read_topics
from tests.support.pipeline import action, event, run_cli, running_pipeline
from tests.support.worker_process import settings_from

_base = itertools.count(9600, 10)
COUNTS = {1: 800, 2: 600, 3: 600, 4: 100}  # events per organization (index into World.orgs)


class World:
    def __init__(self, pipe, sink) -> None:
        self.pipe, self.sink = pipe, sink
        base = next(_base)
        self.orgs = {n: base + n for n in COUNTS}
        now = datetime.now(timezone.utc)
        self.since = (now - timedelta(hours=2)).isoformat()
        self.until = (now - timedelta(minutes=30)).isoformat()
        self.hour_ago_ms = int((now - timedelta(hours=1)).timestamp() * 1000)
        self.settings = settings_from(pipe.env)

    def url(self, name: str) -> str:
        return f"{self.sink.url}/{self.orgs[1]}/{name}"

    def path(self, name: str) -> str:
        return f"/{self.orgs[1]}/{name}"

    def id(self, name: str) -> str:
        return f"{name}{self.orgs[1]}"

    def cli(self, *args: str):
        return run_cli(self.pipe.env, *args)

    def replay(self, *args: str):
        return self.cli("replay", *args, "--since", self.since, "--until", self.until)

    def throttled(self) -> float:
        text = httpx.get(f"{self.pipe.api}/metrics").text
        return sum(float(v) for v in re.findall(r'^notification_actions_throttled_total\{[^}]*\} (\S+)$', text, re.M))


async def _build(world: World) -> None:
    pipe, orgs = world.pipe, world.orgs
    sentinel = [{"path": "data.event", "op": "eq", "value": "sentinel"}]
    await pipe.put_actions(*[action(world.id(f"s{n}-"), org, world.url(f"sentinel{n}"), conditions=sentinel)
                             for n, org in orgs.items()])
    for n, org in orgs.items():
        pipe.wait_actions(org, lambda a, n=n: world.id(f"s{n}-") in a)
    producer = AIOKafkaProducer(bootstrap_servers=pipe.bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = []
        for n, org in orgs.items():
            for i in range(COUNTS[n]):
                project = 30 + i % 2 if n == 3 else None
                futures.append(await producer.send(
                    pipe.events_topic(), key=str(org).encode(), timestamp_ms=world.hour_ago_ms + i,
                    value=orjson.dumps(event(f"e{org}-{i}", org, project=project))))
        for org in orgs.values():  # after the old events in their partition: seen once they have been
            futures.append(await producer.send(pipe.events_topic(), key=str(org).encode(),
                                               value=orjson.dumps(event(f"sentinel-{org}", org, event="sentinel"))))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    for n in orgs:
        world.sink.wait_for_sync(1, 60, path_prefix=world.path(f"sentinel{n}"))
    await pipe.put_actions(
        action(world.id("A"), orgs[1], world.url("a")), action(world.id("B"), orgs[1], world.url("b")),
        action(world.id("C"), orgs[2], world.url("c")), action(world.id("D"), orgs[3], world.url("d")),
        action(world.id("E"), orgs[3], world.url("e")),
        action(world.id("T"), orgs[4], world.url("t"), throttle={"limit": 10, "window_seconds": 3600}),
    )
    names = {world.id(x) for x in "ABCDET"}

    async def held() -> bool:
        return names <= set((await load_state(world.settings, integrations=False, directories=False)).actions)

    deadline = time.monotonic() + 30
    while not await held():
        assert time.monotonic() < deadline, "actions never reached the changelog"
        await asyncio.sleep(0.3)
    for org in orgs.values():
        pipe.wait_actions(org, lambda a: len(a) >= 2)


@pytest.fixture(scope="module")
def world(kafka_bootstrap, tmp_path_factory, sink):
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("backfill"),
                          NOTIFICATION_ACTIONS_DEDUP_TTL_SECONDS="5") as pipe:
        w = World(pipe, sink)
        asyncio.run(_build(w))
        yield w


async def test_replay_of_one_action_delivers_its_matches_and_nothing_else(world: World):
    a = world.id("A")
    out = world.replay("--action", a)  # no --topic: the topic of A's trigger; no --yes: A is named
    assert out.returncode == 0, out.stderr.decode()
    assert "for 800 deliveries (before throttles)" in out.stdout.decode()
    got = world.sink.wait_for_sync(800, 60, path_prefix=world.path("a"))
    assert sorted(r.json()["event"]["id"] for r in got) == sorted(f"e{world.orgs[1]}-{i}" for i in range(800))
    for other in "bcde":
        assert world.sink.requests_to(world.path(other)) == []
    replayed = await read_topics(world.pipe.bootstrap, [world.pipe.topic("replay")])
    assert len(replayed) == 800 and {orjson.loads(r.raw_headers[0][1])["actions"][0] for r in replayed} == {a}
    delivered = await read_topics(world.pipe.bootstrap, [world.pipe.topic("deliveries")])
    assert {orjson.loads(r.value)["action"]["id"] for r in delivered} - {world.id(f"s{n}-") for n in COUNTS} == {a}


async def test_scope_by_organization_and_project_and_unknown_actions(world: World):
    o = world.orgs
    two = world.replay("--topic", world.pipe.events_topic(), "--org", str(o[2]), "--org", str(o[3]),
                       "--dry-run", "--json")
    assert two.returncode == 0, two.stderr.decode()
    report = orjson.loads(two.stdout)
    assert report["counts"]["byOrganization"] == {str(o[2]): 600, str(o[3]): 1200}  # C; D and E
    assert report["eventsTotal"] == 2100 and report["pastDedupWindow"] is True and report["refused"] is False
    project = world.replay("--topic", world.pipe.events_topic(), "--project", "30", "--dry-run")
    assert project.returncode == 0 and "would fire 600 deliveries" in project.stdout.decode()  # 300 × (D, E)
    assert "scope: every action; project 30" in project.stdout.decode()
    unknown = world.replay("--action", "no-such-action")
    assert unknown.returncode == 1 and b"unknown action 'no-such-action'" in unknown.stderr


async def test_an_unscoped_replay_past_the_dedup_window_fires_nothing_without_yes(world: World):
    before = {t: await end_offsets(world.pipe.bootstrap, world.pipe.topic(t)) for t in ("replay", "deliveries")}
    out = world.replay("--topic", world.pipe.events_topic())
    assert out.returncode == 2, out.stdout.decode() + out.stderr.decode()
    text = out.stdout.decode()
    o = world.orgs
    for org, n in ((o[1], 1600), (o[2], 600), (o[3], 1200), (o[4], 100)):
        assert f"organization {org}: {n}" in text
    assert "service webhook: 3500" in text and "would fire 3500 deliveries" in text
    assert "Not sent" in out.stderr.decode() and "--yes" in out.stderr.decode()
    for t, offsets in before.items():
        assert await end_offsets(world.pipe.bootstrap, world.pipe.topic(t)) == offsets, f"{t} was written"


async def test_throttles_hold_in_replays_and_no_throttle_lifts_them(world: World):
    t, org = world.id("T"), world.orgs[4]
    dry = world.replay("--action", t, "--dry-run", "--json")
    assert orjson.loads(dry.stdout)["deliveries"] == 100  # before throttling, and using none of it up
    throttled = world.throttled()
    out = world.replay("--action", t)
    assert out.returncode == 0, out.stderr.decode()
    wait_until(lambda: world.throttled() >= throttled + 90, what="90 replayed deliveries throttled")
    assert len(world.sink.wait_for_sync(10, 30, path_prefix=world.path("t"))) == 10

    await world.pipe.publish(event(f"live-{org}", org))  # the live stream shares the replay's window: full
    wait_until(lambda: world.throttled() >= throttled + 91, what="the live event throttled")
    assert len(world.sink.requests_to(world.path("t"))) == 10

    lifted = world.replay("--action", t, "--no-throttle")
    assert lifted.returncode == 0, lifted.stderr.decode()
    got = world.sink.wait_for_sync(100, 60, path_prefix=world.path("t"))
    assert sorted(r.json()["event"]["id"] for r in got) == sorted(f"e{org}-{i}" for i in range(100))  # dedup held


async def test_backfill_jobs_run_one_per_action_and_count_as_the_cli(world: World):
    c, org = world.id("C"), world.orgs[2]
    since = datetime.fromisoformat(world.since)
    until = datetime.fromisoformat(world.until)
    slow, other = BackfillJobs(world.settings, rate=40, heartbeat_seconds=0.5), BackfillJobs(world.settings)
    await slow.start_background()
    await other.start_background()
    try:
        with pytest.raises(UnknownAction, match="unknown action"):
            await other.start(org, world.id("A"), since, until, dry_run=True)  # another organization's
        job = await slow.start(org, c, since, until, dry_run=True)
        assert job["state"] == "running" and job["actionId"] == c
        with pytest.raises(BackfillConflict):
            await other.start(org, c, since, until, dry_run=True)  # another process, the same action
        seen = await other.get(org, job["id"])
        assert seen["state"] == "running"
        assert await other.get(world.orgs[1], job["id"]) is None
        await slow.stop()  # its worker goes away while the job runs
        assert (await other.get(org, job["id"]))["state"] == "failed"
        assert (await other.get(org, job["id"]))["error"] == "worker restarted"

        again = await other.start(org, c, since, until, dry_run=True)
        done = await _finished(other, org, again["id"])
        cli = orjson.loads(world.replay("--action", c, "--dry-run", "--json").stdout)
        assert done["state"] == "done" and done["eventsRead"] == done["eventsTotal"] == cli["eventsTotal"]
        assert done["deliveries"] == cli["deliveries"] == 600
        assert done["counts"] == {"byService": cli["counts"]["byService"],
                                  "byOrganization": cli["counts"]["byOrganization"]}

        real = await other.start(world.orgs[3], world.id("E"), since, until, dry_run=False)
        assert (await _finished(other, world.orgs[3], real["id"]))["deliveries"] == 600
        got = world.sink.wait_for_sync(600, 60, path_prefix=world.path("e"))
        assert len({r.json()["event"]["id"] for r in got}) == 600
    finally:
        await slow.stop()
        await other.stop()


async def _finished(jobs: BackfillJobs, org: int, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := await jobs.get(org, job_id))["state"] == "running":
        assert time.monotonic() < deadline, f"job {job_id} still running: {job}"
        await asyncio.sleep(0.2)
    return job
