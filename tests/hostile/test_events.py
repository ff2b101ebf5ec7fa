"""Events cannot choose their own organization, and no shape of JSON gets past the door as an error.

Events are partitioned by their Kafka key, and so is each organization's
throttle state: an event keyed ``2`` that says ``organization_id: 1`` would
count against (and read) organization 2's windows. Lax integer parsing read
``true`` as 1 and ``"1_0"`` as 10. Nesting deeper than orjson and pydantic
can encode raised ``ValueError`` far from the door (aborting a replay).
"""

from __future__ import annotations

import orjson
import pytest

from notification_actions.errors import InvalidEvent
from notification_actions.models import ActionTrigger, NotificationAction, decode_event
from notification_actions.models.validation import MAX_JSON_DEPTH
from pydantic import ValidationError

AUDIT = ActionTrigger.AUDIT_LOG


def envelope(**over) -> dict:
    return {"id": "e1", "organization_id": 1, "occurred_at": "2026-11-26T20:00:00Z",
            "data": {"event": "member.invite", "actor": "jane@acme.io"}, **over}


def decode(doc, key=b"1"):
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return decode_event(raw, topic_trigger=AUDIT, max_bytes=1 << 20, key=key)


def test_the_key_must_be_the_organization_id():
    assert decode(envelope(), key=b"1").organization_id == 1
    with pytest.raises(InvalidEvent) as info:
        decode(envelope(), key=b"2")
    text = str(info.value)
    assert "'2'" in text and "organization_id 1" in text
    assert info.value.problems[0].field == "organization_id"
    for key in (None, b"", b"01", b" 1", "1\x00".encode()):
        with pytest.raises(InvalidEvent):
            decode(envelope(), key=key)


@pytest.mark.parametrize("value", [True, "1", "1_0", 1.0, -1, 2**63, "²"])
def test_ids_are_strict_json_integers(value):
    with pytest.raises(InvalidEvent) as info:
        decode(envelope(organization_id=value), key=str(value).encode())
    assert info.value.problems[0].field == "organization_id"
    with pytest.raises(InvalidEvent):
        decode(envelope(project_id=value))


@pytest.mark.parametrize("value", [True, "1_0", 1.5])
def test_action_ids_are_strict_too(value):
    base = {"id": "a", "organization_id": 1, "trigger_type": "audit-log", "service_type": "webhook",
            "target_type": "specific", "target_identifier": "https://example.com/h"}
    with pytest.raises(ValidationError):
        NotificationAction.model_validate({**base, "organization_id": value})
    with pytest.raises(ValidationError):
        NotificationAction.model_validate({**base, "projects": [value]})


def _nested(depth: int) -> object:
    node: object = "leaf"
    for i in range(depth):
        node = {"k": node} if i % 2 else [node]
    return node


def test_nesting_past_the_limit_is_an_invalid_event_not_an_error():
    # the envelope is level 1, data level 2: MAX_JSON_DEPTH - 2 more levels fit
    assert decode(envelope(data={"event": "x", "actor": "a", "deep": _nested(MAX_JSON_DEPTH - 2)}))
    for depth in (MAX_JSON_DEPTH - 1, 300, 5000):
        raw = b'{"id":"e","organization_id":1,"occurred_at":"2026-11-26T20:00:00Z","data":{"x":' + \
            b"[" * depth + b"]" * depth + b"}}"
        with pytest.raises(InvalidEvent, match="nested deeper|not valid JSON"):
            decode(raw)


async def test_an_event_keyed_by_another_organization_goes_to_the_dlq(pipeline, sink):
    from tests.hostile.conftest import bystander_still_served, new_org
    from tests.support.kafka import consume_until
    from tests.support.pipeline import action, event

    org, other = new_org(), new_org()
    await pipeline.put_actions(action(f"k{org}", org, f"{sink.url}/keyed/{org}"))
    pipeline.wait_actions(org, lambda a: f"k{org}" in a)
    await pipeline.publish_raw(orjson.dumps(event(f"stray{org}", org)), key=str(other).encode())
    await pipeline.publish(event(f"fine{org}", org))
    dead = await consume_until(pipeline.bootstrap, pipeline.topic("events_dlq"),
                               lambda rs: any(f"stray{org}".encode() in (r.value or b"") for r in rs))
    [record] = [r for r in dead if f"stray{org}".encode() in (r.value or b"")]
    assert record.key == str(other).encode()
    assert f"'{other}'" in record.headers["na-error-message"] and f"organization_id {org}" in record.headers["na-error-message"]
    [got] = await sink.wait_for(1, 30, path_prefix=f"/keyed/{org}")
    assert got.json()["event"]["id"] == f"fine{org}"
    await bystander_still_served(pipeline, sink)


