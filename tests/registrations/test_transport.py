"""``new_client``'s aiohttp-backed transport against real local servers: what is sent, what comes back, what fails how."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import tracemalloc
import zlib
from types import SimpleNamespace

import aiohttp
import httpx
import pytest
from aiohttp import web

from notification_actions.errors import PermanentDeliveryError, RetryableDeliveryError
from notification_actions.registrations.support.transport import new_client
from notification_actions.registrations.support import http
from notification_actions.registrations.support.http import classify_exception


class Server:
    """An aiohttp.web app on 127.0.0.1; records each request and the peer port it came from."""

    def __init__(self, handler):
        self.handler, self.seen, self.peers = handler, [], set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.raw_path, list(request.raw_headers), body))
        self.peers.add(request.transport.get_extra_info("peername")[1])
        return await self.handler(request)

    async def __aenter__(self) -> Server:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    def headers(self, i: int = 0) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.seen[i][2]:
            out.setdefault(k.decode().lower(), []).append(v.decode())
        return out


@contextlib.asynccontextmanager
async def raw_server(handler):
    """A bare ``asyncio.start_server`` on 127.0.0.1: ``handler(reader, writer)``; yields its URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_post_sends_exact_body_and_headers_and_returns_the_answer():
    async def answer(request):
        return web.Response(status=201, reason="Made It", body=b"pong", headers={"X-Reply": "yes"})

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        r1 = await client.post(server.url + "/hook", content=b"\x00raw body\xff",
                               headers={"Content-Type": "text/plain", "User-Agent": "me/1", "X-Custom": "a b"})
        r2 = await client.post(server.url + "/hook", content=b"no type")
    assert (r1.status_code, r1.reason_phrase, r1.content) == (201, "Made It", b"pong")
    assert r1.headers["x-reply"] == "yes" and r1.headers["content-length"] == "4"
    method, path, _, body = server.seen[0]
    assert (method, path, body) == ("POST", "/hook", b"\x00raw body\xff")
    sent = server.headers(0)
    assert sent["content-type"] == ["text/plain"]
    assert sent["user-agent"] == ["me/1"]
    assert sent["x-custom"] == ["a b"]
    assert sent["content-length"] == [str(len(b"\x00raw body\xff"))]
    assert sent["host"] == [server.url.removeprefix("http://")]
    # No caller Content-Type: none is sent (aiohttp would add application/octet-stream); httpx's UA is kept.
    assert server.seen[1][3] == b"no type" and r2.status_code == 201
    sent = server.headers(1)
    assert "content-type" not in sent
    assert sent["user-agent"] == [f"python-httpx/{httpx.__version__}"]
    assert sent["accept-encoding"] == [client.headers["accept-encoding"]]


async def test_gzip_response_is_decoded_by_httpx():
    plain = b"hello compressed world " * 100

    async def answer(request):
        return web.Response(body=gzip.compress(plain), headers={"Content-Encoding": "gzip"})

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        response = await client.get(server.url + "/z")
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(plain)
    assert response.content == plain


async def test_redirect_is_returned_not_followed():
    async def answer(request):
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        response = await client.post(server.url + "/start", content=b"x")
    assert response.status_code == 302 and response.headers["location"] == "/elsewhere"
    assert [path for _, path, _, _ in server.seen] == ["/start"]


