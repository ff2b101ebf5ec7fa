"""The gap read-back never returns part of a range as if it were all of it."""

from __future__ import annotations

import pytest

from notification_actions.kafka.io import GapUnreadable, read_offsets
from notification_actions.settings import Settings
from tests.support.kafka import create_topics, produce
from tests.support.worker_process import unique


async def test_a_range_read_whole_returns_its_records(kafka_bootstrap):
    topic = unique("rb")
    await create_topics(kafka_bootstrap, [topic])
    await produce(kafka_bootstrap, topic, [(b"k", b"%d" % i) for i in range(5)])
    settings = Settings(_env_file=None, broker=f"kafka://{kafka_bootstrap}")
    found = await read_offsets(settings, topic, 0, 1, 3, timeout=20)
    assert sorted(found) == [1, 2, 3] and found[2].value == b"2"


async def test_a_range_that_cannot_be_read_past_its_end_is_an_error_not_a_partial_answer(kafka_bootstrap):
    topic = unique("rb")
    await create_topics(kafka_bootstrap, [topic])
    await produce(kafka_bootstrap, topic, [(b"k", b"%d" % i) for i in range(3)])
    settings = Settings(_env_file=None, broker=f"kafka://{kafka_bootstrap}")
    # offsets 1-6: only 1 and 2 exist; the old code returned those two as if the hole were read
    with pytest.raises(GapUnreadable, match=rf"offsets 3-6 of {topic}\[0\] could not be read"):
        await read_offsets(settings, topic, 0, 1, 6, timeout=2)
