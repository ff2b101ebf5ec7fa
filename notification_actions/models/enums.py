"""The three enums of a notification action, with Sentry's values, and their pydantic types.

A message may carry a member as its slug (``"audit-log"``), its integer
(``0``), a numeric string (``"0"``) or its name (``"AUDIT_LOG"``); models
always dump the slug. New triggers, services and targets are added by
extending these enums (and, for triggers, ``SLUGS`` follows the name).
"""

from __future__ import annotations

import re

from enum import Enum, IntEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "ActionService",
    "ActionTarget",
    "ActionTrigger",
    "Service",
    "Target",
    "Trigger",
]


class _SlugEnum(IntEnum):
    """An ``IntEnum`` whose members also have a ``slug``, and a forgiving ``parse``."""

    @property
    def slug(self) -> str:
        return self.name.lower()

    @classmethod
    def slugs(cls) -> list[str]:
        """The valid slugs, in value order."""
        return [m.slug for m in cls]

    @classmethod
    def parse(cls, value: Any) -> Any:
        """Return the member for a member, an int, a slug, a numeric string or a name.

        Raises ``ValueError`` naming the value and listing the valid slugs.
        """
        if isinstance(value, cls):
            return value
        if type(value) is str:  # the common case, a slug as written: one dict lookup
            member = _by_slug(cls).get(value)
            if member is not None:
                return member
        if isinstance(value, Enum) or isinstance(value, bool):
            # Another enum's member is an int too, but ActionService.SLACK is no trigger.
            raise ValueError(cls._unknown(value))
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                raise ValueError(cls._unknown(value)) from None
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isascii() and text.lstrip("-").isdigit() and len(text) <= 20:
                return cls.parse(int(text))
            folded = text.lower()
            for member in cls:
                if folded in (member.slug, member.name.lower()):
                    return member
        raise ValueError(cls._unknown(value))

    @classmethod
    def _unknown(cls, value: Any) -> str:
        kind = _KINDS.get(cls, cls.__name__)
        if isinstance(value, Enum):
            shown = f"{type(value).__name__}.{value.name}"
        elif isinstance(value, str):
            # a typo is shown so it can be fixed; anything else may be a token pasted into the wrong field
            shown = repr(value) if value == "" or _SHOWABLE.fullmatch(value) else f"a text of {len(value)} characters"
        elif value is None or isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**9):
            shown = repr(value)
        else:
            shown = f"a {type(value).__name__} value"
        valid = ", ".join(f"{m.slug!r} ({m.value})" for m in cls)
        return f"{shown} is not a valid {kind}; expected one of {valid}"


_SLUG_TABLES: dict[type, dict[str, Any]] = {}
_SHOWABLE = re.compile(r"[A-Za-z][A-Za-z_-]{0,23}")  # slug- or name-like, no digits: never a secret


def _by_slug(cls: type[_SlugEnum]) -> dict[str, Any]:
    """``{slug: member}`` of ``cls`` (every stored action and delivery names three enums)."""
    table = _SLUG_TABLES.get(cls)
    if table is None:
        table = _SLUG_TABLES[cls] = {m.slug: m for m in cls}
    return table


class ActionTrigger(_SlugEnum):
    """What happened in the product: the source of a notification."""

    AUDIT_LOG = 0
    USER_FEEDBACK = 1
    RELEASE_CREATED = 2
    QUOTA = 3
    BILLING = 4
    ISSUE_ALERT = 5
    SPIKE_PROTECTION = 100

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


class ActionService(_SlugEnum):
    """The delivery mechanism: where the notification goes."""

    EMAIL = 0
    PAGERDUTY = 1
    SLACK = 2
    MSTEAMS = 3
    SENTRY_APP = 4
    SENTRY_NOTIFICATION = 5
    OPSGENIE = 6
    DISCORD = 7
    JIRA = 8
    GITHUB = 9
    WEBHOOK = 10


class ActionTarget(_SlugEnum):
    """The kind of recipient: specific to the integration, a user, a team or a Sentry app."""

    SPECIFIC = 0
    USER = 1
    TEAM = 2
    SENTRY_APP = 3


# What each enum is called in error messages.
_KINDS: dict[type, str] = {ActionTrigger: "trigger", ActionService: "service", ActionTarget: "target"}


def _annotated(enum_cls: type[_SlugEnum]) -> Any:
    schema = {
        "anyOf": [
            {"type": "string", "enum": enum_cls.slugs()},
            {"type": "integer", "enum": [m.value for m in enum_cls]},
        ]
    }
    return Annotated[
        enum_cls,
        BeforeValidator(enum_cls.parse),
        PlainSerializer(lambda m: m.slug, return_type=str),
        WithJsonSchema(schema),
    ]


Trigger = _annotated(ActionTrigger)
"""An ``ActionTrigger`` field: accepts slug, int or name; dumps the slug."""
Service = _annotated(ActionService)
"""An ``ActionService`` field: accepts slug, int or name; dumps the slug."""
Target = _annotated(ActionTarget)
"""An ``ActionTarget`` field: accepts slug, int or name; dumps the slug."""
