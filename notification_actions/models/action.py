"""The notification action definition, as carried on the config topic.

Sentry's fields in snake_case (Sentry's camelCase names accepted too), plus
``enabled``, ``conditions``, ``throttle`` and ``template``. Unknown fields
are refused by name, so a typo never silently widens an action.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from notification_actions.models.enums import ActionService, ActionTarget, ActionTrigger, Service, Target, Trigger
from notification_actions.models.event import Event
from notification_actions.models.paths import MISSING, resolve
from notification_actions.models.regex import Pattern, compile_pattern, search
from notification_actions.models.registry import REGISTRY
from notification_actions.models.template import check_template
from notification_actions.models.validation import NumericId, StrId

__all__ = ["Condition", "ConditionOp", "NotificationAction", "Throttle"]

R = TypeVar("R")  # an ActionRegistration subclass (registrations/base.py)

ConditionOp = Literal["eq", "ne", "in", "not_in", "contains", "exists", "gt", "gte", "lt", "lte", "regex"]

# Conditions may only look into the envelope's fields; "dta.event" is a typo, not a miss.
_ROOTS = tuple(Event.model_fields)
MAX_CONDITION_VALUES = 1000


def _config() -> ConfigDict:
    return ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        loc_by_alias=False,
    )


class Condition(BaseModel):
    """A predicate on one field of the event envelope.

    ``path`` is dotted (``data.event``, ``project_id``; a numeric part indexes
    a list), read by ``models/paths.py`` as templates and throttle keys are.
    A missing path (or a JSON ``null``) never matches, except ``exists`` with
    ``value: false``. Comparisons across types (a number
    against a string in ``gt``) are false, never errors. ``regex`` searches
    strings with RE2 (linear time, ``models/regex.py``); a pattern RE2 refuses
    is refused when the action is validated.

    Example: ``{"path": "data.event", "op": "in", "value": ["member.invite"]}``
    """

    model_config = _config()

    path: str = Field(pattern=r"^[^.]+(\.[^.]+)*$", max_length=500)
    op: ConditionOp
    value: Any = Field(None, validate_default=True)

    _pattern: Pattern | None = PrivateAttr(None)

    @field_validator("path")
    @classmethod
    def _known_root(cls, path: str) -> str:
        root = path.split(".", 1)[0]
        if root not in _ROOTS:
            raise ValueError(f"path must start with one of {', '.join(_ROOTS)}; got {root!r}")
        return path

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                raise ValueError(f"op {op!r} needs a list value")
            if len(value) > MAX_CONDITION_VALUES:
                raise ValueError(f"op {op!r} takes at most {MAX_CONDITION_VALUES} values")
        elif op == "exists":
            if value is not None and not isinstance(value, bool):
                raise ValueError("op 'exists' needs true, false or no value (true)")
        elif op in ("gt", "gte", "lt", "lte"):
            if not (_is_number(value) or isinstance(value, str)):
                raise ValueError(f"op {op!r} needs a number or a string value")
        elif op == "regex":
            compile_pattern(value)  # ValueError with RE2's reason
        elif op == "contains" and value is None:
            raise ValueError("op 'contains' needs a value")
        return value

    def model_post_init(self, context: Any, /) -> None:
        if self.op == "regex":
            self._pattern = compile_pattern(self.value)

    def matches(self, event: Mapping[str, Any] | Event) -> bool:
        """Whether ``event`` (an envelope dict, or an :class:`Event`) satisfies this condition."""
        if isinstance(event, Event):
            event = event.as_dict()
        actual = resolve(event, self.path)
        if self.op == "exists":
            present = actual is not MISSING and actual is not None
            return present == (True if self.value is None else self.value)
        if actual is MISSING or actual is None:
            return False
        return _OPS[self.op](actual, self.value, self._pattern)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _eq(a: Any, b: Any) -> bool:
    # JSON true is not 1, although Python says True == 1.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _compare(a: Any, b: Any, test: Callable[[Any, Any], bool]) -> bool:
    if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        return test(a, b)
    return False


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(value, str) and value in actual
    if isinstance(actual, list):
        return any(_eq(item, value) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(value, str) and value in actual
    return False


_OPS: dict[str, Callable[[Any, Any, Pattern | None], bool]] = {
    "eq": lambda a, v, _: _eq(a, v),
    "ne": lambda a, v, _: not _eq(a, v),
    "in": lambda a, v, _: any(_eq(a, item) for item in v),
    "not_in": lambda a, v, _: not any(_eq(a, item) for item in v),
    "contains": lambda a, v, _: _contains(a, v),
    "gt": lambda a, v, _: _compare(a, v, lambda x, y: x > y),
    "gte": lambda a, v, _: _compare(a, v, lambda x, y: x >= y),
    "lt": lambda a, v, _: _compare(a, v, lambda x, y: x < y),
    "lte": lambda a, v, _: _compare(a, v, lambda x, y: x <= y),
    "regex": lambda a, v, p: isinstance(a, str) and p is not None and search(p, a),
}


class Throttle(BaseModel):
    """At most ``limit`` deliveries per ``window_seconds``, counted per value of ``key``.

    ``key`` is a dotted event path (``project_id``, ``data.actor``,
    ``data.tags.0``), read as a condition's ``path`` is; without it the count
    is per action. Events where the key's value is missing or ``null`` are
    counted together, in one bucket of their own.
    """

    model_config = _config()

    limit: PositiveInt
    window_seconds: float = Field(gt=0)
    key: str | None = Field(None, pattern=r"^[^.]+(\.[^.]+)*$")


class NotificationAction(BaseModel):
    """"When trigger T happens, notify service S at target X", for an organization or some projects.

    Example::

        {"id": "42", "organization_id": 1, "projects": [10, 11],
         "trigger_type": "audit-log", "service_type": "slack", "target_type": "specific",
         "target_identifier": "C024BE91L", "target_display": "#alerts",
         "integration_id": "7", "sentry_app_id": null}
    """

    model_config = _config()

    id: StrId
    organization_id: NumericId
    projects: list[NumericId] = Field(default_factory=list, max_length=1000)
    trigger_type: Trigger
    service_type: Service
    target_type: Target
    target_identifier: StrId | None = None
    target_display: str | None = Field(None, max_length=500)
    integration_id: StrId | None = None
    sentry_app_id: StrId | None = None
    enabled: bool = True
    conditions: list[Condition] = Field(default_factory=list, max_length=50)
    throttle: Throttle | None = None
    template: str | None = None

    @field_validator("template")
    @classmethod
    def _bounded_template(cls, template: str | None) -> str | None:
        return None if template is None else check_template(template)

    @property
    def is_org_wide(self) -> bool:
        """True when the action applies to every project of the organization."""
        return not self.projects

    @property
    def triple(self) -> tuple[ActionTrigger, ActionService, ActionTarget]:
        """``(trigger_type, service_type, target_type)``: the key of its registration."""
        return (self.trigger_type, self.service_type, self.target_type)

    def target_key(self) -> str:
        """``service:target_type:integration:identifier``: one real destination.

        Deliveries with the same key are ordered, paced and circuit-broken
        together. The integration is part of it because an identifier alone is
        not global: two workspaces can both have a channel ``C024BE91L``.
        An identifier that is a URL (webhook, Discord, Teams, incoming
        webhooks: the URL itself is the credential) appears only as a stable
        digest, ``url-<sha256 prefix>``, for the key travels as the Kafka key of
        deliveries and retries and names circuits in logs and ``/circuits``.
        """
        return _target_key(self.service_type, self.target_type, self.integration_id, self.target_identifier or "")

    def target_shown(self) -> str:
        """The identifier as it may be shown and logged: a URL only as its digest."""
        return _shown(self.target_identifier or "")

    def conditions_match(self, event: Mapping[str, Any] | Event) -> bool:
        """Whether every condition holds for ``event`` (true when there are none)."""
        if isinstance(event, Event):
            event = event.as_dict()
        return all(c.matches(event) for c in self.conditions)

    @classmethod
    def register_action(
        cls,
        trigger_type: ActionTrigger | int | str,
        service_type: ActionService | int | str,
        target_type: ActionTarget | int | str,
    ) -> Callable[[type[R]], type[R]]:
        """The seed's decorator: register an ``ActionRegistration`` subclass in ``models.registry.REGISTRY``."""
        return REGISTRY.register_action(
            trigger_type=trigger_type, service_type=service_type, target_type=target_type
        )


# A delivery asks for its target's key a dozen times on its way (places, circuits, pacing, logs), and a
# URL's key is a SHA-256 digest: the last 1,024 answers are kept (identifiers are at most 2,048 characters).
@lru_cache(maxsize=1024)
def _target_key(service: ActionService, target: ActionTarget, integration_id: str | None, identifier: str) -> str:
    return f"{service.slug}:{target.slug}:{integration_id or '-'}:{_shown(identifier)}"


@lru_cache(maxsize=1024)
def _shown(identifier: str) -> str:
    if "://" in identifier or identifier.lower().startswith(("http:", "https:")):
        return "url-" + hashlib.sha256(identifier.encode()).hexdigest()[:20]
    return identifier
