"""The webhook registration's case for the all-registrations tests."""

import base64

from tests.support.registration_cases import FireCase

SECRET = "whsec_" + base64.b64encode(b"case-webhook-signing-secret-000").decode()


def webhook(sink_url: str) -> FireCase:
    return FireCase(
        name="webhook",
        action={"id": "w1", "organization_id": 1, "trigger_type": "audit-log", "service_type": "webhook",
                "target_type": "specific", "target_identifier": f"{sink_url}/case-webhook", "integration_id": "wi1"},
        integration={"id": "wi1", "organization_id": 1, "provider": "webhook",
                     "credentials": {"signing_secret": SECRET}},
        path="/case-webhook",
        secret=SECRET,
        # Standard Webhooks: 410 means "disable the endpoint" - permanent, like other 4xx.
    )


CASES = [webhook]
