"""Slack, Teams, Discord, PagerDuty and Opsgenie against local fakes that check requests as the real APIs do,
then end to end through a real worker subprocess and the session's Kafka broker."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification_actions.registrations.support.transport import new_client
from notification_actions.registrations import msteams, opsgenie, pagerduty, slack
from notification_actions.errors import InvalidAction, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import ActionTrigger, Event, Integration, NotificationAction, decode_event
from notification_actions.registrations.support.limits import cut, units
from notification_actions.registrations.base import REGISTRY, ActionInput, FireContext, FireResult
from notification_actions.settings import Settings
from tests.support.fakes.discord import FakeDiscord, rate_limited
from tests.support.fakes.http_sink import HttpSink
from tests.support.fakes.msteams import FakeTeams
from tests.support.fakes.opsgenie import FakeOpsgenie
from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import ERROR_CODES, FakeSlack
from tests.support.kafka import consume_until
from tests.support.pipeline import Pipeline, running_pipeline
from tests.support.pipeline import event as pipeline_event

SLACK_TOKEN = "xoxb-1234567890-0987654321098-unitslacktokensecret"
TEAMS_SIG = "unitTeamsSignature0123456789abcdef"
DISCORD_TOKEN = "unitDiscordToken-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"
PAGERDUTY_KEY = "R0UTINGKEYunit000000000000000001"
OPSGENIE_KEY = "eb243592-unit-4a52-9c4e-opsgeniekey01"
SERVICES = ("slack", "msteams", "discord", "pagerduty", "opsgenie")
TARGETS = {"slack": "C024BE91L", "msteams": "Ops / Alerts", "discord": "#alerts", "pagerduty": "PSVC001",
           "opsgenie": None}
CHANNELS = [{"id": "C024BE91L", "name": "#alerts"}, {"id": "CARCHIVED1", "name": "#old", "is_archived": True},
            {"id": "COUTSIDE01", "name": "#private", "is_member": False}]


@dataclass
class Fakes:
    slack: FakeSlack
    teams: FakeTeams
    discord: FakeDiscord
    pagerduty: FakePagerDuty
    opsgenie: FakeOpsgenie


@pytest.fixture(scope="module")
def fakes(sink: HttpSink) -> Fakes:
    return Fakes(FakeSlack(sink, SLACK_TOKEN, channels=CHANNELS), FakeTeams(sink, TEAMS_SIG),
                 FakeDiscord(sink, "112233445566778899", DISCORD_TOKEN), FakePagerDuty(sink, [PAGERDUTY_KEY]),
                 FakeOpsgenie(sink, OPSGENIE_KEY))


def settings(fakes: Fakes, **overrides: Any) -> Settings:
    values = {"webhook_allow_http": True, "webhook_allow_private": True, "http_timeout_seconds": 3,
              "slack_api_url": fakes.slack.url, "pagerduty_events_url": fakes.pagerduty.url,
              "opsgenie_api_url": fakes.opsgenie.url}
    return Settings(_env_file=None, **{**values, **overrides})


def integration_doc(service: str, fakes: Fakes, org: int = 1, ident: str | None = None) -> dict:
    credentials, metadata = {
        "slack": ({"bot_token": SLACK_TOKEN}, {"channels": [{"id": c["id"], "name": c["name"]} for c in CHANNELS]}),
        "msteams": ({"webhook_url": fakes.teams.url}, {"channel": "Ops / Alerts"}),
        "discord": ({"webhook_url": fakes.discord.url}, {"channel": "#alerts"}),
        "pagerduty": ({"integration_keys": {"PSVC001": PAGERDUTY_KEY}},
                      {"services": [{"id": "PSVC001", "name": "Checkout"}, {"id": "PNOKEY1", "name": "No key"}]}),
        "opsgenie": ({"api_key": OPSGENIE_KEY}, {"teams": [{"id": "ops-id", "name": "Ops"}]}),
    }[service]
    return {"id": ident or f"{service}-{org}", "organization_id": org, "provider": service, "name": f"Acme {service}",
            "credentials": credentials, "metadata": metadata}


def action(service: str, *, trigger: str = "audit-log", target: str = "specific", org: int = 1,
           integration: str | None = None, **extra: Any) -> NotificationAction:
    doc = {"id": f"a-{service}", "organization_id": org, "trigger_type": trigger, "service_type": service,
           "target_type": target, "target_identifier": TARGETS[service],
           "integration_id": integration or f"{service}-{org}"}
    return NotificationAction.model_validate({**doc, **extra})


def event(trigger: str = "audit-log", project: int | None = 10, **data: Any) -> Event:
    examples = {"audit-log": {"event": "member.invite", "actor": "jane@acme.io"},
                "issue-alert": {"rule": "High error rate", "issue_id": "1", "title": "ZeroDivisionError",
                                "level": "error"},
                "spike-protection": {"status": "activated", "project_id": project}}
    envelope = {"id": "e-1", "trigger": trigger, "organization_id": 1, "project_id": project,
                "occurred_at": "2026-11-26T20:00:00Z", "data": {**examples.get(trigger, {}), **data}}
    return decode_event(orjson.dumps(envelope), topic_trigger=None, max_bytes=1 << 24)


async def fire(fakes: Fakes, act: NotificationAction, data: Event | None = None, *, integration: dict | None = None,
               delivery_id: str = "e-1:a-1", **overrides: Any) -> FireResult | None:
    integ = Integration.model_validate(integration or integration_doc(act.service_type.slug, fakes))
    async with new_client(timeout=10, max_connections=8) as client:
        context = FireContext(settings(fakes, **overrides), client, integration=integ, delivery_id=delivery_id)
        registration = REGISTRY.get(act.trigger_type, act.service_type, act.target_type)
        return await registration(act, context).fire(data or event(act.trigger_type.slug))


def validate(fakes: Fakes, act: NotificationAction, integration: dict | None, **overrides: Any) -> None:
    integ = Integration.model_validate(integration) if integration else None
    registration = REGISTRY.get(act.trigger_type, act.service_type, act.target_type)
    registration.validate_action(ActionInput(act, integ, None, settings(fakes, **overrides)))


def fields_of(info: pytest.ExceptionInfo) -> set[str]:
    return {p.field for p in info.value.problems}


# --- registration and limits ---------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_registered_for_every_trigger(service: str):
    for trigger in ActionTrigger:
        assert REGISTRY.find(trigger, service, "specific") is not None
    assert all(REGISTRY.find(t, "opsgenie", "team") for t in ActionTrigger)


@given(st.text(), st.integers(min_value=1, max_value=60))
def test_cut_fits_and_never_splits_a_character(text: str, limit: int):
    out = cut(text, limit)
    assert units(out) <= limit
    out.encode("utf-16", "strict")  # no lone surrogate
    assert out == text or (out.endswith("…") and text.startswith(out[:-1]))


# --- Slack ------------------------------------------------------------------------------


async def test_slack_posts_block_kit_the_api_accepts(fakes: Fakes, sink: HttpSink):
    result = await fire(fakes, action("slack"), event(actor="<b>&"))
    request = sink.requests_to("/slack/chat.postMessage")[-1]
    assert request.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8" and not fakes.slack.warnings
    body = fakes.slack.posted[-1]
    assert body["channel"] == "C024BE91L" and "&lt;b&gt;&amp;" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context"]
    assert result is not None and result.status == 200 and SLACK_TOKEN not in result.detail


async def test_slack_cuts_a_50000_char_template(fakes: Fakes):
    await fire(fakes, action("slack", template="é😀&" * 12_500 + "{{ data.actor }}"))
    body = fakes.slack.posted[-1]
    assert units(body["text"]) <= 40_000 and body["text"].endswith("…")
    assert units(body["blocks"][1]["text"]["text"]) <= 3_000


@pytest.mark.parametrize("code", ERROR_CODES)
async def test_slack_ok_false_codes_are_classified(fakes: Fakes, code: str):
    fakes.slack.fail_next(code)
    retryable = code in ("ratelimited", "rate_limited", "fatal_error")
    with pytest.raises(RetryableDeliveryError if retryable else PermanentDeliveryError) as info:
        await fire(fakes, action("slack"))
    assert info.value.code == code


async def test_slack_http_429_and_refusals(fakes: Fakes):
    fakes.slack.fail_next((429, {"Retry-After": "3"}, ""))
    with pytest.raises(RetryableDeliveryError) as info:
        await fire(fakes, action("slack"))
    assert info.value.retry_after == 3
    for ident, code in (("#old", "is_archived"), ("COUTSIDE01", "not_in_channel"), ("CNOWHERE1", "channel_not_found")):
        with pytest.raises(PermanentDeliveryError) as info:
            await fire(fakes, action("slack", target_identifier=ident))
        assert info.value.code == code
    wrong = integration_doc("slack", fakes)
    wrong["credentials"]["bot_token"] = "xoxb-wrong-token"
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(fakes, action("slack"), integration=wrong)
    assert info.value.code == "invalid_auth" and "xoxb-wrong-token" not in str(info.value)


def test_slack_validate_action(fakes: Fakes):
    good = integration_doc("slack", fakes)
    validate(fakes, action("slack"), good)
    validate(fakes, action("slack", target_identifier="#alerts"), good)
    no_token = {**good, "credentials": {}}
    cases = [(action("slack"), None, "integration_id"), (action("slack", integration_id=None), None, "integration_id"),
             (action("slack", target_identifier="#elsewhere"), good, "target_identifier"),
             (action("slack", target_identifier=None), good, "target_identifier"),
             (action("slack"), no_token, "integration.credentials.bot_token"),
             (action("slack"), {**good, "organization_id": 2}, "integration_id"),
             (action("slack"), {**integration_doc("discord", fakes), "id": "slack-1"}, "integration_id")]
    for act, integ, field in cases:
        with pytest.raises(InvalidAction) as info:
            validate(fakes, act, integ)
        assert field in fields_of(info), (act.target_identifier, field)


def test_slack_live_check(fakes: Fakes):
    good = integration_doc("slack", fakes)
    validate(fakes, action("slack", target_identifier="#alerts"), good, slack_live_check=True)
    for ident in ("#old", "COUTSIDE01"):
        with pytest.raises(InvalidAction) as info:
            validate(fakes, action("slack", target_identifier=ident), good, slack_live_check=True)
        assert fields_of(info) == {"target_identifier"}
    unlisted = {**good, "metadata": {}}
    with pytest.raises(InvalidAction) as info:
        validate(fakes, action("slack", target_identifier="CGONE0001"), unlisted, slack_live_check=True)
    assert "not found" in str(info.value) and fields_of(info) == {"target_identifier"}
    # Slack unreachable: the channel cannot be checked, which is no reason to refuse the action.
    validate(fakes, action("slack"), good, slack_live_check=True, slack_api_url="http://127.0.0.1:1")


def test_slack_serialize_available_only_for_the_asking_org(fakes: Fakes):
    mine, other = Integration.model_validate(integration_doc("slack", fakes)), Integration.model_validate(
        integration_doc("slack", fakes, org=2))
    entries = slack.REGISTRATIONS[ActionTrigger.QUOTA].serialize_available(1, [mine, other])
    assert [e["action"]["targetIdentifier"] for e in entries] == [c["id"] for c in CHANNELS]
    assert {e["action"]["integrationId"] for e in entries} == {"slack-1"}
    assert entries[0]["action"]["serviceType"] == "slack" and entries[0]["requires"] == []
    bare = Integration.model_validate({**integration_doc("slack", fakes), "metadata": {}})
    [open_entry] = slack.REGISTRATIONS[ActionTrigger.QUOTA].serialize_available(1, [bare])
    assert [r["name"] for r in open_entry["requires"]] == ["target_identifier"]


# --- Teams and Discord ---------------------------------------------------------------------


async def test_teams_posts_the_workflows_envelope_under_28kb(fakes: Fakes, sink: HttpSink):
    result = await fire(fakes, action("msteams"))
    assert result is not None and result.status == 202 and TEAMS_SIG not in result.detail
    assert fakes.teams.cards[-1]["body"][1]["text"] == "Audit log: member.invite by jane@acme.io"
    await fire(fakes, action("msteams", template='"é\n' * 40_000))
    assert len(sink.requests_to(fakes.teams.path)[-1].body) <= 28_000
    assert fakes.teams.cards[-1]["body"][1]["text"].endswith("…")


async def test_teams_refusals_never_show_the_url(fakes: Fakes):
    wrong = integration_doc("msteams", fakes)
    wrong["credentials"]["webhook_url"] = fakes.teams.url.replace(TEAMS_SIG, "WrongSignatureValue0123")
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(fakes, action("msteams"), integration=wrong)
    assert info.value.status == 401 and "WrongSignatureValue0123" not in str(info.value)
    fakes.teams.fail_next((503, {"Retry-After": "5"}, "busy"))
    with pytest.raises(RetryableDeliveryError):
        await fire(fakes, action("msteams"))
    strict = Settings(_env_file=None)  # https and public hosts only
    with pytest.raises(InvalidAction) as info:
        msteams.REGISTRATIONS[ActionTrigger.BILLING].validate_action(ActionInput(
            action("msteams", trigger="billing"), Integration.model_validate(integration_doc("msteams", fakes)),
            None, strict))
    assert fields_of(info) == {"integration.credentials.webhook_url"} and TEAMS_SIG not in str(info.value)


async def test_discord_posts_an_embed_within_limits(fakes: Fakes, sink: HttpSink):
    result = await fire(fakes, action("discord"), event("issue-alert", url="https://acme.sentry.io/issues/1/"))
    assert result is not None and result.status == 204
    body = fakes.discord.messages[-1]
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == "Issue alert" and embed["url"] == "https://acme.sentry.io/issues/1/"
    big = event(**{f"k{i}": "x" * 2000 for i in range(30)})
    await fire(fakes, action("discord", template="@everyone " + "😀" * 10_000), big)
    [embed] = fakes.discord.messages[-1]["embeds"]
    assert units(embed["description"]) <= 4096 and embed["description"].endswith("…")
    fakes.discord.fail_next((200, {}, {"id": "1"}))
    assert (await fire(fakes, action("discord"))).status == 200


async def test_discord_rate_limit_and_unknown_webhook(fakes: Fakes):
    fakes.discord.fail_next((429, {}, {"message": "rate limited", "retry_after": 64.57, "global": False}),
                            rate_limited(2.5))
    for expected in (64.57, 3):
        with pytest.raises(RetryableDeliveryError) as info:
            await fire(fakes, action("discord"))
        assert info.value.retry_after == pytest.approx(expected)
    gone = integration_doc("discord", fakes)
    gone["credentials"]["webhook_url"] = fakes.discord.url.replace(DISCORD_TOKEN, "deleted" + "x" * 60)
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(fakes, action("discord"), integration=gone)
    assert info.value.code == "unknown_webhook" and "x" * 60 not in str(info.value)


@pytest.mark.parametrize("service", ["msteams", "discord"])
def test_webhook_services_validate_and_list(fakes: Fakes, service: str):
    good = integration_doc(service, fakes)
    validate(fakes, action(service), good)
    with pytest.raises(InvalidAction) as info:
        validate(fakes, action(service, target_identifier=None), {**good, "credentials": {}})
    assert fields_of(info) == {"target_identifier", "integration.credentials.webhook_url"}
    registration = REGISTRY.get("quota", service, "specific")
    entries = registration.serialize_available(2, [Integration.model_validate(good),
                                                   Integration.model_validate(integration_doc(service, fakes, org=2))])
    assert [(e["action"]["integrationId"], e["action"]["targetIdentifier"]) for e in entries] == [
        (f"{service}-2", good["metadata"]["channel"])]


# --- PagerDuty ----------------------------------------------------------------------------


async def test_pagerduty_triggers_an_event_the_api_accepts(fakes: Fakes):
    result = await fire(fakes, action("pagerduty", trigger="issue-alert", template="t" * 5000), event("issue-alert"),
                        delivery_id="e-9:a-9")
    sent = fakes.pagerduty.events[-1]
    assert (sent["event_action"], sent["dedup_key"], sent["routing_key"]) == ("trigger", "e-9:a-9", PAGERDUTY_KEY)
    payload = sent["payload"]
    assert len(payload["summary"]) == 1024 and payload["severity"] == "error"
    assert payload["timestamp"].startswith("2026-11-26T20:00:00") and payload["custom_details"]["rule"]
    assert result is not None and result.status == 202 and PAGERDUTY_KEY not in result.detail
    await fire(fakes, action("pagerduty"), event(blob="y" * 700_000))  # over 512 KB unless cut
    assert fakes.pagerduty.events[-1]["payload"]["custom_details"]["truncated"] is True


@pytest.mark.parametrize("project", [10, None])
async def test_pagerduty_spike_deactivation_resolves_the_activation(fakes: Fakes, project: int | None):
    act = action("pagerduty", trigger="spike-protection")
    await fire(fakes, act, event("spike-protection", project=project), delivery_id="on")
    await fire(fakes, act, event("spike-protection", project=project, status="deactivated"), delivery_id="off")
    on, off = fakes.pagerduty.events[-2:]
    key = f"spike-protection:1:{project or 'org'}"
    assert (on["event_action"], off["event_action"]) == ("trigger", "resolve")
    assert on["dedup_key"] == off["dedup_key"] == key
    assert fakes.pagerduty.incidents[key] == "resolved"


async def test_pagerduty_answers_are_classified(fakes: Fakes):
    for answer, error in (((429, {}, ""), RetryableDeliveryError), ((500, {}, "x"), RetryableDeliveryError)):
        fakes.pagerduty.fail_next(answer)
        with pytest.raises(error):
            await fire(fakes, action("pagerduty"))
    wrong = integration_doc("pagerduty", fakes)
    wrong["credentials"]["integration_keys"]["PSVC001"] = "Z" * 32
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(fakes, action("pagerduty"), integration=wrong)
    assert info.value.status == 400 and "Z" * 32 not in str(info.value)


def test_pagerduty_validate_and_list(fakes: Fakes):
    good = integration_doc("pagerduty", fakes)
    validate(fakes, action("pagerduty"), good)
    for ident, field in (("PELSEWHERE", "target_identifier"),
                         ("PNOKEY1", "integration.credentials.integration_keys.PNOKEY1")):
        with pytest.raises(InvalidAction) as info:
            validate(fakes, action("pagerduty", target_identifier=ident), good)
        assert fields_of(info) == {field}
    entries = pagerduty.REGISTRATIONS[ActionTrigger.BILLING].serialize_available(
        1, [Integration.model_validate(good), Integration.model_validate(integration_doc("pagerduty", fakes, org=3))])
    shown = [(e["action"]["targetIdentifier"], e["action"]["targetDisplay"]) for e in entries]
    assert shown == [("PSVC001", "Checkout")]


# --- Opsgenie -----------------------------------------------------------------------------


async def test_opsgenie_creates_alerts_within_limits(fakes: Fakes, sink: HttpSink):
    data = event("issue-alert", level="fatal", **{f"k{i}": "v" * 900 for i in range(12)})
    result = await fire(fakes, action("opsgenie", trigger="issue-alert", template="m" * 20_000), data)
    assert sink.requests_to("/opsgenie/v2/alerts")[-1].headers["Authorization"] == f"GenieKey {OPSGENIE_KEY}"
    alert = fakes.opsgenie.created[-1]
    assert alert["priority"] == "P1" and len(alert["message"]) == 130 and len(alert["description"]) == 15_000
    assert sum(len(k) + len(v) for k, v in alert["details"].items()) <= 8000 and "responders" not in alert
    assert result is not None and result.status == 202 and OPSGENIE_KEY not in result.detail


@pytest.mark.parametrize(("ident", "responder"), [("ops-id", {"type": "team", "id": "ops-id"}),
                                                  ("Ops", {"type": "team", "name": "Ops"})])
async def test_opsgenie_team_target_sets_the_responder(fakes: Fakes, ident: str, responder: dict):
    await fire(fakes, action("opsgenie", target="team", target_identifier=ident))
    assert fakes.opsgenie.created[-1]["responders"] == [responder]


async def test_opsgenie_spike_deactivation_closes_by_alias(fakes: Fakes, sink: HttpSink):
    act = action("opsgenie", trigger="spike-protection")
    await fire(fakes, act, event("spike-protection"), delivery_id="on")
    await fire(fakes, act, event("spike-protection", status="deactivated"), delivery_id="off")
    assert fakes.opsgenie.created[-1]["alias"] == "spike-protection:1:10"
    assert fakes.opsgenie.alerts["spike-protection:1:10"] == "closed"
    close = sink.requests_to("/opsgenie/v2/alerts/")[-1]
    assert close.path.endswith("/close") and close.query == "identifierType=alias"


async def test_opsgenie_answers_are_classified(fakes: Fakes):
    answers = (((429, {}, ""), RetryableDeliveryError), ((422, {}, {"message": "x"}), PermanentDeliveryError),
               ((402, {}, {"message": "plan"}), PermanentDeliveryError))
    for answer, error in answers:
        fakes.opsgenie.fail_next(answer)
        with pytest.raises(error):
            await fire(fakes, action("opsgenie"))
    wrong = integration_doc("opsgenie", fakes)
    wrong["credentials"]["api_key"] = "wrong-genie-key-0000"
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(fakes, action("opsgenie"), integration=wrong)
    assert info.value.status == 401 and "wrong-genie-key-0000" not in str(info.value)


def test_opsgenie_validate_and_list(fakes: Fakes):
    good = integration_doc("opsgenie", fakes)
    validate(fakes, action("opsgenie"), good)
    validate(fakes, action("opsgenie", target="team", target_identifier="Ops"), good)
    cases = ((action("opsgenie", target="team", target_identifier="Nobody"), good, "target_identifier"),
             (action("opsgenie", target="team"), good, "target_identifier"),
             (action("opsgenie"), {**good, "credentials": {}}, "integration.credentials.api_key"))
    for act, integ, field in cases:
        with pytest.raises(InvalidAction) as info:
            validate(fakes, act, integ)
        assert fields_of(info) == {field}
    both = [Integration.model_validate(good), Integration.model_validate(integration_doc("opsgenie", fakes, org=2))]
    [team] = opsgenie.TEAM_REGISTRATIONS[ActionTrigger.QUOTA].serialize_available(1, both)
    assert (team["action"]["targetIdentifier"], team["action"]["targetType"]) == ("ops-id", "team")
    assert team["requires"] == []
    [plain] = opsgenie.REGISTRATIONS[ActionTrigger.QUOTA].serialize_available(2, both)
    assert plain["action"]["integrationId"] == "opsgenie-2"


# --- end to end: a real worker subprocess, the session's broker, the fakes ---------------------

_orgs = itertools.count(5000)
STATUS = {"slack": 200, "msteams": 202, "discord": 204, "pagerduty": 202, "opsgenie": 202}


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory, fakes: Fakes):
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory.mktemp("chat-pipeline"),
        NOTIFICATION_ACTIONS_SLACK_API_URL=fakes.slack.url,
        NOTIFICATION_ACTIONS_PAGERDUTY_EVENTS_URL=fakes.pagerduty.url,
        NOTIFICATION_ACTIONS_OPSGENIE_API_URL=fakes.opsgenie.url,
    ) as pipe:
        yield pipe


def received(fakes: Fakes, service: str) -> list[dict]:
    return {"slack": fakes.slack.posted, "msteams": fakes.teams.cards, "discord": fakes.discord.messages,
            "pagerduty": fakes.pagerduty.events, "opsgenie": fakes.opsgenie.created}[service]


@pytest.mark.parametrize("service", SERVICES)
async def test_end_to_end_through_a_real_worker(pipeline: Pipeline, fakes: Fakes, service: str):
    org = next(_orgs)
    key = f"e{org}:a{org}"
    await pipeline.put_integration(integration_doc(service, fakes, org=org))
    await pipeline.put_actions({**action(service, org=org).model_dump(mode="json"), "id": f"a{org}"})
    pipeline.wait_actions(org, lambda a: f"a{org}" in a)
    await pipeline.publish(pipeline_event(f"e{org}", org, actor=f"user{org}@acme.io"))

    records = await consume_until(pipeline.bootstrap, pipeline.topic("outcomes"),
                                  lambda rs: any(r.key == key.encode() for r in rs), timeout=60)
    [outcome] = [orjson.loads(r.value) for r in records if r.key == key.encode()]
    assert (outcome["result"], outcome["service"], outcome["status"]) == ("ok", service, STATUS[service]), outcome
    [native] = [m for m in received(fakes, service) if f"user{org}@acme.io" in orjson.dumps(m).decode()]
    if service == "slack":
        assert native["channel"] == "C024BE91L" and native["blocks"][0]["type"] == "header"
    elif service == "msteams":
        assert native["type"] == "AdaptiveCard" and native["body"][1]["type"] == "TextBlock"
    elif service == "discord":
        assert native["allowed_mentions"] == {"parse": []} and native["embeds"][0]["title"] == "Audit log"
    elif service == "pagerduty":
        assert (native["event_action"], native["dedup_key"], native["payload"]["severity"]) == ("trigger", key, "info")
    else:
        assert native["alias"] == key and native["priority"] == "P3"
    secrets = [SLACK_TOKEN, TEAMS_SIG, DISCORD_TOKEN, PAGERDUTY_KEY, OPSGENIE_KEY]
    assert not any(s.encode() in r.value for s in secrets for r in records)
