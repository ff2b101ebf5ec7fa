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

When it runs:

- :func:`check_url` when an action is validated (``resolve=False``: no DNS then);
- :func:`check_url_at_fire` right before each request: it resolves the name
  once (:func:`resolve_vetted`) and *pins* the vetted answer for the
  connection that follows (:func:`take_pin`);
- at connection time the HTTP client's resolver (``transport.py``) hands
  aiohttp that pinned answer — or, with none, makes its own lookup through
  :func:`resolve_vetted` — so a connection only ever goes to addresses
  vetted in the very lookup that produced them. A name that answers a public
  address to the check and ``127.0.0.1`` to the connection (DNS rebinding)
  gets nowhere: there is no second lookup.

Messages name the scheme and host only, never the full URL (it may be a secret).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, NamedTuple

import httpx

from notification_actions.errors import InvalidAction, PermanentDeliveryError, RetryableDeliveryError

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_NETWORKS",
    "Refused",
    "Unresolved",
    "Vetted",
    "address_problem",
    "check_url",
    "check_url_at_fire",
    "resolve_vetted",
    "take_pin",
]

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
# A pin serves the connection right after check_url_at_fire; never one much later.
PIN_SECONDS = 10.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Getaddrinfo = Callable[..., Awaitable[list[tuple[Any, ...]]]]


class Refused(Exception):
    """Why a URL or an address is refused (the message names the host only: safe to show)."""


class Unresolved(Exception):
    """A host name that gives no address now (the message names the host only)."""


class Vetted(NamedTuple):
    """One address a lookup gave and the policy let through, ready to connect to."""

    family: int
    proto: int
    host: str  # the IP as text, with ``%scope`` for a scoped IPv6 address
    port: int


def _split(url: str, settings: Any) -> tuple[str, str, int | None]:
    """Return (scheme, host, port) of an acceptable-looking URL, or raise ``Refused``.

    Parsed with httpx, the library that will make the request, so that the
    guard and the request cannot disagree about which host a URL names.
    """
    if not isinstance(url, str) or not url.strip():
        raise Refused("a URL is required")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Refused("not a valid URL") from None
    scheme = parsed.scheme.lower()
    allowed = ("https", "http") if settings.webhook_allow_http else ("https",)
    if scheme not in allowed:
        shown = f"{scheme}://" if scheme else "(none)"
        raise Refused(f"scheme {shown} is not allowed; use {' or '.join(s + '://' for s in allowed)}")
    host = parsed.raw_host.decode("ascii", "replace").rstrip(".")
    if not host:
        raise Refused(f"URL {scheme}:// has no host")
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
        raise Refused("a URL is required")
    verdict = _static_verdict(url, bool(settings.webhook_allow_http), bool(settings.webhook_allow_private))
    if isinstance(verdict, str):
        raise Refused(verdict)
    return verdict


@functools.lru_cache(maxsize=4096)
def _static_verdict(url: str, allow_http: bool, allow_private: bool) -> tuple[str, str, int, IPAddress | None] | str:
    """``_static_check`` for these settings: the result, or the reason for refusing."""
    settings = SimpleNamespace(webhook_allow_http=allow_http, webhook_allow_private=allow_private)
    try:
        return _static_check_uncached(url, settings)
    except Refused as refused:
        return str(refused)


def _static_check_uncached(url: str, settings: Any) -> tuple[str, str, int, IPAddress | None]:
    scheme, host, port = _split(url, settings)
    problem = _name_problem(host, settings)
    if problem:
        raise Refused(problem)
    address = _literal_address(host)
    if address is not None:
        reason = address_problem(address, settings)
        if reason:
            raise Refused(f"{address} is {reason}")
    return scheme, host, port or (443 if scheme == "https" else 80), address


