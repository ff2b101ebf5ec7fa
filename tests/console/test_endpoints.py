"""The console's endpoints over HTTP: static pages behind a strict CSP, dead letters and redrive scoped by
token, health and lag without tenant data. Against a real worker, broker and webhook sink."""

from __future__ import annotations

import asyncio

import httpx

from notification_actions.api.deadletters import SCAN_RECORDS
from tests.console.conftest import OTHER_BOT_TOKEN, OTHER_HOOK_SECRET, Client, dead_letter, wait_for
from tests.support.kafka import produce

ENDPOINTS = ["/api/0/console/me", "/api/0/console/health", "/api/0/console/lag", "/api/0/dead-letters/",
             "/api/0/organizations/1/notifications/dead-letters/",
             "/api/0/organizations/1/notifications/last-outcomes/"]


def test_the_pages_are_static_served_without_a_token_under_a_strict_policy(pipeline):
    for path, kind in (("/console/", "text/html"), ("/console/console.js", "text/javascript"),
                       ("/console/console.css", "text/css")):
        r = httpx.get(pipeline.api + path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp, csp
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in httpx.get(pipeline.api + "/console/").text  # no inline script to allow
    assert "innerHTML" not in httpx.get(pipeline.api + "/console/console.js").text
    assert httpx.get(pipeline.api + "/console", follow_redirects=False).headers["location"] == "/console/"
    for path in ("/console/settings.py", "/console/..%2Fconsole.py", "/console/index.htm"):
        r = httpx.get(pipeline.api + path)
        assert r.status_code == 404 and "detail" in r.json(), path
    for path in ENDPOINTS:
        r = httpx.get(pipeline.api + path)
        assert r.status_code == 401 and "detail" in r.json(), path


def test_me_says_what_the_token_grants(clients):
    assert clients["admin"].call("GET", "/api/0/console/me").json() == {
        "name": "admin", "admin": True, "write": True, "organizations": None}
    assert clients["org1-read"].call("GET", "/api/0/console/me").json() == {
        "name": "org1-read", "admin": False, "write": False, "organizations": [1]}


def test_dead_letters_are_the_organizations_own_and_redrive_needs_its_write_token(pipeline, sink, clients):
    org1, org2, read, admin = clients["org1"], clients["org2"], clients["org1-read"], clients["admin"]
    mine = dead_letter(pipeline, sink, org1, 1, "/dl/org1", "ev-dl-1")
    theirs = dead_letter(pipeline, sink, org2, 2, f"/dl/org2/{OTHER_HOOK_SECRET}", "ev-dl-2")
    # an undecodable record claiming organization 1: only the admin sees it
    asyncio.run(produce(pipeline.bootstrap, pipeline.topic("deliveries_dlq"), [(b"k", b"\x00not a delivery")],
                        headers=[("na-organization-id", b"1"), ("na-error-class", b"InvalidDelivery")]))
    wait_for(lambda: any(not d["decodable"] for d in admin.call("GET", "/api/0/dead-letters/").json()["deadLetters"]),
             30, "the undecodable record never showed")

    r = org1.call("GET", org1.org(1, "dead-letters/"))
    assert r.status_code == 200, r.text
    listed = r.json()
    # the package's worker is shared: the browser test's dead letters of organization 1 may be here too
    assert str(mine["id"]) in {d["actionId"] for d in listed["deadLetters"]}
    assert {d["organizationId"] for d in listed["deadLetters"]} == {1} and str(theirs["id"]) not in r.text
    assert listed["counts"]["action"][str(mine["id"])] == 1 and str(theirs["id"]) not in listed["counts"]["action"]
    assert set(listed["counts"]["service"]) == {"webhook"}
    assert set(listed["counts"]["errorClass"]) == {"PermanentDeliveryError"}
    assert listed["scanLimit"] == SCAN_RECORDS and listed["truncated"] is False and listed["scanned"] >= 3
    assert org1.call("GET", org1.org(1, "dead-letters/"), errorClass="Nope").json()["matched"] == 0
    assert org1.call("GET", org1.org(1, "dead-letters/"), since="2999-01-01T00:00:00Z").json()["matched"] == 0
    assert org1.call("GET", org1.org(1, "dead-letters/"), since="yesterday").status_code == 400

    everything = admin.call("GET", "/api/0/dead-letters/").json()
    assert {d["organizationId"] for d in everything["deadLetters"]} == {1, 2, None}
    assert admin.call("GET", "/api/0/dead-letters/", organization="2").json()["matched"] == 1

    # another organization's: 404 like a missing one; the admin-wide list: 403
    assert org1.call("GET", org1.org(2, "dead-letters/")).status_code == 404
    assert org1.call("POST", org1.org(2, "dead-letters/redrive/"), {"dryRun": False}).status_code == 404
    assert org1.call("GET", "/api/0/dead-letters/").status_code == 403
    assert org1.call("POST", "/api/0/dead-letters/redrive/", {"dryRun": True}).status_code == 403
    # a read-only token neither redrives nor test-fires
    assert read.call("GET", read.org(1, "dead-letters/")).status_code == 200
    assert read.call("POST", read.org(1, "dead-letters/redrive/"), {"dryRun": True}).status_code == 403
    assert read.call("POST", read.org(1, f"actions/{mine['id']}/test/")).status_code == 403
    assert org1.call("POST", org1.org(1, "dead-letters/redrive/"), {"dryRun": "no"}).status_code == 400
    assert org1.call("POST", org1.org(1, "dead-letters/redrive/"), {"organization": 2}).status_code == 400

    for client in (org1, read, admin):  # no credential, no other organization's URL, in any answer
        for path in ENDPOINTS + [client.org(1, "dead-letters/"), client.org(1, "actions/")]:
            text = client.call("GET", path).text
            assert OTHER_HOOK_SECRET not in text and OTHER_BOT_TOKEN not in text, (client.token, path)

    before = len(sink.requests_to("/dl/org1"))
    only_mine = {"action": str(mine["id"])}  # the browser test's dead letters are this worker's too
    preview = org1.call("POST", org1.org(1, "dead-letters/redrive/"), {"dryRun": True, **only_mine})
    assert preview.status_code == 200, preview.text
    key = f"ev-dl-1:{mine['id']}"
    assert preview.json()["planned"] == [{"deliveryId": key, "actionId": str(mine["id"])}]
    assert preview.json()["sent"] == 0 and len(sink.requests_to("/dl/org1")) == before

    done = org1.call("POST", org1.org(1, "dead-letters/redrive/"), {"dryRun": False, **only_mine})
    assert done.status_code == 200 and done.json()["sent"] == 1, done.text
    got = sink.wait_for_sync(before + 1, 30, path_prefix="/dl/org1")
    assert got[-1].headers["webhook-id"] == key
    assert len(sink.requests_to(f"/dl/org2/{OTHER_HOOK_SECRET}")) == 1  # org 2's dead letter stayed dead
    assert theirs["organizationId"] == 2


def test_health_lag_and_last_outcomes_hold_no_other_tenants_data(pipeline, sink, clients):
    org1, admin = clients["org1"], clients["admin"]
    health = org1.call("GET", "/api/0/console/health").json()
    assert health["ready"] is True and health["tablesRecovered"] is True and health["partitionsAssigned"] > 0
    assert "assignment" not in health and "actions" not in health
    full = admin.call("GET", "/api/0/console/health").json()
    assert pipeline.topic("config") in full["assignment"]

    assert org1.call("GET", "/api/0/console/lag").status_code == 403
    lag = wait_for(lambda: (r := admin.call("GET", "/api/0/console/lag").json())["report"] and len(r["history"]) >= 2
                   and r, 60, "no lag history")
    sample = lag["history"][-1]
    assert sample["groups"] and {"group", "topic", "lag", "lagSeconds"} <= set(sample["topics"][0])

    sink.script("/last/org1", [(200, {}, {"ok": True})])
    made = Client(pipeline.api, org1.token).call("POST", org1.org(1, "actions/"), {
        "triggerType": "audit-log", "serviceType": "webhook", "targetIdentifier": sink.url + "/last/org1"}).json()
    fired = org1.call("POST", org1.org(1, f"actions/{made['id']}/test/"))
    assert fired.status_code == 200 and fired.json()["result"] == "ok", fired.text
    last = wait_for(lambda: org1.call("GET", org1.org(1, "last-outcomes/")).json().get(str(made["id"])), 30,
                    "the test-fire's outcome never showed")
    assert last["result"] == "ok" and last["status"] == 200
    assert org1.call("GET", org1.org(2, "last-outcomes/")).status_code == 404
    assert str(made["id"]) not in clients["org2"].call("GET", org1.org(2, "last-outcomes/")).text
