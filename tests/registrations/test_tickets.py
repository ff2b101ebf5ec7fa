"""email, sentry_notification, Jira, GitHub and sentry_app against real local servers.

SMTP goes to a real aiosmtpd server, HTTP to fakes on a real aiohttp server
that check requests the way the vendors do. The end-to-end tests through a
worker process are in tests/streams/test_tickets.py.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

# Registers these services until notification_actions/registrations/__init__.py imports them.
import notification_actions.registrations  # noqa: F401  (registers every service)
from notification_actions.registrations.support.transport import new_client
from notification_actions.errors import InvalidAction, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import Directory, Event, Integration, NotificationAction
from notification_actions.registrations.base import REGISTRY, ActionInput, FireContext, FireResult
from notification_actions.settings import Settings
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.http_sink import HttpSink
from tests.support.fakes.jira import FakeJira
from tests.support.fakes.smtp import FakeSmtp
from tests.support.worker_process import free_port

SECRET = "whsec_" + base64.b64encode(b"sentry-app-client-secret-for-tests").decode()
DIRECTORY = {
    "organization_id": 1,
    "members": [
        {"id": "u1", "email": "olivia@acme.io", "role": "owner", "teams": ["backend"]},
        {"id": "u2", "email": "omar@acme.io", "role": "Owner", "teams": []},
        {"id": "u3", "email": "mia@acme.io", "role": "manager", "teams": ["backend"]},
        {"id": "u4", "email": "bill@acme.io", "role": "billing", "teams": ["web"]},
    ],
    "teams": [{"id": "backend"}, {"id": "web"}, {"id": "empty"}],
}


@pytest.fixture(scope="module")
def smtp_server():
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: FakeSmtp) -> FakeSmtp:
    smtp_server.reset()
    return smtp_server


def settings(**overrides: Any) -> Settings:
    base = dict(webhook_allow_http=True, webhook_allow_private=True, http_timeout_seconds=3,
                smtp_from="alerts@notify.acme.io")
    return Settings(_env_file=None, **{**base, **overrides})


def action(service: str, target_type: str = "specific", ident: str | None = None, **extra: Any) -> dict:
    return {"id": "a1", "organization_id": 1, "trigger_type": extra.pop("trigger", "audit-log"),
            "service_type": service, "target_type": target_type, "target_identifier": ident, **extra}


def event(trigger: str = "audit-log", **data: Any) -> Event:
    base = {"event": "member.invite", "actor": "jane@acme.io"} if trigger == "audit-log" else {}
    return Event.model_validate({"id": "e1", "trigger": trigger, "organization_id": 1,
                                 "occurred_at": "2026-11-26T20:00:00Z", "data": {**base, **data}})


async def fire(doc: dict, cfg: Settings, *, integration: dict | None = None, directory: dict | None = DIRECTORY,
               ev: Event | None = None) -> FireResult | None:
    act = NotificationAction.model_validate(doc)
    registration = REGISTRY.get(act.trigger_type, act.service_type, act.target_type)
    async with new_client(timeout=10, max_connections=8) as http:
        context = FireContext(settings=cfg, http=http, delivery_id="e1:a1",
                              integration=Integration.model_validate(integration) if integration else None,
                              directory=Directory.model_validate(directory) if directory else None)
        return await registration(act, context).fire(ev or event(act.trigger_type.slug))


def smtp_settings(server: FakeSmtp, **extra: Any) -> Settings:
    return settings(smtp_host=server.host, smtp_port=server.port, **extra)


# --- email ---------------------------------------------------------------------


async def test_email_sends_text_and_escaped_html(smtp: FakeSmtp):
    template = "Invite <b>{{ data.actor }}</b>\r\nBcc: evil@example.com\nsecond line & more"
    result = await fire(action("email", ident="ops@acme.io", template=template), smtp_settings(smtp))
    [got] = smtp.received
    assert got.mail_from == "alerts@notify.acme.io" and got.rcpt_tos == ["ops@acme.io"]
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "Invite <b>jane@acme.io</b>" and msg["Bcc"] is None and msg["To"] == "ops@acme.io"
    plain, rich = (part.get_content() for part in msg.iter_parts())
    assert "second line & more" in plain and "Occurred at: 2026-11-26T20:00:00Z" in plain
    assert "&lt;b&gt;jane@acme.io&lt;/b&gt;" in rich and "<b>" not in rich and "&amp; more" in rich
    assert result is not None and "accepted for 1 of 1" in result.detail


async def test_email_subject_is_cut_and_message_id_is_stable(smtp: FakeSmtp):
    doc = action("email", ident="ops@acme.io", template="x" * 5000)
    await fire(doc, smtp_settings(smtp))
    await fire(doc, smtp_settings(smtp))
    first, again = (r.message for r in smtp.received)
    assert len(first["Subject"]) == 200 and first["Subject"].endswith("…")
    assert first["Message-ID"] == again["Message-ID"]


@pytest.mark.parametrize(("where", "reply", "error", "code"), [
    ("rcpt", "450 4.2.1 mailbox busy", RetryableDeliveryError, "450"),
    ("rcpt", "550 5.1.1 no such user", PermanentDeliveryError, "550"),
    ("data", "451 4.3.0 try again later", RetryableDeliveryError, "451"),
    ("data", "554 5.6.0 message refused", PermanentDeliveryError, "554"),
])
async def test_email_smtp_replies_are_classified(smtp: FakeSmtp, where: str, reply: str, error: type, code: str):
    setattr(smtp, f"{where}_reply", reply)
    with pytest.raises(error) as info:
        await fire(action("email", ident="ops@acme.io"), smtp_settings(smtp))
    assert info.value.code == code and not smtp.received


async def test_email_connection_refused_is_retryable():
    with pytest.raises(RetryableDeliveryError):
        await fire(action("email", ident="ops@acme.io"), settings(smtp_host="127.0.0.1", smtp_port=free_port()))


async def test_email_partial_refusal_is_delivered_to_the_rest(smtp: FakeSmtp):
    smtp.rcpt_reply = {"mia@acme.io": "550 5.1.1 gone"}
    result = await fire(action("email", "team", "backend"), smtp_settings(smtp))
    assert smtp.received[0].rcpt_tos == ["olivia@acme.io"] and "1 of 2" in result.detail and "550" in result.detail


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_email_auth():
    password = "smtp-pass-Zq9!"
    with FakeSmtp(username="mailer", password=password) as server:
        await fire(action("email", ident="ops@acme.io"), smtp_settings(server, smtp_username="mailer", smtp_password=password))
        assert server.received[0].authenticated_as == "mailer"
        with pytest.raises(PermanentDeliveryError) as wrong:
            await fire(action("email", ident="ops@acme.io"),
                       smtp_settings(server, smtp_username="mailer", smtp_password=password + "x"))
        assert wrong.value.code == "535" and password not in f"{wrong.value} {wrong.value!r}"
        with pytest.raises(PermanentDeliveryError) as none:
            await fire(action("email", ident="ops@acme.io"), smtp_settings(server))
        assert none.value.code == "530"


@pytest.mark.parametrize(("target", "ident", "expected"), [
    ("user", "u3", ["mia@acme.io"]),
    ("team", "backend", ["mia@acme.io", "olivia@acme.io"]),
])
async def test_email_user_and_team_resolve_through_the_directory(smtp: FakeSmtp, target, ident, expected):
    await fire(action("email", target, ident), smtp_settings(smtp))
    [got] = smtp.received
    assert got.rcpt_tos == expected
    # Members of a team never see each other's addresses.
    assert got.message["To"] == (expected[0] if len(expected) == 1 else "undisclosed-recipients:;")


async def test_sentry_notification_mails_exactly_the_role(smtp: FakeSmtp):
    await fire(action("sentry_notification", ident="owner", trigger="billing"),
               smtp_settings(smtp), ev=event("billing", kind="invoice.paid", amount=29.0, currency="USD"))
    [got] = smtp.received
    assert got.rcpt_tos == ["olivia@acme.io", "omar@acme.io"]
    assert got.message["Subject"].startswith("Billing: invoice.paid")


@pytest.mark.parametrize(("doc", "directory", "code"), [
    (action("sentry_notification", ident="admin"), DIRECTORY, "no_recipients"),
    (action("email", "team", "empty"), DIRECTORY, "no_recipients"),
    (action("email", "user", "u404"), DIRECTORY, "no_recipients"),
    (action("sentry_notification", ident="owner"), None, "no_directory"),
])
async def test_no_recipients_is_permanent(smtp: FakeSmtp, doc, directory, code):
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(doc, smtp_settings(smtp), directory=directory)
    assert info.value.code == code and not smtp.received


# --- Jira ----------------------------------------------------------------------


def jira_integration(fake: FakeJira, **metadata: Any) -> dict:
    return {"id": "ji", "organization_id": 1, "provider": "jira", "name": "Acme Jira",
            "credentials": {"email": fake.email, "api_token": fake.api_token},
            "metadata": {"site": fake.site, "projects": [{"key": "OPS", "name": "Ops"}], **metadata}}


async def test_jira_creates_an_issue_in_adf(sink: HttpSink):
    fake = FakeJira(sink, prefix="/jira-ok")
    result = await fire(action("jira", ident="OPS", integration_id="ji"), settings(),
                        integration=jira_integration(fake, issue_type="Bug"))
    assert result == FireResult(status=201, detail="OPS-1")
    [issue] = fake.created
    fields = issue["fields"]
    assert fields["issuetype"] == {"name": "Bug"} and fields["labels"] == ["notification-actions", "audit-log"]
    assert fields["summary"] == "Audit log: member.invite by jane@acme.io"
    assert fields["description"]["type"] == "doc"
    assert sink.requests_to(fake.path)[0].headers["Accept"] == "application/json"


async def test_fake_jira_refuses_what_jira_refuses(sink: HttpSink):
    fake = FakeJira(sink, prefix="/jira-strict")
    auth = "Basic " + base64.b64encode(f"{fake.email}:{fake.api_token}".encode()).decode()
    fields = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "s"}
    async with new_client(timeout=10, max_connections=8) as client:
        async def post(body: dict, authorization: str = auth) -> int:
            return (await client.post(fake.site + "/rest/api/3/issue", json=body,
                                      headers={"Authorization": authorization})).status_code
        assert await post({"fields": {**fields, "description": "plain text"}}) == 400
        assert await post({"fields": {**fields, "summary": "a\nb"}}) == 400
        assert await post({"fields": {**fields, "project": {"key": "NOPE"}}}) == 400
        assert await post({"fields": fields}, authorization="Basic " + base64.b64encode(b"x:y").decode()) == 401
        assert await post({"fields": fields}) == 201


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429])
async def test_jira_documented_errors(sink: HttpSink, status: int):
    fake = FakeJira(sink, prefix=f"/jira-{status}")
    fake.fail_next(status)
    error = RetryableDeliveryError if status == 429 else PermanentDeliveryError
    with pytest.raises(error) as info:
        await fire(action("jira", ident="OPS", integration_id="ji"), settings(), integration=jira_integration(fake))
    assert info.value.status == status and fake.api_token not in str(info.value)
    if status == 429:
        assert info.value.retry_after == 17


async def test_jira_cuts_to_its_limits(sink: HttpSink):
    fake = FakeJira(sink, prefix="/jira-long")
    template = "\U0001F600" * 300 + "\n" + ("body line\n" * 10_000)
    result = await fire(action("jira", ident="OPS", integration_id="ji", template=template), settings(),
                        integration=jira_integration(fake))
    assert result.status == 201
    summary = fake.created[0]["fields"]["summary"]
    # Jira counts UTF-16 units: 127 emoji (254 units) and the ellipsis.
    assert summary == "\U0001F600" * 127 + "…"


async def test_jira_request_builder_with_mock_transport():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "1", "key": "OPS-9"})

    integration = {"id": "ji", "organization_id": 1, "provider": "jira",
                   "credentials": {"email": "bot@acme.io", "api_token": "tok"},
                   "metadata": {"site": "https://93.184.215.14/", "projects": [{"key": "OPS"}]}}
    act = NotificationAction.model_validate(action("jira", ident="OPS", integration_id="ji"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        context = FireContext(settings=settings(), http=http, integration=Integration.model_validate(integration))
        result = await REGISTRY.get("audit-log", "jira", "specific")(act, context).fire(event())
    assert result.detail == "OPS-9"
    assert str(seen[0].url) == "https://93.184.215.14/rest/api/3/issue"
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"bot@acme.io:tok").decode()


# --- GitHub --------------------------------------------------------------------


def github_integration(fake: FakeGitHub) -> dict:
    return {"id": "gi", "organization_id": 1, "provider": "github", "credentials": {"token": fake.token},
            "metadata": {"repositories": [{"full_name": "acme/backend"}]}}


async def test_github_opens_an_issue(sink: HttpSink):
    fake = FakeGitHub(sink, prefix="/gh-ok")
    result = await fire(action("github", ident="acme/backend", integration_id="gi", template="Hi @acme/everyone"),
                        settings(github_api_url=fake.api_url), integration=github_integration(fake))
    assert result == FireResult(status=201, detail="https://github.com/acme/backend/issues/1")
    [request] = sink.requests_to(fake.path("acme/backend"))
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28" and request.headers["User-Agent"]
    issue = fake.created[0]
    assert issue["labels"] == ["notification-actions", "audit-log"]
    assert "@acme/everyone" not in issue["body"] and "actor: jane@acme.io" in issue["body"]


@pytest.mark.parametrize(("kind", "retry_after"), [
    (401, None), (403, None), (404, None), (410, None), (422, None),
    (429, 12), ("primary", 30), ("secondary", 45),
])
async def test_github_documented_errors(sink: HttpSink, kind: int | str, retry_after: int | None):
    fake = FakeGitHub(sink, prefix=f"/gh-{kind}")
    fake.fail_next(kind)
    error = PermanentDeliveryError if retry_after is None else RetryableDeliveryError
    with pytest.raises(error) as info:
        await fire(action("github", ident="acme/backend", integration_id="gi"),
                   settings(github_api_url=fake.api_url), integration=github_integration(fake))
    assert fake.token not in str(info.value)
    if kind == "secondary":  # the shared classifier ignores retry-after on a 403; we wait GitHub's minute
        assert info.value.retry_after in (45, 60)
    elif retry_after is not None:
        assert info.value.retry_after == pytest.approx(retry_after, abs=2)


async def test_github_cuts_to_its_limits(sink: HttpSink):
    fake = FakeGitHub(sink, prefix="/gh-long")
    template = "T" * 400 + "\n" + "```\n" + "b" * 70_000
    await fire(action("github", ident="acme/backend", integration_id="gi", template=template),
               settings(github_api_url=fake.api_url), integration=github_integration(fake))
    issue = fake.created[0]
    assert len(issue["title"]) == 256 and len(issue["body"]) <= 65_536


# --- sentry_app ----------------------------------------------------------------


def app_integration(url: str, **extra: Any) -> dict:
    return {"id": "si", "organization_id": 1, "provider": "sentry_app", "name": "Triage",
            "credentials": {"client_secret": SECRET}, "metadata": {"webhook_url": url, "sentry_app_id": "triage"},
            **extra}


async def test_sentry_app_posts_a_signed_event(sink: HttpSink):
    sink.require_signature("/app-ok", SECRET)
    await fire(action("sentry_app", "sentry_app", integration_id="si"), settings(),
               integration=app_integration(sink.url + "/app-ok"))
    [request] = sink.requests_to("/app-ok")
    body = request.json()
    assert request.verified is True and request.headers["webhook-id"] == "e1:a1"
    assert body["action"] == "audit-log" and body["installation"] == {"uuid": "si"}
    assert body["data"]["event"]["id"] == "e1" and SECRET not in request.text


async def test_sentry_app_refuses_a_private_url_at_fire(sink: HttpSink):
    with pytest.raises(PermanentDeliveryError) as info:
        await fire(action("sentry_app", "sentry_app", integration_id="si"),
                   Settings(_env_file=None, webhook_allow_http=True), integration=app_integration(sink.url + "/x"))
    assert info.value.code == "ssrf_blocked" and not sink.requests_to("/x")


# --- validate_action and serialize_available -------------------------------------

JIRA = {"id": "ji", "organization_id": 1, "provider": "jira", "credentials": {"email": "b@acme.io", "api_token": "t"},
        "metadata": {"site": "https://acme.atlassian.net", "projects": [{"key": "OPS", "name": "Ops"}]}}
GITHUB = {"id": "gi", "organization_id": 1, "provider": "github", "credentials": {"token": "t"},
          "metadata": {"repositories": ["acme/backend", {"full_name": "acme/web"}]}}
APP = app_integration("https://triage.acme.io/hooks")


@pytest.mark.parametrize(("doc", "integration", "field"), [
    (action("email", ident="not an address"), None, "target_identifier"),
    (action("email", "user", "u404"), None, "target_identifier"),
    (action("email", "team", "nope"), None, "target_identifier"),
    (action("sentry_notification", ident="Not A Role!"), None, "target_identifier"),
    (action("jira", ident="OPS"), None, "integration_id"),
    (action("jira", ident="OPS", integration_id="gi"), GITHUB, "integration_id"),
    (action("jira", ident="NOPE", integration_id="ji"), JIRA, "target_identifier"),
    (action("jira", ident="OPS", integration_id="ji"), {**JIRA, "credentials": {"email": "b@acme.io"}},
     "integration.credentials.api_token"),
    (action("jira", ident="OPS", integration_id="ji"), {**JIRA, "metadata": {**JIRA["metadata"], "site": "ftp://x"}},
     "integration.metadata.site"),
    (action("github", ident="acme/nope", integration_id="gi"), GITHUB, "target_identifier"),
    (action("github", ident="no-slash", integration_id="gi"), GITHUB, "target_identifier"),
    (action("github", ident="acme/web", integration_id="gi"), {**GITHUB, "organization_id": 2}, "integration_id"),
    (action("sentry_app", "sentry_app", integration_id="si"), {**APP, "credentials": {}},
     "integration.credentials.client_secret"),
    (action("sentry_app", "sentry_app", integration_id="si"), {**APP, "credentials": {"client_secret": "abc"}},
     "integration.credentials.client_secret"),
    (action("sentry_app", "sentry_app", integration_id="si"), app_integration("https://10.0.0.8/hook"),
     "integration.metadata.webhook_url"),
    (action("sentry_app", "sentry_app", integration_id="si", sentry_app_id="other"), APP, "sentry_app_id"),
])
def test_validate_action_names_the_field(doc: dict, integration: dict | None, field: str):
    act = NotificationAction.model_validate(doc)
    data = ActionInput(action=act, integration=Integration.model_validate(integration) if integration else None,
                       directory=Directory.model_validate(DIRECTORY), settings=Settings(_env_file=None))
    with pytest.raises(InvalidAction) as info:
        REGISTRY.get(act.trigger_type, act.service_type, act.target_type).validate_action(data)
    assert field in [p.field for p in info.value.problems]


@pytest.mark.parametrize("doc", [
    action("email", ident="ops@acme.io"), action("email", "user", "u1"), action("sentry_notification", ident="owner"),
    action("jira", ident="OPS", integration_id="ji"), action("github", ident="acme/web", integration_id="gi"),
    action("sentry_app", "sentry_app", integration_id="si"),
])
def test_validate_action_accepts(doc: dict):
    act = NotificationAction.model_validate(doc)
    integration = {"ji": JIRA, "gi": GITHUB, "si": APP}.get(act.integration_id or "")
    REGISTRY.get(act.trigger_type, act.service_type, act.target_type).validate_action(ActionInput(
        action=act, integration=Integration.model_validate(integration) if integration else None,
        directory=None, settings=Settings(_env_file=None)))


def test_serialize_available_only_for_the_asking_organization():
    mine = [Integration.model_validate(i) for i in (JIRA, GITHUB, APP)]
    theirs = [Integration.model_validate({**i, "id": i["id"] + "-2", "organization_id": 2}) for i in (JIRA, GITHUB, APP)]

    def entries(service: str, target: str = "specific") -> list[dict]:
        return REGISTRY.get("quota", service, target).serialize_available(1, mine + theirs)

    assert [e["action"]["targetIdentifier"] for e in entries("jira")] == ["OPS"]
    assert [e["action"]["targetIdentifier"] for e in entries("github")] == ["acme/backend", "acme/web"]
    assert [e["action"]["integrationId"] for e in entries("sentry_app", "sentry_app")] == ["si"]
    all_ids = {e["action"]["integrationId"] for s in ("jira", "github") for e in entries(s)}
    assert all_ids == {"ji", "gi"}
    [mail] = entries("email", "team")
    assert mail["action"]["integrationId"] is None and mail["action"]["triggerType"] == "quota"
    assert [r["name"] for r in mail["requires"]] == ["target_identifier"]
    [role] = entries("sentry_notification")
    assert "owner" in role["requires"][0]["description"]
