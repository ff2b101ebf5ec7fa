"""A record of the replay topic: an event handed back to the workers, with what to do with it.

``replay`` and the backfill jobs (``ops/replay.py``, ``ops/backfill.py``) copy a
selected event — key and value untouched — to the replay topic, into the
partition it had in its events topic, with one ``na-replay`` header holding a
:class:`ReplayRequest`: the scope asked for, ``force`` and ``throttle``, and where
the event was read. The workers' replay agent (``streams/replayed.py``) matches
it as live matching does, keeps only the deliveries in scope and, unless
``throttle`` is false, counts them in the live throttle windows.

Example header value::

    {"trigger": "audit-log", "source": {"topic": "events.audit-log", "partition": 3, "offset": 1200},
     "actions": ["42"], "organizations": [], "project": null, "force": false, "throttle": true, "job": null}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notification_actions.models.action import NotificationAction
from notification_actions.models.delivery import Origin
from notification_actions.models.enums import Trigger
from notification_actions.models.event import Event

__all__ = ["ReplayRequest", "ReplayScope"]


class ReplayScope(BaseModel):
    """Which deliveries a replay may produce. An empty list, or no project, does not narrow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: tuple[str, ...] = ()
    organizations: tuple[int, ...] = ()
    project: int | None = None

    def takes_event(self, event: Event) -> bool:
        """The event is of a chosen organization and project."""
        if self.organizations and event.organization_id not in self.organizations:
            return False
        return self.project is None or event.project_id == self.project

    def takes_action(self, action: NotificationAction) -> bool:
        return not self.actions or action.id in self.actions

    def describe(self) -> str:
        parts = [f"action {', '.join(self.actions)}" if self.actions else "every action",
                 f"organization {', '.join(map(str, self.organizations))}" if self.organizations else "",
                 f"project {self.project}" if self.project is not None else ""]
        return "; ".join(p for p in parts if p)


class ReplayRequest(ReplayScope):
    """The ``na-replay`` header of a replay-topic record (see the module docstring)."""

    trigger: Trigger
    source: Origin
    force: bool = False
    throttle: bool = True
    job: str | None = None

    def to_header(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_header(cls, raw: bytes) -> "ReplayRequest":
        return cls.model_validate_json(raw)
