"""Dotted paths into an event envelope: the one reader behind conditions, templates and throttle keys.

A path is its parts joined by dots (``data.actor``, ``data.tags.0``). Each
part is looked up in turn: in a mapping by key; in a list by position, when
the part is ASCII digits only (``"0"``, ``"12"``) and within the list's
length. Anything else (a key that is absent, a position past the end, a
part like ``"-1"``, ``"x"`` or ``"²"`` against a list, any part against a
string, a number or ``None``) is :data:`MISSING` — a sentinel distinct from
a JSON ``null``, so callers can tell "absent" from "present and null".

Conditions (``models/action.py``), templates (``registrations/support/text.py``)
and throttle keys (``tables/throttle.py``) all read paths here, so the same
path means the same value in all three.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MISSING", "Missing", "resolve"]


class Missing(enum.Enum):
    """The type of :data:`MISSING` (an enum member, so it stays one object across copies and pickles)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING
"""What :func:`resolve` returns for a path that leads nowhere."""


def resolve(obj: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``obj``, or :data:`MISSING`; see the module docstring."""
    for part in path.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part, MISSING)
            if obj is MISSING:
                return MISSING
        elif isinstance(obj, list) and part.isascii() and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return MISSING
    return obj
