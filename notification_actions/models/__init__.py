"""The typed data of the service: enums, events, actions, integrations, directories.

Everything a message on a topic can be is a pydantic model here; everything
else in the package passes these models (never loose dicts) between stages.

Modules:

- ``action``: the notification action (``NotificationAction``) with its
  ``Condition`` list and ``Throttle``, as carried on the config topic.
- ``checks``: what an action must pass beyond its model (``check_action``,
  ``ActionInput``), shared by the config agent and the command line.
- ``delivery``: the records between stages: ``Delivery``, ``Outcome``,
  ``Origin`` and ``dedup_key``.
- ``directory``: an organization's members and teams (``Directory``).
- ``enums``: the trigger, service and target enums, with Sentry's values.
- ``event``: the event envelope (``Event``), its decoder (``decode_event``, and ``check_event``: the
  same checks, the normalized event built on demand) and example events.
- ``integration``: an installed integration and its masked credentials.
- ``paths``: the one dotted-path resolver (``resolve``, ``MISSING``) behind
  conditions, templates and throttle keys.
- ``replay``: the ``na-replay`` header of a replayed event: its scope and flags.
- ``regex``: tenants' ``regex`` conditions on RE2 (linear time, bounded memory).
- ``registry``: which registration class serves each (trigger, service,
  target) (``Registry``, ``REGISTRY``).
- ``template``: tenants' ``{{ path }}`` templates, bounded in length, placeholders and rendered size.
- ``triggers``: one model per trigger for an event's ``data``.
- ``validation``: pydantic errors as ``Problem`` lists, record parsing,
  shared field types.

Modules in here import each other directly (``from
notification_actions.models.event import Event``), never through this
package, which imports them all: that would be an import circle.
"""

from notification_actions.models.action import Condition, ConditionOp, NotificationAction, Throttle
from notification_actions.models.checks import ActionInput, check_action
from notification_actions.models.delivery import Delivery, Origin, Outcome, dedup_key
from notification_actions.models.directory import Directory, Member, Team
from notification_actions.models.enums import ActionService, ActionTarget, ActionTrigger, Service, Target, Trigger
from notification_actions.models.event import CheckedEvent, Event, check_event, decode_event, example_event
from notification_actions.models.integration import MASK, Integration
from notification_actions.models.registry import REGISTRY, Registry
from notification_actions.models.triggers import (
    TRIGGER_DATA_MODELS,
    AuditLogData,
    BillingData,
    IssueAlertData,
    QuotaData,
    ReleaseCreatedData,
    SpikeProtectionData,
    TriggerData,
    UserFeedbackData,
)
from notification_actions.models.validation import EmailAddress, HttpUrlStr, StrId, parse_record, problems_from

__all__ = [
    "MASK",
    "REGISTRY",
    "TRIGGER_DATA_MODELS",
    "ActionInput",
    "ActionService",
    "ActionTarget",
    "ActionTrigger",
    "AuditLogData",
    "BillingData",
    "Condition",
    "ConditionOp",
    "Delivery",
    "Directory",
    "EmailAddress",
    "Event",
    "HttpUrlStr",
    "Integration",
    "IssueAlertData",
    "Member",
    "NotificationAction",
    "Origin",
    "Outcome",
    "QuotaData",
    "Registry",
    "ReleaseCreatedData",
    "Service",
    "SpikeProtectionData",
    "StrId",
    "Target",
    "Team",
    "Throttle",
    "Trigger",
    "TriggerData",
    "UserFeedbackData",
    "CheckedEvent",
    "check_action",
    "check_event",
    "decode_event",
    "dedup_key",
    "example_event",
    "parse_record",
    "problems_from",
]
