"""``worker`` and ``dev-sink``: the processes the command line runs in the foreground."""

from __future__ import annotations

import os

import click

from notification_actions.cli.options import load_settings
from notification_actions.logs import log_format_option

__all__ = ["dev_sink", "worker"]


@click.command()
@log_format_option
def worker() -> None:
    """Run a worker (several form one consumer group and share the partitions).

    With NOTIFICATION_ACTIONS_BROKER unset and no broker answering at the
    default address, a local Apache Kafka is started first (and stopped on exit).
    """
    from notification_actions.worker.runner import run_worker

    run_worker(load_settings(), broker_configured="NOTIFICATION_ACTIONS_BROKER" in os.environ)


@click.command("dev-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=18080, show_default=True, type=int)
@click.option("--secret", default=None, help="whsec_… secret: verify Standard Webhooks signatures.")
def dev_sink(host: str, port: int, secret: str | None) -> None:
    """A local webhook receiver that prints what it gets (for trying things out)."""
    from notification_actions.ops.devsink import serve

    serve(host, port, secret)
