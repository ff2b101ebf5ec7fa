"""The one HTTP path every registration uses: send a request, classify what came back.

``send()`` performs the request and turns every failure into a
:class:`~notification_actions.errors.DeliveryError`:

- 2xx: returned to the caller (which may add per-service checks, e.g. Slack's
  ``{"ok": false}``).
- 408, 429, 5xx (and GitHub's 403 with ``Retry-After`` or ``x-ratelimit-remaining: 0``):
  :class:`RetryableDeliveryError`, ``retry_after`` from ``Retry-After``
  (seconds or HTTP-date), a JSON body's ``retry_after`` (Discord) or
  ``x-ratelimit-reset`` (GitHub), when present.

The endpoint chooses every one of these numbers. A wait that is not a finite,
non-negative number (``inf``, ``nan``, ``-1``) is ignored, as if absent; a
longer one than :data:`MAX_RESPONSE_WAIT_SECONDS` is cut to it. The pipeline
applies its own, tighter bounds on top (``streams/retry.py``, ``streams/pacing.py``).
- 3xx and other 4xx: :class:`PermanentDeliveryError` with ``code=str(status)``.
- Transport failures (timeouts, refused connections, dropped connections):
  retryable; anything else: permanent. The client's SSRF guard (``transport.py``)
  reports as ``check_url_at_fire`` does: an address it refuses is permanent
  (``ssrf_blocked``), a name that does not resolve retryable (``dns_error``).

At most :data:`MAX_RESPONSE_BYTES` of an answer are read, and one compressed
though ``accept-encoding: identity`` asked it not to be is decoded with each
layer bounded to as many (``_decoded``): its memory is bounded, not only its size.

Messages name the service, the status and ``scheme://host`` of the endpoint,
plus at most 200 characters of the response body. Full URLs never appear in
them, because the URL of a Discord, Teams or generic webhook is itself a secret.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import math
import re
import time
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import orjson

from notification_actions import __version__
from notification_actions.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.registrations.support.transport import BlockedAddress, NameNotResolved

__all__ = [
    "EXCERPT_CHARS",
    "MAX_RESPONSE_BYTES",
    "MAX_RESPONSE_WAIT_SECONDS",
    "USER_AGENT",
    "body_excerpt",
    "bucket_empty_for",
    "classify_exception",
    "classify_response",
    "origin",
    "retry_after_seconds",
    "send",
]

EXCERPT_CHARS = 200
USER_AGENT = f"notification-actions/{__version__ or 0}"
# Endpoints are user-chosen URLs: never hold more than this much of an answer in memory.
MAX_RESPONSE_BYTES = 1 << 20
# The longest wait a response may ask for (a day: MAX_DELIVERY_AGE_SECONDS' default); longer ones are cut.
MAX_RESPONSE_WAIT_SECONDS = 86_400.0
_REDACTED = "[redacted]"
_RETRYABLE_STATUSES = frozenset({408, 429})
# Headers that describe the wire form of a body; dropped when the body is rebuilt in memory.
_WIRE_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})
# The codings httpx decodes (``httpx._decoders.SUPPORTED_DECODERS`` without brotli and zstd), as zlib's wbits.
_DECOMPRESS_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def origin(url: httpx.URL | str) -> str:
    """``scheme://host`` of ``url``: the only part of an endpoint that errors may show."""
    try:
        parsed = httpx.URL(str(url))
    except Exception:  # noqa: BLE001 - an unparsable URL must still produce a safe label
        return "<invalid url>"
    if not parsed.host:
        return f"{parsed.scheme}://" if parsed.scheme else "<invalid url>"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}"


def _secrets_of(url: httpx.URL | str | None, redact: Iterable[str]) -> list[str]:
    secrets = [s for s in redact if s]
    if url is not None:
        text = str(url)
        secrets.append(text)
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(text)
        except Exception:  # noqa: BLE001
            parsed = None
        if parsed is not None:
            raw = parsed.raw_path.decode("ascii", "replace")  # path and query, as sent
            path, _, query = raw.partition("?")
            # A receiver may echo the path without its query ("Cannot POST /hooks/<token>"),
            # decoded, or the query alone.
            for part in (raw, path, parsed.path, query):
                if len(part) > 1:
                    secrets.append(part)
            if parsed.userinfo:
                secrets.append(parsed.userinfo.decode("ascii", "replace"))
    # Longest first, so a URL is replaced whole before its path is looked for.
    return sorted(set(secrets), key=len, reverse=True)


def _excerpt(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1] + "…"
    return text


def _wait(seconds: float) -> float | None:
    """``seconds`` as a wait: ``None`` unless finite and non-negative, at most a day."""
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RESPONSE_WAIT_SECONDS)


def _number(text: str) -> float | None:
    text = text.strip()
    if text.isascii() and text.isdigit():  # however many digits: a finite number (float() would say inf)
        return float(text) if len(text) <= 15 else 1e15
    try:
        return float(text)
    except ValueError:
        return None


