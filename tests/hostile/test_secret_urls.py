"""A webhook URL is a credential: it never reaches logs, Kafka keys or headers, metrics or /circuits.

Discord, Teams and generic webhook URLs carry their token in the path. Target
keys show a URL only as its digest and errors name ``scheme://host`` only, but
a receiver that echoes the request back ("Cannot POST /hooks/<token>", as
Express answers, or the hook's id in a JSON error) had its token copied into
the outcome, the retry tier's ``na-last-error``, the dead letter's
``na-error-message`` and the worker's log: the excerpt blanked the URL and its
path only as sent, query string included.

Each service's delivery fails twice — 500 (retried through a tier, its
target's circuit open, a second delivery parked behind it), then 410 (dead
letter) — and the second delivery goes through.
"""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest

from tests.hostile.conftest import new_org
from tests.support.fakes.http_sink import HttpSink, RecordedRequest
from tests.support.kafka import consume_until, produce, read_all
from tests.support.pipeline import action, event, running_pipeline


@pytest.fixture(scope="module")
def tiered(kafka_bootstrap, tmp_path_factory):
    """A worker whose retry tiers are 2 s, with no quick retries: a failure goes straight to a tier."""
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("secret-urls"),
                          NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS="[2, 2]",
                          NOTIFICATION_ACTIONS_QUICK_RETRIES="0") as pipe:
        yield pipe


def _echoing(answers: list[int]):
    """A receiver that answers ``answers`` in turn (then 200), echoing the path and its last segment."""
    calls: list[str] = []

    def answer(request: RecordedRequest):
        calls.append(request.path)
        status = answers[len(calls) - 1] if len(calls) <= len(answers) else 200
        if status == 200:
            return (200, {}, {"ok": True})
        return (status, {}, {"error": f"Cannot POST {request.path}", "hook": request.path.rsplit("/", 1)[-1]})

    return answer


def _api(pipe, path: str) -> httpx.Response:
    return httpx.get(pipe.api + path, headers={"Authorization": f"Bearer {pipe.token}"}, timeout=10)


async def test_secret_url_paths_appear_in_no_log_key_header_metric_or_circuit(tiered, fresh_sink: HttpSink):
    pipe, sink, org = tiered, fresh_sink, new_org()
    secrets = {name: f"{name}SeCrEt{uuid.uuid4().hex}" for name in ("webhook", "discord", "msteams")}
    urls = {
        "webhook": f"{sink.url}/hooks/{secrets['webhook']}?v=1",
        "discord": f"{sink.url}/api/webhooks/{org}/{secrets['discord']}",
        "msteams": f"{sink.url}/workflows/{secrets['msteams']}/triggers/manual/paths/invoke?api-version=1",
    }
    for name, url in urls.items():
        sink.route(httpx.URL(url).path, _echoing([500, 410]))
    for name in ("discord", "msteams"):
        await pipe.put_integration({"id": f"{name}{org}", "organization_id": org, "provider": name, "name": name,
                                    "credentials": {"webhook_url": urls[name]}})
    await pipe.put_actions(
        action(f"wh{org}", org, urls["webhook"]),
        action(f"dc{org}", org, "#alerts", service_type="discord", integration_id=f"discord{org}"),
        action(f"ms{org}", org, "Ops / Alerts", service_type="msteams", integration_id=f"msteams{org}"),
    )
    pipe.wait_actions(org, lambda got: len(got) == 3)
    await pipe.publish(event(f"{org}-1", org))
    await sink.wait_for(3, 30)  # the three 500s: each target's circuit opens
    await pipe.publish(event(f"{org}-2", org))  # behind the open circuits

    circuits: list[str] = []
    deadline = time.monotonic() + 30
    while len(circuits) < 3:  # this worker's open circuits, while they are open
        assert time.monotonic() < deadline, f"the circuits were never seen open: {circuits}"
        r = _api(pipe, "/circuits")
        circuits = list(r.json()["circuits"])
        if len(circuits) < 3:
            time.sleep(0.1)
    assert all(c.startswith(("webhook:specific:-:url-", "discord:", "msteams:")) for c in circuits), circuits
    shown = [r.text, _api(pipe, "/metrics").text]

    ids = {f"{prefix}{org}" for prefix in ("wh", "dc", "ms")}
    dead = await consume_until(pipe.bootstrap, pipe.topic("deliveries_dlq"),
                               lambda rs: ids <= {r.headers.get("na-action-id") for r in rs}, timeout=90)
    await sink.wait_for(9, 60)  # 500, 410, then the second delivery's 200, for each
    ok = await consume_until(
        pipe.bootstrap, pipe.topic("outcomes"),
        lambda rs: sum(1 for r in rs if (r.key or b"").startswith(f"{org}-2:".encode())
                       and orjson.loads(r.value)["result"] == "ok") >= 3,
        timeout=60)
    shown += [_api(pipe, "/circuits").text, _api(pipe, "/metrics").text]

    topics = [pipe.topic("deliveries"), pipe.topic("outcomes"), pipe.topic("deliveries_dlq"),
              pipe.topic("deliveries") + ".retry.0", pipe.topic("deliveries") + ".retry.1"]
    records = {topic: await read_all(pipe.bootstrap, topic) for topic in topics}
    assert any(r.headers.get("na-last-error") for r in records[topics[3]]), "nothing went through a retry tier"
    assert len([r for r in dead if r.headers.get("na-action-id") in ids]) == 3
    assert {orjson.loads(r.value)["result"] for r in ok if (r.key or b"").startswith(f"{org}-".encode())} \
        == {"retry", "dead", "ok"}
    log = pipe.worker.log_path.read_text(errors="replace")
    leaks = []
    for name, secret in secrets.items():
        if secret in log:
            leaks += [f"{name}: worker log: " + next(line for line in log.splitlines() if secret in line)[:300]]
        leaks += [f"{name}: HTTP answer" for text in shown if secret in text]
        for topic, rs in records.items():
            for r in rs:
                parts = {"key": r.key or b"", **{f"header {h}": v.encode() for h, v in r.headers.items()}}
                if topic == pipe.topic("outcomes"):
                    parts["value"] = r.value or b""
                leaks += [f"{name}: {topic} {where}" for where, text in parts.items() if secret.encode() in text]
    assert not leaks, "the secret URL path leaked:\n" + "\n".join(sorted(set(leaks)))


async def test_an_undecodable_delivery_is_logged_without_its_url(tiered):
    """pydantic's error text quotes its input: the log named the action's URL of a broken delivery."""
    pipe, org = tiered, new_org()
    secret = f"uSeCrEt{uuid.uuid4().hex[:8]}"  # short: pydantic cuts long input out of its text
    broken = {"dedup_key": f"u{org}", "action": {"id": f"u{org}", "target_identifier": f"https://h.io/{secret}"}}
    key = f"webhook:specific:-:url-u{org}".encode()
    await produce(pipe.bootstrap, pipe.topic("deliveries"), [(key, orjson.dumps(broken))])
    [dead] = [r for r in await consume_until(pipe.bootstrap, pipe.topic("deliveries_dlq"),
                                             lambda rs: any(r.key == key for r in rs), timeout=60) if r.key == key]
    assert dead.headers["na-error-class"] == "InvalidDelivery"
    assert secret not in str(dead.headers)
    log = pipe.worker.log_path.read_text(errors="replace")
    assert secret not in log
    [line] = [line for line in log.splitlines() if "undecodable delivery" in line and pipe.topic("deliveries") in line]
    assert "event: field required" in line  # the missing field is named
