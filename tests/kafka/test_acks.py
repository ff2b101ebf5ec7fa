"""OrderedAcks (acks in offset order) and GapReader (records Faust never handed over)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.structs import TopicPartition

from notification_actions.settings import Settings
from notification_actions.kafka.acks import OrderedAcks
from notification_actions.kafka.gaps import GapReader
from tests.support.kafka import create_topics, produce
from tests.support.worker_process import unique


@dataclass
class Message:
    tp: object
    offset: int
    generation_id: int = 1


@dataclass
class FakeEvent:
    message: Message
    acked: list = field(default_factory=list)

    def ack(self) -> None:
        self.acked.append(self.message.offset)


def event(tp, offset: int, log: list, generation: int = 1) -> FakeEvent:
    return FakeEvent(Message(tp, offset, generation), log)


def test_acks_wait_for_every_earlier_message_of_the_partition():
    log: list[int] = []
    acks = OrderedAcks()
    t0, t1, t2 = [acks.track(event("p0", o, log)) for o in (0, 1, 2)]
    acks.done(t2)
    acks.done(t1)
    assert log == []
    acks.done(t0)
    assert log == [0, 1, 2]


def test_partitions_are_independent():
    log: list[int] = []
    acks = OrderedAcks()
    a, b = acks.track(event("p0", 0, log)), acks.track(event("p1", 0, log))
    acks.done(b)
    assert log == [0]
    acks.done(a)
    assert log == [0, 0]


def test_gap_reader_notices_skipped_offsets_within_a_generation_only():
    gaps = GapReader(Settings(_env_file=None), consumer=lambda: None)
    assert gaps.skipped(event("p0", 5, [])) is None
    assert gaps.skipped(event("p0", 6, [])) is None
    assert gaps.skipped(event("p0", 9, [])) == (7, 8)
    assert gaps.skipped(event("p0", 20, [], generation=2)) is None  # rebalance: a new generation
    assert gaps.skipped(event("p0", 4, [], generation=2)) is None   # re-read after a seek
    assert gaps.skipped(event("p1", 3, [], generation=2)) is None   # first sight of a partition


async def test_gap_reader_reads_the_skipped_records_back_and_acks_them_through_the_consumer(kafka_bootstrap):
    topic = unique("gaps-")
    await create_topics(kafka_bootstrap, [topic], partitions=1)
    await produce(kafka_bootstrap, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(6)])

    class Consumer:
        acked: list[int] = []

        def ack(self, message) -> bool:
            self.acked.append(message.offset)
            return True

        def assignment(self):
            return set()

        async def earliest_offsets(self, *tps):
            return {tp: 0 for tp in tps}

    consumer = Consumer()
    gaps = GapReader(Settings(_env_file=None, broker=f"kafka://{kafka_bootstrap}"), consumer=lambda: consumer)
    tp = TopicPartition(topic, 0)
    # The group has committed nothing: its stream starts at the earliest offset, 0,
    # so a first record at offset 1 means offset 0 was skipped.
    first = await gaps.before(event(tp, 1, []))
    assert [r.message.offset for r in first] == [0]
    recovered = await gaps.before(event(tp, 5, []))
    assert [(r.key, r.value, r.message.offset) for r in recovered] == [
        (b"k2", b"v2", 2), (b"k3", b"v3", 3), (b"k4", b"v4", 4)]
    for r in [*first, *recovered]:
        r.ack()
    assert consumer.acked == [0, 2, 3, 4]


async def test_gap_reader_checks_a_generations_first_record_against_the_committed_offset(kafka_bootstrap):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata

    topic, group = unique("gaps-first-"), unique("group-")
    await create_topics(kafka_bootstrap, [topic], partitions=1)
    await produce(kafka_bootstrap, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(6)])
    tp = TopicPartition(topic, 0)
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([tp])
        await committer.commit({tp: OffsetAndMetadata(2, "")})
    finally:
        await committer.stop()

    settings = Settings(_env_file=None, broker=f"kafka://{kafka_bootstrap}", app_id=group)
    gaps = GapReader(settings, consumer=lambda: None)
    recovered = await gaps.before(event(tp, 4, []))  # the generation's first record is 4; 2 is committed
    assert [r.message.offset for r in recovered] == [2, 3]
    assert await gaps.before(event(tp, 5, [])) == []
