"""Models: enums, actions and conditions, event decoding, integrations' secrets, directories."""

from __future__ import annotations

import re

import re2

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import notification_actions.models as models
from notification_actions.errors import InvalidAction, InvalidEvent
from notification_actions.models import (
    TRIGGER_DATA_MODELS,
    ActionService,
    ActionTarget,
    ActionTrigger,
    Condition,
    Directory,
    Event,
    Integration,
    NotificationAction,
    decode_event,
    example_event,
    parse_record,
)

ENUMS = (ActionTrigger, ActionService, ActionTarget)
ALL_MEMBERS = [m for enum_cls in ENUMS for m in enum_cls]
ACTION = {
    "id": "42",
    "organization_id": 1,
    "projects": [10, 11],
    "trigger_type": "audit-log",
    "service_type": "slack",
    "target_type": "specific",
    "target_identifier": "C024BE91L",
    "target_display": "#alerts",
    "integration_id": "7",
    "sentry_app_id": None,
}
ENVELOPE = {
    "id": "3f1c",
    "trigger": "audit-log",
    "organization_id": 1,
    "project_id": 10,
    "occurred_at": "2026-11-26T20:00:00Z",
    "data": {"event": "member.invite", "actor": "jane@acme.io"},
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def problems(exc_info: pytest.ExceptionInfo) -> dict[str, str]:
    return {p.field: p.message for p in exc_info.value.problems}


def test_public_api() -> None:
    assert sorted(models.__all__) == sorted(
        [
            "MASK", "TRIGGER_DATA_MODELS", "ActionService", "ActionTarget", "ActionTrigger",
            "AuditLogData", "BillingData", "CheckedEvent", "Condition", "ConditionOp", "Directory", "EmailAddress",
            "Event", "HttpUrlStr", "Integration", "IssueAlertData", "Member", "NotificationAction",
            "QuotaData", "ReleaseCreatedData", "Service", "SpikeProtectionData", "StrId", "Target",
            "Team", "Throttle", "Trigger", "TriggerData", "UserFeedbackData", "check_event", "decode_event",
            "example_event", "parse_record", "problems_from",
            # the stage records, the registry and the action checks
            "Delivery", "Outcome", "Origin", "dedup_key", "Registry", "REGISTRY", "ActionInput", "check_action",
        ]
    )  # fmt: skip
    assert all(hasattr(models, name) for name in models.__all__)


# --- enums -------------------------------------------------------------------


def test_slugs_and_values_are_the_spec_table() -> None:
    assert {m.slug: m.value for m in ActionTrigger} == {
        "audit-log": 0, "user-feedback": 1, "release-created": 2, "quota": 3,
        "billing": 4, "issue-alert": 5, "spike-protection": 100,
    }  # fmt: skip
    assert {m.slug: m.value for m in ActionService} == {
        "email": 0, "pagerduty": 1, "slack": 2, "msteams": 3, "sentry_app": 4,
        "sentry_notification": 5, "opsgenie": 6, "discord": 7, "jira": 8, "github": 9, "webhook": 10,
    }  # fmt: skip
    assert {m.slug: m.value for m in ActionTarget} == {"specific": 0, "user": 1, "team": 2, "sentry_app": 3}


@given(st.sampled_from(ALL_MEMBERS))
def test_parse_round_trip(member) -> None:
    cls = type(member)
    for form in (member, member.value, member.slug, str(member.value), member.name, member.name.lower()):
        assert cls.parse(form) is member


@pytest.mark.parametrize("enum_cls", ENUMS)
@pytest.mark.parametrize("bad", ["nope", 999, -1, "", None, True, 1.5])
def test_parse_unknown_lists_valid_slugs(enum_cls, bad) -> None:
    with pytest.raises(ValueError) as exc_info:
        enum_cls.parse(bad)
    text = str(exc_info.value)
    assert repr(bad) in text
    assert all(repr(slug) in text for slug in enum_cls.slugs())


def test_parse_refuses_another_enums_member() -> None:
    with pytest.raises(ValueError, match="ActionService.SLACK is not a valid trigger"):
        ActionTrigger.parse(ActionService.SLACK)


@pytest.mark.parametrize("form", ["int", "slug", "name"])
def test_models_accept_slug_or_int_and_dump_slugs(form) -> None:
    def pick(m):
        return {"int": m.value, "slug": m.slug, "name": m.name}[form]

    action = NotificationAction.model_validate(
        {
            **ACTION,
            "trigger_type": pick(ActionTrigger.SPIKE_PROTECTION),
            "service_type": pick(ActionService.SENTRY_NOTIFICATION),
            "target_type": pick(ActionTarget.TEAM),
        }
    )
    assert action.triple == (ActionTrigger.SPIKE_PROTECTION, ActionService.SENTRY_NOTIFICATION, ActionTarget.TEAM)
    for dumped in (action.model_dump(), orjson.loads(action.model_dump_json())):
        assert (dumped["trigger_type"], dumped["service_type"], dumped["target_type"]) == (
            "spike-protection", "sentry_notification", "team",
        )  # fmt: skip
    event = Event.model_validate({**ENVELOPE, "trigger": pick(ActionTrigger.QUOTA)})
    assert event.trigger is ActionTrigger.QUOTA and event.as_dict()["trigger"] == "quota"


def test_model_enum_error_lists_slugs() -> None:
    with pytest.raises(InvalidAction) as exc_info:
        parse_record(NotificationAction, {**ACTION, "service_type": "slak"})
    message = problems(exc_info)["service_type"]
    assert "'slak'" in message and "'webhook' (10)" in message and "Value error" not in message


# --- actions -----------------------------------------------------------------


def test_action_spec_example_and_dump() -> None:
    action = parse_record(NotificationAction, orjson.dumps(ACTION))
    assert action.model_dump() == {
        **ACTION, "enabled": True, "conditions": [], "throttle": None, "template": None,
    }  # fmt: skip
    assert not action.is_org_wide
    assert action.target_key() == "slack:specific:7:C024BE91L"
    other_workspace = action.model_copy(update={"integration_id": "8"})
    assert other_workspace.target_key() != action.target_key()


def test_action_camel_case_and_int_ids() -> None:
    camel = {
        "id": 42, "organizationId": 1, "triggerType": 0, "serviceType": 2, "targetType": 0,
        "targetIdentifier": "C024BE91L", "targetDisplay": "#alerts", "integrationId": 7, "sentryAppId": 9,
        "throttle": {"limit": 3, "windowSeconds": 60},
    }  # fmt: skip
    action = NotificationAction.model_validate(camel)
    assert (action.id, action.integration_id, action.sentry_app_id) == ("42", "7", "9")
    assert action.throttle is not None and action.throttle.window_seconds == 60
    assert action.is_org_wide
    assert "organization_id" in action.model_dump() and "organizationId" not in action.model_dump()


def test_action_extra_field_is_named() -> None:
    with pytest.raises(InvalidAction) as exc_info:
        parse_record(NotificationAction, {**ACTION, "trigerType": 1})
    assert list(problems(exc_info)) == ["trigerType"]
    assert "trigerType" in str(exc_info.value)


def test_action_errors_carry_field_paths_in_snake_case() -> None:
    raw = {
        "id": "1", "triggerType": "quota", "serviceType": "email", "targetType": "user",
        "conditions": [{"path": "data.x", "op": "equals"}, {"path": "dta.x", "op": "eq", "value": 1}],
        "throttle": {"limit": 0, "windowSeconds": 1},
    }  # fmt: skip
    with pytest.raises(InvalidAction) as exc_info:
        parse_record(NotificationAction, raw)
    found = problems(exc_info)
    assert set(found) == {"organization_id", "conditions.0.op", "conditions.1.path", "throttle.limit"}
    assert "'regex'" in found["conditions.0.op"]
    assert "'dta'" in found["conditions.1.path"]
    assert exc_info.value.__cause__ is None and exc_info.value.__suppress_context__


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("regex", "(", "refused by RE2"),
        ("in", "a", "needs a list"),
        ("gt", [1], "number or a string"),
        ("exists", "yes", "true, false"),
        ("contains", None, "needs a value"),
    ],
)
def test_condition_value_checked_against_op(op, value, message) -> None:
    with pytest.raises(InvalidAction) as exc_info:
        parse_record(NotificationAction, {**ACTION, "conditions": [{"path": "data.x", "op": op, "value": value}]})
    assert message in problems(exc_info)["conditions.0.value"]


