"""The HTTP client registrations get: httpx's API over aiohttp's connection pool.

Registrations speak httpx (``context.http``; the request builders' unit tests
use ``httpx.MockTransport``), but httpx's own pool (httpcore on anyio) is slow
with many requests in flight (encode/httpx#3215). Here, with 32 requests in
flight to a local server, it spent about 4 ms of CPU per request, against
0.2 ms for aiohttp, which parses HTTP in C. So the pipeline's client keeps the
httpx interface and sends through :class:`AiohttpTransport`.

The client keeps no cookies (one customer's endpoint must not set cookies
another customer's requests carry). The transport keeps httpx's contract: no
redirects are followed, bodies are handed over undecoded (httpx decodes
``Content-Encoding`` itself), timeouts come from the request, proxies from the
environment as httpx would take them (``HTTPS_PROXY``, ``NO_PROXY``), and
every aiohttp failure is raised as the httpx exception a registration already
classifies (``registrations/http.py``).

Every connection the client opens goes to an address the SSRF guard
(``ssrf.py``) vetted, in the lookup that produced it: the connector's
resolver is :class:`VettingResolver`, and aiohttp's DNS cache is off so
that no connection skips it. The resolver hands aiohttp the answer
``check_url_at_fire`` pinned for this host and port in this task when there
is one (no second lookup for a rebinding DNS server to answer differently;
a pin serves the one request that follows the check, used or not),
and otherwise looks the name up once itself, bounded by a timeout, under the
same policy (``ssrf.resolve_vetted``, with the client's ``settings``). Only
the IP is pinned: the URL's host stays the TLS server name (SNI and
certificate check) and the ``Host`` header. A refused address is raised as
:class:`BlockedAddress`, a name that does not resolve as
:class:`NameNotResolved`; ``http.py`` classifies them as
``check_url_at_fire`` does (``ssrf_blocked``, permanent; ``dns_error``,
retryable). IP literals never reach a resolver (they cannot rebind;
``check_url*`` vets them), nor do the target names of requests sent through
a proxy, which resolves them itself; a configured proxy's own name is looked
up without the private-address rule (the operator chose it).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from notification_actions.registrations.support import ssrf

__all__ = ["AiohttpTransport", "BlockedAddress", "NameNotResolved", "VettingResolver", "new_client"]

_CHUNK = 64 * 1024
# Without settings, the strict policy: no private addresses.
_STRICT = SimpleNamespace(webhook_allow_private=False)
# For the proxies the operator configured: any address but a metadata one.
_OPERATOR = SimpleNamespace(webhook_allow_private=True)
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class BlockedAddress(httpx.ConnectError):
    """The host resolved to an address the SSRF guard refuses; nothing was sent."""


class NameNotResolved(httpx.ConnectError):
    """The host name gave no address (or its lookup timed out); nothing was sent."""


class VettingResolver(AbstractResolver):
    """aiohttp's resolver for the shared client: only addresses ``ssrf.py`` vetted, from one lookup.

    ``getaddrinfo`` (default: the running loop's) and ``timeout`` bound each
    lookup; names in ``operator_names`` (the proxies) are looked up under the
    operator policy instead of ``settings``. Raises ``ssrf.Refused`` and
    ``ssrf.Unresolved``, which aiohttp passes through unchanged.
    """

    def __init__(self, settings: Any = None, *, timeout: float | None = None,
                 getaddrinfo: ssrf.Getaddrinfo | None = None, operator_names: frozenset[str] = frozenset()) -> None:
        self._settings = settings if settings is not None else _STRICT
        self._timeout = timeout
        self._getaddrinfo = getaddrinfo
        self._operator_names = operator_names

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        vetted = ssrf.take_pin(host, port)
        if vetted is None:
            policy = _OPERATOR if host.lower().rstrip(".") in self._operator_names else self._settings
            vetted = await ssrf.resolve_vetted(
                host, port, policy, family=family, timeout=self._timeout, getaddrinfo=self._getaddrinfo
            )
        results = [
            ResolveResult(hostname=host, host=a.host, port=a.port, family=a.family, proto=a.proto, flags=_NUMERIC)
            for a in vetted
            if not family or a.family == family
        ]
        if not results:
            raise ssrf.Unresolved(f"host {host} does not resolve (no address)")
        return results

    async def close(self) -> None:
        pass


def _proxy_names(proxies: dict[str, str]) -> frozenset[str]:
    """The host names of the proxies set in the environment (``HTTPS_PROXY`` …; not ``NO_PROXY``)."""
    names = set()
    for scheme, url in proxies.items():
        host = urllib.parse.urlsplit(url if "://" in url else f"http://{url}").hostname if scheme != "no" else None
        if host:
            names.add(host.lower().rstrip("."))
    return frozenset(names)


def _httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure (most specific class first)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind: type[httpx.TransportError] = httpx.ConnectTimeout
    elif isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        kind = httpx.ReadTimeout
    elif isinstance(exc, ssrf.Refused):
        kind = BlockedAddress
    elif isinstance(exc, ssrf.Unresolved):
        kind = NameNotResolved
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        kind = httpx.UnsupportedProtocol
    elif isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError)):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientPayloadError):
        kind = httpx.ReadError
    elif isinstance(exc, aiohttp.ClientOSError):
        kind = httpx.NetworkError
    else:
        kind = httpx.TransportError
    return kind(message, request=request)


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp; closing it returns the connection to the pool."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through one ``aiohttp.ClientSession``.

    The session is created on first use, inside the running event loop.
    ``settings`` (``webhook_allow_private``; strict without), ``dns_timeout``
    and ``getaddrinfo`` go to its :class:`VettingResolver`.
    """

    def __init__(self, *, max_connections: int, keepalive_expiry: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None, settings: Any = None,
                 dns_timeout: float | None = None, getaddrinfo: ssrf.Getaddrinfo | None = None) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context or httpx.create_ssl_context()
        self._settings = settings
        self._dns_timeout = dns_timeout
        self._getaddrinfo = getaddrinfo
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            proxies = urllib.request.getproxies()
            resolver = VettingResolver(self._settings, timeout=self._dns_timeout,
                                       getaddrinfo=self._getaddrinfo, operator_names=_proxy_names(proxies))
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=self._ssl,
                    resolver=resolver, use_dns_cache=False,  # a cached answer would skip the vetting
                ),
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                # aiohttp looks proxies up per request in a thread: only when some are set.
                trust_env=bool(proxies),
                # httpx already set the headers it wants; aiohttp adds none of its own.
                skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        if "transfer-encoding" in request.headers:
            # A streamed body was read whole above: aiohttp sends it with a Content-Length.
            headers = [(k, v) for k, v in headers if k.lower() not in ("transfer-encoding", "content-length")]
        # httpx turned user info in the URL into an Authorization header; aiohttp refuses both at once
        url = request.url.copy_with(userinfo=b"") if request.url.userinfo else request.url
        try:
            response = await self._client().request(
                request.method,
                yarl.URL(str(url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, ssrf.Refused, ssrf.Unresolved) as exc:
            raise _httpx_error(exc, request) from exc
        finally:
            # A pin is for this request only: when a pooled connection served it, it dies unused.
            url = request.url
            ssrf.take_pin(url.raw_host.decode("ascii", "replace"), url.port or (443 if url.scheme == "https" else 80))
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing and sends nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass

    def set_cookie_header(self, request: httpx.Request) -> None:
        pass


class _Client(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` without a cookie jar.

    One client serves every customer's deliveries: a cookie set by one
    customer's endpoint must never ride along on another customer's request
    to the same host. (Keeping none also saves httpx's per-response cookie
    parsing, ~0.1 ms.)
    """

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value: object) -> None:
        pass

    async def send(self, request: httpx.Request, *, stream: bool = False,
                   auth: Any = httpx.USE_CLIENT_DEFAULT, follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
                   ) -> httpx.Response:
        """httpx's ``send`` when nothing calls for its layers: no auth (none given, none on the client,
        no user info in the URL), no redirect to follow, no event hooks — every request the pipeline's
        registrations make (they write their own Authorization headers). Then the request goes to its transport at once, as httpx's innermost layer
        sends it (the same transport chosen, the timeout set, the body read unless streamed), without
        the auth and redirect generators around it: ~40 µs of CPU per request (``docs/benchmarks.md``)."""
        hooks = getattr(self, "_event_hooks", None)
        if not _SHORT_SEND or hooks is None or hooks.get("request") or hooks.get("response") \
                or (auth is not httpx.USE_CLIENT_DEFAULT and auth is not None) or self.auth is not None \
                or follow_redirects is True or (follow_redirects is httpx.USE_CLIENT_DEFAULT and self.follow_redirects) \
                or request.url.userinfo or self.is_closed:
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        self._set_timeout(request)
        response = await self._transport_for_url(request.url).handle_async_request(request)
        response.request = request
        response.default_encoding = getattr(self, "_default_encoding", "utf-8")
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response


_NO_COOKIES = _NoCookies()
# _Client.send's short way uses httpx internals; another httpx without them takes the long way
_SHORT_SEND = all(hasattr(httpx.AsyncClient, name) for name in ("_transport_for_url", "_set_timeout"))


def new_client(
    *,
    timeout: float,
    max_connections: int,
    settings: Any = None,
    getaddrinfo: ssrf.Getaddrinfo | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` handed to registrations (no redirects followed, no cookies kept).

    ``settings`` is the policy for lookups no ``check_url_at_fire`` pinned
    (the worker's settings; strict without); each lookup gets ``timeout``
    seconds. ``getaddrinfo`` and ``ssl_context`` are for tests.
    """
    return _Client(
        transport=AiohttpTransport(max_connections=max_connections, ssl_context=ssl_context, settings=settings,
                                   dns_timeout=timeout, getaddrinfo=getaddrinfo),
        timeout=timeout,
        follow_redirects=False,
    )
