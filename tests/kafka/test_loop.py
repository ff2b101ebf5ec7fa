"""ConsumeLoop: read back, handle, guard, ack — the one loop every stage consumes through.

The loop is driven by a stand-in for the two things it uses of a Faust stream
(``noack()`` and ``events()``, which sets the current event in the context as
Faust does) and events that record their acks. The GapReader is the real one:
it reads skipped records back from the test broker, or fails to reach a broker
that is not there.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from dataclasses import dataclass, field
from types import SimpleNamespace

from faust.types import TP

from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.loop import ConsumeLoop
from notification_actions.kafka.produced import send
from notification_actions.settings import Settings
from tests.support.kafka import create_topics, produce
from tests.support.worker_process import unique

CURRENT = contextvars.ContextVar("current_event", default=None)


@dataclass
class Message:
    tp: TP
    offset: int
    generation_id: int = 1

    @property
    def topic(self) -> str:
        return self.tp.topic

    @property
    def partition(self) -> int:
        return self.tp.partition


@dataclass
class Event:
    message: Message
    log: list = field(repr=False)
    key: bytes | None = None
    value: bytes | None = None

    def ack(self) -> None:
        self.log.append(("ack", self.message.offset))


class Stream:
    def __init__(self, events: list[Event]) -> None:
        self._events = events
        self.auto_ack = True
        self.handed: list[int] = []

    def noack(self) -> "Stream":
        self.auto_ack = False
        return self

    async def events(self):
        for event in self._events:
            CURRENT.set(event)  # Faust's current event, which table writes look up
            self.handed.append(event.message.offset)
            yield event


class Consumer:
    """Faust's consumer as the GapReader uses it: read-back records are acked through it."""

    def __init__(self, log: list) -> None:
        self.log = log

    def ack(self, message) -> bool:
        self.log.append(("ack", message.offset))
        return True

    def assignment(self):
        return set()

    async def earliest_offsets(self, *tps):
        return {tp: 0 for tp in tps}


class Crashes:
    def __init__(self) -> None:
        self.reasons: list[BaseException] = []

    async def __call__(self, reason: BaseException) -> None:
        self.reasons.append(reason)


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def topic_with(bootstrap: str, n: int, keys: dict[int, bytes] | None = None) -> TP:
    topic = unique("loop-")
    await create_topics(bootstrap, [topic], partitions=1)
    await produce(bootstrap, topic, [((keys or {}).get(i, b"k"), f"v{i}".encode()) for i in range(n)])
    return TP(topic, 0)


def reader(broker: str, log: list) -> GapReader:
    consumer = Consumer(log)
    return GapReader(Settings(_env_file=None, broker=broker, app_id=unique("loop-group-")), lambda: consumer)


def events(tp: TP, offsets, log: list, keys=None) -> list[Event]:
    return [Event(Message(tp, o), log, key=(keys or {}).get(o, b"k")) for o in offsets]


async def test_read_back_records_go_first_and_each_item_is_acked_once_handled(kafka_bootstrap):
    tp, log = await topic_with(kafka_bootstrap, 6), []
    stream = Stream(events(tp, [1, 4, 5], log))  # Faust skipped 0, then 2 and 3

    async def handle(item) -> None:
        log.append(("handle", item.message.offset))

    async def on_error(item, exc) -> None:
        raise AssertionError("no failure expected")

    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error, crash=Crashes())
    await loop.run(stream)
    assert not stream.auto_ack  # the loop acks, Faust does not
    assert log == [(step, o) for o in range(6) for step in ("handle", "ack")]
    assert loop.idle()


