"""The ``notification-actions`` command line: one module per command group.

- ``root``: the root group; attaches every group's commands; ``main()`` is the console script.
- ``options``: what the groups share: settings, ISO times, JSON from FILE or ``-``, printing refusals.
- ``output``: tables: rich's on a terminal, whole plain lines when piped.
- ``config``: ``actions``, ``integrations`` and ``directory`` put/delete/list, and ``publish``.
- ``worker``: ``worker`` (run a worker) and ``dev-sink`` (a local webhook receiver).
- ``ops``: ``replay`` (backfill a range of an events topic) and ``test-fire`` (fire one action now).
- ``dlq``: ``dlq list|redrive``: inspect and re-submit dead letters.
- ``lag``: ``lag``: consumer lag per partition with a status, once or watched.
- ``kafka``: ``kafka start|stop|status``: a local Apache Kafka for development.
- ``api``: ``api-token`` (a new organization token) and ``local-env`` (a local try-out's settings).
"""

from notification_actions.cli.root import cli, main

__all__ = ["cli", "main"]
