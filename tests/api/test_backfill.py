"""Backfills over the API: start, poll to done, the CLI's dry-run counts; 404 across organizations; 409."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import httpx
import orjson

from tests.support.pipeline import event, run_cli

ORG = 5


def backfill_path(api, action_id) -> str:
    return f"{api.actions(ORG)}{action_id}/backfill/"


def poll(api, path: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = api.call("GET", path)
        assert r.status_code == 200, r.text
        if r.json()["state"] != "running":
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.2)


async def test_a_backfill_over_the_api(apis, pipeline, api_env, sink):
    admin = apis["admin"]
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    await pipeline.publish(*(event(f"bf-{i}", ORG, project=50 + i % 2) for i in range(1500)))
    made = admin.call("POST", admin.actions(ORG), {"triggerType": "audit-log", "serviceType": "webhook",
                                                   "targetIdentifier": f"{sink.url}/backfill", "projects": [50]})
    assert made.status_code == 201
    action_id = made.json()["id"]

    r = admin.call("POST", backfill_path(admin, action_id), {"since": since, "dryRun": True})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("running", "done") and job["actionId"] == str(action_id) and job["dryRun"] is True
    done = poll(admin, f"{backfill_path(admin, action_id)}{job['id']}/")
    assert done["state"] == "done" and done["eventsRead"] == done["eventsTotal"] >= 1500

    cli = run_cli(pipeline.env, "replay", "--action", str(action_id), "--since", since, "--dry-run", "--json")
    assert cli.returncode == 0, cli.stderr.decode()
    report = orjson.loads(cli.stdout)
    assert done["deliveries"] == report["deliveries"] == 750
    assert done["counts"]["byService"] == report["counts"]["byService"] == {"webhook": 750}

    # another organization's token: the job and the action are invisible
    other = apis["org2"]
    for method, path in (("GET", f"{backfill_path(admin, action_id)}{job['id']}/"),
                         ("POST", backfill_path(admin, action_id))):
        assert other.call(method, path.replace(f"/{ORG}/", "/2/"), {} if method == "POST" else None).status_code == 404
        assert other.call(method, path, {} if method == "POST" else None).status_code == 404
    # a read-only token starts none (403 whichever id: it tells nothing of the action)
    assert apis["org1-read"].call("POST", backfill_path(admin, action_id).replace(f"/{ORG}/", "/1/"),
                                  {}).status_code == 403

    # one per action: two starts at once, one of them is refused while the other runs
    async def start() -> httpx.Response:
        async with httpx.AsyncClient(timeout=60) as client:
            return await client.post(admin.base + backfill_path(admin, action_id), headers=admin.headers(),
                                     content=orjson.dumps({"since": since, "dryRun": True}))

    first, second = await asyncio.gather(start(), start())
    assert sorted([first.status_code, second.status_code]) == [202, 409], (first.text, second.text)
    winner = first if first.status_code == 202 else second
    assert poll(admin, f"{backfill_path(admin, action_id)}{winner.json()['id']}/")["deliveries"] == 750

    bad = admin.call("POST", backfill_path(admin, action_id), {"since": "yesterday", "dryRn": True})
    assert bad.status_code == 400 and set(bad.json()) == {"since", "dryRn"}
    assert admin.call("GET", f"{backfill_path(admin, action_id)}no-such-job/").status_code == 404


def test_an_organization_runs_at_most_its_share_of_backfills(apis, sink):
    """BACKFILL_MAX_RUNNING (2): a third backfill of one organization while two run is a 429; another
    organization starts its own meanwhile. (At 500 events/s here, each job reads organization 5's 1,500
    events of the test above for 3 s.)"""
    admin = apis["admin"]
    made = [admin.call("POST", admin.actions(ORG), {"triggerType": "audit-log", "serviceType": "webhook",
                                                    "targetIdentifier": f"{sink.url}/share/{i}"}).json()["id"]
            for i in range(3)]
    started = [admin.call("POST", backfill_path(admin, a), {"dryRun": True}) for a in made]
    assert [r.status_code for r in started] == [202, 202, 429], [r.text for r in started]
    assert started[2].headers["Retry-After"] and "2 backfills running" in started[2].json()["detail"]
    other = apis["org2"]
    theirs = other.call("POST", other.actions(2), {"triggerType": "audit-log", "serviceType": "webhook",
                                                   "targetIdentifier": f"{sink.url}/share/other"}).json()["id"]
    assert other.call("POST", f"{other.actions(2)}{theirs}/backfill/", {"dryRun": True}).status_code == 202
    for r, a in zip(started[:2], made):
        assert poll(admin, f"{backfill_path(admin, a)}{r.json()['id']}/")["state"] == "done"
