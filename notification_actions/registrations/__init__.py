"""The registrations: one module per service, each registering with the seed's decorator.

Every service module is imported here by hand, so the import below is the
whole list: a new service's module is added to it, and nothing scans this
folder for plugins. What is in the folder:

- ``base``: ``ActionRegistration``, the class every registration subclasses,
  with ``FireContext`` and ``FireResult``; registers nothing.
- ``catalog``: every registered (trigger, service, target) with its class
  name, written out, so a grep for ``SlackAuditLogRegistration`` finds it; a
  checked index (``tests/registrations/test_catalog.py``), it registers nothing.
- ``discord``: an embed to a Discord channel webhook.
- ``email``: a multipart message over SMTP (specific address, user, team).
- ``github``: a GitHub issue per event.
- ``jira``: a Jira Cloud issue per event.
- ``msteams``: an Adaptive Card to a Teams Workflows webhook.
- ``opsgenie``: an Opsgenie alert (specific, or a team).
- ``pagerduty``: a PagerDuty Events API v2 event.
- ``sentry_app``: a signed POST to an installed Sentry app's webhook URL.
- ``sentry_notification``: email to the organization's people, by role, user or team.
- ``slack``: a message to a Slack channel with a bot token.
- ``webhook``: a signed JSON POST to a URL.
- ``support``: the shared pieces (HTTP, signing, SSRF guard, text, limits,
  ``register_all``; see its docstring); registers nothing.
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
