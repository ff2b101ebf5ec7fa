"""Pieces the registrations share; nothing here registers anything.

Import the module you need (``from notification_actions.registrations.support.http
import send``); this package exports nothing itself.

- ``common``: target and integration checks for ``validate_action``,
  ``serialize_available`` entries, alert and delivery keys, and
  ``register``/``register_all``, which make one registration class per trigger.
- ``http``: ``send()``, the one HTTP path: performs a request and classifies
  the answer as success, retryable or permanent failure.
- ``incoming_webhook``: the base of services reached through a secret
  incoming-webhook URL (Discord, Teams).
- ``limits``: vendor limits: cutting text to a size a service accepts.
- ``signing``: request signatures (Standard Webhooks, GitHub's ``sha256=``).
- ``ssrf``: the guard against customer URLs that point into our own network.
- ``text``: what a notification says: templates (read with
  ``models/paths.py``), default summaries, titles and details.
- ``transport``: the HTTP client registrations get: httpx's API over
  aiohttp's connection pool.
"""

__all__: list[str] = []
