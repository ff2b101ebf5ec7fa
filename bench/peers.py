"""The peers the throughput scenario measures beside our worker, each its own process.

``python -m bench.peers faust-decode worker …`` / ``faust-produce worker …``: a bare
Faust agent (``stream.events()`` + ``orjson.loads``; the second also sends one
record per event and awaits the send): what the framework allows one process.
``python -m bench.peers arroyo``: the same match-only job as our matching stage —
``decode_event`` (every event validated) and ``matching_actions`` on an
``ActionIndex`` holding the run's actions — on Sentry's ``sentry-arroyo``
(``StreamProcessor``, ``RunTask`` → ``CommitOffsets``).
``python -m bench.peers faust-http worker …`` (the end-to-end scenario's peer,
``bench/delivery.py``): a bare Faust agent (``stream.events()`` + ``orjson.loads``)
that POSTs each event's JSON bytes (``content-type: application/json``) to
``<BENCH_PEER_URL>/hook/<organization>`` (the record's key, else the event's
``organization_id``) with one shared ``httpx.AsyncClient`` (a pool of twice
``BENCH_PEER_IN_FLIGHT`` connections), up to ``BENCH_PEER_IN_FLIGHT`` requests in
flight (a semaphore, one task per event). No retries, no durability (the event is
acked before its POST ends): the least a Faust pipeline making one HTTP request
per event spends. The sink counts its deliveries; it writes no stamps. The client
sends through our worker's ``AiohttpTransport`` (httpx's API over aiohttp's pool, as
the worker's client does; docs/benchmarks.md has why), or through httpx's own pool
(httpcore, ~twice the CPU per request) with ``BENCH_PEER_TRANSPORT=httpx``.

Environment: ``BENCH_PEER_BROKER`` (host:port), ``BENCH_PEER_GROUP``,
``BENCH_PEER_TOPIC``, ``BENCH_PEER_PARTITIONS`` (the Faust peers' ``topic_partitions``,
8 unless set), ``BENCH_PEER_OUT`` (faust-produce's output topic), ``BENCH_PEER_URL``
and ``BENCH_PEER_IN_FLIGHT`` (faust-http's sink and bound, 32 unless set),
``BENCH_PEER_ACTIONS`` (a JSON file of action dicts, arroyo), ``BENCH_PEER_WARM``
and ``BENCH_PEER_MEASURED`` (record counts), ``BENCH_PEER_STAMPS`` (a file). Each
peer but faust-http writes ``{"warm": t}`` once it handled the warm-up records, then
``{"first": t, "last": t, "count": n}`` once it handled the measured ones
(``time.time()``, the first and last measured record).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import orjson

ENV = os.environ.get
WARM, MEASURED = int(ENV("BENCH_PEER_WARM", "0")), int(ENV("BENCH_PEER_MEASURED", "0"))
STAMPS = Path(ENV("BENCH_PEER_STAMPS", "peer-stamps.json"))


class Counter:
    """Counts handled records; writes the warm-up and measured stamps to ``STAMPS``."""

    def __init__(self) -> None:
        self.n, self.first, self.done = 0, 0.0, False

    def tick(self) -> None:
        self.n += 1
        if self.n == WARM:
            STAMPS.write_text(json.dumps({"warm": time.time()}))
        elif self.n == WARM + 1:
            self.first = time.time()
        if self.n == WARM + MEASURED and not self.done:
            self.done = True
            STAMPS.write_text(json.dumps({"first": self.first, "last": time.time(), "count": MEASURED}))


RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def _faust():
    import faust

    return faust.App(
        ENV("BENCH_PEER_GROUP", "bench-peer"), broker=f"kafka://{ENV('BENCH_PEER_BROKER')}", store="memory://",
        datadir=ENV("BENCH_PEER_DATA_DIR", "var/bench-peer"), autodiscover=False,
        consumer_auto_offset_reset="earliest", topic_partitions=int(ENV("BENCH_PEER_PARTITIONS", "8")),
        web_enabled=False,
    )


def faust_app(produce: bool):
    app = _faust()
    topic = app.topic(ENV("BENCH_PEER_TOPIC"), **RAW)
    out = app.topic(ENV("BENCH_PEER_OUT", "bench-peer.out"), **RAW)
    counter = Counter()

    @app.agent(topic)
    async def consume(stream) -> None:
        async for event in stream.events():
            orjson.loads(event.value)
            if produce:
                await out.send(key=event.key, value=event.value)
            counter.tick()

    return app


def faust_http_app():
    import httpx

    app = _faust()
    topic = app.topic(ENV("BENCH_PEER_TOPIC"), **RAW)
    url, in_flight = ENV("BENCH_PEER_URL"), int(ENV("BENCH_PEER_IN_FLIGHT", "32"))
    headers = {"content-type": "application/json"}
    failed = [0]

    @app.agent(topic)
    async def post(stream) -> None:
        slots = asyncio.Semaphore(in_flight)
        tasks: set[asyncio.Task] = set()
        if ENV("BENCH_PEER_TRANSPORT", "aiohttp") == "aiohttp":
            from notification_actions.registrations.support.transport import AiohttpTransport

            transport: httpx.AsyncBaseTransport = AiohttpTransport(max_connections=in_flight * 2)
        else:  # httpx's own pool (httpcore)
            transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=in_flight * 2))
        async with httpx.AsyncClient(timeout=15.0, transport=transport) as client:

            async def fire(org: str, body: bytes) -> None:
                try:
                    await client.post(f"{url}/hook/{org}", content=body, headers=headers)
                except httpx.HTTPError as exc:  # no retries: the sink's count shows the shortfall
                    failed[0] += 1
                    if failed[0] in (1, 10, 100, 1000):
                        print(f"faust-http: {failed[0]} POST(s) failed, last: {exc!r}", file=sys.stderr, flush=True)
                finally:
                    slots.release()

            async for event in stream.events():
                doc = orjson.loads(event.value)
                org = event.key.decode() if event.key else str(doc["organization_id"])
                await slots.acquire()
                task = asyncio.create_task(fire(org, event.value))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    return app


def arroyo() -> None:
    from arroyo.backends.kafka import KafkaConsumer
    from arroyo.backends.kafka.configuration import build_kafka_consumer_configuration
    from arroyo.commit import ONCE_PER_SECOND
    from arroyo.processing import StreamProcessor
    from arroyo.processing.strategies import CommitOffsets, ProcessingStrategyFactory, RunTask
    from arroyo.types import Topic

    from notification_actions.errors import InvalidEvent
    from notification_actions.models.action import NotificationAction
    from notification_actions.models.enums import ActionTrigger
    from notification_actions.models.event import decode_event
    from notification_actions.streams.matching import matching_actions
    from notification_actions.tables.actions import ActionIndex

    index = ActionIndex()
    for raw in json.loads(Path(ENV("BENCH_PEER_ACTIONS")).read_text()):
        index.put(NotificationAction.model_validate(raw))
    trigger = ActionTrigger.AUDIT_LOG
    counter = Counter()
    matched = [0]

    def match(message) -> None:
        payload = message.payload
        try:
            event = decode_event(payload.value, topic_trigger=trigger, max_bytes=1_000_000, key=payload.key)
        except InvalidEvent:
            pass  # our stage sends it to the DLQ; no bench event is invalid
        else:
            matched[0] += len(matching_actions(index, event)[0])
        counter.tick()
        if counter.done:
            processor.signal_shutdown()

    class Factory(ProcessingStrategyFactory):
        def create_with_partitions(self, commit, partitions):
            return RunTask(match, CommitOffsets(commit))

    config = build_kafka_consumer_configuration(
        {"bootstrap.servers": ENV("BENCH_PEER_BROKER")}, group_id=ENV("BENCH_PEER_GROUP", "bench-arroyo"),
        auto_offset_reset="earliest",
    )
    processor = StreamProcessor(KafkaConsumer(config), Topic(ENV("BENCH_PEER_TOPIC")), Factory(), ONCE_PER_SECOND)
    processor.run()


if __name__ == "__main__":
    kind, rest = sys.argv[1], sys.argv[2:]
    if kind == "arroyo":
        arroyo()
    else:
        sys.argv = [sys.argv[0], *rest]
        (faust_http_app() if kind == "faust-http" else faust_app(produce=kind == "faust-produce")).main()
