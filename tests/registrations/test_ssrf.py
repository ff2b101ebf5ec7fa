"""The SSRF guard against DNS rebinding and cloud metadata addresses (``registrations/support/ssrf.py``).

Only loopback traffic: every other address below is handed to the guard and
refused, or never connected to; real servers listen on 127.0.0.1 and 127.0.0.2.
Names are answered by a fake ``getaddrinfo`` — ``socket.getaddrinfo`` for the
end-to-end tests (both the guard and aiohttp's own resolver reach it, so the
same test shows what happened before pinning), the guard's injectable
``getaddrinfo`` for the unit tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import ssl
import subprocess
import urllib.request

import httpx
import pytest
from aiohttp import web

from notification_actions.errors import InvalidAction, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import NotificationAction, example_event
from notification_actions.registrations.base import REGISTRY, FireContext
from notification_actions.registrations.support import http, ssrf, transport
from notification_actions.registrations.support.transport import VettingResolver, new_client
from notification_actions.settings import Settings

_real_getaddrinfo = socket.getaddrinfo


def local() -> Settings:
    """What the tests' fake servers need: http, private addresses."""
    return Settings(_env_file=None, webhook_allow_http=True, webhook_allow_private=True, http_timeout_seconds=5)


def strict() -> Settings:
    return Settings(_env_file=None, webhook_allow_http=True)


def answer(ip: str, port: int) -> list[tuple]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sockaddr = (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]


