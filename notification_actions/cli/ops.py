"""``replay`` and ``test-fire``: the command-line side of backfills and checks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from notification_actions.cli.options import load_settings, parse_time
from notification_actions.errors import ConfigError, InvalidEvent

__all__ = ["replay_command", "test_fire_command"]


@click.command("replay")
@click.option("--topic", required=True, help="The events topic to replay, e.g. events.audit-log.")
@click.option("--partition", "partitions", type=int, multiple=True, help="Only these partitions (repeatable).")
@click.option("--from-offset", type=int, default=None, help="First offset (inclusive), in every chosen partition.")
@click.option("--to-offset", type=int, default=None, help="Last offset (exclusive), in every chosen partition.")
@click.option("--since", default=None, help="From this time (ISO 8601), via offsets-for-times.")
@click.option("--until", default=None, help="Up to this time (ISO 8601, exclusive).")
@click.option("--dry-run", is_flag=True, help="Fire nothing; print what would fire.")
@click.option("--force", is_flag=True, help="Fire even deliveries whose dedup key already succeeded.")
@click.option("--rate", type=float, default=None, help="At most this many events per second.")
def replay_command(topic, partitions, from_offset, to_offset, since, until, dry_run, force, rate) -> None:
    """Feed a range of an events topic back through matching and dispatch (backfill).

    Runs beside live workers without moving their offsets. Deliveries keep
    their dedup keys, so a re-run after an interruption sends nothing twice.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from notification_actions.ops.replay import replay

    if (from_offset is not None or to_offset is not None) and (since or until):
        raise click.UsageError("give an offset range (--from-offset/--to-offset) or a time range (--since/--until)")
    settings = load_settings()
    columns = [TextColumn("replaying"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn()]
    with Progress(*columns, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("replay", total=None)
        try:
            report = asyncio.run(replay(
                settings, topic, partitions=list(partitions) or None, from_offset=from_offset, to_offset=to_offset,
                since=parse_time(since), until=parse_time(until), dry_run=dry_run, force=force, rate=rate,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            ))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    verb = "would fire" if dry_run else "published"
    click.echo(f"{report.events} event(s) read from {topic} "
               f"(offsets {', '.join(f'p{p}: {a}-{b}' for p, (a, b) in sorted(report.ranges.items()))}), "
               f"{report.invalid} invalid; {verb} {report.deliveries} deliveries")
    for name, counts in (("action", report.by_action), ("service", report.by_service)):
        for value, n in counts.most_common():
            click.echo(f"  {name} {value}: {n}")
    for example in report.examples:
        click.echo(f"  e.g. {example}")


@click.command("test-fire")
@click.argument("action_id")
@click.option("--event", "event_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="An event envelope (JSON); a sample for the action's trigger otherwise.")
def test_fire_command(action_id: str, event_file: Path | None) -> None:
    """Fire one action now and print the outcome (no dedup, no table writes)."""
    from notification_actions.ops.testfire import test_fire

    try:
        result = asyncio.run(test_fire(load_settings(), action_id, event_file.read_bytes() if event_file else None))
    except (ConfigError, InvalidEvent) as exc:
        raise click.ClickException(str(exc)) from exc
    state = "ok" if result.ok else f"failed: {result.error_class} (code {result.code})"
    click.echo(f"{state}; status {result.status}; {result.latency_ms:.0f} ms")
    if result.detail:
        click.echo(result.detail[:500])
    if not result.ok:
        raise SystemExit(1)
