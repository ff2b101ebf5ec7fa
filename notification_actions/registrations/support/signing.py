"""Request signatures: Standard Webhooks (``webhook-signature``) and GitHub's ``sha256=`` form.

Standard Webhooks signs ``"{msg_id}.{timestamp}.{body}"`` with HMAC-SHA256; the
secret is ``whsec_<base64>`` and the HMAC key is the base64-*decoded* part.
No function here puts a secret, or any part of one, into an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from urllib.parse import quote

from notification_actions.errors import PermanentDeliveryError

__all__ = ["SECRET_PREFIX", "header_id", "decode_secret", "github_signature", "headers", "sign", "verify"]

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """Return the HMAC key of a ``whsec_<base64>`` secret; ``ValueError`` if it is malformed."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"signing secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"signing secret must be {SECRET_PREFIX!r} followed by valid base64") from None
    if not key:
        raise ValueError(f"signing secret must have a non-empty key after {SECRET_PREFIX!r}")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value ``v1,<base64 HMAC-SHA256>`` of one message."""
    digest = _digest(decode_secret(secret), msg_id, int(timestamp), body)
    return "v1," + base64.b64encode(digest).decode("ascii")


_HEADER_SAFE = "!#$&'()*+,-./:;=?@[]^_`{|}~"


def header_id(msg_id: str) -> str:
    """``msg_id`` as a header can carry it: printable ASCII as is, anything else percent-encoded
    (UTF-8). Event ids may hold any character; a header may not (non-ASCII raised in httpx, a
    CR/LF or NUL is refused). Deterministic, so a receiver's idempotency key stays stable; the
    signature covers this form."""
    return quote(msg_id, safe=_HEADER_SAFE)


def headers(secret: str | None, msg_id: str, body: bytes, *, service: str) -> dict[str, str]:
    """The Standard Webhooks headers of one message sent now: ``webhook-id``, ``webhook-timestamp``
    and, with a ``secret``, ``webhook-signature``.

    A malformed secret is a :class:`PermanentDeliveryError` (``code="invalid_signing_secret"``).
    """
    timestamp = int(time.time())
    msg_id = header_id(msg_id)
    out = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret is not None:
        try:
            out["webhook-signature"] = sign(secret, msg_id, timestamp, body)
        except ValueError as exc:
            raise PermanentDeliveryError(f"{service}: {exc}", code="invalid_signing_secret") from None
    return out


def verify(
    secret: str,
    msg_id: str,
    timestamp: int | str,
    body: bytes,
    signature_header: str,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> bool:
    """True if one of the space-separated ``v1,…`` signatures matches and the timestamp is fresh.

    ``tolerance`` is the allowed distance in seconds between ``timestamp`` and
    ``now`` (default: the current time), in either direction.
    """
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = _digest(decode_secret(secret), msg_id, ts, body)
    for candidate in (signature_header or "").split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return True
    return False


def github_signature(secret: str, body: bytes) -> str:
    """Return GitHub's ``X-Hub-Signature-256`` value ``sha256=<hex>`` of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
