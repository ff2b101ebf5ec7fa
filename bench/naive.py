"""The naive peer: a plain Faust agent that awaits each webhook POST inline.

What one would write without the pipeline's in-flight set: one agent, one
``await httpx.post`` per event, in order. Run as its own tiny app::

    BENCH_NAIVE_BROKER=kafka://… BENCH_NAIVE_TOPIC=… BENCH_NAIVE_URL=http://…/slow/naive \
        python -m bench.naive worker --web-port 6099

It reads raw event envelopes and posts ``{"event": <envelope>}``, so the
bench sink reads ``data.sent_at`` from it as from a real webhook.
"""

from __future__ import annotations

import os

import faust
import httpx
import orjson

app = faust.App(
    os.environ.get("BENCH_NAIVE_APP_ID", "bench-naive"),
    broker=os.environ.get("BENCH_NAIVE_BROKER", "kafka://127.0.0.1:9092"),
    store="memory://",
    datadir=os.environ.get("BENCH_NAIVE_DATA_DIR", "var/bench-naive"),
    autodiscover=False,
    consumer_auto_offset_reset="earliest",
)
topic = app.topic(
    os.environ.get("BENCH_NAIVE_TOPIC", "bench-naive.events"),
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
)
URL = os.environ.get("BENCH_NAIVE_URL", "http://127.0.0.1:18080/slow/naive")


@app.agent(topic)
async def fire(stream) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        async for value in stream:
            body = orjson.dumps({"event": orjson.loads(value)})
            await client.post(URL, content=body, headers={"content-type": "application/json"})


if __name__ == "__main__":
    app.main()
