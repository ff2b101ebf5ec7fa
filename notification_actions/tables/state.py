"""What the workers hold, read from their tables' changelog topics.

The config topics also carry records that were *refused*; the changelogs of
the ``actions``, ``integrations`` and ``directory`` tables carry only what was
applied. Command-line tools (``list``, ``test-fire``, ``replay``, local
validation) read these, so they see what the workers see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from notification_actions.kafka.io import read_compacted
from notification_actions.models import Directory, Integration, NotificationAction
from notification_actions.settings import Settings

__all__ = ["WorkerState", "changelog_topic", "load_state"]


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog: ``<app_id>-<table>-changelog``."""
    return f"{settings.app_id}-{table}-changelog"


@dataclass
class WorkerState:
    actions: dict[str, NotificationAction]
    integrations: dict[str, Integration]
    directories: dict[int, Directory]
    #: stored actions today's rules refuse (they do not fire: tables/actions.py), by id, with why
    refused: dict[str, str] = field(default_factory=dict)


def _actions(raw: dict[bytes, bytes], refused: dict[str, str]) -> dict[str, NotificationAction]:
    out = {}
    for key, value in raw.items():
        name = key.decode(errors="replace")
        try:
            out[name] = NotificationAction.model_validate(orjson.loads(value))
        except Exception as exc:  # the same records the workers refuse to index
            refused[name] = type(exc).__name__
    return out


async def load_state(settings: Settings, *, actions: bool = True, integrations: bool = True,
                     directories: bool = True) -> WorkerState:
    state = WorkerState({}, {}, {})
    if actions:
        raw = await read_compacted(settings, changelog_topic(settings, "actions"))
        state.actions = _actions(raw, state.refused)
    if integrations:
        raw = await read_compacted(settings, changelog_topic(settings, "integrations"))
        state.integrations = {k.decode(): Integration.from_storage(v) for k, v in raw.items()}
    if directories:
        raw = await read_compacted(settings, changelog_topic(settings, "directory"))
        state.directories = {int(k): Directory.model_validate(orjson.loads(v)) for k, v in raw.items()}
    return state
