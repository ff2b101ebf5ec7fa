"""``notification-actions lag``: consumer lag as a table (or JSON), once or watched.

The sampling and the statuses are ``ops/lag.py``'s; this module only prints them.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import click
import orjson
from aiokafka.errors import KafkaConnectionError

from notification_actions.cli.options import load_settings
from notification_actions.kafka.security import connection_problem
from notification_actions.ops.lag import EXIT_UNKNOWN, LagProbe, LagReport, Sample, evaluate
from notification_actions.settings import Settings

__all__ = ["lag_command"]


def _table(report: LagReport, show_all: bool):
    from rich.table import Table

    table = Table(title=f"consumer lag: {report.status} ({report.samples} sample(s) over {report.window_seconds:.1f}s)")
    for name, justify in (("group", "left"), ("topic", "left"), ("partition", "right"), ("committed", "right"),
                          ("end", "right"), ("lag", "right"), ("lag s", "right"), ("status", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    colors = {"OK": "green", "WARN": "yellow", "STALL": "red", "STOP": "red"}
    hidden = 0
    for p in report.partitions:
        if not show_all and p.lag == 0 and p.status == "OK":
            hidden += 1
            continue
        table.add_row(
            p.group, p.topic, str(p.partition), "-" if p.committed is None else str(p.committed), str(p.end),
            str(p.lag), "-" if p.lag_seconds is None else f"{p.lag_seconds:.1f}",
            f"[{colors[p.status]}]{p.status}[/]",
        )
    members = ", ".join(f"{g}: {n} member(s)" for g, n in report.members.items())
    table.caption = members + (f"; {hidden} partition(s) OK without lag not shown (--all)" if hidden else "")
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
                Console().print(_table(report, show_all))
            return report.exit_code
        report = None
        live = None if as_json else Live(auto_refresh=False, console=Console())
        try:
            if live is not None:
                live.start()
            while True:
                window.append(await probe.sample())
                report = evaluate(list(window))
                if live is not None:
                    live.update(_table(report, show_all), refresh=True)
                else:
                    click.echo(orjson.dumps(report.to_dict()).decode())
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
