"""Vendor limits: cutting text to a size the service accepts.

Services count characters the way JavaScript and Java do, in UTF-16 code
units; Python counts code points, which is never more. :func:`cut` measures
in UTF-16 units, so a cut text fits under either count, never splits a
surrogate pair, and ends with "…". :func:`cut_bytes` cuts to a UTF-8 size,
:func:`fit_json` shortens one text of a JSON body until the encoded body fits
a byte limit, and :func:`one_line` flattens a text for a title.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import orjson

from notification_actions.errors import PermanentDeliveryError

__all__ = ["ELLIPSIS", "cut", "cut_bytes", "fit_json", "one_line", "units"]

ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")


def units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (JavaScript's ``length``, Java's ``length()``)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits ``limit`` UTF-16 units; else its longest whole-character prefix plus "…"."""
    if len(text) <= limit // 2 or units(text) <= limit:
        return text
    if limit < 1:
        return ""
    budget, used = limit - 1, 0
    end = 0
    for end, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
    return text[:end] + ELLIPSIS


def cut_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (whole characters, "…" included)."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    if room < 0:
        return ""
    return raw[:room].decode("utf-8", "ignore") + ELLIPSIS


def fit_json(build: Callable[[str], Any], text: str, max_bytes: int, *, service: str) -> bytes:
    """``orjson.dumps(build(text))``, with ``text`` cut until the body is at most ``max_bytes``.

    Escaping makes the text's JSON form longer than its UTF-8 form, so each
    round keeps the share of the text that the room left for it allows, and
    at least one byte less than before. A body that cannot fit even with an
    empty ``text`` is a :class:`PermanentDeliveryError` (``code="too_large"``).
    """
    body = orjson.dumps(build(text))
    while len(body) > max_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size == 0:
            raise PermanentDeliveryError(
                f"{service}: the message is {len(body)} bytes without its text; the limit is {max_bytes}",
                code="too_large",
            )
        encoded = len(orjson.dumps(text)) - 2
        room = max_bytes - (len(body) - encoded)
        keep = min(size - 1, size * max(room, 0) // max(encoded, 1))
        text = cut_bytes(text, max(keep, 0))
        body = orjson.dumps(build(text))
    return body


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (CR/LF included) becomes one space, control characters go."""
    cleaned = "".join(c if unicodedata.category(c) != "Cc" else " " for c in text)
    return _WHITESPACE.sub(" ", cleaned).strip()
