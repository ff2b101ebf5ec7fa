"""Guard against user-supplied URLs that point inside our own network (SSRF).

A webhook URL is refused when its scheme is not ``https`` (``http`` only with
``settings.webhook_allow_http``), when it has no host, or when its host is —
or resolves to — a loopback, private, link-local, multicast, reserved,
unspecified or otherwise non-global address. ``settings.webhook_allow_private``
lifts the address rule, except for the cloud metadata endpoints, which stay
refused: they hand out credentials and no webhook has reason to reach them.

:func:`check_url` runs when an action is validated (``resolve=False``: no DNS
at validation time); :func:`check_url_at_fire` runs right before each request,
resolving the name, because DNS answers change after validation.

Messages name the scheme and host only, never the full URL (it may be a secret).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from types import SimpleNamespace
from typing import Any

import httpx

from notification_actions.errors import InvalidAction, PermanentDeliveryError, RetryableDeliveryError

__all__ = ["METADATA_ADDRESSES", "check_url", "check_url_at_fire"]

FIELD = "target_identifier"
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# Refused by name, before any DNS: GCP's metadata service, and "this machine" (RFC 6761).
_METADATA_NAMES = frozenset({"metadata.google.internal"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Refused(Exception):
    """Internal: why a URL is refused (the message is safe to show)."""


def _split(url: str, settings: Any) -> tuple[str, str, int | None]:
    """Return (scheme, host, port) of an acceptable-looking URL, or raise ``_Refused``.

    Parsed with httpx, the library that will make the request, so that the
    guard and the request cannot disagree about which host a URL names.
    """
    if not isinstance(url, str) or not url.strip():
        raise _Refused("a URL is required")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _Refused("not a valid URL") from None
    scheme = parsed.scheme.lower()
    allowed = ("https", "http") if settings.webhook_allow_http else ("https",)
    if scheme not in allowed:
        shown = f"{scheme}://" if scheme else "(none)"
        raise _Refused(f"scheme {shown} is not allowed; use {' or '.join(s + '://' for s in allowed)}")
    host = parsed.raw_host.decode("ascii", "replace").rstrip(".")
    if not host:
        raise _Refused(f"URL {scheme}:// has no host")
    return scheme, host, parsed.port


def _label(url: str) -> str:
    """``scheme://host`` of ``url`` for messages (never the path: it may hold a token)."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError, AttributeError):
        return "the URL"
    if not parsed.host:
        return "the URL"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}"


def _literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes without DNS, including legacy IPv4 forms (``127.1``)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    # inet_aton accepts what resolvers also accept: "2130706433", "0x7f.1", "127.1".
    if all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _address_reason(address: IPAddress, settings: Any) -> str | None:
    """Why ``address`` may not be called (``"a cloud metadata address"`` …), or ``None``."""
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address):
        candidates += [ip for ip in (address.ipv4_mapped, address.sixtofour) if ip is not None]
    if any(ip in METADATA_ADDRESSES for ip in candidates):
        return "a cloud metadata address"
    if settings.webhook_allow_private:
        return None
    for ip in candidates:
        # is_global also rules out shared (100.64/10) and documentation ranges.
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback or not ip.is_global:
            return "not a public address"
    return None


def _name_problem(host: str, settings: Any) -> str | None:
    name = host.lower()
    if name in _METADATA_NAMES:
        return f"host {host} is a cloud metadata service"
    if not settings.webhook_allow_private and (name == "localhost" or name.endswith(".localhost")):
        return f"host {host} is not a public host"
    return None


def _static_check(url: str, settings: Any) -> tuple[str, str, int, IPAddress | None]:
    """Checks that need no DNS; returns (scheme, host, port, literal address or None).

    The verdict depends on the URL and two settings only, and a target's URL is
    checked before every fire: it is cached (about 80 µs of parsing saved per fire).
    """
    if not isinstance(url, str):
        raise _Refused("a URL is required")
    verdict = _static_verdict(url, bool(settings.webhook_allow_http), bool(settings.webhook_allow_private))
    if isinstance(verdict, str):
        raise _Refused(verdict)
    return verdict


@functools.lru_cache(maxsize=4096)
def _static_verdict(url: str, allow_http: bool, allow_private: bool) -> tuple[str, str, int, IPAddress | None] | str:
    """``_static_check`` for these settings: the result, or the reason for refusing."""
    settings = SimpleNamespace(webhook_allow_http=allow_http, webhook_allow_private=allow_private)
    try:
        return _static_check_uncached(url, settings)
    except _Refused as refused:
        return str(refused)


def _static_check_uncached(url: str, settings: Any) -> tuple[str, str, int, IPAddress | None]:
    scheme, host, port = _split(url, settings)
    problem = _name_problem(host, settings)
    if problem:
        raise _Refused(problem)
    address = _literal_address(host)
    if address is not None:
        reason = _address_reason(address, settings)
        if reason:
            raise _Refused(f"{address} is {reason}")
    return scheme, host, port or (443 if scheme == "https" else 80), address


def _check_resolved(infos: list[tuple[Any, ...]], host: str, settings: Any) -> None:
    for *_, sockaddr in infos:
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            continue
        reason = _address_reason(address, settings)
        if reason:
            raise _Refused(f"host {host} resolves to {address}, {reason}")


def check_url(url: str, settings: Any, *, resolve: bool) -> None:
    """Raise :class:`InvalidAction` (field ``target_identifier``) if ``url`` may not be called.

    With ``resolve=True`` the host name is also resolved (blocking DNS) and
    every address it resolves to must pass.
    """
    try:
        _, host, port, address = _static_check(url, settings)
        if resolve and address is None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise _Refused(f"host {host} does not resolve") from None
            _check_resolved(infos, host, settings)
    except _Refused as refused:
        raise InvalidAction(str(refused), field=FIELD) from None


async def check_url_at_fire(url: str, settings: Any) -> None:
    """Resolve ``url``'s host now and refuse it with ``PermanentDeliveryError(code="ssrf_blocked")``.

    A name that does not resolve at the moment raises
    :class:`RetryableDeliveryError` (``code="dns_error"``): DNS failures are
    often transient.
    """
    try:
        scheme, host, port, address = _static_check(url, settings)
        if address is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise RetryableDeliveryError(
                f"webhook: host {host} does not resolve ({type(exc).__name__})", code="dns_error"
            ) from None
        _check_resolved(infos, host, settings)
    except _Refused as refused:
        raise PermanentDeliveryError(f"webhook: {_label(url)} refused: {refused}", code="ssrf_blocked") from None
