"""Slack's live channel check never stops the worker's event loop.

With ``SLACK_LIVE_CHECK`` on, ``validate_action()`` asks Slack's
``conversations.info`` about the channel — a synchronous request, made while
the config agent validated the action on the event loop: while Slack took its
time, no event of any organization was matched or delivered. The checks now
run in a thread of their own.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.hostile.conftest import new_org
from tests.support.fakes.http_sink import HttpSink, RecordedRequest
from tests.support.fakes.slack import FakeSlack
from tests.support.pipeline import action, event, running_pipeline

TOKEN = "xoxb-live-check-0000000000"
CHANNEL = "C0SLOW01"
SLOW_SECONDS = 2.5  # below the check's own bound (LIVE_CHECK_TIMEOUT, 3 s)


@pytest.fixture(scope="module")
def slow_slack(sink: HttpSink):
    """A fake Slack whose conversations.info takes :data:`SLOW_SECONDS`; records when it answered."""
    fake = FakeSlack(sink, TOKEN, prefix="/slow-slack", channels=[{"id": CHANNEL, "name": "#slow"}])
    fake.answered = []

    async def slow_info(request: RecordedRequest):
        await asyncio.sleep(SLOW_SECONDS)  # the service's slowness, not a synchronisation
        fake.answered.append(time.monotonic())
        return fake._info(request)

    sink.route(fake.prefix + "/conversations.info", slow_info)
    return fake


@pytest.fixture(scope="module")
def live(kafka_bootstrap, tmp_path_factory, slow_slack):
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("slack-live"),
                          NOTIFICATION_ACTIONS_SLACK_LIVE_CHECK="true",
                          NOTIFICATION_ACTIONS_SLACK_API_URL=slow_slack.url) as pipe:
        yield pipe


async def test_other_organizations_are_served_while_slack_is_slow_to_answer(live, slow_slack, sink):
    pipe, tenant, other = live, new_org(), new_org()
    prefix = f"/live-bystander/{other}"
    await pipe.put_actions(action(f"by{other}", other, f"{sink.url}{prefix}"))
    pipe.wait_actions(other, lambda got: f"by{other}" in got)

    producer = AIOKafkaProducer(bootstrap_servers=pipe.bootstrap, acks="all")
    await producer.start()
    stop = asyncio.Event()

    async def keep_publishing() -> int:  # the other organization's steady traffic
        n = 0
        while not stop.is_set():
            await producer.send_and_wait(pipe.events_topic(), key=str(other).encode(),
                                         value=orjson.dumps(event(f"live{other}-{n}", other)))
            n += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass
        return n

    traffic = asyncio.create_task(keep_publishing())
    try:
        await sink.wait_for(1, 30, path_prefix=prefix)  # the traffic flows
        await pipe.put_integration({"id": f"slk{tenant}", "organization_id": tenant, "provider": "slack",
                                    "name": "Acme", "credentials": {"bot_token": TOKEN}})
        await pipe.put_actions(action(f"slk{tenant}", tenant, CHANNEL, service_type="slack",
                                      integration_id=f"slk{tenant}"))
        [asked] = await sink.wait_for(1, 30, path_prefix=slow_slack.prefix + "/conversations.info")
        deadline = time.monotonic() + 30
        while not slow_slack.answered:
            assert time.monotonic() < deadline, "conversations.info never answered"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        sent = await traffic
        await producer.stop()
    answered = slow_slack.answered[0]
    # what arrived while the check was pending (a little after it began: a request on its way may land)
    during = [r for r in sink.requests_to(prefix) if asked.arrived + 0.5 <= r.arrived <= answered]
    assert len(during) >= 3, (
        f"{len(during)} deliveries of another organization while conversations.info was pending "
        f"({answered - asked.arrived:.1f}s); {sent} events published"
    )
    pipe.wait_actions(tenant, lambda got: f"slk{tenant}" in got)  # the check itself passed
    await sink.wait_for(sent, 60, path_prefix=prefix)  # and every event of the other organization arrived
    assert pipe.worker.proc.poll() is None
