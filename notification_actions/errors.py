"""The exceptions of notification_actions, in one tree.

    NotificationActionsError
    ├── ConfigError                    a setting or a CLI argument is wrong
    ├── InvalidEvent                   an event envelope cannot be used
    ├── InvalidAction                  an action/integration/directory record is refused
    ├── RegistrationError              a registration is declared wrong (import time)
    │   └── UnknownRegistration        no registration for a (trigger, service, target)
    └── DeliveryError                  a fire() failed
        ├── RetryableDeliveryError     worth trying again (retry_after seconds, if known)
        └── PermanentDeliveryError     will fail the same way again (code from the service)

Every error a user can cause says what was wrong and where: ``problems`` is a
list of ``Problem(field, message)`` and ``where`` names the record's place
(topic/partition/offset) once it is known. Messages never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "DeliveryError",
    "InvalidAction",
    "InvalidEvent",
    "NotificationActionsError",
    "PermanentDeliveryError",
    "Problem",
    "RegistrationError",
    "RetryableDeliveryError",
    "UnknownRegistration",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field: ``field`` is a dotted path (``data.event``)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "error": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class NotificationActionsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(NotificationActionsError):
    """A setting or command-line argument is wrong."""


class _RecordError(NotificationActionsError):
    """A record (event, action, …) was refused for one or more ``problems``."""

    def __init__(self, problems: list[Problem] | str, *, field: str = "", where: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(field, problems)]
        self.problems: list[Problem] = list(problems)
        self.where = where
        super().__init__(self._render())

    def _render(self) -> str:
        text = "; ".join(str(p) for p in self.problems) or "invalid"
        return f"{text} (at {self.where})" if self.where else text

    def at(self, where: str) -> "_RecordError":
        """Return the same error, placed at ``where`` (e.g. ``topic[2]@17``)."""
        self.where = where
        self.args = (self._render(),)
        return self


class InvalidEvent(_RecordError):
    """An event envelope was undecodable or invalid; it goes to the events DLQ."""


class InvalidAction(_RecordError):
    """A config record (action, integration, directory) was refused; it goes to the rejected topic."""


class RegistrationError(NotificationActionsError):
    """A registration was declared wrong: duplicate triple, unknown enum value."""


class UnknownRegistration(RegistrationError, LookupError):
    """No registration exists for a (trigger, service, target) triple."""


class DeliveryError(NotificationActionsError):
    """A ``fire()`` failed. ``code`` is the service's own error code or HTTP status."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class RetryableDeliveryError(DeliveryError):
    """Worth another attempt, no sooner than ``retry_after`` seconds when given."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Will fail the same way again: dead-letter it."""
