"""``worker`` and ``dev-sink``: the processes the command line runs in the foreground."""

from __future__ import annotations

import os

import click

from notification_actions.cli.options import load_settings
from notification_actions.logs import log_format_option

__all__ = ["dev_sink", "worker"]


@click.command()
@log_format_option
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Worker processes on this host, one consumer group: process i keeps its tables in "
                   "DATA_DIR/p<i> and serves WEB_PORT + i; a crashed one is restarted; SIGTERM drains all.")
@click.option("--stop-timeout", default=120.0, show_default=True, type=click.FloatRange(min=1),
              help="With --processes > 1: seconds each process may take to drain before it is killed.")
def worker(processes: int, stop_timeout: float) -> None:
    """Run a worker (several form one consumer group and share the partitions).

    With NOTIFICATION_ACTIONS_BROKER unset and no broker answering at the
    default address, a local Apache Kafka is started first (and stopped on exit).
    """
    from notification_actions.worker.supervisor import CHILD_ENV

    settings = load_settings()
    configured = "NOTIFICATION_ACTIONS_BROKER" in os.environ
    if processes == 1 or CHILD_ENV in os.environ:  # a child of --processes runs one worker
        from notification_actions.worker.runner import run_worker

        run_worker(settings, broker_configured=configured)
        return
    from notification_actions.worker.supervisor import run_processes

    raise SystemExit(run_processes(settings, processes, broker_configured=configured, stop_timeout=stop_timeout))


@click.command("dev-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=18080, show_default=True, type=int)
@click.option("--secret", default=None, help="whsec_… secret: verify Standard Webhooks signatures.")
def dev_sink(host: str, port: int, secret: str | None) -> None:
    """A local webhook receiver that prints what it gets (for trying things out)."""
    from notification_actions.ops.devsink import serve

    serve(host, port, secret)
