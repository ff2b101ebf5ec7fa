"""One pydantic model per trigger for an event's ``data``, each documented with an example.

Producers may add fields beyond the documented ones (``extra="allow"``):
they are kept and reach conditions and templates. Each model's ``example``
is the JSON shown in its docstring (a test keeps the two equal) and is what
``example_event()`` sends for ``test-fire``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, StringConstraints

from notification_actions.models.enums import ActionTrigger
from notification_actions.models.validation import EmailAddress, HttpUrlStr, StrId

__all__ = [
    "TRIGGER_DATA_MODELS",
    "AuditLogData",
    "BillingData",
    "IssueAlertData",
    "QuotaData",
    "ReleaseCreatedData",
    "SpikeProtectionData",
    "TriggerData",
    "UserFeedbackData",
]

Text = Annotated[str, StringConstraints(min_length=1)]


class TriggerData(BaseModel):
    """Base of the per-trigger data models: extra fields are allowed and kept."""

    model_config = ConfigDict(extra="allow", loc_by_alias=False)

    example: ClassVar[dict[str, Any]] = {}


class AuditLogData(TriggerData):
    """An audit log entry was written.

    Example::

        {"event": "member.invite", "actor": "jane@acme.io", "ip_address": "203.0.113.7",
         "target_object": "42", "data": {"email": "joe@acme.io", "role": "member"}}
    """

    event: Text = Field(description="What was done, e.g. `member.invite`, `project.remove`.")
    actor: Text = Field(description="Who did it: a user's email or name, or an API key's label.")
    ip_address: str | None = Field(None, description="Where the actor came from.")
    target_object: StrId | None = Field(None, description="Id of the object acted on.")
    data: dict[str, Any] = Field(default_factory=dict, description="Details of the entry.")

    example: ClassVar[dict[str, Any]] = {
        "event": "member.invite",
        "actor": "jane@acme.io",
        "ip_address": "203.0.113.7",
        "target_object": "42",
        "data": {"email": "joe@acme.io", "role": "member"},
    }


class UserFeedbackData(TriggerData):
    """A user sent feedback.

    Example::

        {"name": "Joe User", "email": "joe@example.com", "comments": "The checkout page hangs.",
         "event_id": "9fe0a1c2", "url": "https://acme.sentry.io/feedback/17/"}
    """

    name: str = Field(description="The user's name as given (may be empty).")
    email: EmailAddress = Field(description="The user's email address.")
    comments: Text = Field(description="What the user wrote.")
    event_id: StrId | None = Field(None, description="The error event the feedback is about.")
    url: HttpUrlStr | None = Field(None, description="Where to read the feedback.")

    example: ClassVar[dict[str, Any]] = {
        "name": "Joe User",
        "email": "joe@example.com",
        "comments": "The checkout page hangs.",
        "event_id": "9fe0a1c2",
        "url": "https://acme.sentry.io/feedback/17/",
    }


class ReleaseCreatedData(TriggerData):
    """A release was created.

    Example::

        {"version": "backend@2.4.0", "projects": ["backend", "worker"], "commit_count": 12,
         "url": "https://acme.sentry.io/releases/backend@2.4.0/"}
    """

    version: Text = Field(description="The release version.")
    projects: list[StrId] = Field(default_factory=list, description="Slugs (or ids) of the projects released.")
    url: HttpUrlStr | None = Field(None, description="Where to see the release.")
    commit_count: NonNegativeInt | None = Field(None, description="Commits in the release.")

    example: ClassVar[dict[str, Any]] = {
        "version": "backend@2.4.0",
        "projects": ["backend", "worker"],
        "commit_count": 12,
        "url": "https://acme.sentry.io/releases/backend@2.4.0/",
    }


class QuotaData(TriggerData):
    """A quota threshold was crossed for a data category.

    Example::

        {"category": "error", "usage": 81000, "limit": 100000, "period": "2026-11",
         "status": "warning"}
    """

    category: Text = Field(description="Data category, e.g. `error`, `transaction`, `attachment`.")
    usage: NonNegativeInt = Field(description="Used so far in the period (events, or bytes for attachments).")
    limit: NonNegativeInt = Field(description="The quota for the period, in the same unit.")
    period: str | None = Field(None, description="The billing period, e.g. `2026-11`.")
    status: Literal["ok", "warning", "exceeded"] | None = Field(
        None, description="`warning` near the limit, `exceeded` past it, `ok` back under."
    )

    example: ClassVar[dict[str, Any]] = {
        "category": "error",
        "usage": 81000,
        "limit": 100000,
        "period": "2026-11",
        "status": "warning",
    }


class BillingData(TriggerData):
    """A billing event: an invoice, a payment, a plan change.

    Example::

        {"kind": "invoice.paid", "amount": 29.0, "currency": "USD",
         "url": "https://acme.sentry.io/settings/billing/receipts/"}
    """

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")] = Field(
        description="Dotted kind, e.g. `invoice.paid`, `payment.failed`, `plan.changed`."
    )
    amount: float | None = Field(None, description="Amount in `currency` units.")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="ISO 4217 code, e.g. `USD`."
    )
    url: HttpUrlStr | None = Field(None, description="Where to see the details.")

    example: ClassVar[dict[str, Any]] = {
        "kind": "invoice.paid",
        "amount": 29.0,
        "currency": "USD",
        "url": "https://acme.sentry.io/settings/billing/receipts/",
    }


class IssueAlertData(TriggerData):
    """An issue alert rule fired.

    Example::

        {"rule": "High error rate", "issue_id": "1234", "title": "ZeroDivisionError: division by zero",
         "level": "error", "culprit": "app.views.checkout", "url": "https://acme.sentry.io/issues/1234/"}
    """

    rule: Text = Field(description="Name of the alert rule.")
    issue_id: StrId = Field(description="The issue's id.")
    title: Text = Field(description="The issue's title.")
    level: Literal["fatal", "error", "warning", "info", "debug"] = Field(description="The issue's level.")
    culprit: str | None = Field(None, description="Where the issue happens.")
    url: HttpUrlStr | None = Field(None, description="Where to see the issue.")

    example: ClassVar[dict[str, Any]] = {
        "rule": "High error rate",
        "issue_id": "1234",
        "title": "ZeroDivisionError: division by zero",
        "level": "error",
        "culprit": "app.views.checkout",
        "url": "https://acme.sentry.io/issues/1234/",
    }


class SpikeProtectionData(TriggerData):
    """Spike protection was activated or deactivated.

    Example::

        {"status": "activated", "project_id": 10, "threshold": 5000, "window": "1h",
         "url": "https://acme.sentry.io/settings/projects/backend/spike-protection/"}
    """

    status: Literal["activated", "deactivated"] = Field(description="What spike protection did.")
    project_id: int | None = Field(None, description="The project protected (org-wide when absent).")
    threshold: NonNegativeInt | None = Field(None, description="Events per window above which it activates.")
    window: str | None = Field(None, description="The window the threshold counts over, e.g. `1h`.")
    url: HttpUrlStr | None = Field(None, description="Where to see the spike protection settings.")

    example: ClassVar[dict[str, Any]] = {
        "status": "activated",
        "project_id": 10,
        "threshold": 5000,
        "window": "1h",
        "url": "https://acme.sentry.io/settings/projects/backend/spike-protection/",
    }


TRIGGER_DATA_MODELS: dict[ActionTrigger, type[TriggerData]] = {
    ActionTrigger.AUDIT_LOG: AuditLogData,
    ActionTrigger.USER_FEEDBACK: UserFeedbackData,
    ActionTrigger.RELEASE_CREATED: ReleaseCreatedData,
    ActionTrigger.QUOTA: QuotaData,
    ActionTrigger.BILLING: BillingData,
    ActionTrigger.ISSUE_ALERT: IssueAlertData,
    ActionTrigger.SPIKE_PROTECTION: SpikeProtectionData,
}
"""The data model of each trigger; a new trigger needs an entry (a test checks all are covered)."""
