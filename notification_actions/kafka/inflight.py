"""A bounded set of jobs that keeps per-key order.

Faust's agent concurrency stays 1 (above 1 it can commit past a message still
in flight, faust-streaming/faust#606); parallelism comes from here instead.
A job for key K starts only after the previous job for K has finished, so one
target's deliveries fire in the order they arrived, while jobs for other keys
run beside them. ``submit`` waits when ``max_pending`` jobs are accepted but
unfinished: that is the stream's back-pressure. :meth:`pending` and
:meth:`queued` tell how many (and which) jobs one key holds, :meth:`estimate`
how long its jobs take (smoothed over the last ones, or the running one's
age when longer), :meth:`drain` how long its unfinished jobs will take (a
running job past its key's usual time is judged by its age, once, not
every queued job by it), :meth:`typical` how long jobs take across all keys (per
job finished, so a slow key weighs little) and :meth:`freed` waits for one
to end, so that a caller can keep a slow key from taking every slot
(``loop.py``'s per-key share).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

__all__ = ["InFlight"]


class InFlight:
    def __init__(self, max_pending: int, *, max_timed_keys: int = 100_000) -> None:
        self.max_pending = max_pending
        self._pending = asyncio.Semaphore(max_pending)
        self._tails: dict[Hashable, asyncio.Future] = {}  # key -> done signal of its last job
        self._queued: dict[Hashable, list[tuple[asyncio.Future, object]]] = {}  # key -> (done, tag), oldest first
        self._running_since: dict[Hashable, float] = {}  # key -> when its running job started (loop time)
        self._took: dict[Hashable, float] = {}  # key -> seconds its jobs take, smoothed (oldest key first)
        self._max_timed_keys = max_timed_keys
        self._typical: float | None = None  # seconds a job takes, smoothed over all keys' jobs
        self._freed: dict[Hashable, asyncio.Future] = {}  # key -> set when one of its jobs ends
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, key: Hashable, job: Callable[[], Awaitable[None]], *, tag: object = None) -> None:
        """Accept ``job`` for ``key`` (waiting for a slot); ``tag`` names it in :meth:`queued`."""
        await self._pending.acquire()
        previous = self._tails.get(key)
        # One task per job, created here: it inherits the submitter's context,
        # which is how Faust knows the event a table write belongs to.
        done = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._run(key, previous, done, job))
        self._tails[key] = done
        self._queued.setdefault(key, []).append((done, tag))
        self._tasks.add(task)

    def pending(self, key: Hashable) -> int:
        """Jobs accepted for ``key`` and not yet finished (the running one included)."""
        return len(self._queued.get(key, ()))

    def queued(self, key: Hashable) -> list[object]:
        """The tags of ``key``'s unfinished jobs, oldest (the running one) first."""
        return [tag for _, tag in self._queued.get(key, ())]

    def estimate(self, key: Hashable) -> float | None:
        """Seconds a job of ``key`` takes: smoothed over its last jobs, or the running one's age when
        that is longer; ``None`` while none has finished or runs."""
        took = self._took.get(key)
        since = self._running_since.get(key)
        age = None if since is None else asyncio.get_running_loop().time() - since
        if took is None or age is None:
            return took if age is None else age
        return max(took, age)

    def pace(self, key: Hashable) -> float | None:
        """Seconds a job of ``key`` takes, smoothed over its last finished ones (no running age)."""
        return self._took.get(key)

    def drain(self, key: Hashable, *, more: int = 0) -> float | None:
        """Seconds until ``key``'s unfinished jobs, and ``more`` jobs after them, are done, projected:
        each waiting one takes the smoothed time; the running one the rest of it, or — past it — as
        long again as it has run so far. ``None`` while none of its jobs has finished."""
        took = self._took.get(key)
        if took is None:
            return None
        waiting = self.pending(key) + more
        since = self._running_since.get(key)
        if since is None:
            return waiting * took
        age = asyncio.get_running_loop().time() - since
        return (took - age if age < took else age) + (waiting - 1) * took

    def typical(self) -> float | None:
        """Seconds a job takes, smoothed over every key's last jobs; ``None`` before one has finished."""
        return self._typical

    def timed(self, key: Hashable) -> bool:
        """Whether a job of ``key`` has finished (so that :meth:`estimate` is more than a running age)."""
        return key in self._took

    async def freed(self, key: Hashable, timeout: float) -> None:
        """Wait until a job of ``key`` ends, at most ``timeout`` seconds."""
        freed = self._freed.get(key)
        if freed is None or freed.done():
            freed = self._freed[key] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(freed), timeout)
        except TimeoutError:
            pass

    def _timed(self, key: Hashable, seconds: float) -> None:
        took = self._took.pop(key, None)  # re-inserted last: the dict stays oldest-first
        self._took[key] = seconds if took is None else (took + seconds) / 2
        self._typical = seconds if self._typical is None else 0.95 * self._typical + 0.05 * seconds
        if len(self._took) > self._max_timed_keys:
            del self._took[next(iter(self._took))]

    async def _run(
        self, key: Hashable, previous: asyncio.Future | None, done: asyncio.Future, job: Callable[[], Awaitable[None]]
    ) -> None:
        me = asyncio.current_task()
        try:
            if previous is not None and not previous.done():
                await previous  # set when the job before this one for ``key`` ends, however it ends
            self._running_since[key] = asyncio.get_running_loop().time()
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("in-flight job for %r failed", key)
        finally:
            if not done.done():
                done.set_result(None)
            self._pending.release()
            if self._tails.get(key) is done:
                del self._tails[key]
            queued = self._queued.get(key)
            if queued is not None:
                queued[:] = [entry for entry in queued if entry[0] is not done]
                if not queued:
                    del self._queued[key]
            since = self._running_since.pop(key, None)
            if since is not None:
                self._timed(key, asyncio.get_running_loop().time() - since)
            freed = self._freed.pop(key, None)
            if freed is not None and not freed.done():
                freed.set_result(None)
            self._tasks.discard(me)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._tasks)
