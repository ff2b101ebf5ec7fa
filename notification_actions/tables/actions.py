"""The actions table and the index the matching agent reads.

Every worker holds every action: the table is a Faust ``GlobalTable`` keyed by
action id, mirroring the compacted config topic. Matching must not scan all
actions, so each worker also keeps an in-memory index
``(organization_id, trigger) → {action_id: NotificationAction}``.

The index follows the table through three doors:
1. writes made by this worker's config agent (``put``/``delete`` below);
2. changelog records written by other workers (``on_changelog_event``);
3. a full rebuild after recovery (``on_recover``), which covers what RocksDB
   already held before the worker started and what recovery read from the
   changelog (door 2 stays shut until that first rebuild).
All three are idempotent, so a record seen twice does no harm.

A stored action that today's rules refuse (stored before a limit existed: a
regex RE2 will not run, an oversize template) is not indexed, so it never
fires; doors 2 and 3 hand it to ``on_refused`` (the worker writes it to the
rejected topic with its reasons and counts it) and recovery goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from pydantic import ValidationError

from notification_actions.errors import Problem
from notification_actions.kafka.recovery import batch_recovery
from notification_actions.models.action import NotificationAction
from notification_actions.models.enums import ActionTrigger
from notification_actions.models.validation import problems_from
from notification_actions.tables import heap
from notification_actions.tables.raw import raw_codecs

log = logging.getLogger(__name__)

__all__ = ["ActionIndex", "ActionsTable", "Refused"]

IndexKey = tuple[int, int]
Refused = Callable[[str, bytes, list[Problem]], Awaitable[None]]
"""``on_refused(key, stored value, problems)``: a stored action today's rules refuse."""


class ActionIndex:
    """(organization, trigger) → actions; O(1) lookup whatever the total count."""

    def __init__(self) -> None:
        self._by_scope: dict[IndexKey, dict[str, NotificationAction]] = {}
        self._scope_of: dict[str, IndexKey] = {}

    def put(self, action: NotificationAction) -> None:
        scope = (action.organization_id, int(action.trigger_type))
        old = self._scope_of.get(action.id)
        if old is not None and old != scope:
            self._remove_from(old, action.id)
        self._by_scope.setdefault(scope, {})[action.id] = action
        self._scope_of[action.id] = scope

    def delete(self, action_id: str) -> None:
        scope = self._scope_of.pop(action_id, None)
        if scope is not None:
            self._remove_from(scope, action_id)

    def _remove_from(self, scope: IndexKey, action_id: str) -> None:
        bucket = self._by_scope.get(scope)
        if bucket is not None:
            bucket.pop(action_id, None)
            if not bucket:
                del self._by_scope[scope]

    def lookup(self, organization_id: int, trigger: ActionTrigger | int) -> list[NotificationAction]:
        bucket = self._by_scope.get((organization_id, int(trigger)))
        return list(bucket.values()) if bucket else []

    def of_organization(self, organization_id: int,
                        triggers: list[ActionTrigger] | None = None) -> list[NotificationAction]:
        """The organization's actions (of ``triggers``, all when None): one lookup per trigger, no scan."""
        return [a for t in (triggers or list(ActionTrigger)) for a in self.lookup(organization_id, t)]

    def get(self, action_id: str) -> NotificationAction | None:
        scope = self._scope_of.get(action_id)
        return self._by_scope[scope].get(action_id) if scope else None

    def clear(self) -> None:
        self._by_scope.clear()
        self._scope_of.clear()

    def __len__(self) -> int:
        return len(self._scope_of)

    def all(self) -> list[NotificationAction]:
        return [a for bucket in self._by_scope.values() for a in bucket.values()]


def _decode(raw: Any) -> NotificationAction | None:
    if raw is None:
        return None
    return _compact(NotificationAction.model_validate_json(raw))


class _AllFields(set):
    """The one ``__pydantic_fields_set__`` shared by every indexed action that has all its
    fields set (every stored one: the table holds full dumps). A set per action was
    ~40 % of the index's memory (76 of 163 MB with 100,000 actions). Setting a field
    again (pydantic adds its name) changes nothing; every other change is refused."""

    def add(self, name: str) -> None:
        if name not in self:
            raise TypeError(f"indexed actions share a read-only fields set: cannot add {name!r}")

    def update(self, *groups) -> None:
        for group in groups:
            for name in group:
                self.add(name)

    def _refuse(self, *args, **kwargs):
        raise TypeError("indexed actions share a read-only fields set")

    discard = remove = pop = clear = difference_update = intersection_update = _refuse
    symmetric_difference_update = __ior__ = __iand__ = __isub__ = __ixor__ = _refuse


