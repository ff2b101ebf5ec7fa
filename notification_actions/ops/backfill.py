"""Backfill jobs run inside the workers: one action's replay, started and read through the HTTP API.

A worker holds one :class:`BackfillJobs` (``Service.backfills``, wired in
``worker/app.py``: ``start_background`` as an app task, ``stop`` on
``app.on_before_shutdown``). ``start`` runs :func:`ops.replay.replay` scoped
to one action of one organization as an asyncio task of the worker (throttles
apply; dedup holds; ``dry_run`` counts only) and returns the job; ``get`` reads
one.

Job state lives in the compacted ``BACKFILLS_TOPIC`` (one partition, key = job
id, value = the job as JSON, plus its ``owner`` and ``updatedAt``), which every
worker process reads from its start into memory, so a GET reaching any worker
answers: ``get`` first reads up to the topic's end as it is when asked. A
running job's owner writes its progress every ``heartbeat_seconds``; a job still
``running`` whose record is older than ``stale_after_seconds`` (its worker died)
is reported ``failed`` with ``error: "worker restarted"``, and one whose worker
stops cleanly is written so. Jobs are never re-run by another worker: they are
re-started by asking again (the dedup keys make a re-run send only what the
first did not, inside the dedup window).

One backfill of an action at a time, across every worker process: ``start``
writes the job as ``running``, reads the topic up to that record, and gives up
(tombstoning its record, raising :class:`BackfillConflict`) when a job of the
same action written before it is still running. The topic's single partition
orders every claim, so of two concurrent starts the later one loses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from notification_actions.errors import ConfigError, NotificationActionsError
from notification_actions.kafka.security import client_config
from notification_actions.kafka.topics import JOB_RETENTION_DAYS
from notification_actions.models import NotificationAction
from notification_actions.models.replay import ReplayScope
from notification_actions.ops.replay import ReplayReport, replay
from notification_actions.settings import Settings
from notification_actions.tables.state import load_state

log = logging.getLogger(__name__)

__all__ = ["BackfillConflict", "BackfillJobs", "UnknownAction"]

PUBLIC = ("id", "organizationId", "actionId", "state", "dryRun", "since", "until", "eventsRead", "eventsTotal",
          "deliveries", "counts", "error", "startedAt", "finishedAt")
RESTARTED = "worker restarted"


class BackfillConflict(NotificationActionsError):
    """A backfill of the action is already running (in this or another worker)."""

    def __init__(self, action_id: str, job_id: str) -> None:
        super().__init__(f"a backfill of action {action_id!r} is already running (job {job_id})")
        self.action_id = action_id
        self.job_id = job_id


class UnknownAction(ConfigError, ValueError):
    """No such action in the organization (as the workers hold them)."""


def _iso(when: datetime | float | None) -> str | None:
    if when is None:
        return None
    if isinstance(when, datetime):
        return when.isoformat()
    return datetime.fromtimestamp(when).astimezone().isoformat()


async def _stop_all(*clients: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    for client in clients:
        try:
            await client.stop()
        except Exception:  # already on the way out: what matters is the next one is stopped too
            log.warning("stopping %s failed", type(client).__name__, exc_info=True)


class BackfillJobs:
    """The backfill jobs of a worker process, and its view of every other's (see the module docstring)."""

    def __init__(self, settings: Settings, *, rate: float | None = None, heartbeat_seconds: float = 2.0,
                 stale_after_seconds: float = 30.0,
                 lookup: Callable[[str], NotificationAction | None] | None = None) -> None:
        self.settings = settings
        # the worker's own actions table (``ActionsTable.get``): without it, each job reads the actions changelog
        # whole, twice — seconds and a model per action in memory with 100,000 actions
        self.lookup = lookup
        self.rate = rate  # events per second a job reads at most (None: as fast as it can)
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_after_seconds = stale_after_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._tp = TopicPartition(settings.backfills_topic, 0)
        self._jobs: dict[str, dict] = {}  # every job of the topic, by id
        self._claims: dict[str, int] = {}  # job id -> offset of its first record
        self._position = 0  # next offset the reader will read
        self._running: dict[str, asyncio.Task] = {}  # this process's jobs
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._reader: asyncio.Task | None = None
        self._forgot_at = 0.0  # when _forget_old last ran (monotonic)
        self._stopping = False

    # --- life cycle -------------------------------------------------------------------------------
    async def start_background(self, *_: object) -> None:
        """Start reading the jobs topic and accept jobs (an ``app.task``).

        The clients are this object's only once both are up: a :meth:`stop` that comes while they
        start (a worker stopped as soon as it is ready) finds nothing to stop, and they are stopped
        here instead — it used to stop them under this method's feet, which then crashed the app
        on its way out (exit code 1) and left a producer running."""
        self._stopping = False
        producer = AIOKafkaProducer(**client_config(self.settings), acks="all", enable_idempotence=True)
        consumer = AIOKafkaConsumer(**client_config(self.settings), enable_auto_commit=False)
        try:
            await producer.start()
            await consumer.start()
            consumer.assign([self._tp])
            await consumer.seek_to_beginning(self._tp)
        except BaseException:
            await _stop_all(consumer, producer)
            raise
        if self._stopping:
            await _stop_all(consumer, producer)
            return
        self._producer, self._consumer = producer, consumer
        self._reader = asyncio.create_task(self._read(), name="backfills-reader")

    async def stop(self, *_: object, **__: object) -> None:
        """Cancel this process's running jobs, recording them ``failed`` ("worker restarted"); stop reading."""
        self._stopping = True  # a start under way stops its own clients (start_background)
        if self._producer is None:
            return
        for job_id, task in list(self._running.items()):
            del self._running[job_id]
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            job = self._jobs.get(job_id)
            if job is not None and job["state"] == "running":
                await self._write({**job, "state": "failed", "error": RESTARTED, "finishedAt": _iso(time.time())})
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await _stop_all(*(c for c in (self._consumer, self._producer) if c is not None))
        self._consumer = self._producer = self._reader = None

    # --- the API ----------------------------------------------------------------------------------
    async def start(self, organization_id: int, action_id: str, since: datetime | None, until: datetime | None,
                    dry_run: bool) -> dict:
        """Start a backfill of ``action_id`` over [since, until); return the job (``get``'s shape).

        Raises :class:`UnknownAction` (a ``ConfigError`` and ``ValueError``) when the organization has no
        such action, :class:`BackfillConflict` when a backfill of it is running anywhere."""
        if self._producer is None:
            raise RuntimeError("BackfillJobs.start_background() was not awaited")
        action = await self._action(action_id)
        if action is None or action.organization_id != organization_id:
            raise UnknownAction(f"unknown action {action_id!r} in organization {organization_id}")
        await self._caught_up()
        self._refuse_if_running(action_id, before=None)
        job = {"id": uuid.uuid4().hex, "organizationId": organization_id, "actionId": action_id, "state": "running",
               "dryRun": dry_run, "since": _iso(since), "until": _iso(until), "eventsRead": 0, "eventsTotal": None,
               "deliveries": 0, "counts": {"byService": {}, "byOrganization": {}}, "error": None,
               "startedAt": _iso(time.time()), "finishedAt": None}
        offset = await self._write(job)
        await self._caught_up(offset + 1)
        try:
            self._refuse_if_running(action_id, before=offset, me=job["id"])
        except BackfillConflict:
            await self._send(job["id"], None)  # this claim lost: the job never existed
            raise
        self._running[job["id"]] = asyncio.create_task(self._run(job, since, until), name=f"backfill-{job['id']}")
        return _public(job)

    async def _action(self, action_id: str) -> NotificationAction | None:
        if self.lookup is not None:
            return self.lookup(action_id)
        return (await load_state(self.settings, integrations=False, directories=False)).actions.get(action_id)

    async def get(self, organization_id: int, job_id: str) -> dict | None:
        """The job, as of the jobs topic's end now; None if unknown or of another organization."""
        await self._caught_up()
        job = self._jobs.get(job_id)
        if job is None or job.get("organizationId") != organization_id:
            return None
        return _public(self._effective(job))

    # --- inside -----------------------------------------------------------------------------------
    def _effective(self, job: dict) -> dict:
        """A running job whose owner stopped writing progress is a failed one."""
        if (job["state"] == "running" and job["id"] not in self._running
                and time.time() - job.get("updatedAt", 0) > self.stale_after_seconds):
            return {**job, "state": "failed", "error": RESTARTED}
        return job

    def running(self, organization_id: int) -> int:
        """How many of the organization's backfills run now, in any worker process."""
        return sum(1 for job in self._jobs.values()
                   if job.get("organizationId") == organization_id and self._effective(job)["state"] == "running")

    def _refuse_if_running(self, action_id: str, *, before: int | None, me: str | None = None) -> None:
        for job_id, job in self._jobs.items():
            if job_id == me or job.get("actionId") != action_id or self._effective(job)["state"] != "running":
                continue
            if before is None or self._claims.get(job_id, before) < before:
                raise BackfillConflict(action_id, job_id)

    async def _run(self, job: dict, since: datetime | None, until: datetime | None) -> None:
        def progress(report: ReplayReport) -> None:
            _fill(job, report)

        async def heartbeat() -> None:  # the progress made so far, every heartbeat_seconds
            while True:
                await asyncio.sleep(self.heartbeat_seconds)
                await self._write(dict(job))

        beat = asyncio.create_task(heartbeat())
        try:
            held = None
            if self.lookup is not None:  # the action as this worker holds it now, or none (deleted meanwhile)
                action = self.lookup(job["actionId"])
                held = {action.id: action} if action is not None else {}
            report = await replay(self.settings, scope=ReplayScope(actions=(job["actionId"],),
                                                                   organizations=(job["organizationId"],)),
                                  since=since, until=until, dry_run=job["dryRun"], rate=self.rate, job=job["id"],
                                  progress=progress, actions=held)
            _fill(job, report)
            job.update(state="done")
        except asyncio.CancelledError:
            raise  # stop() records it
        except Exception as exc:
            log.warning("backfill %s of action %s failed", job["id"], job["actionId"], exc_info=True)
            job.update(state="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        job["finishedAt"] = _iso(time.time())
        self._running.pop(job["id"], None)
        await self._write(job)

    async def _write(self, job: dict) -> int:
        record = {**job, "owner": self.owner, "updatedAt": time.time()}
        self._jobs[job["id"]] = record  # this process sees its own writes at once
        return await self._send(job["id"], orjson.dumps(record))

    async def _send(self, key: str, value: bytes | None) -> int:
        assert self._producer is not None
        sent = await self._producer.send_and_wait(self.settings.backfills_topic, key=key.encode(), value=value,
                                                  partition=0)
        return sent.offset

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(self._tp, timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the reader die: a GET would wait for it
                log.warning("reading %s failed; trying again", self.settings.backfills_topic, exc_info=True)
                await asyncio.sleep(1.0)
                continue
            for record in batch.get(self._tp, []):
                job_id = record.key.decode(errors="replace") if record.key else ""
                if record.value is None:
                    self._jobs.pop(job_id, None)
                    self._claims.pop(job_id, None)
                else:
                    try:
                        self._jobs[job_id] = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        log.warning("%s: record at offset %d is not JSON; ignored", self._tp.topic, record.offset)
                        continue
                    self._claims.setdefault(job_id, record.offset)
                self._position = record.offset + 1
            if time.monotonic() - self._forgot_at > 60:
                self._forgot_at = time.monotonic()
                self._forget_old(time.time())

    def _forget_old(self, now: float) -> None:
        """Jobs that ended over JOB_RETENTION_DAYS ago leave memory as they leave the topic (its retention)."""
        cutoff = now - JOB_RETENTION_DAYS * 86400
        for job_id in [j for j, job in self._jobs.items()
                       if job.get("state") != "running" and job.get("updatedAt", now) < cutoff]:
            self._jobs.pop(job_id, None)
            self._claims.pop(job_id, None)

    async def _caught_up(self, offset: int | None = None, timeout: float = 15.0) -> None:
        """Wait until the reader has read up to ``offset`` (default: the topic's end as it is now)."""
        assert self._consumer is not None
        if offset is None:
            offset = (await self._consumer.end_offsets([self._tp]))[self._tp]
        deadline = time.monotonic() + timeout
        while self._position < offset:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {self._tp.topic} up to offset {offset} took longer than {timeout:.0f}s")
            await asyncio.sleep(0.02)


def _fill(job: dict, report: ReplayReport) -> None:
    counts = report.counts()
    job.update(eventsRead=report.events, eventsTotal=report.total, deliveries=report.deliveries,
               counts={"byService": counts["byService"], "byOrganization": counts["byOrganization"]})


def _public(job: dict) -> dict:
    return {k: job.get(k) for k in PUBLIC}
