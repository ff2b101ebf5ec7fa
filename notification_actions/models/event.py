"""The event envelope producers publish on ``events.<trigger-slug>``, and its decoder.

``decode_event`` is the one door into the pipeline: it turns a Kafka value
into an :class:`Event` or raises ``errors.InvalidEvent`` with one
``Problem`` per thing wrong, each naming its field (``organization_id``,
``data.status``); the record then goes to the events DLQ untouched.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model

from notification_actions.errors import InvalidEvent
from notification_actions.models.enums import ActionTrigger, Trigger
from notification_actions.models.triggers import TRIGGER_DATA_MODELS, TriggerData
from notification_actions.models.validation import MAX_JSON_DEPTH, NumericId, json_depth_exceeds, json_type, problems_from

__all__ = ["ANY_KEY", "CheckedEvent", "Event", "check_event", "decode_event", "example_event"]

EventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Event(BaseModel):
    """One product event: what happened (``trigger``, ``data``), where, and when.

    ``id`` is unique per event and is the basis of de-duplication. After
    ``decode_event`` the ``trigger`` is always set and ``data`` has been
    validated by the trigger's data model.

    Example::

        {"id": "3f1c9a", "trigger": "audit-log", "organization_id": 1, "project_id": 10,
         "occurred_at": "2026-11-26T20:00:00Z",
         "data": {"event": "member.invite", "actor": "jane@acme.io"}}
    """

    model_config = ConfigDict(extra="forbid", loc_by_alias=False)

    id: EventId
    trigger: Trigger | None = None
    organization_id: NumericId
    project_id: NumericId | None = None
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-able dict (slugs, ISO datetimes), for conditions and templates."""
        return self.model_dump(mode="json")

    def typed_data(self) -> TriggerData:
        """``data`` as the trigger's data model (attribute access for registrations)."""
        if self.trigger is None:
            raise InvalidEvent("event has no trigger", field="trigger")
        try:
            return TRIGGER_DATA_MODELS[self.trigger].model_validate(self.data)
        except ValidationError as exc:
            raise InvalidEvent(problems_from(exc, prefix="data")) from None


ANY_KEY = object()
"""``decode_event(key=ANY_KEY)``: the caller has no Kafka key to check (an example, a test)."""


def _check_key(key: object, organization_id: int) -> None:
    if isinstance(key, (bytes, bytearray, memoryview)):
        text = bytes(key).decode("utf-8", errors="replace")
    else:
        text = key if isinstance(key, str) else None
    if text != str(organization_id):
        shown = "no key" if text is None else f"key {text[:40]!r}"
        raise InvalidEvent(
            f"{shown} is not the event's organization_id {organization_id}: events are keyed by their "
            "organization id (their partition, and their organization's throttle state, follow it)",
            field="organization_id",
        )


def decode_event(
    raw: bytes | bytearray | memoryview | str | None,
    *,
    topic_trigger: ActionTrigger | None,
    max_bytes: int,
    key: bytes | str | None | object = ANY_KEY,
) -> Event:
    """Decode one Kafka value into a validated :class:`Event`.

    The steps, each ending in ``InvalidEvent`` when it fails:

    1. the value is present and at most ``max_bytes`` long;
    2. it is JSON (decoded once, with orjson), a JSON object, nested at most
       ``MAX_JSON_DEPTH`` deep;
    3. the envelope validates (paths like ``organization_id``, ``occurred_at``;
       ids are strict JSON integers);
    3a. the Kafka ``key`` (when given) is the organization id as decimal text:
       events are partitioned by it, and so is the throttle state of their
       organization — an event may not pick another organization's partition;
    4. ``trigger`` agrees with the topic's, or is filled from it when absent;
    5. ``data`` validates against the trigger's model (paths ``data.<field>``)
       and is replaced by that model's JSON dump, extra fields included.

    ``check_event(...).event()`` is the same, in two halves (below).
    """
    return check_event(raw, topic_trigger=topic_trigger, max_bytes=max_bytes, key=key).event()


class CheckedEvent:
    """An event ``check_event`` found valid in every step of ``decode_event``: its organization and
    trigger at hand, the normalized :class:`Event` (``data`` dumped by its model) built on demand —
    most events of a firehose match no action and never need it."""

    __slots__ = ("organization_id", "trigger", "_validated", "_event")

    def __init__(self, organization_id: int, trigger: ActionTrigger, validated: BaseModel | None,
                 event: Event | None = None) -> None:
        self.organization_id = organization_id
        self.trigger = trigger
        self._validated = validated  # the envelope with data as its trigger's model (the one-pass check)
        self._event = event

    def event(self) -> Event:
        if self._event is None:
            v = self._validated
            assert v is not None
            self._event = Event.model_construct(  # the fields set as the steps' model_copy leaves them
                v.model_fields_set | {"trigger", "data"},
                id=v.id, trigger=self.trigger, organization_id=v.organization_id, project_id=v.project_id,
                occurred_at=v.occurred_at, data=v.data.model_dump(mode="json"),
            )
        return self._event


