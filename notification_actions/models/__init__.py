"""The typed data of the service: enums, events, actions, integrations, directories.

Everything a message on a topic can be is a pydantic model here; everything
else in the package passes these models (never loose dicts) between stages.
"""

from notification_actions.models.action import Condition, ConditionOp, NotificationAction, Throttle
from notification_actions.models.directory import Directory, Member, Team
from notification_actions.models.enums import ActionService, ActionTarget, ActionTrigger, Service, Target, Trigger
from notification_actions.models.event import Event, decode_event, example_event
from notification_actions.models.integration import MASK, Integration
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
    "TRIGGER_DATA_MODELS",
    "ActionService",
    "ActionTarget",
    "ActionTrigger",
    "AuditLogData",
    "BillingData",
    "Condition",
    "ConditionOp",
    "Directory",
    "EmailAddress",
    "Event",
    "HttpUrlStr",
    "Integration",
    "IssueAlertData",
    "Member",
    "NotificationAction",
    "QuotaData",
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
    "decode_event",
    "example_event",
    "parse_record",
    "problems_from",
]
