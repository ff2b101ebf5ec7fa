"""A real local HTTP server that records every request and answers as scripted.

The base of every fake service in the tests (webhook, Slack, PagerDuty, …):
it listens on ``127.0.0.1`` on a free port, records each request (method,
path, headers, raw body, arrival time) and answers from, in order:

1. a queue of scripted answers for the longest matching path prefix
   (``sink.script("/hook", [(500, {}, "down"), (200, {}, "ok")])``);
2. a handler for the longest matching prefix (``sink.route("/api", fn)``),
   where a fake service checks requests as the real API would;
3. the default answer, ``200 {"ok": true}``.

A prefix given to ``require_signature`` checks Standard Webhooks signatures
(with its own HMAC code, independent of the code under test) and answers
401 on a bad or stale one; each record says whether it ``verified``.

Usable inside async tests (``async with HttpSink() as sink``) and from sync
tests, in a thread of its own (``sink = HttpSink.start_in_thread()`` …
``sink.stop()``, or ``with HttpSink.start_in_thread() as sink``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Answer", "HttpSink", "RecordedRequest"]


@dataclass(frozen=True)
class Answer:
    """One response: ``body`` may be bytes, str, or a dict/list (sent as JSON); ``delay`` in seconds."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0

    @classmethod
    def of(cls, value: "AnswerLike") -> "Answer":
        """An ``Answer`` from an ``Answer``, ``(status, headers, body[, delay])`` or a bare status."""
        if isinstance(value, Answer):
            return value
        if isinstance(value, int):
            return cls(value)
        return cls(*value)

    def response(self) -> web.Response:
        headers = CIMultiDict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = orjson.dumps(body)
            headers.setdefault("content-type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        if self.status in (204, 304) or body is None:
            body = None
        return web.Response(status=self.status, headers=headers, body=body)


AnswerLike = Union[Answer, tuple, int]
Handler = Callable[["RecordedRequest"], Union[AnswerLike, Awaitable[AnswerLike]]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sink received it. ``verified`` is ``None`` where no signature is required."""

    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes
    arrived: float
    verified: bool | None = None

    def json(self) -> Any:
        """The body decoded as JSON."""
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _longest_prefix(path: str, prefixes: Iterable[str]) -> str | None:
    matching = [p for p in prefixes if path.startswith(p)]
    return max(matching, key=len) if matching else None


def _standard_webhooks_ok(secret: str, headers: Mapping[str, str], body: bytes, tolerance: float) -> bool:
    msg_id, stamp, header = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and header and secret.startswith("whsec_")):
        return False
    try:
        timestamp = int(stamp)
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except (ValueError, binascii.Error):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(candidate, expected) for candidate in header.split())


class HttpSink:
    """A recording, scriptable HTTP server on ``127.0.0.1`` (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        max_body: int = 1 << 20,
        default: AnswerLike = (200, {}, {"ok": True}),
    ) -> None:
        self.host = host
        self.max_body = max_body
        self.default = Answer.of(default)
        self.port: int | None = None
        self._records: list[RecordedRequest] = []
        self._scripts: dict[str, deque[Answer]] = {}
        self._handlers: dict[str, Handler] = {}
        self._secrets: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash: ``http://127.0.0.1:<port>``."""
        if self.port is None:
            raise RuntimeError("the sink is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> "HttpSink":
        """Bind a free port and start serving in the running loop."""
        app = web.Application(client_max_size=self.max_body)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop serving (pending requests are cut off)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "HttpSink":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @classmethod
    def start_in_thread(cls, *, timeout: float = 10.0, **kwargs: Any) -> "HttpSink":
        """Start a sink in a daemon thread with its own event loop, for sync tests; ``stop()`` ends it."""
        sink = cls(**kwargs)
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            sink._loop = loop
            try:
                loop.run_until_complete(sink.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(sink.close())
            loop.close()

        sink._thread = threading.Thread(target=run, name="http-sink", daemon=True)
        sink._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"HttpSink did not start within {timeout}s")
        if failure:
            raise failure[0]
        return sink

    def stop(self, timeout: float = 10.0) -> None:
        """End a sink started with :meth:`start_in_thread`."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("stop() is for start_in_thread(); use `await sink.close()`")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "HttpSink":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- configuration -------------------------------------------------------

    def script(self, path_prefix: str, answers: Iterable[AnswerLike]) -> None:
        """Queue answers for requests under ``path_prefix``, used once each, in order."""
        with self._lock:
            self._scripts.setdefault(path_prefix, deque()).extend(Answer.of(a) for a in answers)

    def route(self, path_prefix: str, handler: Handler) -> None:
        """Answer requests under ``path_prefix`` with ``handler(record)`` (sync or async) once scripts run out."""
        with self._lock:
            self._handlers[path_prefix] = handler

    def require_signature(self, path_prefix: str, secret: str, *, tolerance: float = 300) -> None:
        """Check Standard Webhooks signatures under ``path_prefix``; answer 401 when one is wrong or stale."""
        with self._lock:
            self._secrets[path_prefix] = (secret, tolerance)

    # --- inspection ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request recorded so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """The recorded requests whose path starts with ``path_prefix``."""
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear(self) -> None:
        """Forget recorded requests (scripts, routes and secrets stay)."""
        with self._lock:
            self._records.clear()

    def _count(self, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self._records if r.path.startswith(path_prefix)]

    async def wait_for(self, count: int, timeout: float = 5.0, *, path_prefix: str = "") -> list[RecordedRequest]:
        """Wait until ``count`` requests (under ``path_prefix``) arrived; ``TimeoutError`` at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._count(path_prefix)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(found)} of {count} requests to {path_prefix or '/'} within {timeout}s")
            await asyncio.sleep(0.005)

    def wait_for_sync(self, count: int, timeout: float = 5.0, *, path_prefix: str = "") -> list[RecordedRequest]:
        """Blocking :meth:`wait_for`, for sync tests with a sink in a thread."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._count(path_prefix)) >= count, timeout):
                found = len(self._count(path_prefix))
                raise TimeoutError(f"{found} of {count} requests to {path_prefix or '/'} within {timeout}s")
            return self._count(path_prefix)

    # --- serving -------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._record(request, b"", arrived, None)
            return web.Response(status=413, text=f"body larger than {self.max_body} bytes")
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        with self._lock:
            signed = _longest_prefix(request.path, self._secrets)
            secret = self._secrets[signed] if signed is not None else None
        verified = _standard_webhooks_ok(secret[0], headers, body, secret[1]) if secret else None
        record = self._record(request, body, arrived, verified, headers)
        if verified is False:
            return Answer(401, {}, {"error": "invalid signature"}).response()
        answer = await self._answer(record)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return answer.response()

    def _record(
        self,
        request: web.Request,
        body: bytes,
        arrived: float,
        verified: bool | None,
        headers: CIMultiDictProxy[str] | None = None,
    ) -> RecordedRequest:
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=headers if headers is not None else CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            arrived=arrived,
            verified=verified,
        )
        with self._arrived:
            self._records.append(record)
            self._arrived.notify_all()
        return record

    async def _answer(self, record: RecordedRequest) -> Answer:
        with self._lock:
            queued = [p for p, q in self._scripts.items() if q]
            prefix = _longest_prefix(record.path, queued)
            if prefix is not None:
                return self._scripts[prefix].popleft()
            prefix = _longest_prefix(record.path, self._handlers)
            handler = self._handlers[prefix] if prefix is not None else None
        if handler is None:
            return self.default
        result = handler(record)
        if inspect.isawaitable(result):
            result = await result
        return Answer.of(result)
