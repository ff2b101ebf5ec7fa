"""``replay`` and ``test-fire``: the command-line side of backfills and checks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import orjson

from notification_actions.cli.options import load_settings, parse_time
from notification_actions.errors import ConfigError, InvalidEvent

__all__ = ["replay_command", "test_fire_command"]


@click.command("replay")
@click.option("--topic", default=None, help="The events topic to replay, e.g. events.audit-log "
              "(with --action: default, the topics of the actions' triggers).")
@click.option("--action", "actions", multiple=True, help="Only deliveries of this action (repeatable).")
@click.option("--org", "orgs", type=int, multiple=True, help="Only events of this organization (repeatable).")
@click.option("--project", type=int, default=None, help="Only events of this project.")
@click.option("--partition", "partitions", type=int, multiple=True, help="Only these partitions (repeatable).")
@click.option("--from-offset", type=int, default=None, help="First offset (inclusive), in every chosen partition.")
@click.option("--to-offset", type=int, default=None, help="Last offset (exclusive), in every chosen partition.")
@click.option("--since", default=None, help="From this time (ISO 8601), via offsets-for-times.")
@click.option("--until", default=None, help="Up to this time (ISO 8601, exclusive).")
@click.option("--dry-run", is_flag=True, help="Send nothing; print what would fire (before throttles).")
@click.option("--force", is_flag=True, help="Fire even deliveries whose dedup key already succeeded.")
@click.option("--yes", is_flag=True, help="Send even when the range reaches past the dedup window for "
              "actions not named with --action.")
@click.option("--no-throttle", is_flag=True, help="Do not apply the actions' throttles to this replay.")
@click.option("--rate", type=float, default=None, help="At most this many events per second.")
@click.option("--json", "as_json", is_flag=True, help="Print the final counts as JSON.")
def replay_command(topic, actions, orgs, project, partitions, from_offset, to_offset, since, until, dry_run, force,
                   yes, no_throttle, rate, as_json) -> None:
    """Feed a range of events back through matching and dispatch (backfill), within a scope.

    Runs beside live workers without moving their offsets; the workers apply the
    live throttles. Deliveries keep their dedup keys, so a re-run after an
    interruption sends nothing twice — within DEDUP_TTL_SECONDS: a range older
    than that, for actions not named with --action, is refused without --yes
    (exit code 2) and its counts printed.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from notification_actions.models.replay import ReplayScope
    from notification_actions.ops.replay import replay

    if (from_offset is not None or to_offset is not None) and (since or until):
        raise click.UsageError("give an offset range (--from-offset/--to-offset) or a time range (--since/--until)")
    if topic is None and not actions:
        raise click.UsageError("give --topic, or --action to replay the topics of its trigger")
    settings = load_settings()
    scope = ReplayScope(actions=actions, organizations=orgs, project=project)
    columns = [TextColumn("replaying"), BarColumn(), TextColumn("{task.completed}/{task.total} events"),
               TextColumn("{task.fields[deliveries]} deliveries"), TimeRemainingColumn()]
    with Progress(*columns, disable=as_json or not sys.stderr.isatty()) as bar:
        task = bar.add_task("replay", total=None, deliveries=0)
        try:
            report = asyncio.run(replay(
                settings, topic, scope=scope, partitions=list(partitions) or None, from_offset=from_offset,
                to_offset=to_offset, since=parse_time(since), until=parse_time(until), dry_run=dry_run, force=force,
                throttle=not no_throttle, confirmed=yes, rate=rate,
                progress=lambda r: bar.update(task, completed=r.events, total=r.total, deliveries=r.deliveries),
            ))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(orjson.dumps(report.as_json()).decode())
    else:
        _print_report(report, dry_run)
    if report.refused:
        click.echo(f"Not sent: the range holds events older than the dedup window (DEDUP_TTL_SECONDS="
                   f"{settings.dedup_ttl_seconds:g}); deliveries sent then are no longer recognised, so the "
                   "deliveries counted above would be sent again. Name the actions with --action, narrow "
                   "--since, or confirm with --yes.", err=True)
        raise SystemExit(2)


def _print_report(report, dry_run: bool) -> None:
    verb = ("would fire" if dry_run or report.refused else
            f"sent {report.published} event(s) to the workers for")
    offsets = ", ".join(f"{t} p{p}: {a}-{b}" for (t, p), (a, b) in sorted(report.ranges.items()))
    click.echo(f"{report.events} event(s) read (offsets {offsets}), {report.invalid} invalid; "
               f"{verb} {report.deliveries} deliveries" + ("" if dry_run or report.refused else " (before throttles)"))
    click.echo(f"  scope: {report.scope.describe()}")
    for name, counts in (("action", report.by_action), ("organization", report.by_organization),
                         ("service", report.by_service)):
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
