"""The ``sentry_notification`` service: email to the people of the organization, found by role.

Like Sentry's built-in notifications: target ``specific`` means a *role*
(``owner``, ``manager``, ``billing``, …) and the email goes to every member of
the organization's directory with that role; ``user`` and ``team`` work as for
the ``email`` service. Sending, layout and error classification are
:class:`~notification_actions.registrations.email.MailRegistration`'s.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from notification_actions.models import ActionService, ActionTarget, ActionTrigger
from notification_actions.registrations.base import ActionRegistration

from notification_actions.registrations.email import MailRegistration, MemberTarget, TeamTarget, register_mail

__all__ = ["REGISTRATIONS", "RoleTarget", "SentryNotificationRegistration"]

SERVICE = ActionService.SENTRY_NOTIFICATION

Role = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z][a-z0-9_-]{0,63}$"),
]


class RoleTarget(BaseModel):
    """``specific`` target of ``sentry_notification``: a role of the organization."""

    target_identifier: Role = Field(
        description="Role whose members get the email: owner, manager, admin, member, billing, …"
    )


class SentryNotificationRegistration(MailRegistration):
    """Email the members with the action's role (``specific``), one member (``user``) or a team."""

    def recipients(self) -> list[str]:
        """For a role, the directory's members with it; else as for ``email``."""
        if self.target_type is not ActionTarget.SPECIFIC:
            return super().recipients()
        role = (self.action.target_identifier or "").strip().lower()
        return sorted({m.email for m in self._directory().members_with_role(role)})


TARGET_MODELS = {ActionTarget.SPECIFIC: RoleTarget, ActionTarget.USER: MemberTarget, ActionTarget.TEAM: TeamTarget}

REGISTRATIONS: dict[tuple[ActionTrigger, ActionTarget], type[ActionRegistration]] = {
    (trigger, target): register_mail(SentryNotificationRegistration, SERVICE, trigger, target, model)
    for trigger in ActionTrigger
    for target, model in TARGET_MODELS.items()
}
"""The registered subclass of :class:`SentryNotificationRegistration` for each (trigger, target)."""
