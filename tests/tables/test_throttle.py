"""The throttle's table key: which events share a count (no Faust table needed)."""

from __future__ import annotations

import pytest

from notification_actions.models import NotificationAction
from notification_actions.tables.throttle import throttle_key

BASE = {"id": "a1", "organization_id": 7, "trigger_type": "audit-log", "service_type": "webhook",
        "target_type": "specific", "target_identifier": "https://example.com/h"}


def throttled(key: str | None) -> NotificationAction:
    throttle = {"limit": 1, "window_seconds": 3600, **({"key": key} if key is not None else {})}
    return NotificationAction.model_validate({**BASE, "throttle": throttle})


def envelope(**data) -> dict:
    return {"id": "e1", "organization_id": 7, "occurred_at": "2026-11-26T20:00:00Z",
            "data": {"event": "member.invite", "actor": "jane@acme.io", **data}}


def test_a_list_position_separates_the_counts():
    action = throttled("data.tags.0")
    keys = {tag: throttle_key(action, envelope(tags=[tag, "shared"])) for tag in ("red", "blue", "green")}
    assert keys == {"red": b'a1|"red"', "blue": b'a1|"blue"', "green": b'a1|"green"'}
    # only the first tag counts
    assert throttle_key(action, envelope(tags=["red", "other"])) == keys["red"]


def test_the_key_agrees_with_a_condition_on_the_same_path():
    action = NotificationAction.model_validate({
        **BASE, "throttle": {"limit": 1, "window_seconds": 60, "key": "data.tags.0"},
        "conditions": [{"path": "data.tags.0", "op": "eq", "value": "red"}],
    })
    event = envelope(tags=["red"])
    assert action.conditions_match(event) and throttle_key(action, event) == b'a1|"red"'


@pytest.mark.parametrize("data", [{}, {"tags": None}, {"tags": []}, {"tags": [None]}, {"tags": "red"},
                                  {"tags": {"1": "x"}}])
def test_a_missing_or_null_value_is_one_shared_bucket(data):
    assert throttle_key(throttled("data.tags.0"), envelope(**data)) == b"a1|null"


def test_values_are_keyed_as_json():
    action = throttled("data.n")
    assert throttle_key(action, envelope(n=1)) == b"a1|1"
    assert throttle_key(action, envelope(n="1")) == b'a1|"1"'  # a number and a string never share
    assert throttle_key(action, envelope(n=True)) == b"a1|true"
    assert throttle_key(throttled("data.tags"), envelope(tags=["x", "y"])) == b'a1|["x","y"]'
    assert throttle_key(throttled("project_id"), {**envelope(), "project_id": 10}) == b"a1|10"


def test_without_a_key_the_count_is_per_action():
    assert throttle_key(throttled(None), envelope(tags=["red"])) == b"a1|"
    assert throttle_key(throttled(None), envelope()) == b"a1|"