EVENT = {**ENVELOPE, "data": {"event": "member.invite", "n": 5, "tags": ["a", "b"], "flag": True, "none": None}}


@pytest.mark.parametrize(
    ("path", "op", "value", "expected"),
    [
        ("data.event", "eq", "member.invite", True), ("data.event", "ne", "member.invite", False),
        ("data.missing", "ne", "x", False), ("data.event", "in", ["member.invite", "x"], True),
        ("data.event", "not_in", ["x"], True), ("data.event", "contains", "invite", True),
        ("data.tags", "contains", "b", True), ("data", "contains", "tags", True),
        ("data.tags.1", "eq", "b", True), ("data.tags.9", "exists", None, False),
        ("data.event", "exists", None, True), ("data.missing", "exists", False, True),
        ("data.none", "exists", True, False), ("data.missing", "eq", None, False),
        ("data.n", "gt", 4, True), ("data.n", "lte", 4.5, False),
        ("data.n", "gt", "4", False), ("data.event", "gte", "member", True),
        ("data.flag", "eq", 1, False), ("data.n", "in", [True, 5], True),
        ("data.event", "regex", r"^member\.", True), ("data.n", "regex", "5", False),
        ("project_id", "eq", 10, True), ("trigger", "eq", "audit-log", True),
    ],
)  # fmt: skip
def test_condition_matches(path, op, value, expected) -> None:
    assert Condition(path=path, op=op, value=value).matches(EVENT) is expected


