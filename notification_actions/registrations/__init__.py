"""The registrations: one module per service, each registering with the seed's decorator.

Every module is imported here by hand, so this list is the whole list: a new
service's module is added below, and nothing scans this folder for plugins.
Shared pieces (``http``, ``signing``, ``ssrf``, ``text``, ``common``, ``incoming_webhook``) register nothing.
"""

from notification_actions.registrations import (
    discord,
    email,
    github,
    jira,
    msteams,
    opsgenie,
    pagerduty,
    sentry_app,
    sentry_notification,
    slack,
    webhook,
)

__all__ = [
    "discord", "email", "github", "jira", "msteams", "opsgenie", "pagerduty",
    "sentry_app", "sentry_notification", "slack", "webhook",
]