async def test_an_event_whose_delivery_would_not_fit_a_record_goes_to_the_dlq_and_stops_nobody(pipeline, sink):
    """An event under MAX_EVENT_BYTES is valid, but its delivery carries the action beside it: the record was
    larger than the producer allows, and the refusal (wrapped by Faust as ProducerSendError) was not seen
    as "too large" anywhere: matching failed, its dead letter failed the same way, and the worker stopped —
    then its successor read the same event. Now the event goes to the events DLQ, saying why: untouched
    when it fits a record with the reasons, cut (``na-truncated``) when only it does."""
    from tests.hostile.conftest import bystander_still_served, new_org
    from tests.support.kafka import consume_until
    from tests.support.pipeline import action, event

    wide, full = new_org(), new_org()  # an action with a 20 KB template; an event at the very limit
    await pipeline.put_actions(action(f"big{wide}", wide, f"{sink.url}/big/{wide}", template="x" * 20_000),
                               action(f"big{full}", full, f"{sink.url}/big/{full}"))
    pipeline.wait_actions(wide, lambda a: f"big{wide}" in a)
    pipeline.wait_actions(full, lambda a: f"big{full}" in a)
    sent = {wide: event(f"big{wide}", wide, note="x" * 985_000), full: event(f"big{full}", full, note="x" * 999_700)}
    for org, big in sent.items():
        assert len(orjson.dumps(big)) <= 1_000_000  # MAX_EVENT_BYTES: a valid event
        await pipeline.publish(big, event(f"fine{org}", org))
    ids = {f"big{org}".encode(): org for org in sent}
    dead = await consume_until(pipeline.bootstrap, pipeline.topic("events_dlq"),
                               lambda rs: len({(r.value or b"")[:40] for r in rs if any(i in (r.value or b"")[:40] for i in ids)}) == 2)
    got = {ids[i]: r for r in dead for i in ids if i in (r.value or b"")[:40]}
    for org, record in got.items():
        assert record.headers["na-error-class"] == "DeliveryTooLarge"
        assert f"action big{org}" in record.headers["na-error-message"]
        assert "MAX_EVENT_BYTES" in record.headers["na-error-message"]
    assert got[wide].value == orjson.dumps(sent[wide]) and "na-truncated" not in got[wide].headers  # untouched
    assert orjson.dumps(sent[full]).startswith(got[full].value)  # cut to what a record holds, the length said
    assert got[full].headers["na-truncated"] == str(len(orjson.dumps(sent[full])))
    for org in sent:
        [fine] = await sink.wait_for(1, 30, path_prefix=f"/big/{org}")
        assert fine.json()["event"]["id"] == f"fine{org}"
    await bystander_still_served(pipeline, sink)


async def test_an_invalid_event_with_headers_too_large_to_keep_beside_the_reasons_is_dead_lettered_without_them(
        pipeline, sink):
    """The broker takes a record a little over the producer's limit (its own is 1 MiB); its dead letter adds
    the reasons. With ~1 MB of the producer's own headers, no cut of the value made it fit, and the
    worker stopped on the write. Now the original headers are left out, and ``na-headers-dropped`` says so."""
    from tests.hostile.conftest import bystander_still_served, new_org
    from tests.support.kafka import consume_until, produce_each

    org = new_org()
    value = b'{"id": "heavy-' + str(org).encode() + b'", "not": "an event"'  # not JSON: an invalid event
    headers = [(f"x-pad-{i}", b"p" * 99_950) for i in range(10)]  # the broker takes them; with our reasons, over
    await produce_each(pipeline.bootstrap, [(pipeline.events_topic(), str(org).encode(), value, headers)])
    dead = await consume_until(pipeline.bootstrap, pipeline.topic("events_dlq"), lambda rs: any(r.value == value for r in rs))
    [record] = [r for r in dead if r.value == value]
    assert record.headers["na-error-class"] == "InvalidEvent" and "not valid JSON" in record.headers["na-error-message"]
    assert not any(k.startswith("x-pad-") for k in record.headers)
    assert record.headers["na-headers-dropped"] == f"10 headers, {sum(len(k) + len(v) for k, v in headers):,} bytes"
    await bystander_still_served(pipeline, sink)
