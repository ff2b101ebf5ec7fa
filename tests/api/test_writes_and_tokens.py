"""The API as a door to the config topic (read your write), its tokens, and its bounds."""

from __future__ import annotations


import httpx

from notification_actions.models import NotificationAction
from notification_actions.ops.configwrite import ConfigWriter
from tests.api.conftest import Api
from tests.support.api import wait_until
from tests.support.pipeline import event
from tests.support.worker_process import settings_from


def webhook(url: str, **extra) -> dict:
    return {"triggerType": "audit-log", "serviceType": "webhook", "targetIdentifier": url, **extra}


async def test_an_action_created_over_the_api_fires_on_the_next_event_and_stops_once_deleted(apis, pipeline, sink):
    api = apis["org3"]
    r = api.call("POST", api.actions(3), webhook(f"{sink.url}/api-fire"))
    assert r.status_code == 201, r.text
    made = r.json()
    # answered only once applied: the very next event matches, with no wait in between
    await pipeline.publish(event("ev-api-1", 3))
    [request] = sink.wait_for_sync(1, 30, path_prefix="/api-fire")
    assert request.headers["webhook-id"] == f"ev-api-1:{made['id']}"

    assert api.call("DELETE", f"{api.actions(3)}{made['id']}/").status_code == 204
    await pipeline.publish(event("ev-api-2", 3), event("ev-api-sentinel", 3, event="sentinel"))
    r = api.call("POST", api.actions(3), webhook(f"{sink.url}/api-sentinel",
                                                 conditions=[{"path": "data.event", "op": "eq", "value": "sentinel"}]))
    assert r.status_code == 201
    await pipeline.publish(event("ev-api-sentinel-2", 3, event="sentinel"))
    sink.wait_for_sync(1, 30, path_prefix="/api-sentinel")  # the events before it were matched by now
    assert len(sink.requests_to("/api-fire")) == 1


async def test_a_refused_update_is_a_400_and_the_old_version_keeps_firing(apis, pipeline, sink):
    api = apis["org3"]
    made = api.call("POST", api.actions(3), webhook(f"{sink.url}/keeps",
                                                    conditions=[{"path": "data.event", "op": "eq", "value": "k"}]))
    assert made.status_code == 201
    bad = api.call("PUT", f"{api.actions(3)}{made.json()['id']}/",
                   webhook("ftp://example.com/x", conditions=[{"path": "data.event", "op": "eq", "value": "k"}]))
    assert bad.status_code == 400 and "targetIdentifier" in bad.json(), bad.text
    assert api.call("GET", f"{api.actions(3)}{made.json()['id']}/").json() == made.json()
    await pipeline.publish(event("ev-keeps", 3, event="k"))
    sink.wait_for_sync(1, 30, path_prefix="/keeps")


async def test_the_workers_refusal_reaches_the_writer(pipeline):
    """What only a worker can refuse (an integration it does not hold, after its 5 s wait) comes back as the
    verdict of that very write, with the worker's reasons."""
    writer = ConfigWriter(settings_from(pipeline.env))
    try:
        action = NotificationAction.model_validate({
            "id": "refused-1", "organization_id": 3, "trigger_type": "audit-log", "service_type": "webhook",
            "target_type": "specific", "target_identifier": "http://127.0.0.1:9/x", "integration_id": "missing"})
        verdict = await writer.put(action, timeout=60)
        assert not verdict.applied
        assert [p.field for p in verdict.problems] == ["integration_id"], verdict.problems
        assert verdict.where.startswith(pipeline.topic("config"))
    finally:
        await writer.stop()


def test_no_token_is_a_401_and_a_wrong_one_too(apis):
    for api in (apis["none"], Api(apis["admin"].base, "na_not-a-real-token")):
        r = api.call("GET", api.actions(1))
        assert r.status_code == 401 and "detail" in r.json()


def test_an_organization_token_sees_only_its_organizations(apis):
    theirs = apis["org2"].call("POST", apis["org2"].actions(2), webhook("http://127.0.0.1:9/theirs"))
    assert theirs.status_code == 201
    their_id = theirs.json()["id"]
    api = apis["org1"]
    for method, path in (("GET", api.actions(2)), ("POST", api.actions(2)), ("GET", f"{api.actions(2)}{their_id}/"),
                         ("PUT", f"{api.actions(2)}{their_id}/"), ("DELETE", f"{api.actions(2)}{their_id}/"),
                         ("POST", f"{api.actions(2)}{their_id}/test/"),
                         ("GET", f"{api.actions(2)}{their_id}/deliveries/"),
                         ("GET", "/api/0/organizations/2/notifications/available-actions/"),
                         ("GET", "/organizations/2/actions"), ("GET", "/organizations/2/available-actions")):
        r = api.call(method, path, webhook("http://127.0.0.1:9/x") if method in ("POST", "PUT") else None)
        assert r.status_code == 404, (method, path, r.text)
        assert str(their_id) not in r.text
    # nor under its own organization's path
    assert api.call("GET", f"{api.actions(1)}{their_id}/").status_code == 404
    assert apis["org2"].call("GET", f"{api.actions(2)}{their_id}/").status_code == 200