def _until(epoch: float | None, now: float) -> float | None:
    """Seconds from ``now`` to the instant ``epoch`` (0 when it is past); ``None`` unless finite."""
    if epoch is None or not math.isfinite(epoch):
        return None
    return _wait(max(0.0, epoch - now))


def _parse_retry_after(value: str, now: float) -> float | None:
    value = value.strip()
    seconds = _number(value)
    if seconds is not None:
        return _wait(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC, by RFC 5322
        when = when.replace(tzinfo=datetime.timezone.utc)
    return _until(when.timestamp(), now)


def _body_retry_after(response: httpx.Response) -> float | None:
    content = response.content
    if not content or not content.lstrip().startswith(b"{"):
        return None
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    value = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _wait(float(value))
    return None


def _rate_limit_exhausted(response: httpx.Response) -> bool:
    return response.headers.get("x-ratelimit-remaining", "").strip() == "0"


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the service asks us to wait before trying again, or ``None`` if it does not say.

    Looked for in order: ``Retry-After`` (delta-seconds or HTTP-date), a JSON
    body's ``retry_after`` (Discord), and ``x-ratelimit-reset`` (epoch seconds)
    when ``x-ratelimit-remaining`` is ``0`` (GitHub). A value that is no usable
    wait is skipped; the result is finite, at most :data:`MAX_RESPONSE_WAIT_SECONDS`.
    """
    current = time.time() if now is None else now
    header = response.headers.get("retry-after")
    if header:
        parsed = _parse_retry_after(header, current)
        if parsed is not None:
            return parsed
    from_body = _body_retry_after(response)
    if from_body is not None:
        return from_body
    reset = response.headers.get("x-ratelimit-reset")
    if reset and _rate_limit_exhausted(response):
        return _until(_number(reset), current)
    return None


def bucket_empty_for(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds until a *successful* response's rate-limit bucket refills, when it says it is empty.

    ``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset-after`` (Discord, seconds)
    or ``x-ratelimit-reset`` (Discord and GitHub, epoch seconds); ``None`` otherwise,
    and when the value is no usable wait. At most :data:`MAX_RESPONSE_WAIT_SECONDS`.
    """
    if not _rate_limit_exhausted(response):
        return None
    after = response.headers.get("x-ratelimit-reset-after")
    if after:
        seconds = _number(after)
        return _wait(seconds) if seconds is not None else None
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        return _until(_number(reset), time.time() if now is None else now)
    return None


def _response_url(response: httpx.Response) -> httpx.URL | None:
    try:
        return response.request.url
    except RuntimeError:  # a Response built without a request
        return None


def body_excerpt(response: httpx.Response, *, redact: Iterable[str] = ()) -> str:
    """At most 200 characters of ``response``'s body on one line, safe for logs and outcomes.

    The request's URL, its path (with and without the query, raw and
    decoded), its query and every string in ``redact`` are replaced by
    ``[redacted]`` first, in case the service echoes them back.
    """
    secrets = _secrets_of(_response_url(response), redact)
    return _excerpt(response.content.decode("utf-8", "replace"), secrets)


def classify_response(response: httpx.Response, *, service: str, redact: Iterable[str] = ()) -> None:
    """Return if ``response`` is a success (2xx); raise the matching ``DeliveryError`` otherwise.

    ``redact`` lists extra strings (tokens, secrets) to blank out of the body
    excerpt; the request's URL and its path are always blanked.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    url = _response_url(response)
    where = f" from {origin(url)}" if url is not None else ""
    excerpt = body_excerpt(response, redact=redact)
    message = f"{service}: HTTP {status}{where}" + (f": {excerpt}" if excerpt else "")
    # GitHub signals rate limits with 403 + Retry-After (secondary) or
    # x-ratelimit-remaining: 0 (primary); any other 403 is permanent.
    rate_limited_403 = status == 403 and ("retry-after" in response.headers or _rate_limit_exhausted(response))
    if status in _RETRYABLE_STATUSES or status >= 500 or rate_limited_403:
        raise RetryableDeliveryError(
            message, retry_after=retry_after_seconds(response), code=str(status), status=status
        )
    raise PermanentDeliveryError(message, code=str(status), status=status)


def _exception_url(exc: Exception) -> httpx.URL | None:
    if isinstance(exc, httpx.RequestError):
        try:
            return exc.request.url
        except RuntimeError:  # raised without a request attached
            return None
    return None


def classify_exception(exc: Exception, *, service: str, redact: Iterable[str] = ()) -> DeliveryError:
    """Translate an exception raised while talking to ``service`` into a ``DeliveryError``.

    Use as ``raise classify_exception(exc, service=...) from exc``. Timeouts,
    connection failures and dropped connections are retryable; requests that
    can never work (unsupported scheme, a malformed request) and anything
    else are permanent.
    """
    if isinstance(exc, DeliveryError):
        return exc
    url = _exception_url(exc)
    if isinstance(exc, BlockedAddress):  # messages name the host only (ssrf.py)
        where = origin(url) if url is not None else "the URL"
        return PermanentDeliveryError(f"{service}: {where} refused: {exc}", code="ssrf_blocked")
    if isinstance(exc, NameNotResolved):
        return RetryableDeliveryError(f"{service}: {exc}", code="dns_error")
    secrets = _secrets_of(url, redact)
    where = f" to {origin(url)}" if url is not None else ""
    detail = _excerpt(str(exc), secrets)
    name = type(exc).__name__
    message = f"{service}: {name}{where}" + (f": {detail}" if detail else "")
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return RetryableDeliveryError(message, code="timeout")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return PermanentDeliveryError(message, code=name)
    if isinstance(exc, httpx.TransportError):
        return RetryableDeliveryError(message, code=name)
    return PermanentDeliveryError(message, code=name)


async def _read_capped(chunks: AsyncIterator[bytes]) -> bytes:
    got: list[bytes] = []
    size = 0
    async for chunk in chunks:
        got.append(chunk)
        size += len(chunk)
        if size >= MAX_RESPONSE_BYTES:
            break
    return b"".join(got)[:MAX_RESPONSE_BYTES]


def _decoded(raw: bytes, codings: list[str], request: httpx.Request) -> bytes:
    """``raw`` decoded as httpx decodes ``Content-Encoding`` (gzip and deflate, raw deflate too, in the
    reverse of the order applied; any other coding passed over), but each layer gives at most
    :data:`MAX_RESPONSE_BYTES`: httpx expands every chunk whole, and 200 KB of gzip is 200 MB of
    zeros (a layer more, and it is far beyond any worker's memory)."""
    for coding in reversed([c.strip().lower() for c in codings]):
        wbits = _DECOMPRESS_WBITS.get(coding)
        if wbits is None:
            continue
        try:
            raw = zlib.decompressobj(wbits).decompress(raw, MAX_RESPONSE_BYTES)
        except zlib.error as exc:
            if coding != "deflate":
                raise httpx.DecodingError(str(exc), request=request) from exc
            try:  # a raw deflate stream, as httpx also accepts
                raw = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, MAX_RESPONSE_BYTES)
            except zlib.error as again:
                raise httpx.DecodingError(str(again), request=request) from again
    return raw


async def send(
    context: Any,
    method: str,
    url: str | httpx.URL,
    *,
    service: str,
    redact: Iterable[str] = (),
    **kwargs: Any,
) -> httpx.Response:
    """Perform one request through ``context.http`` and return its (2xx) response.

    The whole exchange is bounded by ``context.settings.http_timeout_seconds``,
    redirects are not followed (a redirect could lead past the SSRF guard), and
    at most :data:`MAX_RESPONSE_BYTES` of the body are read. Raises
    :class:`RetryableDeliveryError` or :class:`PermanentDeliveryError` as the
    module docstring describes; ``redact`` as in :func:`classify_response`.
    The returned response holds the body in memory (its ``elapsed`` is unset).
    Other keyword arguments go to ``httpx.AsyncClient.stream`` (``json=``,
    ``content=``, ``headers=``, ``auth=`` …).
    """
    redact = tuple(redact)
    timeout = context.settings.http_timeout_seconds
    try:
        url = httpx.URL(url)  # parsed once here; httpx and the excerpts reuse it
    except (httpx.InvalidURL, TypeError) as exc:
        raise classify_exception(exc, service=service, redact=redact) from exc
    headers = httpx.Headers(kwargs.pop("headers", None))
    # Compressed answers could expand far beyond MAX_RESPONSE_BYTES; ask for none.
    headers.setdefault("accept-encoding", "identity")
    try:
        async with asyncio.timeout(timeout):
            async with context.http.stream(
                method, url, headers=headers, timeout=timeout, follow_redirects=False, **kwargs
            ) as streamed:
                if streamed.is_stream_consumed:  # built whole in memory (``httpx.MockTransport``): no wire
                    body = streamed.content[:MAX_RESPONSE_BYTES]
                else:  # the bytes on the wire, at most the bound; decoded after, each layer bounded too
                    body = _decoded(await _read_capped(streamed.aiter_raw()),
                                    streamed.headers.get_list("content-encoding", split_commas=True), streamed.request)
    except TimeoutError as exc:  # the overall deadline, not one of httpx's own timeouts
        raise RetryableDeliveryError(
            f"{service}: no complete answer from {origin(url)} within {timeout}s", code="timeout"
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise classify_exception(exc, service=service, redact=redact) from exc
    response = httpx.Response(
        streamed.status_code,
        # as the endpoint sent them: bytes (decoded and encoded again, a Latin-1 value raised UnicodeEncodeError)
        headers=[(k, v) for k, v in streamed.headers.raw if k.lower() not in _WIRE_HEADERS],
        content=body,
        request=streamed.request,
        extensions=streamed.extensions,
    )
    classify_response(response, service=service, redact=redact)
    return response
