"""Cases of the chat and paging registrations (Slack, Teams, Discord, PagerDuty, Opsgenie).

None of them needs ``overrides``: their HTTP statuses follow the shared table.
Slack's own failures arrive as 200 ``{"ok": false}`` and Discord's 404 stays
permanent (only its code changes, to ``unknown_webhook``); both are tested in
``tests/registrations/test_chat.py``.
"""

from tests.support.registration_cases import FireCase

SLACK_TOKEN = "xoxb-case-0000000000-1111111111111-slacktokensecret"
TEAMS_SIG = "caseTeamsSignatureSecret0123456789"
DISCORD_TOKEN = "caseDiscordWebhookToken-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
PAGERDUTY_KEY = "R0UTINGKEYcase000000000000000001"
OPSGENIE_KEY = "eb243592-case-4a52-9c4e-opsgeniekey01"


def _action(service: str, ident: str | None, integration: str, target: str = "specific") -> dict:
    return {"id": f"{service}-1", "organization_id": 1, "trigger_type": "audit-log", "service_type": service,
            "target_type": target, "target_identifier": ident, "integration_id": integration}


def _integration(ident: str, provider: str, credentials: dict, **metadata) -> dict:
    return {"id": ident, "organization_id": 1, "provider": provider, "name": f"Case {provider}",
            "credentials": credentials, "metadata": metadata}


def slack_case(sink_url: str) -> FireCase:
    return FireCase(
        name="slack",
        action=_action("slack", "C024BE91L", "si1"),
        integration=_integration("si1", "slack", {"bot_token": SLACK_TOKEN}),
        path="/case-slack/chat.postMessage",
        secret=SLACK_TOKEN,
        ok=(200, {}, {"ok": True, "channel": "C024BE91L", "ts": "1503435956.000247"}),
        settings={"slack_api_url": f"{sink_url}/case-slack"},
    )


def msteams_case(sink_url: str) -> FireCase:
    url = f"{sink_url}/case-msteams/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig={TEAMS_SIG}"
    return FireCase(
        name="msteams",
        action=_action("msteams", "Ops / Alerts", "ti1"),
        integration=_integration("ti1", "msteams", {"webhook_url": url}),
        path="/case-msteams/",
        secret=TEAMS_SIG,
        ok=(202, {}, ""),
    )


def discord_case(sink_url: str) -> FireCase:
    url = f"{sink_url}/case-discord/api/webhooks/112233445566778899/{DISCORD_TOKEN}"
    return FireCase(
        name="discord",
        action=_action("discord", "#alerts", "di1"),
        integration=_integration("di1", "discord", {"webhook_url": url}),
        path="/case-discord/",
        secret=DISCORD_TOKEN,
        ok=204,
    )


def pagerduty_case(sink_url: str) -> FireCase:
    return FireCase(
        name="pagerduty",
        action=_action("pagerduty", "PSVC001", "pi1"),
        integration=_integration("pi1", "pagerduty", {"integration_keys": {"PSVC001": PAGERDUTY_KEY}},
                                 services=[{"id": "PSVC001", "name": "Checkout"}]),
        path="/case-pagerduty/v2/enqueue",
        secret=PAGERDUTY_KEY,
        ok=(202, {}, {"status": "success", "message": "Event processed", "dedup_key": "evt-1:act-1"}),
        settings={"pagerduty_events_url": f"{sink_url}/case-pagerduty/v2/enqueue"},
    )


def _opsgenie(sink_url: str, target: str) -> FireCase:
    name = "opsgenie" if target == "specific" else f"opsgenie-{target}"
    ident = "ops-team-id" if target == "team" else None
    return FireCase(
        name=name,
        action=_action("opsgenie", ident, "oi1", target),
        integration=_integration("oi1", "opsgenie", {"api_key": OPSGENIE_KEY},
                                 teams=[{"id": "ops-team-id", "name": "Ops"}]),
        path="/case-opsgenie/v2/alerts",
        secret=OPSGENIE_KEY,
        ok=(202, {}, {"result": "Request will be processed", "took": 0.3, "requestId": "r-1"}),
        settings={"opsgenie_api_url": f"{sink_url}/case-opsgenie"},
    )


def opsgenie_case(sink_url: str) -> FireCase:
    return _opsgenie(sink_url, "specific")


def opsgenie_team_case(sink_url: str) -> FireCase:
    return _opsgenie(sink_url, "team")


CASES = [slack_case, msteams_case, discord_case, pagerduty_case, opsgenie_case, opsgenie_team_case]
