"""Validation helpers: pydantic errors as ``errors.Problem`` lists, record parsing, shared field types.

``problems_from`` is the one place where a ``pydantic.ValidationError``
becomes what a user sees: a dotted field path (``conditions.0.op``) in the
snake_case names of the contract, and a message. The raw pydantic error is
never re-raised: its text includes input values, and input values may be
credentials.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
)

from notification_actions.errors import InvalidAction, Problem

__all__ = ["MAX_JSON_DEPTH", "EmailAddress", "HttpUrlStr", "NumericId", "StrId", "json_depth_exceeds",
           "parse_numeric_id", "parse_record", "problems_from"]

NumericId = Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)]
"""An organization or project id: a JSON integer, 0 ≤ n < 2⁶³ — never ``true``, ``"10"``, ``"1_0"`` or ``1.0``
(lax parsing would read ``true`` as 1 and ``"1_0"`` as 10: an event could pick another organization)."""

_MAX_ID = 2**63 - 1


def parse_numeric_id(text: str) -> int | None:
    """``text`` (a Kafka key, a URL part) as an organization id, or None: ASCII digits only.

    ``"²"`` and ``"١"`` are digits to ``str.isdigit`` — and ``int("١")`` is 1 —
    but no id; nor are signs, spaces, underscores or values of 2⁶³ and above.
    """
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    value = int(text)
    return value if value <= _MAX_ID else None


MAX_JSON_DEPTH = 32
"""Deepest nesting of objects/arrays accepted in an event or a config record (the envelope counts as 1)."""


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON ``value`` nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False

M = TypeVar("M", bound=BaseModel)

# Pydantic prefixes messages of errors raised inside validators; the prefix says nothing to a user.
_MSG_PREFIXES = ("Value error, ", "Assertion failed, ")


def problems_from(exc: ValidationError, prefix: str = "") -> list[Problem]:
    """Translate a pydantic ``ValidationError`` into ``Problem(field, message)`` items.

    ``field`` is the dotted location (list indexes included) under ``prefix``;
    models here set ``loc_by_alias=False`` so a camelCase input is reported
    under its snake_case field name.
    """
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(part) for part in err["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        problems.append(Problem(path, _message(err)))
    return problems


def _message(err: Any) -> str:
    msg = err["msg"]
    for start in _MSG_PREFIXES:
        if msg.startswith(start):
            msg = msg[len(start) :]
    if err["type"] == "extra_forbidden":
        return "unknown field (extra inputs are not permitted)"
    if err["type"] == "missing":
        return "field required"
    return msg


def parse_record(
    model_cls: type[M],
    raw: bytes | bytearray | memoryview | str | dict[str, Any] | None,
    *,
    error_cls: type[InvalidAction] | Any = InvalidAction,
) -> M:
    """Decode ``raw`` (JSON bytes/str, or an already decoded dict) into ``model_cls``.

    Raises ``error_cls`` (``InvalidAction`` unless told) with one ``Problem``
    per error; pydantic's own error is never raised or chained.
    """
    if raw is None:
        raise error_cls("empty value (null)")
    if isinstance(raw, (bytes, bytearray, memoryview, str)):
        if len(raw) == 0:
            raise error_cls("empty value (zero bytes)")
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise error_cls(f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise error_cls(f"expected a JSON object, got {json_type(raw)}")
    try:
        return model_cls.model_validate(raw)
    except ValidationError as exc:
        raise error_cls(problems_from(exc)) from None


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _coerce_id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


MAX_ID_CHARS = 2048
StrId = Annotated[str, BeforeValidator(_coerce_id), AfterValidator(_non_empty), Field(max_length=MAX_ID_CHARS)]
"""An identifier: a non-empty string of at most 2,048 characters (a webhook URL is one); integers are
accepted and turned into strings."""

EmailAddress = EmailStr
"""An email address, checked by ``email-validator`` (syntax only, no DNS); stored normalised."""

_URL = TypeAdapter(AnyHttpUrl)


def _http_url(value: str) -> str:
    try:
        _URL.validate_python(value)
    except ValidationError:
        raise ValueError("not a valid http(s) URL") from None
    return value


HttpUrlStr = Annotated[str, AfterValidator(_http_url)]
"""An ``http://`` or ``https://`` URL, kept as the string given (no normalisation)."""
