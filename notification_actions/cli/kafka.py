"""``kafka start|stop|status``: run a local Apache Kafka broker for development.

Attached to the main CLI with ``cli.add_command(kafka)``; also runnable alone as
``python -m notification_actions.cli.kafka``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from notification_actions.cli.options import load_settings
from notification_actions.kafka.local.manager import LocalKafka, LocalKafkaError
from notification_actions.settings import Settings

__all__ = ["kafka"]

kafka = click.Group(
    "kafka",
    help="Run a local Apache Kafka broker (KRaft, jars from Maven Central; Java 17 and Maven needed). "
    "Data, logs and pid files live in --data-dir (default: <kafka_home>/data).",
)

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the cluster's data, logs and pid files.  [default: <kafka_home>/data]",
)


def _data_dir(settings: Settings, data_dir: Path | None) -> Path:
    return data_dir if data_dir is not None else settings.kafka_home / "data"


@kafka.command("start")
@click.option("--port", type=click.IntRange(1, 65533), default=9092, show_default=True, help="Client port of node 1.")
@_data_dir_option
@click.option("--nodes", type=click.Choice(["1", "3"]), default="1", show_default=True, help="Cluster size.")
@click.option("--version", "version", default=None, help="Apache Kafka version.  [default: settings' kafka_version]")
@click.option("--heap", default="512m", show_default=True, help="JVM heap per node.")
@click.option("--timeout", type=float, default=180.0, show_default=True, help="Seconds to wait for the broker.")
@click.option("--secure", is_flag=True,
              help="A SASL_SSL client listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with a CA of its own, as a "
              "managed Kafka has; prints the client settings instead of the address.")
def start(port: int, data_dir: Path | None, nodes: str, version: str | None, heap: str, timeout: float,
          secure: bool) -> None:
    """Start a broker in the background.

    Prints the bootstrap address once the broker answers (with --secure: the
    NOTIFICATION_ACTIONS_* settings a client needs, also written to
    <data-dir>/secure/client.env); the broker keeps running after this command
    exits (stop it with `kafka stop`).
    """
    settings = load_settings()
    local = LocalKafka(
        _data_dir(settings, data_dir),
        port=port,
        nodes=int(nodes),
        version=version or settings.kafka_version,
        cache_dir=settings.kafka_home,
        heap=heap,
        secure=secure,
    )
    click.echo(f"starting Apache Kafka {local.version} in {local.data_dir} (the first run downloads jars)", err=True)
    try:
        local.start(timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    if local.tls is None:
        click.echo(local.bootstrap)
        return
    for name, value in local.tls.write_client_env(local.bootstrap).items():
        click.echo(f"{name}={shlex.quote(value)}")
    click.echo(f"SASL_SSL on {local.bootstrap}: user {local.security.username!r} (PLAIN and SCRAM-SHA-256 work too), "
               f"CA {local.tls.cafile}. In a shell: set -a; . {local.tls.env_file}; set +a", err=True)


@kafka.command("stop")
@_data_dir_option
def stop(data_dir: Path | None) -> None:
    """Stop every node of the cluster in --data-dir."""
    local = LocalKafka.from_data_dir(_data_dir(load_settings(), data_dir))
    was_running = local.status()["running"]
    try:
        local.stop()
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("stopped" if was_running else "not running")


@kafka.command("status")
@_data_dir_option
def status(data_dir: Path | None) -> None:
    """Print the status as JSON (exit 1 unless it answers)."""
    state = LocalKafka.from_data_dir(_data_dir(load_settings(), data_dir)).status()
    click.echo(json.dumps(state, indent=2))
    if not state["ready"]:
        raise click.exceptions.Exit(1)


if __name__ == "__main__":
    kafka()
