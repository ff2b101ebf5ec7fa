"""Guard against user-supplied URLs that point inside our own network (SSRF).

Every customer is a possible attacker: they write the webhook, Jira and
sentry-app URLs we call. A URL is refused when its scheme is not ``https``
(``http`` only with ``settings.webhook_allow_http``), when it has no host, or
when its host is — or resolves to — a loopback, private, link-local,
multicast, reserved, unspecified or otherwise non-global address.
``settings.webhook_allow_private`` lifts that address rule, except for the
cloud metadata addresses, which stay refused: they hand out credentials and
no webhook has reason to reach them (:data:`METADATA_NETWORKS`):

- ``169.254.0.0/16``, the whole of IPv4 link-local: the AWS, GCP, Azure,
  OpenStack … metadata service at ``169.254.169.254``, ECS task metadata and
  credentials at ``169.254.170.2``, and whatever else a cloud puts there;
- ``100.100.100.200`` (Alibaba Cloud), ``168.63.129.16`` (Azure wireserver),
  ``fd00:ec2::254`` (AWS over IPv6);
- the name ``metadata.google.internal``, refused before any DNS.

An IPv6 address that carries an IPv4 address is judged by that IPv4 address
too: IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d`` (and the
local-use ``64:ff9b:1::/48``), IPv4-compatible ``::a.b.c.d`` and 6to4
``2002:aabb:ccdd::/48``. So ``64:ff9b::a9fe:a9fe`` is a metadata address and
``::ffff:10.0.0.1`` a private one, whatever the settings; the mapped and
NAT64 forms, which are only other ways of writing an IPv4 address, are
judged by it alone (``64:ff9b::808:808`` is as public as ``8.8.8.8``).

When it runs: :func:`check_url` when an action is validated (``resolve=False``:
no DNS at validation time); :func:`check_url_at_fire` right before each
request, resolving the name, because DNS answers change after validation.

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

__all__ = ["METADATA_ADDRESSES", "METADATA_NETWORKS", "address_problem", "check_url", "check_url_at_fire"]

FIELD = "target_identifier"
# The well-known endpoints; the policy refuses all of METADATA_NETWORKS, which holds them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "fd00:ec2::254")
)
METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    *(ipaddress.ip_network(a) for a in sorted(METADATA_ADDRESSES, key=str)),
)
# Refused by name, before any DNS: GCP's metadata service, and "this machine" (RFC 6761).
_METADATA_NAMES = frozenset({"metadata.google.internal"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

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


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, bool]:
    """The IPv4 address ``address`` carries, and whether ``address`` is merely another spelling of it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, True
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return low, True
    if address in _NAT64_LOCAL or (address in _IPV4_COMPATIBLE and int(address) > 1):  # not :: or ::1
        return low, False
    return address.sixtofour, False


def _is_metadata(ip: IPAddress) -> bool:
    return any(ip.version == net.version and ip in net for net in METADATA_NETWORKS)


def _is_public(ip: IPAddress) -> bool:
    # is_global also rules out shared (100.64/10) and documentation ranges.
    return not (ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback) and ip.is_global


def address_problem(address: IPAddress, settings: Any) -> str | None:
    """Why ``address`` may not be called (``"a cloud metadata address"`` …), or ``None``: the policy.

    Only ``settings.webhook_allow_private`` is read.
    """
    embedded, alias = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else (None, False)
    candidates = [ip for ip in (address, embedded) if ip is not None]
    if any(_is_metadata(ip) for ip in candidates):
        return "a cloud metadata address"
    if settings.webhook_allow_private:
        return None
    judged = [embedded] if alias else candidates
    if not all(_is_public(ip) for ip in judged if ip is not None):
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
        reason = address_problem(address, settings)
        if reason:
            raise _Refused(f"{address} is {reason}")
    return scheme, host, port or (443 if scheme == "https" else 80), address


def _check_resolved(infos: list[tuple[Any, ...]], host: str, settings: Any) -> None:
    for *_, sockaddr in infos:
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            continue
        reason = address_problem(address, settings)
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