def fake_dns(monkeypatch, names: dict[str, str]) -> None:
    """``socket.getaddrinfo`` answering ``names`` (name -> IP) and leaving everything else to the real one."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return answer(names[host], int(port or 0))
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def v6_forms(v4: str) -> list[str]:
    """``v4`` written as IPv6: NAT64 (well-known and local-use), IPv4-mapped, IPv4-compatible, 6to4."""
    n = int(ipaddress.IPv4Address(v4))
    hi, lo = f"{n >> 16:x}", f"{n & 0xFFFF:x}"
    return [f"64:ff9b::{hi}:{lo}", f"64:ff9b:1::{hi}:{lo}", f"::ffff:{v4}", f"::{hi}:{lo}", f"2002:{hi}:{lo}::1"]


METADATA_V4 = ["169.254.169.254", "169.254.170.2", "169.254.0.1", "169.254.255.255",
               "100.100.100.200", "168.63.129.16"]
METADATA = METADATA_V4 + ["fd00:ec2::254"] + [form for v4 in METADATA_V4 for form in v6_forms(v4)]
PRIVATE_V4 = ["127.0.0.1", "10.0.0.1", "192.168.1.9", "172.16.0.1", "100.64.0.1", "0.0.0.0"]
PRIVATE = [form for v4 in PRIVATE_V4 for form in v6_forms(v4)]


def literal(ip: str) -> str:
    return f"https://[{ip}]/T/SECRET" if ":" in ip else f"https://{ip}/T/SECRET"


# --- the address policy ---------------------------------------------------------------


def test_the_documented_metadata_forms_are_what_the_tests_use():
    assert "64:ff9b::a9fe:a9fe" in METADATA and "::ffff:169.254.169.254" in METADATA
    assert "::a9fe:a9fe" in METADATA and "2002:a9fe:a9fe::1" in METADATA
    assert ipaddress.ip_address("169.254.170.2") in ssrf.METADATA_ADDRESSES
    assert all(any(a in net for net in ssrf.METADATA_NETWORKS) for a in ssrf.METADATA_ADDRESSES)


@pytest.mark.parametrize("ip", METADATA)
def test_metadata_addresses_are_refused_even_with_allow_private(ip):
    assert ssrf.address_problem(ipaddress.ip_address(ip), local()) == "a cloud metadata address"
    with pytest.raises(InvalidAction) as info:  # at validation, as a literal
        ssrf.check_url(literal(ip), local(), resolve=False)
    assert "metadata" in str(info.value) and "SECRET" not in str(info.value)


@pytest.mark.parametrize("ip", METADATA)
async def test_metadata_addresses_are_refused_at_fire_time_through_dns(monkeypatch, ip):
    fake_dns(monkeypatch, {"meta.test": ip})
    with pytest.raises(PermanentDeliveryError) as info:
        await ssrf.check_url_at_fire("https://meta.test/T/SECRET", local())
    assert info.value.code == "ssrf_blocked"
    assert "metadata" in info.value.message and "SECRET" not in info.value.message


@pytest.mark.parametrize("ip", PRIVATE)
def test_embedded_private_addresses_are_judged_by_what_they_embed(ip):
    assert ssrf.address_problem(ipaddress.ip_address(ip), strict()) == "not a public address"
    with pytest.raises(InvalidAction):
        ssrf.check_url(literal(ip), strict(), resolve=False)
    assert ssrf.address_problem(ipaddress.ip_address(ip), local()) is None


@pytest.mark.parametrize("ip", ["93.184.216.34", "64:ff9b::5db8:d822", "::ffff:93.184.216.34", "2606:4700::1111"])
def test_public_addresses_and_their_nat64_and_mapped_forms_pass(ip):
    assert ssrf.address_problem(ipaddress.ip_address(ip), strict()) is None
    ssrf.check_url(literal(ip), strict(), resolve=False)


def test_ipv4_compatible_and_local_nat64_forms_of_public_addresses_stay_refused_when_strict():
    # Neither is a plain spelling of the IPv4 address: the IPv6 address itself is judged too.
    for ip in ("::5db8:d822", "64:ff9b:1::5db8:d822"):
        assert ssrf.address_problem(ipaddress.ip_address(ip), strict()) == "not a public address"


@pytest.mark.parametrize("ip", METADATA)
async def test_metadata_addresses_are_refused_by_the_connection_resolver(ip):
    lookup = Lookups({"meta.test": [ip]})
    with pytest.raises(ssrf.Refused, match="metadata"):
        await VettingResolver(local(), getaddrinfo=lookup).resolve("meta.test", 443, socket.AF_UNSPEC)
    assert lookup.calls == 1


# --- DNS rebinding: one lookup, and the connection goes where it pointed ----------------


class Lookups:
    """An injectable ``getaddrinfo``: ``answers[name]`` lists the IPs for the 1st, 2nd … lookup (the last repeats)."""

    def __init__(self, answers: dict[str, list[str]], delay: float = 0.0) -> None:
        self.answers, self.delay, self.calls = answers, delay, 0

    async def __call__(self, host, port, *, family=0, type=0, proto=0, flags=0):
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        ips = self.answers[host]
        return answer(ips[min(self.calls, len(ips)) - 1], int(port))


class Rebinding:
    """``socket.getaddrinfo`` for ``name``: ``first`` for the first lookup, ``then`` for every later one."""

    def __init__(self, name: str, first: str, then: str) -> None:
        self.name, self.first, self.then, self.lookups = name, first, then, 0

    def __call__(self, host, port, *args, **kwargs):
        if host != self.name:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.lookups += 1
        return answer(self.first if self.lookups == 1 else self.then, int(port or 0))


class Recorder:
    """A real HTTP(S) server on ``host``:``port`` (0: any free port) that records what reaches it."""

    def __init__(self, host: str, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.ssl_context, self.seen = host, port, ssl_context, []

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.raw_path, request.headers.get("Host")))
        return web.Response(text="ok")

    async def __aenter__(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


def webhook(url: str, client: httpx.AsyncClient, settings: Settings):
    action = NotificationAction(
        id="42", organization_id=1, trigger_type="audit-log", service_type="webhook", target_type="specific",
        target_identifier=url, target_display="hook",
    )
    context = FireContext(settings, client, delivery_id="d-1")
    return REGISTRY.get(action.trigger_type, action.service_type, action.target_type)(action, context)


async def test_fire_connects_to_the_address_the_guard_vetted(monkeypatch):
    # rebind.test answers 127.0.0.1 to the first lookup, 127.0.0.2 to every later one:
    # the request must go where the guard looked (one lookup), never where a second lookup points.
    # (Before pinning: 2 lookups, and the request reached 127.0.0.2.)
    async with Recorder("127.0.0.1") as vetted, Recorder("127.0.0.2", vetted.port) as rebound:
        dns = Rebinding("rebind.test", "127.0.0.1", "127.0.0.2")
        monkeypatch.setattr(socket, "getaddrinfo", dns)
        async with new_client(timeout=5, max_connections=4) as client:
            await webhook(f"http://rebind.test:{vetted.port}/hook/SECRET", client, local()).fire(
                example_event("audit-log")
            )
    assert dns.lookups == 1
    assert (vetted.paths, rebound.paths) == (["/hook/SECRET"], [])


async def test_each_fire_looks_up_once_and_a_reused_connection_not_at_all(monkeypatch):
    async with Recorder("127.0.0.1") as server:
        dns = Rebinding("hook.test", "127.0.0.1", "127.0.0.1")
        monkeypatch.setattr(socket, "getaddrinfo", dns)
        url = f"http://hook.test:{server.port}"
        async with new_client(timeout=5, max_connections=4, settings=local()) as client:
            for _ in range(3):  # check_url_at_fire's lookup each time; the first one also served the connection
                await webhook(url + "/h", client, local()).fire(example_event("audit-log"))
        assert dns.lookups == 3
        async with new_client(timeout=5, max_connections=4, settings=local()) as client:
            for _ in range(2):  # no check: the resolver's own lookup for the new connection, then the pool
                await http.send(FireContext(local(), client), "GET", url + "/p", service="t")
    assert dns.lookups == 4 and server.paths == ["/h", "/h", "/h", "/p", "/p"]


async def test_the_pinned_answer_is_the_connection_s_answer():
    # Strict settings, a name that answers a public address first and 127.0.0.1 after:
    # the connection gets the vetted public answer without a second lookup (nothing connects here).
    dns = Lookups({"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    await ssrf.check_url_at_fire("https://rebind.test/T/SECRET", strict(), getaddrinfo=dns)
    results = await VettingResolver(strict(), getaddrinfo=dns).resolve("rebind.test", 443, socket.AF_UNSPEC)
    assert dns.calls == 1
    assert [(r["hostname"], r["host"], r["port"]) for r in results] == [("rebind.test", "93.184.216.34", 443)]


async def test_without_a_pin_the_resolver_vets_its_own_single_lookup():
    dns = Lookups({"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    resolver = VettingResolver(strict(), getaddrinfo=dns)
    first = await resolver.resolve("rebind.test", 443, socket.AF_UNSPEC)
    assert [r["host"] for r in first] == ["93.184.216.34"] and dns.calls == 1
    with pytest.raises(ssrf.Refused, match=r"host rebind.test resolves to 127.0.0.1, not a public address"):
        await resolver.resolve("rebind.test", 443, socket.AF_UNSPEC)
    assert dns.calls == 2


async def test_a_pin_serves_one_connection_to_its_own_host_and_port_only(monkeypatch):
    dns = Lookups({"a.test": ["93.184.216.34"], "b.test": ["93.184.216.35"]})
    await ssrf.check_url_at_fire("https://a.test/x", strict(), getaddrinfo=dns)
    assert ssrf.take_pin("b.test", 443) is None and ssrf.take_pin("a.test", 8443) is None
    assert [v.host for v in ssrf.take_pin("A.test.", 443)] == ["93.184.216.34"]
    assert ssrf.take_pin("a.test", 443) is None  # used up
    monkeypatch.setattr(ssrf, "PIN_SECONDS", -1.0)
    await ssrf.check_url_at_fire("https://a.test/x", strict(), getaddrinfo=dns)
    assert ssrf.take_pin("a.test", 443) is None  # expired


async def test_a_pin_stays_in_its_own_task():
    dns = Lookups({"a.test": ["93.184.216.34"]})

    async def check():
        await ssrf.check_url_at_fire("https://a.test/x", strict(), getaddrinfo=dns)

    await asyncio.create_task(check())
    assert ssrf.take_pin("a.test", 443) is None


async def test_the_client_refuses_a_private_answer_and_sends_nothing(monkeypatch):
    # No check_url_at_fire at all: the shared client's resolver still vets.
    async with Recorder("127.0.0.1") as server:
        dns = Rebinding("hook.test", "127.0.0.1", "127.0.0.1")
        monkeypatch.setattr(socket, "getaddrinfo", dns)
        async with new_client(timeout=5, max_connections=4, settings=strict()) as client:
            with pytest.raises(transport.BlockedAddress) as caught:
                await client.post(f"http://hook.test:{server.port}/T/SECRET", content=b"{}")
            with pytest.raises(PermanentDeliveryError) as info:
                await http.send(FireContext(strict(), client), "POST", f"http://hook.test:{server.port}/T/SECRET",
                                service="webhook", content=b"{}")
    assert server.seen == [] and dns.lookups == 2
    assert info.value.code == "ssrf_blocked" and "SECRET" not in info.value.message
    assert info.value.message == (
        f"webhook: http://hook.test refused: host hook.test resolves to 127.0.0.1, not a public address"
    )
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("ip", ["169.254.169.254", "64:ff9b::a9fe:a9fe", "::ffff:169.254.169.254", "fd00:ec2::254"])
async def test_the_client_refuses_metadata_answers_even_with_allow_private(ip):
    dns = Lookups({"meta.test": [ip]})
    async with new_client(timeout=5, max_connections=4, settings=local(), getaddrinfo=dns) as client:
        with pytest.raises(PermanentDeliveryError) as info:
            await http.send(FireContext(local(), client), "GET", "http://meta.test/latest/meta-data/", service="jira")
    assert info.value.code == "ssrf_blocked" and "metadata" in info.value.message
    assert info.value.message.startswith("jira: http://meta.test refused: host meta.test resolves to")


async def test_dns_failures_at_connection_are_retryable_dns_errors():
    slow = Lookups({"slow.test": ["93.184.216.34"]}, delay=5)
    gone = Lookups({})
    for dns, url, detail in ((gone, "http://gone.test/T/SECRET", "gaierror"),
                             (slow, "http://slow.test/T/SECRET", "TimeoutError")):
        async with new_client(timeout=0.2, max_connections=4, settings=local(), getaddrinfo=dns) as client:
            with pytest.raises(RetryableDeliveryError) as info:
                await http.send(FireContext(local(), client), "GET", url, service="webhook")
        host = url.split("/")[2]
        assert info.value.code == "dns_error"
        assert info.value.message == f"webhook: host {host} does not resolve ({detail})"


async def test_check_url_at_fire_bounds_its_lookup_and_keeps_its_errors():
    settings = Settings(_env_file=None, http_timeout_seconds=0.2)
    with pytest.raises(RetryableDeliveryError) as info:
        await ssrf.check_url_at_fire("https://slow.test/T/SECRET", settings,
                                     getaddrinfo=Lookups({"slow.test": ["93.184.216.34"]}, delay=5))
    assert info.value.code == "dns_error"
    assert info.value.message == "webhook: host slow.test does not resolve (TimeoutError)"
    with pytest.raises(PermanentDeliveryError) as info:
        dns = Lookups({"in.test": ["10.1.2.3"]})
        await ssrf.check_url_at_fire("https://in.test/T/SECRET", settings, getaddrinfo=dns)
    assert info.value.code == "ssrf_blocked"
    assert info.value.message == "webhook: https://in.test refused: host in.test resolves to 10.1.2.3, not a public address"


async def test_one_refused_answer_refuses_the_whole_lookup():
    async def mixed(host, port, **kwargs):
        return answer("93.184.216.34", port) + answer("169.254.169.254", port)

    with pytest.raises(ssrf.Refused, match="169.254.169.254, a cloud metadata address"):
        await VettingResolver(local(), getaddrinfo=mixed).resolve("mixed.test", 443, socket.AF_UNSPEC)


async def test_proxies_are_operator_names_but_never_metadata(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://Proxy.Internal:3128")
    monkeypatch.setenv("NO_PROXY", "skip.example")
    assert transport._proxy_names(urllib.request.getproxies()) == frozenset({"proxy.internal"})
    dns = Lookups({"proxy.internal": ["10.0.0.8"], "hook.test": ["10.0.0.8"]})
    resolver = VettingResolver(strict(), getaddrinfo=dns, operator_names=frozenset({"proxy.internal"}))
    assert [r["host"] for r in await resolver.resolve("proxy.internal", 3128, socket.AF_UNSPEC)] == ["10.0.0.8"]
    with pytest.raises(ssrf.Refused):
        await resolver.resolve("hook.test", 443, socket.AF_UNSPEC)
    with pytest.raises(ssrf.Refused):
        await VettingResolver(strict(), getaddrinfo=Lookups({"proxy.internal": ["169.254.169.254"]}),
                              operator_names=frozenset({"proxy.internal"})).resolve("proxy.internal", 3128)


# --- TLS still checks the URL's host name -------------------------------------------------


async def test_resolver_results_keep_the_host_name_and_pin_only_the_ip():
    results = await VettingResolver(local(), getaddrinfo=Lookups({"hook.test": ["127.0.0.1"]})).resolve(
        "hook.test", 8443, socket.AF_UNSPEC
    )
    assert results == [{"hostname": "hook.test", "host": "127.0.0.1", "port": 8443, "family": socket.AF_INET,
                        "proto": socket.IPPROTO_TCP, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}]


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for ``hook.test`` (the ``openssl`` command line makes it)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=hook.test",
         "-addext", "subjectAltName=DNS:hook.test"],
        check=True, capture_output=True,
    )
    return cert, key


async def test_tls_verifies_the_url_s_host_name_on_the_pinned_ip(certificate):
    cert, key = certificate
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_ssl.sni_callback = lambda sock, name, context: names.append(name)
    client_ssl = ssl.create_default_context(cafile=str(cert))
    dns = Lookups({"hook.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    async with Recorder("127.0.0.1", ssl_context=server_ssl) as server:
        async with new_client(timeout=5, max_connections=4, settings=local(), getaddrinfo=dns,
                              ssl_context=client_ssl) as client:
            response = await client.get(f"https://hook.test:{server.port}/ok")
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                await client.get(f"https://other.test:{server.port}/wrong-name")
    assert response.status_code == 200 and server.seen == [("/ok", f"hook.test:{server.port}")]
    assert names[:2] == ["hook.test", "other.test"]
