"""One worker for the console tests (HTTP and browser), with an admin token and organization tokens,
a local webhook sink, and helpers that make an action's delivery end in the deliveries DLQ."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import Client, organization_tokens, wait_until
from tests.support.api import clients as clients_for
from tests.support.fakes.http_sink import HttpSink
from tests.support.pipeline import event, running_pipeline

ADMIN = "console-admin-token-0000"
# Organization 2's secrets: no answer to anyone else may hold them.
OTHER_BOT_TOKEN = "xoxb-console-other-org-secret-000000"
OTHER_HOOK_SECRET = "hooksecretorg2abcdef0123456789"


@pytest.fixture(scope="package")
def tokens():
    out, grants = organization_tokens((("org1", [1], True), ("org1-read", [1], False), ("org2", [2], True)))
    out["admin"] = ADMIN
    return out, grants


@pytest.fixture(scope="package")
def sink():
    with HttpSink.start_in_thread() as s:
        yield s


@pytest.fixture(scope="package")
def pipeline(kafka_bootstrap, tmp_path_factory, tokens):
    _, grants = tokens
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("console"),
                          NOTIFICATION_ACTIONS_API_TOKEN=ADMIN, NOTIFICATION_ACTIONS_API_TOKENS=grants,
                          NOTIFICATION_ACTIONS_LAG_SAMPLE_INTERVAL_SECONDS="1",
                          NOTIFICATION_ACTIONS_QUICK_RETRIES="0") as pipe:
        asyncio.run(pipe.put_integration({
            "id": "i-other", "organization_id": 2, "provider": "slack", "name": "Other Slack",
            "credentials": {"bot_token": OTHER_BOT_TOKEN},
            "metadata": {"channels": [{"id": "C2", "name": "#other"}]}}))
        yield pipe


@pytest.fixture(scope="package")
def clients(pipeline, tokens):
    names, _ = tokens
    return clients_for(pipeline.api, names)


wait_for = wait_until


def create_webhook(client: Client, org: int, url: str) -> dict:
    r = client.call("POST", client.org(org, "actions/"), {
        "triggerType": "audit-log", "serviceType": "webhook", "targetType": "specific", "targetIdentifier": url})
    assert r.status_code == 201, r.text
    return r.json()


def dead_letter(pipeline, sink: HttpSink, client: Client, org: int, path: str, event_id: str) -> dict:
    """An action of ``org`` whose first delivery the sink refuses with a 400 (permanent): a dead letter.
    Returns the action; waits until the admin's dead-letter list shows it."""
    sink.script(path, [(400, {}, {"error": "refused once"})])
    made = create_webhook(client, org, sink.url + path)
    asyncio.run(pipeline.publish(event(event_id, org)))
    admin = Client(pipeline.api, ADMIN)
    wait_for(lambda: any(d["deliveryId"] == f"{event_id}:{made['id']}"
                         for d in admin.call("GET", "/api/0/dead-letters/").json()["deadLetters"]),
             60, f"{event_id} was never dead-lettered")
    return made