class HeldProducer:
    """The app's producer as ``produced.send`` reaches it: each record's broker ack is a future the test resolves."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future] = []

    async def send(self, topic, key, value, **_kw) -> asyncio.Future:
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


class Topic:
    def __init__(self, producer: HeldProducer) -> None:
        self.app = SimpleNamespace(producer=producer)

    def get_topic_name(self) -> str:
        return "out"


async def test_an_inline_item_that_wrote_nothing_is_not_acked_before_an_earlier_one_the_broker_has_not_acked(
        kafka_bootstrap):
    # Inline items are acked at once when they wrote nothing (no ticket) — but never past an earlier
    # item of their partition still waiting for the broker's ack of what it wrote.
    tp, log = await topic_with(kafka_bootstrap, 4), []
    stream, producer = Stream(events(tp, [0, 1, 2, 3], log)), HeldProducer()

    async def handle(item) -> None:
        log.append(("handle", item.message.offset))
        if item.message.offset == 1:
            await send(Topic(producer), key=b"k", value=b"v")

    async def on_error(item, exc) -> None:
        raise AssertionError(f"no failure expected: {exc!r}")

    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error, crash=Crashes())
    await loop.run(stream)
    assert log == [("handle", 0), ("ack", 0), ("handle", 1), ("handle", 2), ("handle", 3)]
    assert not loop.idle()
    producer.acks[0].set_result(None)  # the broker acks offset 1's record
    await until(lambda: loop.idle())
    assert log[5:] == [("ack", 1), ("ack", 2), ("ack", 3)]


async def test_a_failure_goes_to_on_error_then_the_item_is_acked_and_the_loop_goes_on(kafka_bootstrap):
    tp, log = await topic_with(kafka_bootstrap, 3), []

    async def handle(item) -> None:
        if item.message.offset == 1:
            raise ValueError("bad record")
        log.append(("handle", item.message.offset))

    async def on_error(item, exc) -> None:
        log.append(("dead letter", item.message.offset, str(exc)))

    crashes = Crashes()
    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error, crash=crashes)
    await loop.run(Stream(events(tp, [0, 1, 2], log)))
    assert log == [("handle", 0), ("ack", 0), ("dead letter", 1, "bad record"), ("ack", 1), ("handle", 2), ("ack", 2)]
    assert crashes.reasons == [] and loop.idle()


async def test_when_on_error_fails_too_the_worker_is_crashed_and_nothing_more_is_acked(kafka_bootstrap):
    tp, log = await topic_with(kafka_bootstrap, 3), []

    async def handle(item) -> None:
        if item.message.offset == 1:
            raise ValueError("bad record")
        log.append(("handle", item.message.offset))

    async def on_error(item, exc) -> None:
        raise RuntimeError("the DLQ is unreachable")

    crashes = Crashes()
    stream = Stream(events(tp, [0, 1, 2], log))
    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error, crash=crashes)
    await loop.run(stream)
    assert log == [("handle", 0), ("ack", 0)]  # 1 is not acked, and 2 was never taken
    assert [str(r) for r in crashes.reasons] == ["the DLQ is unreachable"]
    assert stream.handed == [0, 1] and not loop.idle()


async def test_a_read_back_that_fails_crashes_the_worker_and_leaves_the_revealing_event_unacked():
    with socket.socket() as s:  # a port where no broker listens: the read-back cannot reach Kafka
        s.bind(("127.0.0.1", 0))
        nowhere = f"kafka://127.0.0.1:{s.getsockname()[1]}"
    log: list = []
    tp = TP(unique("loop-"), 0)

    async def handle(item) -> None:
        log.append(("handle", item.message.offset))

    async def on_error(item, exc) -> None:
        raise AssertionError("a read-back failure is not the item's")

    crashes = Crashes()
    stream = Stream(events(tp, [0, 3, 4], log))  # 1 and 2 skipped: they must be read back
    loop = ConsumeLoop("test", reader(nowhere, log), handle, on_error, crash=crashes)
    await loop.run(stream)
    assert log == [("handle", 0), ("ack", 0)]  # 3 revealed the hole: neither handled nor acked
    assert len(crashes.reasons) == 1 and loop.failed is crashes.reasons[0]
    assert stream.handed == [0, 3] and not loop.idle()


async def test_jobs_keep_per_key_order_see_their_own_event_and_are_acked_in_offset_order(kafka_bootstrap):
    keys = {0: b"slow", 1: b"fast", 2: b"slow", 3: b"fast"}
    tp, log = await topic_with(kafka_bootstrap, 4, keys), []
    gate = asyncio.Event()
    seen: list = []

    async def handle(item) -> None:
        seen.append((item.message.offset, CURRENT.get().message.offset))
        if item.message.offset == 0:
            await gate.wait()
        log.append(("handle", item.message.offset))

    async def on_error(item, exc) -> None:
        raise AssertionError("no failure expected")

    stream = Stream(events(tp, [1, 2, 3], log, keys))  # offset 0 is read back before 1
    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error,
                       crash=Crashes(), max_pending=8)
    await loop.run(stream)
    await until(lambda: ("handle", 3) in log)
    assert ("handle", 2) not in log  # behind 0, its key's job before it
    assert [e for e in log if e[0] == "ack"] == [] and not loop.idle()  # 1 and 3 are done, 0 is not
    gate.set()
    await until(loop.idle)
    assert [e for e in log if e[0] == "ack"] == [("ack", 0), ("ack", 1), ("ack", 2), ("ack", 3)]
    # each job ran in its own task, with the event the stream was handing over when it was submitted
    assert sorted(seen) == [(0, 1), (1, 1), (2, 2), (3, 3)]


async def test_not_idle_while_an_item_is_being_handled(kafka_bootstrap):
    tp, log = await topic_with(kafka_bootstrap, 1), []
    gate = asyncio.Event()

    async def handle(item) -> None:
        await gate.wait()

    async def on_error(item, exc) -> None:
        raise AssertionError("no failure expected")

    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error, crash=Crashes())
    assert loop.idle()
    running = asyncio.create_task(loop.run(Stream(events(tp, [0], log))))
    await until(lambda: not loop.idle())
    assert log == []
    gate.set()
    await asyncio.wait_for(running, 10)
    assert log == [("ack", 0)] and loop.idle()


async def test_a_key_over_its_share_goes_to_overflow_inline_and_is_acked_in_offset_order(kafka_bootstrap):
    keys = {0: b"slow", 1: b"slow", 2: b"slow", 3: b"fast", 4: b"slow"}
    tp, log = await topic_with(kafka_bootstrap, 5, keys), []
    gate = asyncio.Event()
    overflowed: list = []

    async def handle(item) -> None:
        if item.key == b"slow":
            await gate.wait()
        log.append(("handle", item.message.offset))

    async def overflow(item, ahead) -> None:
        overflowed.append((item.message.offset, [a.message.offset for a in ahead]))

    async def on_error(item, exc) -> None:
        raise AssertionError("no failure expected")

    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error,
                       crash=Crashes(), max_pending=8, max_per_key=2, overflow=overflow)
    await loop.run(Stream(events(tp, [0, 1, 2, 3, 4], log, keys)))
    # 2 and 4 found two of their key in memory: handed to overflow at once, with those ahead of them
    assert overflowed == [(2, [0, 1]), (4, [0, 1])]
    await until(lambda: ("handle", 3) in log)
    assert [e for e in log if e[0] == "ack"] == []  # 0 and 1 still wait: nothing after them is acked
    gate.set()
    await until(loop.idle)
    assert [e for e in log if e[0] == "ack"] == [("ack", o) for o in range(5)]



async def test_a_key_that_finishes_quickly_may_hold_more_a_slow_one_may_not(kafka_bootstrap):
    keys = {o: (b"slow" if o % 2 else b"fast") for o in range(24)}
    tp, log = await topic_with(kafka_bootstrap, 24, keys), []
    gate = asyncio.Event()
    overflowed: list = []

    async def handle(item) -> None:
        if item.key == b"slow":
            await gate.wait()
        else:
            await asyncio.sleep(0.001)
        log.append(("handle", item.message.offset))

    async def overflow(item, ahead) -> None:
        overflowed.append(item.message.offset)

    async def on_error(item, exc) -> None:
        raise AssertionError("no failure expected")

    loop = ConsumeLoop("test", reader(f"kafka://{kafka_bootstrap}", log), handle, on_error, crash=Crashes(),
                       max_pending=256, max_per_key=2, overflow=overflow, per_key_budget=2.0, per_key_probe=0.2)
    await loop.run(Stream(events(tp, range(24), log, keys)))
    # the fast key: watched once, then taken in; the slow one: two in memory, the rest overflow
    assert overflowed == [o for o in range(24) if o % 2 and o > 3]
    await until(lambda: all(("handle", o) in log for o in range(0, 24, 2)))
    gate.set()
    await until(loop.idle)
    assert [e for e in log if e[0] == "ack"] == [("ack", o) for o in range(24)]
