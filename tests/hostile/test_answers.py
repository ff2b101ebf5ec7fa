"""What a tenant's endpoint answers cannot stop the worker.

An endpoint chooses its answer; the registrations keep some of it as the attempt's
``detail`` (Jira's issue key, GitHub's issue link, a webhook's body excerpt), which
the outcome record carries. Before, ``detail`` had no bound: a Jira site (the
tenant's own URL) answering ``201 {"key": <a million characters>}`` made an outcome
larger than the producer allows. An outcome that cannot be written stops the worker
(the delivery is not acked, so no commit passes it), and the restarted worker fired
the same delivery into the same answer: a crash loop holding up every tenant. Now
the outcome keeps at most 1,000 characters of it, as of an error.
"""

from __future__ import annotations

import orjson

from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event

HUGE_KEY = "OPS-" + "9" * 1_040_000  # the answer fits the 1 MiB read; an outcome holding it does not fit a record


async def test_a_jira_site_answering_a_huge_issue_key_gets_an_outcome_and_stops_nobody(pipeline, sink):
    org = new_org()
    site = f"{sink.url}/jira-huge/{org}"
    sink.script(f"/jira-huge/{org}/rest/api/3/issue", [(201, {}, {"id": "1", "key": HUGE_KEY})] * 3)
    await pipeline.put_integration({
        "id": f"jh{org}", "organization_id": org, "provider": "jira", "name": "huge answers",
        "credentials": {"email": "bot@acme.io", "api_token": f"tok-{org}"},
        "metadata": {"site": site, "projects": [{"key": "OPS", "name": "Ops"}]},
    })
    await pipeline.put_actions(action(f"jh{org}", org, "OPS", service_type="jira", target_type="specific",
                                      integration_id=f"jh{org}"))
    pipeline.wait_actions(org, lambda a: f"jh{org}" in a)
    await pipeline.publish(event(f"e{org}", org))

    key = f"e{org}:jh{org}".encode()
    records = await consume_until(pipeline.bootstrap, pipeline.topic("outcomes"),
                                  lambda rs: any(r.key == key for r in rs), timeout=60)
    [outcome] = [orjson.loads(r.value) for r in records if r.key == key]
    assert (outcome["result"], outcome["service"], outcome["status"]) == ("ok", "jira", 201), outcome
    assert outcome["detail"] == HUGE_KEY[:1000]
    assert len(sink.requests_to(f"/jira-huge/{org}/")) == 1  # fired once: no crash, no second attempt
    await bystander_still_served(pipeline, sink)