def check_event(
    raw: bytes | bytearray | memoryview | str | None,
    *,
    topic_trigger: ActionTrigger | None,
    max_bytes: int,
    key: bytes | str | None | object = ANY_KEY,
) -> CheckedEvent:
    """Every check of :func:`decode_event`, without building the normalized event yet.

    The common case — a topic that names the trigger, an event valid in every
    step — takes one pass: one bracket count for the nesting, one validation
    of envelope and data together (:func:`_one_pass_model`), one comparison of
    the key. Anything else, or anything that fails there, takes the steps of
    ``decode_event`` one by one, which raise the very ``InvalidEvent`` the
    event deserves; the two agree on every event (a property test holds them to
    it: ``tests/models/test_event_decoding.py``).
    """
    if raw is None or len(raw) == 0:
        raise InvalidEvent("empty value: expected a JSON event envelope")
    if len(raw) > max_bytes:
        raise InvalidEvent(f"value is {len(raw)} bytes, limit is {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"expected a JSON object, got {json_type(obj)}")
    expected = ActionTrigger.parse(topic_trigger) if topic_trigger is not None else None
    if expected is not None and _shallow(raw):
        try:
            validated = _one_pass_model(expected).model_validate(obj)
        except ValidationError:
            validated = None
        if validated is not None and validated.trigger in (None, expected) and _key_fits(key, validated.organization_id):
            return CheckedEvent(validated.organization_id, expected, validated)
    event = _decode_in_steps(obj, expected, key)
    assert event.trigger is not None
    return CheckedEvent(event.organization_id, event.trigger, None, event)


def _shallow(raw: bytes | bytearray | memoryview | str) -> bool:
    """Too few brackets in all to nest deeper than ``MAX_JSON_DEPTH`` (brackets in strings count too:
    a false "no" only sends the event to the exact walk)."""
    if isinstance(raw, (bytes, bytearray)):
        return raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH
    return False


def _key_fits(key: object, organization_id: int) -> bool:
    """The key is the organization id as decimal text (the cheap comparison; ``_check_key`` explains)."""
    if key is ANY_KEY:
        return True
    if type(key) is bytes:
        return key == str(organization_id).encode()
    return type(key) is str and key == str(organization_id)


@lru_cache(maxsize=None)
def _one_pass_model(trigger: ActionTrigger) -> type[Event]:
    """:class:`Event` with ``data`` typed as ``trigger``'s data model: envelope and data in one
    validation (a missing ``data`` is validated as ``{}``, as the steps do)."""
    return create_model(  # type: ignore[call-overload]
        f"Event{TRIGGER_DATA_MODELS[trigger].__name__}", __base__=Event,
        data=(TRIGGER_DATA_MODELS[trigger], Field(default_factory=dict, validate_default=True)),
    )


def _decode_in_steps(obj: dict, expected: ActionTrigger | None, key: object) -> Event:
    """Steps 2 (nesting) to 5 of ``decode_event``, one by one, each raising its own ``InvalidEvent``."""
    if json_depth_exceeds(obj):
        raise InvalidEvent(f"nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays")

    try:
        event = Event.model_validate(obj)
    except ValidationError as exc:
        raise InvalidEvent(problems_from(exc)) from None
    if key is not ANY_KEY:
        _check_key(key, event.organization_id)

    trigger = event.trigger
    if trigger is None:
        if expected is None:
            raise InvalidEvent("field required: the topic does not imply a trigger", field="trigger")
        trigger = expected
    elif expected is not None and trigger is not expected:
        raise InvalidEvent(
            f"trigger {trigger.slug!r} does not match topic trigger {expected.slug!r}", field="trigger"
        )

    try:
        data = TRIGGER_DATA_MODELS[trigger].model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent(problems_from(exc, prefix="data")) from None
    return event.model_copy(update={"trigger": trigger, "data": data.model_dump(mode="json")})


def example_event(
    trigger: ActionTrigger | int | str,
    *,
    organization_id: int = 1,
    project_id: int | None = 10,
) -> Event:
    """A valid sample event for ``trigger`` (its data model's ``example``), with a fresh id.

    Used by ``test-fire``; the id is new each call so de-duplication never swallows it.
    """
    member = ActionTrigger.parse(trigger)
    envelope = {
        "id": f"example-{member.slug}-{uuid.uuid4().hex[:12]}",
        "trigger": member.slug,
        "organization_id": organization_id,
        "project_id": project_id,
        "occurred_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "data": TRIGGER_DATA_MODELS[member].example,
    }
    return decode_event(orjson.dumps(envelope), topic_trigger=member, max_bytes=1 << 20)