_ALL_FIELDS = _AllFields(NotificationAction.model_fields)


def _compact(action: NotificationAction) -> NotificationAction:
    if action.__pydantic_fields_set__ == _ALL_FIELDS:
        object.__setattr__(action, "__pydantic_fields_set__", _ALL_FIELDS)
    return action


class ActionsTable:
    """The GlobalTable of action definitions and its index, kept in step."""

    def __init__(self, app: faust.App) -> None:
        self.index = ActionIndex()
        self.changes_since_settle = 0  # index changes since the heap was last settled (heap.py)
        self.rebuilt = False  # the index has been built from the table at least once
        self.on_refused: Refused | None = None
        self.refused: dict[str, list[Problem]] = {}  # stored but not indexed, with the reasons
        self.table = app.GlobalTable(
            "actions",
            partitions=1,
            # faust's GlobalTable warns of a recovery loop with several
            # workers unless partitions=1 and recovery_buffer_size=1; recovery
            # itself still reads in batches (batch_recovery below).
            recovery_buffer_size=1,
            use_partitioner=True,
            **raw_codecs(),
            on_changelog_event=self._on_changelog_event,
            on_recover=self._rebuild,
            help="Notification action definitions by id.",
        )
        batch_recovery(app, self.table)

    async def _on_changelog_event(self, event: faust.EventT) -> None:
        if not self.rebuilt:
            # Still recovering: Faust writes this record to the table, and the
            # rebuild that follows recovery reads it from there. Decoding it
            # here too cost ~1 s per 40,000 records of a restart.
            return
        # The raw record, as Faust's own stores read it: event.value may
        # already have passed through a codec.
        raw_key, raw_value = event.message.key, event.message.value
        key = raw_key.decode() if isinstance(raw_key, bytes | bytearray) else str(raw_key)
        action = await self._decode_or_refuse(key, raw_value)
        if action is None:
            self.index.delete(key)
        else:
            self.refused.pop(key, None)
            self.index.put(action)
        self.changes_since_settle += 1

    async def _decode_or_refuse(self, key: str, raw: Any) -> NotificationAction | None:
        """The stored action, or None (deleted, or refused by today's rules and reported)."""
        try:
            return _decode(raw)
        except ValidationError as exc:
            problems = problems_from(exc)
        except Exception as exc:  # not even JSON: written by something that is not us
            problems = [Problem("", f"undecodable stored action: {type(exc).__name__}")]
        self.refused[key] = problems
        log.error("stored action %s is refused by the current rules and will not fire: %s",
                  key, "; ".join(str(p) for p in problems))
        if self.on_refused is not None:
            try:
                await self.on_refused(key, bytes(raw), problems)
            except Exception:  # reporting must not stop recovery
                log.exception("could not report refused stored action %s", key)
        return None

    async def _rebuild(self) -> None:
        started = time.monotonic()
        self.index.clear()
        self.refused.clear()
        with heap.paused():  # 100,000 long-lived objects: no collection halfway (heap.py)
            for key, raw in self.table.items():
                name = key.decode(errors="replace") if isinstance(key, bytes | bytearray) else str(key)
                action = await self._decode_or_refuse(name, raw)
                if action is not None:
                    self.index.put(action)
        log.info("actions index rebuilt: %d actions in %.1fs", len(self.index), time.monotonic() - started)
        self._settle("the actions index was rebuilt")
        self.rebuilt = True

    def settle_heap(self, *, after_changes: int) -> bool:
        """Settle the heap (heap.py) when the index changed ``after_changes`` times or more
        since it was last settled: a bulk config change leaves many new long-lived objects."""
        if self.changes_since_settle < after_changes:
            return False
        self._settle(f"{self.changes_since_settle:,} action changes")
        return True

    def _settle(self, reason: str) -> None:
        heap.settle(reason)
        self.changes_since_settle = 0

    def put(self, action: NotificationAction) -> None:
        raw = orjson.dumps(action.model_dump(mode="json"))
        self.table[action.id.encode()] = raw
        self.index.put(_compact(action))
        self.changes_since_settle += 1

    def delete(self, action_id: str) -> bool:
        key = action_id.encode()
        existed = key in self.table
        if existed:
            del self.table[key]
        self.index.delete(action_id)
        self.changes_since_settle += 1
        return existed

    def get(self, action_id: str) -> NotificationAction | None:
        return self.index.get(action_id)
