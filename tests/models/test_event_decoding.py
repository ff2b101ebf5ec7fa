"""``check_event``'s one pass agrees with ``decode_event``'s steps on every event, valid or not.

The one pass (one validation of envelope and data together, a bracket count
for the nesting, a byte comparison of the key) only ever answers for events
valid in every step; these tests hold it to the steps: the same ``Event`` for
a valid one, the same problems for an invalid one.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notification_actions.errors import InvalidEvent
from notification_actions.models.enums import ActionTrigger
from notification_actions.models.event import ANY_KEY, _decode_in_steps, check_event, decode_event
from notification_actions.models.triggers import TRIGGER_DATA_MODELS
from notification_actions.models.validation import MAX_JSON_DEPTH

TRIGGERS = list(ActionTrigger)


def envelope(of: ActionTrigger, **changes: Any) -> dict:
    base = {"id": "e-1", "trigger": of.slug, "organization_id": 7, "project_id": 3,
            "occurred_at": "2026-11-26T20:00:00Z", "data": dict(TRIGGER_DATA_MODELS[of].example)}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def in_steps(raw: bytes, topic: ActionTrigger | None, key: object):
    """``decode_event`` as it was before the one pass: the steps one by one."""
    try:
        event = _decode_in_steps(orjson.loads(raw), ActionTrigger.parse(topic) if topic is not None else None, key)
        return event, event.model_fields_set
    except InvalidEvent as exc:
        return [(p.field, p.message) for p in exc.problems]


def one_pass(raw: bytes, topic: ActionTrigger | None, key: object):
    try:
        event = check_event(raw, topic_trigger=topic, max_bytes=1 << 20, key=key).event()
        return event, event.model_fields_set
    except InvalidEvent as exc:
        return [(p.field, p.message) for p in exc.problems]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
fields = st.sampled_from(["id", "trigger", "organization_id", "project_id", "occurred_at", "data", "extra"])


@settings(max_examples=400, deadline=None)
@given(
    trigger=st.sampled_from(TRIGGERS),
    topic=st.sampled_from(TRIGGERS + [None]),
    changes=st.dictionaries(fields, json_values | st.just(DROP), max_size=3),
    data_changes=st.dictionaries(st.sampled_from(["event", "actor", "status", "data", "x"]), json_values, max_size=2),
    key=st.sampled_from(["same", "other", "none", "any", "str"]),
)
def test_the_one_pass_and_the_steps_agree(trigger, topic, changes, data_changes, key):
    env = envelope(trigger, **changes)
    if isinstance(env.get("data"), dict):
        env["data"].update(data_changes)
    org = env.get("organization_id")
    kafka_key = {"same": str(org).encode(), "other": b"999", "none": None, "any": ANY_KEY, "str": str(org)}[key]
    raw = orjson.dumps(env)
    assert one_pass(raw, topic, kafka_key) == in_steps(raw, topic, kafka_key)


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: t.slug)
def test_a_valid_event_is_the_same_event_both_ways(trigger):
    raw = orjson.dumps(envelope(trigger, trigger=DROP))
    got = check_event(raw, topic_trigger=trigger, max_bytes=1 << 20, key=b"7")
    assert (got.organization_id, got.trigger) == (7, trigger)
    assert (got.event(), got.event().model_fields_set) == in_steps(raw, trigger, b"7")
    assert got.event().trigger is trigger and isinstance(got.event().data, dict)


def test_nesting_past_the_limit_is_refused_whatever_the_bracket_count_says():
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    raw = orjson.dumps(envelope(ActionTrigger.AUDIT_LOG, data={"event": "e", "actor": "a", "deep": deep}))
    with pytest.raises(InvalidEvent, match="nested deeper"):
        decode_event(raw, topic_trigger=ActionTrigger.AUDIT_LOG, max_bytes=1 << 20, key=b"7")
    shallow_but_many = orjson.dumps(envelope(ActionTrigger.AUDIT_LOG, data={
        "event": "e", "actor": "a", "note": "{" * 100, "list": [[1], [2], [3]]}))
    assert decode_event(shallow_but_many, topic_trigger=ActionTrigger.AUDIT_LOG, max_bytes=1 << 20,
                        key=b"7").data["note"] == "{" * 100


def test_a_key_of_another_organization_is_refused_by_the_one_pass_too():
    raw = orjson.dumps(envelope(ActionTrigger.AUDIT_LOG))
    with pytest.raises(InvalidEvent, match="not the event's organization_id") as exc:
        check_event(raw, topic_trigger=ActionTrigger.AUDIT_LOG, max_bytes=1 << 20, key=b"70")
    assert exc.value.problems[0].field == "organization_id"
