"""Indexed actions share one fields-set object (memory), and still behave as models."""

import orjson

from notification_actions.models import NotificationAction
from notification_actions.tables.actions import _ALL_FIELDS, ActionIndex, _decode

RAW = {"id": "a1", "organization_id": 7, "projects": [3], "trigger_type": "audit-log",
       "service_type": "webhook", "target_type": "specific", "target_identifier": "https://example.com/h"}


def stored() -> bytes:
    """What the actions table holds: the full dump of a validated action."""
    return orjson.dumps(NotificationAction.model_validate(RAW).model_dump(mode="json"))


def test_decoded_actions_share_one_fields_set():
    a, b = _decode(stored()), _decode(stored())
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__ is _ALL_FIELDS
    assert a == NotificationAction.model_validate(RAW)
    assert a.model_dump(exclude_unset=True) == NotificationAction.model_validate(RAW).model_dump()


def test_partial_actions_keep_their_own_fields_set():
    index = ActionIndex()
    action = NotificationAction.model_validate(RAW)  # optional fields unset
    index.put(action)
    assert action.__pydantic_fields_set__ is not _ALL_FIELDS
    assert set(action.model_dump(exclude_unset=True)) == set(RAW)


def test_shared_snapshot_still_copies_and_sets_known_fields():
    a = _decode(stored())
    copy = a.model_copy(update={"enabled": False})
    assert copy.enabled is False and a.enabled is True
    a.target_display = "#ops"  # a known field: allowed, the shared set already names it
    assert a.target_display == "#ops"
    assert _decode(stored()).target_display is None


def test_the_heap_is_settled_only_after_enough_index_changes():
    import gc

    import faust

    from notification_actions.tables.actions import ActionsTable

    table = ActionsTable(faust.App("settle-test", store="memory://", autodiscover=False))
    table.changes_since_settle = 999
    assert table.settle_heap(after_changes=1_000) is False and table.changes_since_settle == 999
    table.changes_since_settle = 1_000
    try:
        assert table.settle_heap(after_changes=1_000) is True
        assert table.changes_since_settle == 0 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