def test_condition_matches_an_event_model_and_compiles_regex_once() -> None:
    condition = Condition(path="data.actor", op="regex", value="@acme")
    assert isinstance(condition._pattern, type(re2.compile("x")))  # compiled once, by RE2
    event = Event.model_validate(ENVELOPE)
    assert condition.matches(event)
    action = NotificationAction.model_validate({**ACTION, "conditions": [condition.model_dump()]})
    assert action.conditions_match(event) and action.conditions[0]._pattern is not None


@given(
    path=st.sampled_from(["data", "data.a", "data.a.0", "data.a.b", "project_id", "id"]) | st.text(max_size=12),
    op=st.sampled_from(["eq", "ne", "in", "not_in", "contains", "exists", "gt", "gte", "lt", "lte", "regex"]),
    value=JSON,
    event=st.dictionaries(st.sampled_from(["id", "data", "project_id", "x"]), JSON, max_size=4),
)
def test_condition_never_raises(path, op, value, event) -> None:
    if not path.startswith(("data", "project_id", "id")):
        path = "data." + path
    try:
        condition = Condition(path=path, op=op, value=value)
    except ValueError:  # pydantic's ValidationError is a ValueError: the combination was refused up front
        return
    assert condition.matches(event) in (True, False)


# --- events ------------------------------------------------------------------


def decode(value, topic=ActionTrigger.AUDIT_LOG, max_bytes=10_000):
    raw = value if value is None or isinstance(value, bytes) else orjson.dumps(value)
    return decode_event(raw, topic_trigger=topic, max_bytes=max_bytes)


