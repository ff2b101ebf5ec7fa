"""Sentry's notification-actions endpoint tests, ported as black-box HTTP cases against a running worker.

From getsentry/sentry ``tests/sentry/notifications/api/endpoints/test_notification_actions_{index,details,
available}.py`` (``../shared/SENTRY_API.md``: the behaviours its tests assert, numbered there).
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

SLACK = {"triggerType": "audit-log", "serviceType": "slack", "targetType": "specific", "integrationId": "i-slack",
         "targetIdentifier": "C1", "targetDisplay": "#alerts"}
PD = {"triggerType": "audit-log", "serviceType": "pagerduty", "targetType": "specific", "integrationId": 916,
      "targetIdentifier": "P1"}


def create(api: Api, org: int, body: dict) -> dict:
    r = api.call("POST", api.actions(org), body)
    assert r.status_code == 201, r.text
    return r.json()


# 8. POST happy path → 201 and the body equals the stored action
def test_create_returns_201_with_the_stored_action(apis):
    made = create(apis["org1"], 1, {**SLACK, "projects": [10, 11]})
    assert isinstance(made["id"], int) and made["id"] > 0
    assert made["organizationId"] == 1 and made["projects"] == [10, 11]
    assert (made["serviceType"], made["triggerType"], made["targetType"]) == ("slack", "audit-log", "specific")
    assert made["targetIdentifier"] == "C1" and made["targetDisplay"] == "#alerts" and made["sentryAppId"] is None
    got = apis["org1"].call("GET", f"{apis['org1'].actions(1)}{made['id']}/")
    assert got.status_code == 200 and got.json() == made


# 1, 2. the list: only this organization's; project and trigger filters, AND; unknown trigger → []
def test_list_is_per_organization_and_filters_combine(apis):
    api, admin = apis["org12"], apis["admin"]
    org_wide = create(api, 1, {**SLACK, "triggerType": "quota"})
    p20 = create(api, 1, {**SLACK, "projects": [20]})
    p21q = create(api, 1, {**SLACK, "triggerType": "quota", "projects": [21]})
    other = create(api, 2, {**PD, "integrationId": "i-pd2", "targetIdentifier": "P2"})

    def ids(org: int, **params) -> set:
        r = admin.call("GET", admin.actions(org), **params)
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()}

    everything = ids(1)
    assert {org_wide["id"], p20["id"], p21q["id"]} <= everything and other["id"] not in everything
    assert ids(1, project="20") == {p20["id"]}
    assert ids(1, project=["20", "21"]) == {p20["id"], p21q["id"]}
    assert {p20["id"], p21q["id"]} <= ids(1, project="-1") and org_wide["id"] not in ids(1, project="-1")
    quota = ids(1, triggerType="quota")
    assert {org_wide["id"], p21q["id"]} <= quota and p20["id"] not in quota
    assert ids(1, triggerType="quota", project="21") == {p21q["id"]}
    assert ids(1, triggerType="quota", project="20") == set()
    assert ids(1, triggerType="no-such-trigger") == set()
    assert ids(2) == {other["id"]}


# 3. empty body → 400 naming both serviceType and triggerType
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_an_empty_body_names_both_required_fields(apis, method):
    api = apis["org1"]
    path = api.actions(1)
    if method == "PUT":
        path += f"{create(api, 1, SLACK)['id']}/"
    for raw in (b"", b"{}"):
        r = api.call(method, path, raw=raw)
        assert r.status_code == 400, r.text
        assert {"serviceType", "triggerType"} <= set(r.json()), r.json()


# 4. an invalid enum → 400 keyed by it, listing the choices
@pytest.mark.parametrize("field,noun", [("serviceType", "service"), ("triggerType", "trigger"),
                                        ("targetType", "target")])
def test_an_invalid_enum_is_a_400_on_its_field(apis, field, noun):
    r = apis["org1"].call("POST", apis["org1"].actions(1), {**SLACK, field: "hellboy"})
    assert r.status_code == 400
    (message,) = r.json()[field]
    assert message.startswith(f"Invalid {noun} selected. Choose from ")


# 5. integrationId=-1, unknown, or another organization's → 400 on integrationId
@pytest.mark.parametrize("integration", [-1, "nope", "i-pd2"])
def test_an_integration_that_is_not_installed_is_a_400(apis, integration):
    r = apis["org1"].call("POST", apis["org1"].actions(1), {**PD, "integrationId": integration})
    assert r.status_code == 400
    assert r.json()["integrationId"] == ["Integration does not exist, or is not installed"]


def test_a_service_that_needs_an_integration_says_so(apis):
    body = {k: v for k, v in SLACK.items() if k != "integrationId"}
    r = apis["org1"].call("POST", apis["org1"].actions(1), body)
    assert r.status_code == 400
    assert "Service type of 'slack' requires providing an active integration id" in r.json()["integrationId"]


# 6. a registration's validate_action() error appears under its field
def test_validate_action_errors_are_passed_through(apis):
    r = apis["org1"].call("POST", apis["org1"].actions(1), {**SLACK, "targetIdentifier": "C-NOT-LISTED"})
    assert r.status_code == 400, r.text
    assert set(r.json()) <= {"targetIdentifier", "targetDisplay"} and r.json(), r.json()


def test_an_unregistered_combination_is_a_non_field_error(apis):
    r = apis["org1"].call("POST", apis["org1"].actions(1), {**SLACK, "targetType": "sentry_app"})
    assert r.status_code == 400
    assert r.json()["nonFieldErrors"] == [
        "Combination of trigger_type, service_type and target_type has not been registered."]


# 7. PagerDuty: no service → 400; another integration's service → 400; a valid one → targetDisplay is its name
def test_pagerduty_targets(apis):
    api = apis["org1"]
    r = api.call("POST", api.actions(1), {k: v for k, v in PD.items() if k != "targetIdentifier"})
    assert r.status_code == 400 and r.json()["targetIdentifier"] == ["Did not recieve PagerDuty service id"]
    r = api.call("POST", api.actions(1), {**PD, "targetIdentifier": "P2"})
    assert r.status_code == 400 and "targetIdentifier" in r.json()
    made = create(api, 1, {**PD, "targetDisplay": "whatever"})
    assert made["targetDisplay"] == "Checkout" and made["integrationId"] == 916


# 9. another organization's action, or a missing one → 404; a delete of another's leaves it in place
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_organizations_action_is_a_404(apis, method):
    mine = create(apis["org2"], 2, {**PD, "integrationId": "i-pd2", "targetIdentifier": "P2"})
    api = apis["org12"]
    for path in (f"{api.actions(1)}{mine['id']}/", f"{api.actions(1)}123/", f"{api.actions(1)}not-an-id/"):
        r = api.call(method, path, SLACK if method == "PUT" else None)
        assert r.status_code == 404, (path, r.text)
        assert r.json() == {"detail": "The requested resource does not exist"}
    assert apis["org2"].call("GET", f"{api.actions(2)}{mine['id']}/").status_code == 200


# 10. PUT without projects → 202 and the project links are gone
def test_put_replaces_the_whole_action(apis):
    api = apis["org1"]
    made = create(api, 1, {**SLACK, "projects": [7, 8]})
    r = api.call("PUT", f"{api.actions(1)}{made['id']}/", {**SLACK, "triggerType": "quota"})
    assert r.status_code == 202, r.text
    assert r.json()["projects"] == [] and r.json()["triggerType"] == "quota" and r.json()["id"] == made["id"]
    assert api.call("GET", f"{api.actions(1)}{made['id']}/").json() == r.json()


# 11. DELETE → 204 with an empty body; the action is gone
def test_delete_is_a_204(apis):
    api = apis["org1"]
    made = create(api, 1, SLACK)
    r = api.call("DELETE", f"{api.actions(1)}{made['id']}/")
    assert r.status_code == 204 and r.content == b""
    assert api.call("GET", f"{api.actions(1)}{made['id']}/").status_code == 404


# 12. available actions: one entry per registration and integration, from serialize_available()
def test_available_actions(apis):
    r = apis["org1"].call("GET", "/api/0/organizations/1/notifications/available-actions/")
    assert r.status_code == 200
    entries = r.json()["actions"]
    slack = [e for e in entries if e["action"]["serviceType"] == "slack" and e["action"]["triggerType"] == "audit-log"]
    assert slack and slack[0]["action"]["integrationId"] in ("i-slack",) and "requires" in slack[0]
    assert not any(e["action"].get("integrationId") == "i-pd2" for e in entries)


def test_camel_and_snake_spellings_of_one_key_collide(apis):
    r = apis["org1"].call("POST", apis["org1"].actions(1), {**SLACK, "trigger_type": "quota"})
    assert r.status_code == 400
    (message,) = r.json()["triggerType"]
    assert "'trigger_type' collides with 'triggerType'" in message


def test_snake_case_bodies_are_accepted(apis):
    made = create(apis["org1"], 1, {"trigger_type": "audit-log", "service_type": "slack", "integration_id": "i-slack",
                                    "target_identifier": "C1", "target_display": "#alerts"})
    assert made["targetType"] == "specific"


def test_unknown_fields_are_named(apis):
    r = apis["org1"].call("POST", apis["org1"].actions(1), {**SLACK, "triggerTpye": "quota"})
    assert r.status_code == 400 and r.json() == {"triggerTpye": ["Unknown field."]}


def test_pagination_with_sentrys_cursor_link(apis):
    api = apis["org3"]
    made = sorted(create(api, 3, {"triggerType": "billing", "serviceType": "webhook",
                                  "targetIdentifier": f"http://127.0.0.1:9/p{i}"})["id"] for i in range(5))
    seen, params = [], {"per_page": "2"}
    for _ in range(5):
        r = api.call("GET", api.actions(3), **params)
        assert r.status_code == 200
        seen += [a["id"] for a in r.json()]
        nxt = [part for part in r.headers["Link"].split(", ") if 'rel="next"' in part][0]
        if 'results="false"' in nxt:
            break
        params = {"per_page": "2", "cursor": nxt.rsplit('cursor="', 1)[1].rstrip('"')}
    assert seen == made  # fixed order: by id


async def test_an_id_that_is_not_digits_is_a_string(apis, pipeline):
    await pipeline.put_actions({"id": "a-1001", "organization_id": 2, "trigger_type": "quota",
                                "service_type": "webhook", "target_type": "specific",
                                "target_identifier": "http://127.0.0.1:9/a"})
    api = apis["org2"]
    pipeline.wait_actions(2, lambda a: "a-1001" in a)
    got = api.call("GET", f"{api.actions(2)}a-1001/")
    assert got.status_code == 200 and got.json()["id"] == "a-1001"
    assert "a-1001" in [a["id"] for a in api.call("GET", api.actions(2)).json()]
