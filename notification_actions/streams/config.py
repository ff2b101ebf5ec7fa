"""Config topics → validated → tables. Refused records go to the rejected topic.

Three agents, one per compacted topic (key = the record's id, null value =
delete), each through its own guarded loop (``kafka/loop.py``: records Faust
skipped read back first; each record acked once applied or rejected). A
record is applied only when it is valid as a whole; otherwise the previous
version stays in force and the rejected topic gets the record with a reason
per field — an unexpected failure too (``InternalError``). Only a failure to
write the rejected record, or to read back what Faust skipped, stops the
worker, so nothing is committed past it.

An action is valid when its model validates, its key equals its id, a
registration exists for its (trigger, service, target), the integration it
names exists and belongs to the same organization, and the registration's
``validate_action()`` passes.

No tenant's action holds up another's config change:

- an action may wait up to :data:`INTEGRATION_WAIT_SECONDS` for its
  integration, so the actions loop applies records as jobs of an in-flight
  set keyed by the record's key, the action id (``max_pending``): one
  action's versions in offset order — a later one never overtakes one still
  waiting — other actions beside them; acks stay in offset order, so the
  committed offset never passes a record still waiting;
- the checks (``checks.check_action``: a registration's ``validate_action()``
  may ask its service, as Slack's live channel check does, with blocking
  I/O) run in a thread pool of their own (:data:`CHECK_THREADS`; not the
  loop's default executor, which resolves the deliveries' host names), never
  on the event loop; a check that runs longer than
  :data:`CHECK_TIMEOUT_SECONDS` refuses its action.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import faust

from notification_actions.models.checks import check_action
from notification_actions.errors import InvalidAction, Problem
from notification_actions.logs import context
from notification_actions.metrics import DETACHED, Metrics
from notification_actions.models import Directory, Integration, NotificationAction
from notification_actions.models.validation import parse_numeric_id, parse_record
from notification_actions.models.registry import Registry
from notification_actions.settings import Settings
from notification_actions.kafka.gaps import GapReader
from notification_actions.kafka.loop import Crash, ConsumeLoop
from notification_actions.streams.dead_letters import DeadLetters
from notification_actions.tables.actions import ActionsTable
from notification_actions.tables.directory import DirectoryTable
from notification_actions.tables.integrations import IntegrationsTable

log = logging.getLogger(__name__)

__all__ = ["ConfigStage"]

# An action published right after its integration may be read before the
# integration reaches this worker's table (they travel on different topics).
INTEGRATION_WAIT_SECONDS = 5.0
# Action records being applied at once (nearly all of them waiting for an integration).
MAX_PENDING_ACTIONS = 1024
# validate_action() may call its service (Slack's live check: 3 s per phase of its request).
CHECK_THREADS = 8
CHECK_TIMEOUT_SECONDS = 15.0  # running, not waiting for a thread: past this the action is refused


def _key(event: faust.EventT) -> str | None:
    key = event.key
    if key is None:
        return None
    return key.decode(errors="replace") if isinstance(key, bytes | bytearray) else str(key)


class ConfigStage:
    metrics: Metrics = DETACHED

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        actions: ActionsTable,
        integrations: IntegrationsTable,
        directory: DirectoryTable,
        rejected: DeadLetters,
        gaps: GapReader,
        crash: Crash,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.actions = actions
        self.integrations = integrations
        self.directory = directory
        self.rejected = rejected
        self.gaps = gaps  # the three agents' topics share one reader (and its tail sweep)
        self.crash = crash
        self._checks = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="config-checks")
        self._check_slots = asyncio.Semaphore(CHECK_THREADS)  # a check waits here, not in the pool's queue
        self._actions = self._loop("action", self._apply_action, secret=False, max_pending=MAX_PENDING_ACTIONS)
        self._integrations = self._loop("integration", self._apply_integration, secret=True)
        self._directory = self._loop("directory", self._apply_directory, secret=False)

    # --- agents ---------------------------------------------------------------
    async def actions_agent(self, stream: faust.StreamT) -> None:
        await self._actions.run(stream)

    async def integrations_agent(self, stream: faust.StreamT) -> None:
        await self._integrations.run(stream)

    async def directory_agent(self, stream: faust.StreamT) -> None:
        await self._directory.run(stream)

    def idle(self) -> bool:
        """No config record being applied (the tail sweep of gaps.py only looks at idle stages)."""
        return all(loop.idle() for loop in (self._actions, self._integrations, self._directory))

    def _loop(self, kind: str, apply, *, secret: bool, max_pending: int | None = None) -> ConsumeLoop:
        """One agent's guarded loop: ``apply`` a record; whatever it raises is a rejection with reasons."""

        async def reject(event: faust.EventT, exc: Exception) -> None:
            self.metrics.config_rejected.labels(kind).inc()
            if isinstance(exc, InvalidAction):
                await self.rejected.send_report(event, exc.problems, error_class="InvalidAction", secret=secret)
                return
            log.error("config record failed unexpectedly", exc_info=exc)
            problem = Problem("", f"internal error while applying: {type(exc).__name__}")
            await self.rejected.send_report(event, [problem], error_class="InternalError", secret=secret)

        return ConsumeLoop(f"config ({kind})", self.gaps, apply, reject, crash=self.crash, max_pending=max_pending)

    # --- actions --------------------------------------------------------------
    async def _apply_action(self, event: faust.EventT) -> None:
        key = _key(event)
        if key is None:
            raise InvalidAction("a config record needs the action id as its key", field="key")
        if event.value is None:
            existed = self.actions.delete(key)
            log.info("action %s deleted%s", key, "" if existed else " (was not present)", extra=context(action_id=key))
            return
        action = parse_record(NotificationAction, event.value)
        if action.id != key:
            raise InvalidAction(f"key {key!r} does not match id {action.id!r}", field="id")
        await self.validate_action(action)
        self.actions.put(action)
        log.info(
            "action %s applied (org %s, %s → %s)",
            action.id, action.organization_id, action.trigger_type.slug, action.service_type.slug,
            extra=context(organization_id=action.organization_id, action_id=action.id),
        )

    async def validate_action(self, action: NotificationAction) -> None:
        """Everything but the model (``checks.check_action``), with the integration waited for.

        The checks run in this stage's thread pool: a registration's
        ``validate_action()`` may block on its service, and the event loop
        matches and fires every other organization's events meanwhile.
        """
        integration = await self._wait_for_integration(action.integration_id) if action.integration_id else None
        check = functools.partial(
            check_action,
            action,
            registry=self.registry,
            integration=integration,
            directory=self.directory.get(action.organization_id),
            settings=self.settings,
        )
        deadline = asyncio.timeout(CHECK_TIMEOUT_SECONDS)
        try:
            async with self._check_slots, deadline:
                await asyncio.get_running_loop().run_in_executor(self._checks, check)
        except TimeoutError:
            if not deadline.expired():
                raise  # the check's own, not our bound
            raise InvalidAction(
                f"the checks of service {action.service_type.slug!r} did not finish within "
                f"{CHECK_TIMEOUT_SECONDS:.0f}s; publish the action again",
                field="service_type",
            ) from None

    async def _wait_for_integration(self, integration_id: str) -> Integration | None:
        deadline = time.monotonic() + INTEGRATION_WAIT_SECONDS
        while True:
            integration = self.integrations.get(integration_id)
            if integration is not None or time.monotonic() >= deadline:
                return integration
            await asyncio.sleep(0.2)

    # --- integrations and directory ------------------------------------------
    async def _apply_integration(self, event: faust.EventT) -> None:
        key = _key(event)
        if key is None:
            raise InvalidAction("an integration record needs the integration id as its key", field="key")
        if event.value is None:
            self.integrations.delete(key)
            log.info("integration %s deleted", key)
            return
        integration = parse_record(Integration, event.value)
        if integration.id != key:
            raise InvalidAction(f"key {key!r} does not match id {integration.id!r}", field="id")
        self.integrations.put(integration)
        log.info("integration %s applied (org %s, %s)", integration.id, integration.organization_id, integration.provider)

    async def _apply_directory(self, event: faust.EventT) -> None:
        key = _key(event)
        if key is None:
            raise InvalidAction("a directory record needs the organization id as its key", field="key")
        if event.value is None:
            organization = parse_numeric_id(key)
            if organization is None:
                raise InvalidAction(f"key {key[:40]!r} is not an organization id (ASCII digits)", field="key")
            self.directory.delete(organization)
            log.info("directory of organization %s deleted", key)
            return
        directory = parse_record(Directory, event.value)
        if str(directory.organization_id) != key:
            raise InvalidAction(
                f"key {key!r} does not match organization_id {directory.organization_id}", field="organization_id"
            )
        self.directory.put(directory)
        log.info("directory of organization %s applied (%d members)", key, len(directory.members))
