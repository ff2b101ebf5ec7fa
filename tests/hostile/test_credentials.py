"""An action never fires with another organization's integration.

The config stage refuses an action whose integration belongs to another
organization, but only when the action is applied: integration ids are global,
and an integration record re-published later under the same id with another
``organization_id`` (and that organization's credentials) was then used by
every action that named it — organization A's events went out signed with
organization B's secret. ``fire()`` and ``test-fire`` now check the owner
every time (``models/checks.same_organization``): a delivery is dead-lettered
with ``code="integration_other_organization"`` and counted in
``notification_actions_cross_organization_refused_total``; ``test-fire``
refuses with both organizations named.
"""

from __future__ import annotations

import base64

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from notification_actions.errors import ConfigError
from notification_actions.models import Integration, NotificationAction
from notification_actions.ops.testfire import test_fire as run_test_fire
from notification_actions.tables.state import changelog_topic
from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event
from tests.support.worker_process import settings_from

METRIC = "notification_actions_cross_organization_refused_total"


def _secret(tag: str) -> str:
    return "whsec_" + base64.b64encode(tag.encode().ljust(24, b"-")).decode()


def _integration(integration_id: str, org: int, secret: str) -> dict:
    return {"id": integration_id, "organization_id": org, "provider": "webhook",
            "credentials": {"signing_secret": secret}}


def refused_count(pipeline) -> float:
    text = httpx.get(f"{pipeline.api}/metrics", timeout=5).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == METRIC and s.labels.get("service") == "webhook")


def test_the_rule_in_one_place():
    from notification_actions.models.checks import same_organization

    a = NotificationAction.model_validate(action("a", 1, "https://hooks.example.com/x", integration_id="w"))
    assert same_organization(a, Integration.model_validate(_integration("w", 1, _secret("a"))))
    assert not same_organization(a, Integration.model_validate(_integration("w", 2, _secret("b"))))


async def test_an_integration_re_published_for_another_organization_is_never_used(pipeline, sink):
    org, other = new_org(), new_org()
    path = f"/cross-org/{org}"
    integration_id = f"w{org}"
    await pipeline.put_integration(_integration(integration_id, org, _secret(f"a{org}")))
    await pipeline.put_actions(action(f"x{org}", org, f"{sink.url}{path}", integration_id=integration_id))
    pipeline.wait_actions(org, lambda a: f"x{org}" in a)

    # Later, the same integration id arrives for another organization, with that organization's secret.
    await pipeline.put_integration(_integration(integration_id, other, _secret(f"b{other}")))
    settings = settings_from(pipeline.env)
    await consume_until(
        pipeline.bootstrap, changelog_topic(settings, "integrations"),
        lambda rs: any(r.key == integration_id.encode() and Integration.from_storage(r.value).organization_id == other
                       for r in rs if r.value), timeout=30,
    )
    before = refused_count(pipeline)
    await pipeline.publish(event(f"e{org}", org))
    key = f"e{org}:x{org}"
    dead = await consume_until(pipeline.bootstrap, pipeline.topic("deliveries_dlq"),
                               lambda rs: any(r.headers.get("na-dedup-key") == key for r in rs), timeout=30)
    [record] = [r for r in dead if r.headers.get("na-dedup-key") == key]
    assert record.headers["na-error-code"] == "integration_other_organization"
    assert record.headers["na-error-class"] == "PermanentDeliveryError"
    assert str(other) not in record.headers.get("na-error-message", "")  # the tenant is not told who owns it
    assert sink.requests_to(path) == []  # nothing went out with the other organization's credentials
    assert refused_count(pipeline) == before + 1

    # test-fire, as an operator runs it, refuses too, naming both organizations.
    with pytest.raises(ConfigError) as info:
        await run_test_fire(settings, f"x{org}")
    assert str(org) in str(info.value) and str(other) in str(info.value)
    assert sink.requests_to(path) == []
    await bystander_still_served(pipeline, sink)