@pytest.mark.parametrize(
    ("value", "topic", "field", "message"),
    [
        (None, ActionTrigger.AUDIT_LOG, "", "empty value"),
        (b"", ActionTrigger.AUDIT_LOG, "", "empty value"),
        (b"x" * 101, ActionTrigger.AUDIT_LOG, "", "value is 101 bytes, limit is 100"),
        (b'{"id": ', ActionTrigger.AUDIT_LOG, "", "not valid JSON: "),
        ([ENVELOPE], ActionTrigger.AUDIT_LOG, "", "expected a JSON object, got an array"),
        ({k: v for k, v in ENVELOPE.items() if k != "organization_id"}, ActionTrigger.AUDIT_LOG, "organization_id", "required"),
        ({**ENVELOPE, "occurred_at": "2026-11-26T20:00:00"}, ActionTrigger.AUDIT_LOG, "occurred_at", "timezone"),
        ({**ENVELOPE, "id": ""}, ActionTrigger.AUDIT_LOG, "id", "at least 1"),
        ({**ENVELOPE, "id": "x" * 201}, ActionTrigger.AUDIT_LOG, "id", "at most 200"),
        ({**ENVELOPE, "extra": 1}, ActionTrigger.AUDIT_LOG, "extra", "unknown field"),
        ({**ENVELOPE, "trigger": "billing"}, ActionTrigger.QUOTA, "trigger", "trigger 'billing' does not match topic trigger 'quota'"),
        ({**ENVELOPE, "trigger": "nope"}, ActionTrigger.QUOTA, "trigger", "'nope' is not a valid trigger"),
        ({**ENVELOPE, "trigger": None}, None, "trigger", "required"),
        ({**ENVELOPE, "trigger": 100, "data": {"status": "maybe"}}, ActionTrigger.SPIKE_PROTECTION, "data.status", "'activated' or 'deactivated'"),
        ({**ENVELOPE, "data": {"actor": "jane"}}, ActionTrigger.AUDIT_LOG, "data.event", "required"),
        ({**ENVELOPE, "trigger": None, "data": {"name": "", "email": "no", "comments": "x"}}, ActionTrigger.USER_FEEDBACK, "data.email", "email"),
    ],
)  # fmt: skip
def test_decode_event_failures_name_the_field(value, topic, field, message) -> None:
    max_bytes = 100 if isinstance(value, bytes) and len(value) > 100 else 10_000
    with pytest.raises(InvalidEvent) as exc_info:
        decode(value, topic, max_bytes)
    found = problems(exc_info)
    assert field in found, found
    assert message in found[field]


def test_decode_event_round_trip_and_fills_trigger() -> None:
    no_trigger = {k: v for k, v in ENVELOPE.items() if k != "trigger"}
    event = decode(no_trigger)
    assert event.trigger is ActionTrigger.AUDIT_LOG
    assert event.occurred_at.utcoffset() is not None
    assert event.data["event"] == "member.invite" and event.data["ip_address"] is None
    assert decode(event.as_dict()) == event
    assert event.as_dict()["occurred_at"] == "2026-11-26T20:00:00Z"


def test_decode_event_keeps_extra_data_and_coerces() -> None:
    raw = {**ENVELOPE, "trigger": "quota", "data": {"category": "error", "usage": "5", "limit": 10, "plan": "team"}}
    event = decode(raw, ActionTrigger.QUOTA)
    assert event.data["usage"] == 5 and event.data["plan"] == "team"


@given(st.binary(max_size=64) | JSON.map(orjson.dumps))
def test_decode_event_only_raises_invalid_event(raw) -> None:
    try:
        decode_event(raw, topic_trigger=ActionTrigger.BILLING, max_bytes=48)
    except InvalidEvent as exc:
        assert exc.problems


@pytest.mark.parametrize("trigger", list(ActionTrigger))
def test_example_event_is_valid_for_every_trigger(trigger) -> None:
    event = example_event(trigger)
    assert event.trigger is trigger
    assert decode(orjson.dumps(event.as_dict()), trigger) == event
    assert example_event(trigger.slug).id != event.id


@pytest.mark.parametrize("trigger", list(ActionTrigger))
def test_every_trigger_has_a_documented_data_model(trigger) -> None:
    model = TRIGGER_DATA_MODELS[trigger]
    doc = re.sub(r"\s+", " ", model.__doc__ or "")
    example = re.search(r"(\{.*\})", doc)
    assert example is not None, f"{model.__name__} docstring has no JSON example"
    assert orjson.loads(example.group(1)) == model.example
    model.model_validate(model.example)


# --- integrations ------------------------------------------------------------