async def test_streamed_body_arrives_whole_and_connection_is_reused():
    payload = bytes(range(256)) * 1200  # 307,200 bytes

    async def answer(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(0, len(payload), 10_000):
            await response.write(payload[i:i + 10_000])
        await response.write_eof()
        return response

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        async with client.stream("GET", server.url + "/big") as response:
            got = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert got == payload and response.status_code == 200
        second = await client.get(server.url + "/big")
    assert second.content == payload
    assert len(server.seen) == 2 and len(server.peers) == 1


async def test_raw_path_and_query_are_sent_unchanged():
    async def answer(request):
        return web.Response(text="ok")

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        await client.get(server.url + "/a%2Fb/c%20d?x=1&y=%20&z=%2F")
    assert server.seen[0][1] == "/a%2Fb/c%20d?x=1&y=%20&z=%2F"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_refused_connection_is_connect_error():
    async with new_client(timeout=5, max_connections=4) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{_closed_port()}/")
    assert isinstance(classify_exception(caught.value, service="webhook"), RetryableDeliveryError)


async def test_connection_closed_without_answer_is_remote_protocol_error():
    async def hang_up(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with raw_server(hang_up) as url, new_client(timeout=5, max_connections=4) as client:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.get(url + "/")
    assert isinstance(classify_exception(caught.value, service="webhook"), RetryableDeliveryError)


async def test_late_answer_is_read_timeout():
    release = asyncio.Event()

    async def late(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await release.wait()  # answers only once the test is over
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        writer.close()

    async with raw_server(late) as url, new_client(timeout=0.3, max_connections=4) as client:
        try:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await client.get(url + "/")
        finally:
            release.set()
    assert isinstance(classify_exception(caught.value, service="webhook"), RetryableDeliveryError)


async def test_non_http_url_is_unsupported_protocol():
    async with new_client(timeout=5, max_connections=4) as client:
        with pytest.raises(httpx.UnsupportedProtocol) as caught:
            await client.get("ftp://127.0.0.1/")
    assert isinstance(caught.value.__cause__, aiohttp.NonHttpUrlClientError)  # raised by the transport, not httpx
    assert isinstance(classify_exception(caught.value, service="webhook"), PermanentDeliveryError)


async def test_streamed_request_body_is_sent_as_a_valid_request():
    # It once went out with both Transfer-Encoding: chunked and Content-Length, unframed (aiohttp.web: 400).
    async def parts():
        yield b"ab"
        yield b"cd"

    async def answer(request):
        return web.Response(text="ok")

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        response = await client.post(server.url + "/up", content=parts())
    assert response.status_code == 200 and server.seen[0][3] == b"abcd"
    headers = {k.decode().lower(): v.decode() for k, v in server.seen[0][2]}
    assert "transfer-encoding" not in headers and headers["content-length"] == "4"


async def test_cookies_set_by_one_endpoint_are_never_sent_again():
    # One client serves every customer: a cookie from one customer's endpoint must not
    # ride along on another customer's request to the same host.
    async def answer(request):
        response = web.Response(text="ok")
        response.set_cookie("session", "customer-a-secret", path="/")
        return response

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        first = await client.post(server.url + "/customer-a", content=b"{}")
        await client.post(server.url + "/customer-b", content=b"{}")
    assert "customer-a-secret" in first.headers["set-cookie"]  # the answer itself is untouched
    assert "cookie" not in server.headers(1)
    assert len(client.cookies) == 0


async def test_the_short_send_sends_what_httpx_layers_send_and_auth_still_takes_them():
    """``_Client.send`` skips httpx's auth and redirect layers only when neither has work: the request
    on the wire is the same either way, and basic auth (given, or as user info in the URL) is sent."""

    async def answer(request):
        return web.Response(status=200, body=b"ok")

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        short = await client.post(server.url + "/a?x=1", content=b"body", headers={"X-A": "1"})
        layered = await httpx.AsyncClient.send(client, client.build_request(
            "POST", server.url + "/a?x=1", content=b"body", headers={"X-A": "1"}))
        with_auth = await client.post(server.url + "/b", content=b"b", auth=("jane", "s3cret"))
        host = server.url.removeprefix("http://")
        in_url = await client.post(f"http://joe:pw@{host}/c", content=b"c")
    assert (short.status_code, short.content, layered.status_code, layered.content) == (200, b"ok", 200, b"ok")
    assert server.seen[0][:2] == server.seen[1][:2] and server.seen[0][3] == server.seen[1][3]
    assert server.headers(0) == server.headers(1)
    assert server.headers(2)["authorization"] == ["Basic amFuZTpzM2NyZXQ="]
    assert server.headers(3)["authorization"] == ["Basic am9lOnB3"]
    assert "authorization" not in server.headers(0)


def _context(client: httpx.AsyncClient, timeout: float = 5.0) -> SimpleNamespace:
    return SimpleNamespace(http=client, settings=SimpleNamespace(http_timeout_seconds=timeout))


async def test_an_answer_with_a_header_that_is_not_ascii_is_classified_as_any_other():
    """The endpoint chooses its headers: one in Latin-1 once made ``send`` raise UnicodeEncodeError (not a
    DeliveryError), so a 200 was dead-lettered as a registration bug and a 503 was never retried."""

    async def answer(reader, writer):
        request = await reader.readuntil(b"\r\n\r\n")
        status = b"503 Busy" if b"/busy" in request.split(b"\r\n", 1)[0] else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nX-Note: caf\xe9\r\nRetry-After: 7\r\nConnection: close\r\n"
                     b"Content-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with raw_server(answer) as url, new_client(timeout=5, max_connections=4) as client:
        ok = await http.send(_context(client), "POST", url + "/hook", service="webhook", content=b"{}")
        with pytest.raises(RetryableDeliveryError) as busy:
            await http.send(_context(client), "POST", url + "/busy", service="webhook", content=b"{}")
    assert (ok.status_code, ok.content, ok.headers["x-note"]) == (200, b"ok", "café")
    assert (busy.value.status, busy.value.retry_after) == (503, 7.0)
    assert "HTTP 503 from http://127.0.0.1" in busy.value.message


async def test_an_answer_cut_short_is_a_retryable_error_of_its_endpoint():
    async def cut(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()
        writer.close()

    async with raw_server(cut) as url, new_client(timeout=5, max_connections=4) as client:
        with pytest.raises(RetryableDeliveryError) as caught:
            await http.send(_context(client), "POST", url + "/secret-path-token", service="webhook", content=b"{}")
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert caught.value.message.startswith("webhook: ") and "secret-path-token" not in caught.value.message


def _gzip(data: bytes) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return squeeze.compress(data) + squeeze.flush()


async def test_a_compressed_answer_is_decoded_within_the_bound_in_memory_too():
    """An endpoint may compress though asked not to (``accept-encoding: identity``). httpx expanded each
    64 KiB chunk whole: 200 KB of gzip (200 MB of zeros) cost ~150 MB for one delivery, and a second
    layer (``gzip, gzip``) is far more. Each layer now gives at most MAX_RESPONSE_BYTES."""
    zeros = b"\0" * (200 * 1024 * 1024)
    bomb = _gzip(zeros)
    answers = {
        "/bomb": (bomb, "gzip"),
        "/twice": (_gzip(bomb), "gzip, gzip"),
        "/json": (_gzip(b'{"ok": true, "ts": "1.2"}'), "gzip"),
        "/deflate": (zlib.compress(b"plain deflate"), "deflate"),
        "/raw-deflate": (zlib.compress(b"raw deflate")[2:-4], "deflate"),
        "/br": (b"not decoded", "br"),
    }

    async def answer(request):
        body, coding = answers[request.path]
        return web.Response(body=body, headers={"Content-Encoding": coding})

    async with Server(answer) as server, new_client(timeout=10, max_connections=4) as client:
        tracemalloc.start()
        try:
            got = {path: await http.send(_context(client, 10), "POST", server.url + path, service="webhook",
                                         content=b"{}") for path in answers}
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert got["/bomb"].content == got["/twice"].content == zeros[:http.MAX_RESPONSE_BYTES]
    assert peak < 16 * http.MAX_RESPONSE_BYTES, f"peak {peak / 2**20:.0f} MiB while reading"
    assert got["/json"].content == b'{"ok": true, "ts": "1.2"}' and got["/json"].json()["ts"] == "1.2"
    assert got["/deflate"].content == b"plain deflate" and got["/raw-deflate"].content == b"raw deflate"
    assert got["/br"].content == b"not decoded"  # as httpx passes over a coding it cannot decode
    assert all("content-encoding" not in r.headers for r in got.values())
    assert all(dict(server.headers(i))["accept-encoding"] == ["identity"] for i in range(len(answers)))


async def test_a_compressed_answer_that_does_not_decode_is_a_permanent_error():
    async def answer(request):
        return web.Response(status=200, body=b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"})

    async with Server(answer) as server, new_client(timeout=5, max_connections=4) as client:
        with pytest.raises(PermanentDeliveryError) as caught:
            await http.send(_context(client), "POST", server.url + "/x", service="webhook", content=b"{}")
    assert isinstance(caught.value.__cause__, httpx.DecodingError)
