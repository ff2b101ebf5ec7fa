"""The SSRF guard against DNS rebinding and cloud metadata addresses (``registrations/support/ssrf.py``).

Only loopback traffic: every other address below is handed to the guard and
refused, or never connected to; real servers listen on 127.0.0.1 and 127.0.0.2.
Names are answered by a fake ``getaddrinfo`` — ``socket.getaddrinfo`` for the
end-to-end tests (both the guard and aiohttp's own resolver reach it, so the
same test shows what happened before pinning), the guard's injectable
``getaddrinfo`` for the unit tests.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from notification_actions.errors import InvalidAction, PermanentDeliveryError
from notification_actions.registrations.support import ssrf
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
