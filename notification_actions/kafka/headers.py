"""Header names on dead letters and rejected records (documented in docs/dead-letters.md).

All names start with ``na-`` so they never collide with a producer's own headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from notification_actions.errors import Problem

ERROR_CLASS = "na-error-class"
ERROR_MESSAGE = "na-error-message"
ERROR_CODE = "na-error-code"
ERROR_FIELDS = "na-error-fields"
ATTEMPTS = "na-attempts"
FIRST_ATTEMPT_AT = "na-first-attempt-at"
LAST_ATTEMPT_AT = "na-last-attempt-at"
ORIGIN_TOPIC = "na-origin-topic"
ORIGIN_PARTITION = "na-origin-partition"
ORIGIN_OFFSET = "na-origin-offset"
ORIGIN_TIMESTAMP = "na-origin-timestamp"
ACTION_ID = "na-action-id"
ORGANIZATION_ID = "na-organization-id"
DEDUP_KEY = "na-dedup-key"
DUE_AT = "na-due-at"
TIER = "na-tier"
LAST_ERROR = "na-last-error"
FAILED_AT = "na-failed-at"
REPLAY = "na-replay"  # a record of the replay topic: its scope and flags (models/replay.py)
TRUNCATED = "na-truncated"  # a value cut to fit the broker: its length before (kafka/produced.py)
HEADERS_DROPPED = "na-headers-dropped"  # a dead letter's original headers, left out to keep its value: how many, how large

MAX_HEADER_TEXT = 2000


def encode(headers: Mapping[str, object | None]) -> list[tuple[str, bytes]]:
    """Headers as Kafka wants them; ``None`` values are left out, long text is cut."""
    out = []
    for name, value in headers.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        out.append((name, text[:MAX_HEADER_TEXT].encode()))
    return out


def decode(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> dict[str, str]:
    """Kafka headers (list of pairs or mapping) as a ``str → str`` dict."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: (v.decode(errors="replace") if isinstance(v, bytes | bytearray) else str(v)) for k, v in items}


def problems_text(problems: Iterable[Problem]) -> str:
    import orjson

    return orjson.dumps([p.as_dict() for p in problems]).decode()


def iso(epoch: float | None) -> str | None:
    """``epoch`` as a header's time: ISO 8601 UTC, to the second (``None`` stays ``None``)."""
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
