"""InFlight: per-key order, other keys beside, back-pressure, failures contained."""

import asyncio

import pytest

from notification_actions.kafka.inflight import InFlight


def job(log: list, name: str, gate: asyncio.Event | None = None, fail: bool = False):
    async def run() -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        log.append(f"end {name}")
        if fail:
            raise RuntimeError(name)
    return run


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0)


async def test_one_key_in_order_other_keys_beside():
    jobs, log, gate = InFlight(max_pending=10), [], asyncio.Event()
    await jobs.submit("a", job(log, "a1", gate))
    await jobs.submit("a", job(log, "a2"))
    await jobs.submit("b", job(log, "b1"))
    await until(lambda: "end b1" in log)
    assert "start a2" not in log and len(jobs) == 2  # a2 waits for a1; b1 did not
    gate.set()
    await until(lambda: len(jobs) == 0)
    assert log.index("end a1") < log.index("start a2")


async def test_a_failing_job_does_not_stop_its_key(caplog):
    jobs, log = InFlight(max_pending=10), []
    await jobs.submit("a", job(log, "a1", fail=True))
    await jobs.submit("a", job(log, "a2"))
    await until(lambda: len(jobs) == 0)
    assert log == ["start a1", "end a1", "start a2", "end a2"]
    assert "in-flight job for 'a' failed" in caplog.text


async def test_submit_waits_when_max_pending_are_unfinished():
    jobs, log, gate = InFlight(max_pending=2), [], asyncio.Event()
    await jobs.submit("a", job(log, "a1", gate))
    await jobs.submit("b", job(log, "b1", gate))
    third = asyncio.create_task(jobs.submit("c", job(log, "c1")))
    await until(lambda: log.count("start a1") + log.count("start b1") == 2)
    assert not third.done()
    gate.set()
    await asyncio.wait_for(third, 5)
    await until(lambda: len(jobs) == 0)
    assert "end c1" in log


async def test_cancelled_drain_releases_every_slot():
    jobs, log, gate = InFlight(max_pending=3), [], asyncio.Event()
    for name in ("a1", "a2", "a3"):
        await jobs.submit("a", job(log, name, gate))
    await until(lambda: "start a1" in log)
    for task in list(jobs._tasks):
        task.cancel()
    await until(lambda: len(jobs) == 0)
    await asyncio.wait_for(jobs.submit("b", job(log, "b1")), 5)  # slots were given back
    await until(lambda: "end b1" in log)
    assert "start a2" not in log


async def test_each_job_runs_in_its_submitters_context():
    # Faust finds the event a table write belongs to in a context variable set
    # while the stream hands that event over: each job must see its own.
    import contextvars

    current = contextvars.ContextVar("current")
    jobs, seen, gate = InFlight(max_pending=10), [], asyncio.Event()

    def job_for(name: str):
        async def run() -> None:
            await gate.wait()
            seen.append((name, current.get()))
        return run

    for name in ("e1", "e2", "e3"):
        current.set(name)
        await jobs.submit("same-target", job_for(name))
    gate.set()
    await until(lambda: len(jobs) == 0)
    assert seen == [("e1", "e1"), ("e2", "e2"), ("e3", "e3")]


async def test_pending_and_queued_tell_one_key_s_unfinished_jobs_oldest_first():
    jobs, log, gate = InFlight(max_pending=10), [], asyncio.Event()
    await jobs.submit("a", job(log, "a1", gate), tag="a1")
    await jobs.submit("a", job(log, "a2"), tag="a2")
    await jobs.submit("b", job(log, "b1"), tag="b1")
    await until(lambda: "end b1" in log)
    assert (jobs.pending("a"), jobs.queued("a")) == (2, ["a1", "a2"])
    assert (jobs.pending("b"), jobs.queued("b"), jobs.pending("c")) == (0, [], 0)
    gate.set()
    await until(lambda: len(jobs) == 0)
    assert jobs.pending("a") == 0 and jobs.queued("a") == []



async def test_estimate_is_how_long_a_key_s_jobs_take_and_freed_waits_for_one_to_end():
    jobs, log, gate = InFlight(max_pending=10), [], asyncio.Event()
    assert jobs.estimate("a") is None  # nothing finished yet
    await jobs.submit("a", job(log, "a1"))
    await jobs.freed("a", timeout=5)
    first = jobs.estimate("a")
    assert first is not None and first < 0.5
    await jobs.submit("a", job(log, "a2", gate))
    await until(lambda: "start a2" in log)
    await jobs.freed("a", timeout=0.3)  # a2 runs on: the wait ends at the timeout
    assert jobs.estimate("a") >= 0.3  # the running job's age, once longer than the past ones
    gate.set()
    await until(lambda: len(jobs) == 0)


async def test_drain_judges_a_running_job_past_its_usual_time_by_its_age_once_not_every_waiting_one_by_it():
    jobs, log, gate = InFlight(max_pending=10), [], asyncio.Event()
    assert jobs.drain("a") is None  # no job of it has finished: its pace is not known
    await jobs.submit("a", job(log, "a1"))
    await jobs.freed("a", timeout=5)
    took = jobs.estimate("a")
    assert took is not None and jobs.drain("a") == 0 and jobs.drain("a", more=2) == pytest.approx(2 * took)
    await jobs.submit("a", job(log, "a2", gate))
    for n in range(3, 8):
        await jobs.submit("a", job(log, f"a{n}"))
    await until(lambda: "start a2" in log)
    await jobs.freed("a", timeout=max(0.3, 3 * took))  # a2 hangs: it runs past the usual time
    age = jobs.estimate("a")
    drain = jobs.drain("a", more=1)
    # a2 as long again as it has run, then a3..a7 and one more at the usual pace — not 7 x a2's age
    assert drain == pytest.approx(age + 6 * took, rel=0.2, abs=0.05) and drain < 7 * age
    gate.set()
    await until(lambda: len(jobs) == 0)
