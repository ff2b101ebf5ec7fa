"""Anyone who can reach the web port: only our endpoints answer, and credentials never do.

Faust serves its own views on the same port (``/table/<name>/<key>/`` returned an
integration with its bot token in clear text, without a token). They must all be
404; our protected endpoints 401 without a token; the open ones hold no secret.
"""

from __future__ import annotations

import httpx
import pytest
import yaml
from pydantic import ValidationError

from notification_actions.settings import Settings
from tests.support.pipeline import action

BOT_TOKEN = "xoxb-web-port-secret-0000000000"
FAUST_PATHS = [
    "/", "/router/", "/router/integrations/", "/router/integrations/i-web/",
    "/table/", "/table/integrations/", "/table/integrations/i-web/", "/table/directory/1/", "/table/actions/",
    "/graph/", "/stats/", "/stats/assignment/", "/signal/", "/performance/",
]


async def test_only_our_endpoints_answer_and_no_credential_leaves(pipeline, sink):
    await pipeline.put_integration({
        "id": "i-web", "organization_id": 1, "provider": "slack", "name": "Acme",
        "credentials": {"bot_token": BOT_TOKEN},
        "metadata": {"channels": [{"id": "C1", "name": "#alerts"}]},
    })
    await pipeline.put_actions(action("a-web", 1, "C1", service_type="slack", integration_id="i-web"))
    pipeline.wait_actions(1, lambda a: "a-web" in a)  # the integration is in the table by now

    for path in FAUST_PATHS:
        r = httpx.get(pipeline.api + path)
        assert r.status_code == 404, f"{path} answered {r.status_code}: {r.text[:200]}"
        assert BOT_TOKEN not in r.text
    for path in ["/healthz", "/readyz", "/metrics", "/console/", "/console/console.js", "/console/console.css"]:
        r = httpx.get(pipeline.api + path)
        assert r.status_code == 200, path
        assert BOT_TOKEN not in r.text
    for path in ["/lag", "/circuits", "/organizations/1/actions", "/organizations/1/available-actions",
                 "/api/0/console/me", "/api/0/console/health", "/api/0/console/lag", "/api/0/dead-letters/",
                 "/api/0/organizations/1/notifications/dead-letters/",
                 "/api/0/organizations/1/notifications/last-outcomes/"]:
        assert httpx.get(pipeline.api + path).status_code == 401, path
        r = httpx.get(pipeline.api + path, headers={"Authorization": f"Bearer {pipeline.token}"})
        assert r.status_code in (200, 503), path  # /lag is 503 until its first sample
        assert BOT_TOKEN not in r.text, path


@pytest.mark.parametrize("token", ["change-me", "CHANGEME", "secret", " token "])
def test_a_well_known_api_token_is_refused(token):
    with pytest.raises(ValidationError, match="well-known placeholder"):
        Settings(_env_file=None, api_token=token)


def test_compose_needs_a_token_of_its_own():
    compose = yaml.safe_load(open("docker-compose.yml"))
    env = compose["services"]["worker"]["environment"]
    value = env["NOTIFICATION_ACTIONS_API_TOKEN"]
    assert ":?" in value and ":-" not in value, value  # required, with no default
    assert all(not str(p).startswith("6066") for p in compose["services"]["worker"]["ports"])


@pytest.mark.parametrize("org", ["²", "1²", "١", "99999999999999999999999", "-1", "1e3"])
def test_an_organization_id_that_is_no_integer_is_a_400(pipeline, org):
    r = httpx.get(f"{pipeline.api}/organizations/{org}/actions", headers={"Authorization": f"Bearer {pipeline.token}"})
    assert r.status_code == 400, r.text
    assert "is not an integer" in r.json()["error"]