def _vet(infos: list[tuple[Any, ...]], host: str, settings: Any) -> tuple[Vetted, ...]:
    """The addresses of a ``getaddrinfo`` answer, every one vetted; ``Refused`` if any fails."""
    vetted = []
    for family, _, proto, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue  # nothing we could connect to: dropped, never passed on
        reason = address_problem(address, settings)
        if reason:
            raise Refused(f"host {host} resolves to {address}, {reason}")
        if family == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3] and "%" not in text:
            text = f"{text}%{sockaddr[3]}"
        vetted.append(Vetted(int(family), int(proto), text, int(sockaddr[1])))
    return tuple(vetted)


async def resolve_vetted(
    host: str,
    port: int,
    settings: Any,
    *,
    family: int = socket.AF_UNSPEC,
    timeout: float | None = None,
    getaddrinfo: Getaddrinfo | None = None,
) -> tuple[Vetted, ...]:
    """Look ``host`` up once and return its addresses if every one passes :func:`address_problem`.

    ``getaddrinfo`` defaults to the running loop's; the lookup gets ``timeout``
    seconds. Raises :class:`Refused` (an address the policy refuses) or
    :class:`Unresolved` (no answer, an error, a timeout, or no usable address).
    """
    lookup = getaddrinfo or asyncio.get_running_loop().getaddrinfo
    try:
        async with asyncio.timeout(timeout):
            infos = await lookup(host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    except TimeoutError:  # before OSError: it is one
        raise Unresolved(f"host {host} does not resolve (TimeoutError)") from None
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"host {host} does not resolve ({type(exc).__name__})") from None
    vetted = _vet(infos, host, settings)
    if not vetted:
        raise Unresolved(f"host {host} does not resolve (no address)")
    return vetted


# The answer check_url_at_fire vetted, for the connection its caller makes next in
# the same task: ((host, port), expiry on the monotonic clock, addresses). A context
# variable, so it never crosses into another delivery's task.
_PIN: contextvars.ContextVar[tuple[tuple[str, int], float, tuple[Vetted, ...]] | None] = contextvars.ContextVar(
    "ssrf_pin", default=None
)


def _pin_key(host: str, port: int) -> tuple[str, int]:
    return host.lower().rstrip("."), int(port)


def _pin(host: str, port: int, vetted: tuple[Vetted, ...]) -> None:
    _PIN.set((_pin_key(host, port), time.monotonic() + PIN_SECONDS, vetted))


def take_pin(host: str, port: int) -> tuple[Vetted, ...] | None:
    """The addresses :func:`check_url_at_fire` vetted for ``host:port`` in this task, at most once.

    ``None`` when there is none, it is for another host or port, or it is
    older than :data:`PIN_SECONDS`: the caller then makes (and vets) its own lookup.
    """
    pinned = _PIN.get()
    if pinned is None:
        return None
    key, expires, vetted = pinned
    if key != _pin_key(host, port):
        return None
    _PIN.set(None)
    return vetted if time.monotonic() <= expires else None


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
                raise Refused(f"host {host} does not resolve") from None
            _vet(infos, host, settings)
    except Refused as refused:
        raise InvalidAction(str(refused), field=FIELD) from None


async def check_url_at_fire(url: str, settings: Any, *, getaddrinfo: Getaddrinfo | None = None) -> None:
    """Resolve ``url``'s host now and refuse it with ``PermanentDeliveryError(code="ssrf_blocked")``.

    A name that does not resolve at the moment raises
    :class:`RetryableDeliveryError` (``code="dns_error"``): DNS failures are
    often transient. The lookup is bounded by ``settings.http_timeout_seconds``.
    What passes is pinned: the client's resolver connects to exactly these
    addresses (:func:`take_pin`), with no second lookup to rebind.
    """
    try:
        _, host, port, address = _static_check(url, settings)
        if address is not None:
            return
        timeout = getattr(settings, "http_timeout_seconds", None)
        vetted = await resolve_vetted(host, port, settings, timeout=timeout, getaddrinfo=getaddrinfo)
    except Unresolved as unresolved:
        raise RetryableDeliveryError(f"webhook: {unresolved}", code="dns_error") from None
    except Refused as refused:
        raise PermanentDeliveryError(f"webhook: {_label(url)} refused: {refused}", code="ssrf_blocked") from None
    _pin(host, port, vetted)
