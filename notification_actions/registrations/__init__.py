"""The registrations: one module per service, each registering with the seed's decorator.

Every module is imported here by hand, so this list is the whole list: a new
service's module is added below, and nothing scans this folder for plugins.
Shared pieces (``http``, ``signing``, ``ssrf``, ``text``, ``vendor``) register nothing.
"""

from . import discord, msteams, opsgenie, pagerduty, slack, webhook

__all__ = ["discord", "msteams", "opsgenie", "pagerduty", "slack", "webhook"]
