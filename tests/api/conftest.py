"""One worker for the API tests, with an admin token and organization tokens."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import Client, clients, organization_tokens, wait_until
from tests.support.pipeline import running_pipeline

ADMIN = "test-admin-token-0000"


Api = Client  # the tests of this package call it so


@pytest.fixture(scope="module")
def api_env():
    return organization_tokens((("org1", [1], True), ("org1-read", [1], False), ("org2", [2], True),
                                ("org3", [3], True), ("org12", [1, 2], True)))


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory, api_env):
    _, grants = api_env
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("api"),
                          NOTIFICATION_ACTIONS_API_TOKEN=ADMIN, NOTIFICATION_ACTIONS_API_TOKENS=grants,
                          NOTIFICATION_ACTIONS_API_WRITES_PER_MINUTE="40",
                          NOTIFICATION_ACTIONS_API_MAX_BODY_BYTES="65536",
                          NOTIFICATION_ACTIONS_BACKFILL_EVENTS_PER_SECOND="500") as pipe:
        asyncio.run(_integrations(pipe))
        yield pipe


async def _integrations(pipe) -> None:
    await pipe.put_integration({"id": "i-slack", "organization_id": 1, "provider": "slack", "name": "Acme Slack",
                                "credentials": {"bot_token": "xoxb-api-test-000000"},
                                "metadata": {"channels": [{"id": "C1", "name": "#alerts"}]}})
    await pipe.put_integration({"id": "916", "organization_id": 1, "provider": "pagerduty", "name": "Acme PD",
                                "credentials": {"integration_keys": {"P1": "rk-api-test-111111"}},
                                "metadata": {"services": [{"id": "P1", "name": "Checkout"}]}})
    await pipe.put_integration({"id": "i-pd2", "organization_id": 2, "provider": "pagerduty", "name": "Other PD",
                                "credentials": {"integration_keys": {"P2": "rk-api-test-222222"}},
                                "metadata": {"services": [{"id": "P2", "name": "Billing"}]}})


@pytest.fixture(scope="module")
def apis(pipeline, api_env):
    tokens, _ = api_env
    out = clients(pipeline.api, {**tokens, "admin": ADMIN})

    def integration_listed():  # the integrations are in the worker's table once available-actions lists them
        listed = out["admin"].call("GET", "/api/0/organizations/1/notifications/available-actions/").json()
        return any(a["action"].get("integrationId") in ("916", 916) for a in listed["actions"])

    wait_until(integration_listed, what="integration 916 in available-actions")
    return out
