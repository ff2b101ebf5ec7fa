"""The ``notification-actions`` command line: one module per command group.

``main`` (the console script) attaches every group: ``config`` (actions,
integrations, directory, publish), ``kafka``, ``dlq``, ``ops`` (replay,
test-fire), ``lag``; shared option parsing lives in ``options``.
"""

from notification_actions.cli.main import cli, main

__all__ = ["cli", "main"]
