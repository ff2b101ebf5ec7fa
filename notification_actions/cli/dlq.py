"""``notification-actions dlq list|redrive``: inspect and re-submit dead letters.

Tables are rich's on a terminal and whole plain lines when piped (``cli/output.py``); ``--json``
prints one JSON object."""

from __future__ import annotations

import asyncio

import click
import orjson

from notification_actions.cli.options import load_settings, parse_time
from notification_actions.cli.output import is_terminal, print_table
from notification_actions.ops.dlq import Filters, read_dead_letters, redrive, summarise

__all__ = ["dlq"]


def _selection(f):
    options = [
        click.option("--topic", default=None, help="The DLQ to read (default: the deliveries DLQ; "
                     "the events DLQ is NOTIFICATION_ACTIONS_EVENTS_DLQ_TOPIC)."),
        click.option("--org", type=int, default=None, help="Only this organization's dead letters."),
        click.option("--action", "action_id", default=None, help="Only this action's."),
        click.option("--error-class", default=None, help="Only this error class (na-error-class)."),
        click.option("--since", default=None, help="Dead-lettered at or after this ISO 8601 time."),
        click.option("--until", default=None, help="Dead-lettered before this ISO 8601 time."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _read(topic, org, action_id, error_class, since, until):
    settings = load_settings()
    topic = topic or settings.deliveries_dlq_topic
    filters = Filters(org, action_id, error_class, parse_time(since), parse_time(until))
    return settings, topic, asyncio.run(read_dead_letters(settings, topic, filters))


@click.group()
def dlq() -> None:
    """Inspect and redrive dead letters (the DLQ itself is never changed)."""


@dlq.command("list")
@_selection
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def dlq_list(topic, org, action_id, error_class, since, until, as_json) -> None:
    """Summarise dead letters: counts by action, service, error and origin."""
    settings, topic, letters = _read(topic, org, action_id, error_class, since, until)
    summary = summarise(letters)
    if as_json:
        click.echo(orjson.dumps({"topic": topic, "total": len(letters),
                                 **{k: dict(v.most_common()) for k, v in summary.items()}}).decode())
        return
    click.echo(f"{len(letters)} dead letter(s) in {topic}")
    for name, counts in summary.items():
        if counts:
            print_table(f"by {name}", (name, "count"), [(value, str(n)) for value, n in counts.most_common()],
                        right=("count",))


@dlq.command("redrive")
@_selection
@click.option("--dry-run", is_flag=True, help="Print what would be re-submitted; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def dlq_redrive(topic, org, action_id, error_class, since, until, dry_run, as_json) -> None:
    """Re-submit the selected dead letters (deliveries keep their dedup key: no duplicates)."""
    settings, topic, letters = _read(topic, org, action_id, error_class, since, until)
    events = topic == settings.events_dlq_topic
    from rich.progress import Progress

    with Progress(disable=len(letters) < 200 or dry_run or as_json or not is_terminal()) as progress:
        task = progress.add_task("redriving", total=len(letters))
        report = asyncio.run(redrive(settings, letters, events=events, dry_run=dry_run,
                                     progress=lambda n: progress.advance(task, n)))
    if as_json:
        click.echo(orjson.dumps({
            "topic": topic, "dry_run": dry_run, "selected": len(letters), "sent": report.sent,
            "planned": [{"topic": t, "key": k} for t, k in report.planned],
            "skipped": [{"what": what, "why": why} for what, why in report.skipped],
        }).decode())
        return
    for what, why in report.skipped:
        click.echo(f"skipped {what}: {why}", err=True)
    if dry_run:
        for target_topic, key in report.planned:
            click.echo(f"would re-submit to {target_topic}: {key}")
        click.echo(f"dry run: {len(report.planned)} of {len(letters)} selected would be re-submitted")
    else:
        click.echo(f"re-submitted {report.sent} of {len(letters)} selected from {topic}")
