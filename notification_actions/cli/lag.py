"""``notification-actions lag``: consumer lag as a table (or JSON), once or watched.

The sampling and the statuses are ``ops/lag.py``'s; this module only prints them: a rich
table on a terminal, whole plain lines when piped (``grep`` finds full topic names), or JSON.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import click
import orjson
from aiokafka.errors import KafkaConnectionError

from notification_actions.cli.options import load_settings
from notification_actions.cli.output import is_terminal, print_table
from notification_actions.kafka.security import connection_problem
from notification_actions.ops.lag import EXIT_UNKNOWN, LagProbe, LagReport, Sample, evaluate
from notification_actions.settings import Settings

__all__ = ["lag_command"]


HEADERS = ("group", "topic", "partition", "committed", "end", "lag", "lag s", "status")
RIGHT = ("partition", "committed", "end", "lag", "lag s")
COLORS = {"OK": "green", "WARN": "yellow", "STALL": "red", "STOP": "red"}


def _rows(report: LagReport, show_all: bool) -> tuple[str, list[tuple[str, ...]], str]:
    """The title, the rows (partitions with lag or not OK, or all) and the caption of a report's table."""
    rows, hidden = [], 0
    for p in report.partitions:
        if not show_all and p.lag == 0 and p.status == "OK":
            hidden += 1
            continue
        rows.append((p.group, p.topic, str(p.partition), "-" if p.committed is None else str(p.committed),
                     str(p.end), str(p.lag), "-" if p.lag_seconds is None else f"{p.lag_seconds:.1f}", p.status))
    members = ", ".join(f"{g}: {n} member(s)" for g, n in report.members.items())
    title = f"consumer lag: {report.status} ({report.samples} sample(s) over {report.window_seconds:.1f}s)"
    return title, rows, members + (f"; {hidden} partition(s) OK without lag not shown (--all)" if hidden else "")


def _print(report: LagReport, show_all: bool) -> None:
    """The report as a table: rich's on a terminal, whole lines when piped (``cli/output.py``)."""
    title, rows, caption = _rows(report, show_all)
    print_table(title, HEADERS, rows, right=RIGHT, styles=[{7: COLORS[r[7]]} for r in rows], caption=caption)


def _table(report: LagReport, show_all: bool):
    """The report as a rich table, for ``--watch`` on a terminal."""
    from rich.table import Table

    title, rows, caption = _rows(report, show_all)
    table = Table(title=title, caption=caption)
    for name in HEADERS:
        table.add_column(name, justify="right" if name in RIGHT else "left", overflow="fold")
    for row in rows:
        table.add_row(*row[:7], f"[{COLORS[row[7]]}]{row[7]}[/]")
    return table


async def _watch(settings: Settings, samples: int, interval: float, as_json: bool, show_all: bool, once: bool) -> int:
    from rich.console import Console
    from rich.live import Live

    window: deque[Sample] = deque(maxlen=samples)
    async with LagProbe(settings) as probe:
        if once:
            for i in range(samples):
                if i:
                    await asyncio.sleep(interval)
                window.append(await probe.sample())
            report = evaluate(list(window))
            if as_json:
                click.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
            else:
                _print(report, show_all)
            return report.exit_code
        report = None
        # a pipe gets one whole table per sample (a live display would only show the last one)
        live = None if as_json or not is_terminal() else Live(auto_refresh=False, console=Console())
        try:
            if live is not None:
                live.start()
            while True:
                window.append(await probe.sample())
                report = evaluate(list(window))
                if live is not None:
                    live.update(_table(report, show_all), refresh=True)
                elif as_json:
                    click.echo(orjson.dumps(report.to_dict()).decode())
                else:
                    _print(report, show_all)
                    click.echo()
                await asyncio.sleep(interval)
        except (KeyboardInterrupt, asyncio.CancelledError):
            return report.exit_code if report else EXIT_UNKNOWN
        finally:
            if live is not None:
                live.stop()


@click.command("lag")
@click.option("--samples", default=3, show_default=True, type=click.IntRange(1, 1000),
              help="Samples to take; statuses are judged over them (the window).")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.0, min_open=False),
              help="Seconds between samples.")
@click.option("--watch", is_flag=True, help="Keep sampling and refresh the table (a rolling window of --samples).")
@click.option("--json", "as_json", is_flag=True, help="JSON output (with --watch: one object per line).")
@click.option("--all", "show_all", is_flag=True, help="Also list partitions that are OK and have no lag.")
def lag_command(samples: int, interval: float, watch: bool, as_json: bool, show_all: bool) -> None:
    """Consumer lag per group/topic/partition, in messages and seconds, with a status.

    Statuses: OK, WARN (lag growing), STALL (offset stuck while the group is
    alive), STOP (nobody consumes while lag > 0). Exit code: 0 all OK, 1 WARN,
    2 STALL or STOP, 3 lag could not be read.
    """
    settings = load_settings()
    try:
        code = asyncio.run(_watch(settings, samples, interval, as_json, show_all, once=not watch))
    except KeyboardInterrupt:
        code = 0
    except Exception as exc:
        problem = asyncio.run(connection_problem(settings)) if isinstance(exc, KafkaConnectionError) else None
        click.echo(f"could not read consumer lag from {settings.broker}: {problem or repr(exc)}", err=True)
        code = EXIT_UNKNOWN
    sys.exit(code)