def test_a_read_only_token_reads_but_cannot_write(apis):
    ro = apis["org1-read"]
    assert ro.call("GET", ro.actions(1)).status_code == 200
    mine = apis["org1"].call("POST", ro.actions(1), webhook("http://127.0.0.1:9/ro")).json()
    for method, path in (("POST", ro.actions(1)), ("PUT", f"{ro.actions(1)}{mine['id']}/"),
                         ("DELETE", f"{ro.actions(1)}{mine['id']}/"), ("POST", f"{ro.actions(1)}{mine['id']}/test/")):
        r = ro.call(method, path, webhook("http://127.0.0.1:9/x") if method != "DELETE" else None)
        assert r.status_code == 403, (method, path, r.text)
    assert ro.call("GET", f"{ro.actions(1)}{mine['id']}/").status_code == 200


def test_what_belongs_to_no_organization_is_for_the_admin_token(apis):
    for path in ("/lag", "/circuits"):
        assert apis["org12"].call("GET", path).status_code == 403
        assert apis["admin"].call("GET", path).status_code in (200, 503)


def test_test_fire_and_the_deliveries_of_an_action(apis, sink):
    api = apis["org3"]
    made = api.call("POST", api.actions(3), webhook(f"{sink.url}/tf-api")).json()
    r = api.call("POST", f"{api.actions(3)}{made['id']}/test/")
    assert r.status_code == 200, r.text
    fired = r.json()
    assert fired["result"] == "ok" and fired["status"] == 200 and fired["deliveryId"].startswith("test-fire:")
    [request] = sink.requests_to("/tf-api")
    assert request.json()["event"]["organization_id"] == 3

    sink.script("/tf-api", [(500, {}, {"error": "boom"})])
    given = {"event": {"id": "given-1", "organization_id": 3, "occurred_at": "2026-11-26T20:00:00Z",
                       "data": {"event": "member.invite", "actor": "x@acme.io"}}}
    failed = api.call("POST", f"{api.actions(3)}{made['id']}/test/", given).json()
    assert failed["result"] == "failed" and failed["status"] == 500
    assert sink.requests_to("/tf-api")[-1].json()["event"]["id"] == "given-1"
    bad = api.call("POST", f"{api.actions(3)}{made['id']}/test/", {"event": {"id": "x"}})
    assert bad.status_code == 400 and "event" in bad.json()

    seen = wait_until(lambda: (d := api.call("GET", f"{api.actions(3)}{made['id']}/deliveries/").json()) and
                      len(d) >= 2 and d, what="both attempts in the deliveries")
    assert [d["result"] for d in seen[:2]] == ["dead", "ok"]  # newest first
    assert seen[0]["deliveryId"] == failed["deliveryId"] and seen[0]["status"] == 500


def test_a_body_over_the_limit_is_a_413_before_it_is_read(apis):
    api = apis["org1"]
    r = api.call("POST", api.actions(1), raw=b'{"template": "' + b"x" * 70_000 + b'"}')
    assert r.status_code == 413 and "detail" in r.json()


def test_deep_or_broken_json_is_a_400(apis):
    api = apis["org1"]
    deep = b'{"conditions": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    for raw in (deep, b"{not json", b"[1, 2]"):
        r = api.call("POST", api.actions(1), raw=raw)
        assert r.status_code == 400, (raw[:20], r.text)


def test_unknown_paths_and_methods_answer_json(apis):
    admin = apis["admin"]
    r = admin.call("GET", "/api/0/organizations/1/notifications/nothing-here/")
    assert r.status_code == 404 and r.json()
    r = admin.call("PATCH", admin.actions(1))
    assert r.status_code == 405 and r.json() and "Allow" in r.headers


def test_writes_are_rate_limited_per_organization(apis):
    """40 a minute here: the 41st write of one organization is a 429 with Retry-After; another organization
    writes on."""
    api = apis["org12"]
    statuses = [api.call("POST", api.actions(1), raw=b"").status_code for _ in range(45)]
    assert 429 in statuses and statuses.count(400) <= 40, statuses
    limited = api.call("POST", api.actions(1), raw=b"")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert api.call("GET", api.actions(1)).status_code == 200  # reads are not limited
    assert api.call("POST", api.actions(2), raw=b"").status_code == 400  # another organization's bucket


def test_a_slow_tenant_does_not_hold_others(apis, pipeline):
    """A request whose body trickles in holds its own connection, not the worker: others are answered meanwhile."""
    import socket

    slow = socket.create_connection(("127.0.0.1", int(pipeline.api.rsplit(":", 1)[1])))
    try:
        slow.sendall(b"POST /api/0/organizations/1/notifications/actions/ HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + apis["org1"].token.encode() + b"\r\nContent-Length: 1000\r\n\r\n{")
        other = httpx.get(pipeline.api + apis["org2"].actions(2), headers=apis["org2"].headers(), timeout=10)
        assert other.status_code == 200
    finally:
        slow.close()