SECRET = "xoxb-very-secret-1"
NESTED_SECRET = "pd-routing-key-SECRET"
INTEGRATION = {
    "id": 7,
    "organizationId": 1,
    "provider": "pagerduty",
    "name": "Acme PD",
    "credentials": {"bot_token": SECRET, "integration_keys": {"PSVC1": NESTED_SECRET}},
    "metadata": {"services": [{"id": "PSVC1", "name": "Backend"}]},
}


def test_integration_never_shows_secrets() -> None:
    integration = Integration.model_validate(INTEGRATION)
    shown = [
        repr(integration),
        str(integration),
        str(integration.model_dump()),
        integration.model_dump_json(),
        str(integration.model_dump(mode="json")),
        orjson.dumps(integration.redacted()).decode(),
    ]
    for text in shown:
        assert SECRET not in text and NESTED_SECRET not in text
    assert integration.redacted()["credentials"] == {
        "bot_token": "**********", "integration_keys": {"PSVC1": "**********"},
    }  # fmt: skip
    assert integration.id == "7" and integration.service is ActionService.PAGERDUTY


def test_integration_storage_round_trip_reveals_secrets() -> None:
    integration = Integration.model_validate(INTEGRATION)
    stored = integration.to_storage()
    assert SECRET.encode() in stored and NESTED_SECRET.encode() in stored
    again = Integration.from_storage(stored)
    assert again.secret("bot_token") == SECRET
    assert again.secret("integration_keys", "PSVC1") == NESTED_SECRET
    assert again.secret("integration_keys") is None and again.secret("nope") is None
    assert again.to_storage() == stored


def test_integration_errors_name_fields_without_values() -> None:
    with pytest.raises(InvalidAction) as exc_info:
        Integration.from_storage({**INTEGRATION, "provider": "myspace", "credentials": {"k": {"x": 1}, "t": 5}})
    found = problems(exc_info)
    assert set(found) == {"provider", "credentials.k", "credentials.t"}
    assert "'slack'" in found["provider"]
    with pytest.raises(InvalidAction) as exc_info:
        Integration.from_storage(b"not json " + SECRET.encode())
    assert SECRET not in str(exc_info.value)


# --- directories -------------------------------------------------------------


def test_directory_lookups() -> None:
    directory = Directory.model_validate(
        {
            "organizationId": 1,
            "members": [
                {"id": "u1", "email": "jane@acme.io", "role": "Owner", "teams": ["backend"]},
                {"id": 2, "email": "joe@acme.io", "role": "member", "teams": ["backend", "web"]},
            ],
            "teams": [{"id": "backend", "name": "Backend"}, {"id": "web"}],
        }
    )
    assert [m.id for m in directory.members_with_role("OWNER")] == ["u1"]
    assert [m.id for m in directory.team_members("backend")] == ["u1", "2"]
    assert directory.member("2").email == "joe@acme.io" and directory.member("x") is None
    assert directory.team("web").name == ""


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"organization_id": 1, "members": [{"id": "u1", "email": "jane", "role": "owner"}]}, "members.0.email"),
        ({"organization_id": 1, "members": [{"id": "u1", "email": "a@b.io"}]}, "members.0.role"),
        ({"organization_id": 1, "teams": [{"id": "t"}, {"id": "t"}]}, "teams"),
    ],
)
def test_directory_errors(raw, field) -> None:
    with pytest.raises(InvalidAction) as exc_info:
        parse_record(Directory, raw)
    assert field in problems(exc_info)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(None, "empty value"), (b"", "empty value"), (b"{", "not valid JSON"), (b"3", "got a number")],
)
def test_parse_record_refuses_non_objects(raw, message) -> None:
    with pytest.raises(InvalidAction, match=message):
        parse_record(Directory, raw)


def test_a_url_target_is_keyed_by_its_digest_never_by_the_url() -> None:
    url = "https://discord.com/api/webhooks/123/very-secret-token"
    hook = NotificationAction.model_validate({**ACTION, "service_type": "webhook", "integration_id": None,
                                              "target_identifier": url})
    key = hook.target_key()
    assert "very-secret-token" not in key and "discord.com" not in key
    assert key == hook.target_key() and key.startswith("webhook:specific:-:url-")
    other = hook.model_copy(update={"target_identifier": url + "x"})
    assert other.target_key() != key
