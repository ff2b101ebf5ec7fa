"""GapReader.sweep's decision: when to seek an idle partition back, and that it tries again.

A stand-in for Faust's consumer (assignment, highwater, seek) drives the decision
alone; the end-to-end behaviour is covered by the fault tests on a real broker.
"""

from types import SimpleNamespace

from faust.types import TP

from notification_actions.settings import Settings
from notification_actions.kafka import gaps
from notification_actions.kafka.gaps import GapReader

TOPIC = "deliveries"
PART = TP(TOPIC, 0)


class Consumer:
    def __init__(self, highwater: int) -> None:
        self.app = SimpleNamespace(consumer_generation_id=7)
        self.high = highwater
        self.seeks: list[tuple[TP, int]] = []

    def assignment(self):
        return {PART}

    def highwater(self, tp):
        return self.high

    async def seek_wait(self, partitions):
        self.seeks.extend(partitions.items())

    async def earliest_offsets(self, *tps):
        return {tp: 0 for tp in tps}


def reader(consumer: Consumer) -> GapReader:
    r = GapReader(Settings(_env_file=None), lambda: consumer, [TOPIC])
    r._last[PART] = (7, 9)  # the stream saw offset 9 in this generation
    return r


async def test_an_idle_tail_is_sought_back_then_retried_with_a_growing_pause():
    clock = [1000.0]
    consumer = Consumer(highwater=12)  # offsets 10 and 11 never reached the stream
    r = reader(consumer)
    r.clock = lambda: clock[0]
    r._seen_at[PART] = clock[0]

    assert await r.sweep(idle=True) == []  # not idle long enough yet
    clock[0] += gaps.TAIL_IDLE_SECONDS
    assert await r.sweep(idle=True) == [(PART, 10)]
    clock[0] += gaps.TAIL_IDLE_SECONDS
    assert await r.sweep(idle=True) == []  # the same seek again waits longer
    clock[0] += gaps.TAIL_IDLE_SECONDS
    assert await r.sweep(idle=True) == [(PART, 10)]  # ... but is tried again, never given up
    for _ in range(10):
        clock[0] += gaps.RESEEK_MAX_SECONDS
        await r.sweep(idle=True)
    assert len(consumer.seeks) == 12  # at most one a minute once backed off


async def test_nothing_to_do_when_the_stream_has_seen_the_tail_or_is_busy():
    consumer = Consumer(highwater=10)
    r = reader(consumer)
    r._seen_at[PART] = 0.0
    assert await r.sweep(idle=True) == []  # highwater 10 = last seen 9 + 1
    consumer.high = 15
    assert await r.sweep(idle=False) == []  # a busy stage is never sought
    assert consumer.seeks == []


async def test_a_partition_the_group_never_committed_is_read_from_its_earliest_offset():
    # A restarted worker of a new group sat idle with 2,000 events waiting: Faust had
    # dropped them after its start-up seek, and with no committed offset the sweep
    # had nothing to compare the highwater with.
    clock = [0.0]
    consumer = Consumer(highwater=579)
    r = GapReader(Settings(_env_file=None), lambda: consumer, [TOPIC])
    r.clock = lambda: clock[0]
    r._committed = (7, {}, True)  # the group's offsets were read: none for this partition
    await r.sweep(idle=True)
    clock[0] += gaps.TAIL_IDLE_SECONDS
    assert await r.sweep(idle=True) == [(PART, 0)]


async def test_no_seek_when_the_committed_offsets_could_not_be_read():
    clock = [0.0]
    consumer = Consumer(highwater=579)
    r = GapReader(Settings(_env_file=None), lambda: consumer, [TOPIC])
    r.clock = lambda: clock[0]
    r._committed = (7, {}, False)  # the lookup failed: replaying from the start would be a guess
    await r.sweep(idle=True)
    clock[0] += gaps.TAIL_IDLE_SECONDS
    assert await r.sweep(idle=True) == [] and consumer.seeks == []
