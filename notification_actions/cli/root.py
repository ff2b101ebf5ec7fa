"""The ``notification-actions`` root group: every command group's module attaches here."""

from __future__ import annotations

import click

from notification_actions.cli.api import api_token, local_env
from notification_actions.cli.config import actions, directory, integrations, publish
from notification_actions.cli.dlq import dlq
from notification_actions.cli.kafka import kafka
from notification_actions.cli.lag import lag_command
from notification_actions.cli.ops import replay_command, test_fire_command
from notification_actions.cli.options import load_settings
from notification_actions.cli.worker import dev_sink, worker
from notification_actions.errors import ConfigError

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="notification-actions")
def cli() -> None:
    """Notification Actions: product events on Kafka → notifications on third-party services."""


cli.add_command(actions)  # config.py
cli.add_command(integrations)
cli.add_command(directory)
cli.add_command(publish)
cli.add_command(worker)  # worker.py
cli.add_command(dev_sink)
cli.add_command(replay_command)  # ops.py
cli.add_command(test_fire_command)
cli.add_command(dlq)  # dlq.py
cli.add_command(lag_command)  # lag.py
cli.add_command(kafka)  # kafka.py
cli.add_command(api_token)  # api.py
cli.add_command(local_env)


def main() -> None:
    """The console script. A command that cannot reach Kafka ends with why (refused
    credentials, a certificate that does not verify, …: ``kafka/security.py``), not a traceback."""
    from aiokafka.errors import KafkaConnectionError

    try:
        cli(prog_name="notification-actions")
    except ConfigError as exc:
        raise SystemExit(f"Error: {exc}") from None
    except KafkaConnectionError:
        import asyncio

        from notification_actions.kafka.security import connection_problem

        settings = load_settings()
        problem = asyncio.run(connection_problem(settings)) or f"lost the connection to Kafka at {settings.broker}"
        raise SystemExit(f"Error: {problem}") from None
