"""Templates tenants write: ``{{ dotted.path }}`` placeholders and nothing else, with bounds.

A template substitutes each ``{{ path.to.field }}`` with the value at that
dotted path of the event envelope (``{{ data.actor }}``, ``{{ data.projects.0 }}``;
read by ``models/paths.py``, as conditions and throttle keys are) and nothing
else: no attribute access, no expressions, no format specs, so a template
cannot reach into Python objects. A missing path renders as an empty string;
objects and lists as compact JSON.

Bounds, because ``"{{ data }}" * 2000`` over a 300 KB event took a worker to
1.8 GB: a template is at most :data:`MAX_TEMPLATE_CHARS` long with at most
:data:`MAX_PLACEHOLDERS` placeholders (checked when the action is validated:
a larger one is a rejected config), and :func:`render` stops at ``limit``
characters (:data:`MAX_RENDERED_CHARS` unless the service's own is smaller),
rendering each distinct path once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from notification_actions.models.paths import MISSING, resolve

__all__ = ["MAX_PLACEHOLDERS", "MAX_RENDERED_CHARS", "MAX_TEMPLATE_CHARS", "PLACEHOLDER", "as_text",
           "check_template", "render"]

MAX_TEMPLATE_CHARS = 131_072  # room for a long literal text; services cut to their own limits
MAX_PLACEHOLDERS = 50
MAX_RENDERED_CHARS = 131_072  # above every service's own limit (GitHub's 65,536 is the largest)
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


def as_text(value: Any) -> str:
    """How a value reads in a notification: strings as they are, JSON for the rest."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def check_template(template: str) -> str:
    """``template`` if it is within the bounds; ``ValueError`` naming the bound otherwise."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"a template is at most {MAX_TEMPLATE_CHARS} characters (this one has {len(template)})")
    count = sum(1 for _ in PLACEHOLDER.finditer(template))
    if count > MAX_PLACEHOLDERS:
        raise ValueError(f"a template has at most {MAX_PLACEHOLDERS} placeholders (this one has {count})")
    return template


def render(template: str, event_dict: Mapping[str, Any], *, limit: int = MAX_RENDERED_CHARS) -> str:
    """``template`` with each placeholder replaced, cut at ``limit`` characters (never built larger)."""
    out: list[str] = []
    size = 0
    values: dict[str, str] = {}
    position = 0
    for match in PLACEHOLDER.finditer(template):
        for piece in (template[position:match.start()], None):
            if piece is None:
                path = match.group(1)
                if path not in values:
                    values[path] = as_text(resolve(event_dict, path))
                piece = values[path]
            if size + len(piece) >= limit:
                out.append(piece[: limit - size])
                return "".join(out)
            out.append(piece)
            size += len(piece)
        position = match.end()
    tail = template[position:]
    out.append(tail[: max(0, limit - size)])
    return "".join(out)
