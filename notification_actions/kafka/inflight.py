"""A bounded set of jobs that keeps per-key order.

Faust's agent concurrency stays 1 (above 1 it can commit past a message still
in flight, faust-streaming/faust#606); parallelism comes from here instead.
A job for key K starts only after the previous job for K has finished, so one
target's deliveries fire in the order they arrived, while jobs for other keys
run beside them. ``submit`` waits when ``max_pending`` jobs are accepted but
unfinished: that is the stream's back-pressure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

__all__ = ["InFlight"]


class InFlight:
    def __init__(self, max_pending: int) -> None:
        self._pending = asyncio.Semaphore(max_pending)
        self._tails: dict[Hashable, asyncio.Future] = {}  # key -> done signal of its last job
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        await self._pending.acquire()
        previous = self._tails.get(key)
        # One task per job, created here: it inherits the submitter's context,
        # which is how Faust knows the event a table write belongs to.
        done = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._run(key, previous, done, job))
        self._tails[key] = done
        self._tasks.add(task)

    async def _run(
        self, key: Hashable, previous: asyncio.Future | None, done: asyncio.Future, job: Callable[[], Awaitable[None]]
    ) -> None:
        me = asyncio.current_task()
        try:
            if previous is not None and not previous.done():
                await previous  # set when the job before this one for ``key`` ends, however it ends
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
            self._tasks.discard(me)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._tasks)
