"""A fast local webhook receiver in its own process: ``python -m bench.sink --port P --delay S``.

``/hook/*`` answers 200 at once, ``/slow/*`` after ``--delay`` seconds. For
each request it keeps the arrival time (``time.time()``) and, when the body
carries the event with ``data.sent_at`` (the producer's clock, the same
machine), the produce→arrival latency. ``GET /_stats`` reports them and
``POST /_reset`` forgets them.

For the chaos runs (``bench/chaos.py``) it also keeps every request as
``[arrived, path, webhook-id, event id, data.seq, status,
data.sent_at]`` (``GET
/_records?since=N`` returns them from the N-th on), and ``POST
/_fail?seconds=S&status=C`` makes ``/hook/*`` answer ``C`` (default 503) for
the next ``S`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiohttp import web

OK = b'{"ok":true}'


class Recorder:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: list[float] = []
        self.latencies: list[float] = []
        self.records: list[list] = []
        self.fail_until, self.fail_status = 0.0, 503

    async def hook(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        self.arrivals.append(arrived)
        event: dict = {}
        try:
            event = orjson.loads(body)["event"]
            self.latencies.append((arrived - float(event["data"]["sent_at"])) * 1000)
        except (ValueError, KeyError, TypeError):
            pass
        failing = arrived < self.fail_until and request.path.startswith("/hook")
        status = self.fail_status if failing else 200
        data = event.get("data") if isinstance(event, dict) else None
        seq, sent = (data.get("seq"), data.get("sent_at")) if isinstance(data, dict) else (None, None)
        self.records.append([arrived, request.path, request.headers.get("webhook-id"),
                             event.get("id") if isinstance(event, dict) else None, seq, status, sent])
        if failing:
            return web.Response(status=status, body=b"failing on purpose")
        if request.path.startswith("/slow"):
            await asyncio.sleep(self.delay)
        return web.Response(body=OK, content_type="application/json")

    async def fail(self, request: web.Request) -> web.Response:
        seconds = float(request.query.get("seconds", "30"))
        self.fail_status = int(request.query.get("status", "503"))
        start = time.time()
        self.fail_until = start + seconds
        return web.json_response({"from": start, "until": self.fail_until, "status": self.fail_status})

    async def dump(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.Response(body=orjson.dumps({"records": self.records[since:], "next": len(self.records)}),
                            content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else None

        return web.json_response({
            "count": len(self.arrivals),
            "first": min(self.arrivals) if self.arrivals else None,
            "last": max(self.arrivals) if self.arrivals else None,
            "latency_count": len(lat),
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": lat[-1] if lat else None,
        })

    async def reset(self, request: web.Request) -> web.Response:
        self.arrivals.clear()
        self.latencies.clear()
        self.records.clear()
        return web.json_response({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    rec = Recorder(args.delay)
    app = web.Application()
    app.router.add_get("/_stats", rec.stats)
    app.router.add_post("/_reset", rec.reset)
    app.router.add_post("/_fail", rec.fail)
    app.router.add_get("/_records", rec.dump)
    app.router.add_route("*", "/{tail:.*}", rec.hook)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
