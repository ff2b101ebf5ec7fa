"""email, sentry_notification, Jira, GitHub and sentry_app end to end: real broker, real worker, real fakes.

One worker serves the module, pointed at a real SMTP server (aiosmtpd) and at
fake Jira/GitHub/app endpoints on a real HTTP server; each test uses its own
organization id, publishes what it needs (integration, directory, action,
event) and checks both the native request and the ``ok`` outcome.
"""

from __future__ import annotations

import base64
import itertools
import time

import orjson
import pytest

from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.http_sink import HttpSink
from tests.support.fakes.jira import FakeJira
from tests.support.fakes.smtp import FakeSmtp
from tests.support.kafka import consume_until, produce
from tests.support.pipeline import Pipeline, event, running_pipeline

SECRET = "whsec_" + base64.b64encode(b"e2e-sentry-app-client-secret").decode()
_orgs = itertools.count(3000)

@pytest.fixture(scope="module")
def smtp():
    with FakeSmtp() as server:
        yield server


@pytest.fixture(scope="module")
def jira(sink: HttpSink) -> FakeJira:
    return FakeJira(sink, prefix="/e2e-jira")


@pytest.fixture(scope="module")
def github(sink: HttpSink) -> FakeGitHub:
    return FakeGitHub(sink, prefix="/e2e-github")


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory, smtp: FakeSmtp, github: FakeGitHub):
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory.mktemp("pipeline-tickets"),
        NOTIFICATION_ACTIONS_SMTP_HOST=smtp.host,
        NOTIFICATION_ACTIONS_SMTP_PORT=str(smtp.port),
        NOTIFICATION_ACTIONS_SMTP_FROM="alerts@notify.acme.io",
        NOTIFICATION_ACTIONS_GITHUB_API_URL=github.api_url,
    ) as pipe:
        yield pipe


def new_org() -> int:
    return next(_orgs)


def act(org: int, service: str, target_type: str = "specific", ident: str | None = None, **extra) -> dict:
    return {"id": f"a{org}", "organization_id": org, "trigger_type": "audit-log", "service_type": service,
            "target_type": target_type, "target_identifier": ident, **extra}


async def put_directory(pipeline: Pipeline, directory: dict) -> None:
    org = directory["organization_id"]
    await produce(pipeline.bootstrap, pipeline.topic("directory"), [(str(org).encode(), orjson.dumps(directory))])
    # The directory has no API of its own: the worker's log says when it is applied.
    needle = f"directory of organization {org} applied"
    deadline = time.monotonic() + 30
    while needle not in pipeline.worker.log_tail(400):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"the worker never applied the directory of {org}"
        time.sleep(0.1)


async def deliver(pipeline: Pipeline, doc: dict, integration: dict | None = None) -> dict:
    """Publish the integration, the action and one event; return the delivery's outcome."""
    org = doc["organization_id"]
    if integration is not None:
        await pipeline.put_integration(integration)
    await pipeline.put_actions(doc)
    pipeline.wait_actions(org, lambda a: doc["id"] in a)
    await pipeline.publish(event(f"e{org}", org, actor=f"actor{org}@acme.io"))
    key = f"e{org}:{doc['id']}".encode()
    records = await consume_until(pipeline.bootstrap, pipeline.topic("outcomes"),
                                  lambda rs: any(r.key == key for r in rs), timeout=60)
    [outcome] = [orjson.loads(r.value) for r in records if r.key == key]
    return outcome


async def test_email_end_to_end(pipeline: Pipeline, smtp: FakeSmtp):
    org = new_org()
    outcome = await deliver(pipeline, act(org, "email", ident=f"ops{org}@acme.io"))
    [got] = smtp.wait_for(lambda r: r.rcpt_tos == [f"ops{org}@acme.io"], timeout=30)
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == f"Audit log: member.invite by actor{org}@acme.io"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert outcome["result"] == "ok" and outcome["service"] == "email"


async def test_sentry_notification_end_to_end(pipeline: Pipeline, smtp: FakeSmtp):
    org = new_org()
    owners = [f"owner-a{org}@acme.io", f"owner-b{org}@acme.io"]
    await put_directory(pipeline, {"organization_id": org, "members": [
        {"id": "m1", "email": owners[0], "role": "owner"},
        {"id": "m2", "email": owners[1], "role": "owner"},
        {"id": "m3", "email": f"dev{org}@acme.io", "role": "member"},
    ]})
    outcome = await deliver(pipeline, act(org, "sentry_notification", ident="owner"))
    [got] = smtp.wait_for(lambda r: f"actor{org}@acme.io" in r.message["Subject"], timeout=30)
    assert got.rcpt_tos == owners
    assert outcome["result"] == "ok" and outcome["service"] == "sentry_notification"


async def test_jira_end_to_end(pipeline: Pipeline, jira: FakeJira):
    org = new_org()
    integration = {"id": f"j{org}", "organization_id": org, "provider": "jira", "name": "Jira",
                   "credentials": {"email": jira.email, "api_token": jira.api_token},
                   "metadata": {"site": jira.site, "projects": [{"key": "OPS", "name": "Ops"}]}}
    outcome = await deliver(pipeline, act(org, "jira", ident="OPS", integration_id=f"j{org}"), integration)
    [issue] = [i for i in jira.created if f"actor{org}@acme.io" in i["fields"]["summary"]]
    assert issue["fields"]["project"] == {"key": "OPS"} and issue["fields"]["description"]["type"] == "doc"
    assert outcome["result"] == "ok" and outcome["status"] == 201 and outcome["detail"] == issue["key"]
    assert jira.api_token not in orjson.dumps(outcome).decode()


async def test_github_end_to_end(pipeline: Pipeline, github: FakeGitHub):
    org = new_org()
    integration = {"id": f"g{org}", "organization_id": org, "provider": "github", "name": "GitHub",
                   "credentials": {"token": github.token}, "metadata": {"repositories": ["acme/backend"]}}
    outcome = await deliver(pipeline, act(org, "github", ident="acme/backend", integration_id=f"g{org}"), integration)
    [issue] = [i for i in github.created if f"actor{org}@acme.io" in i["title"]]
    assert issue["labels"] == ["notification-actions", "audit-log"]
    assert outcome["result"] == "ok" and outcome["status"] == 201 and outcome["detail"] == issue["html_url"]


async def test_sentry_app_end_to_end(pipeline: Pipeline, sink: HttpSink):
    org = new_org()
    path = f"/e2e-app/{org}"
    sink.require_signature(path, SECRET)
    integration = {"id": f"s{org}", "organization_id": org, "provider": "sentry_app", "name": "Triage",
                   "credentials": {"client_secret": SECRET}, "metadata": {"webhook_url": sink.url + path}}
    outcome = await deliver(pipeline, act(org, "sentry_app", "sentry_app", integration_id=f"s{org}"), integration)
    [request] = sink.wait_for_sync(1, 30, path_prefix=path)
    assert request.verified is True and request.json()["data"]["event"]["id"] == f"e{org}"
    assert outcome["result"] == "ok" and outcome["status"] == 200 and outcome["service"] == "sentry_app"
