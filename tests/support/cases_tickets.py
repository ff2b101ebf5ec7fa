"""The Jira, GitHub and sentry_app registrations' cases for the all-registrations tests."""

import base64

# Registers these services until notification_actions/registrations/__init__.py imports them.
from tests.support.registration_cases import FireCase

JIRA_TOKEN = "case-jira-api-token-ATATT3xFfGF0"
GITHUB_TOKEN = "github_pat_case_0123456789abcdef"
APP_SECRET = "whsec_" + base64.b64encode(b"case-sentry-app-client-secret").decode()


def jira(sink_url: str) -> FireCase:
    return FireCase(
        name="jira",
        action={"id": "j1", "organization_id": 1, "trigger_type": "issue-alert", "service_type": "jira",
                "target_type": "specific", "target_identifier": "OPS", "integration_id": "ji1"},
        integration={"id": "ji1", "organization_id": 1, "provider": "jira", "name": "Acme Jira",
                     "credentials": {"email": "bot@acme.io", "api_token": JIRA_TOKEN},
                     "metadata": {"site": f"{sink_url}/case-jira", "projects": [{"key": "OPS", "name": "Ops"}]}},
        path="/case-jira/rest/api/3/issue",
        secret=JIRA_TOKEN,
        ok=(201, {}, {"id": "10000", "key": "OPS-1", "self": f"{sink_url}/case-jira/rest/api/3/issue/10000"}),
    )


def github(sink_url: str) -> FireCase:
    return FireCase(
        name="github",
        action={"id": "g1", "organization_id": 1, "trigger_type": "issue-alert", "service_type": "github",
                "target_type": "specific", "target_identifier": "acme/backend", "integration_id": "gi1"},
        integration={"id": "gi1", "organization_id": 1, "provider": "github", "name": "Acme GitHub",
                     "credentials": {"token": GITHUB_TOKEN}, "metadata": {"repositories": ["acme/backend"]}},
        path="/case-github/repos/acme/backend/issues",
        secret=GITHUB_TOKEN,
        ok=(201, {}, {"id": 1, "number": 1, "html_url": "https://github.com/acme/backend/issues/1"}),
        settings={"github_api_url": f"{sink_url}/case-github"},
        # A plain 403 (no rate-limit headers, no "rate limit" message) is permanent, as in the shared table.
    )


def sentry_app(sink_url: str) -> FireCase:
    return FireCase(
        name="sentry_app",
        action={"id": "s1", "organization_id": 1, "trigger_type": "audit-log", "service_type": "sentry_app",
                "target_type": "sentry_app", "integration_id": "si1"},
        integration={"id": "si1", "organization_id": 1, "provider": "sentry_app", "name": "Triage bot",
                     "credentials": {"client_secret": APP_SECRET},
                     "metadata": {"webhook_url": f"{sink_url}/case-sentry-app", "sentry_app_id": "triage"}},
        path="/case-sentry-app",
        secret=APP_SECRET,
    )


CASES = [jira, github, sentry_app]
