"""BackfillJobs' start and stop against the real broker: a stop that comes while it starts."""

from __future__ import annotations

import asyncio

from notification_actions.ops.backfill import BackfillJobs
from notification_actions.settings import Settings
from tests.support.kafka import create_topics
from tests.support.worker_process import unique


async def test_a_stop_while_the_clients_start_stops_them_and_the_start_ends_quietly(kafka_bootstrap):
    # A worker stopped as soon as it is ready: its shutdown ran BackfillJobs.stop() while the app task
    # start_background() still awaited its producer's start. stop() stopped the clients under it, and
    # start_background() went on with a client set to None: AttributeError, the app crashed on its
    # way out (exit code 1; tests/ops/test_lag.py saw it once).
    topic = unique("backfills-")
    await create_topics(kafka_bootstrap, [topic], partitions=1)
    jobs = BackfillJobs(Settings(_env_file=None, broker=f"kafka://{kafka_bootstrap}", backfills_topic=topic))
    starting = asyncio.create_task(jobs.start_background())
    await asyncio.sleep(0)  # inside the producer's start: it connects to the broker
    assert not starting.done()
    await jobs.stop()
    await asyncio.wait_for(starting, 30)  # ends without raising
    assert jobs._producer is None and jobs._consumer is None and jobs._reader is None
    # and a start after that works as before
    await jobs.start_background()
    try:
        assert jobs._producer is not None and jobs._reader is not None and not jobs._reader.done()
    finally:
        await jobs.stop()
    assert jobs._producer is None
