"""Tables that read well on a terminal and pipe whole.

On a terminal a table is rich's (colours, wrapped to the window). Anywhere else
— a pipe, a file, ``watch`` — rich would fold a long topic or action id at 80
columns and ``grep`` would miss it, so the table is plain text: one line per
row, columns padded with spaces, nothing cut, no colour. ``--json`` is the
format for programs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

__all__ = ["is_terminal", "print_table"]


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "",
                right: Sequence[str] = (), styles: Sequence[dict[int, str]] | None = None) -> None:
    """Print a table: rich's on a terminal, full-width plain text otherwise.

    ``right``: the headers of right-aligned columns; ``styles``: per row, rich styles by column index."""
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, caption=caption or None)
        for name in headers:
            table.add_column(name, justify="right" if name in right else "left", overflow="fold")
        for i, row in enumerate(rows):
            style = styles[i] if styles else {}
            table.add_row(*(f"[{style[c]}]{v}[/]" if c in style else v for c, v in enumerate(row)))
        Console().print(table)
        return
    widths = [max([len(h)] + [len(r[c]) for r in rows]) for c, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        cells = [v.rjust(w) if h in right else v.ljust(w) for h, v, w in zip(headers, values, widths)]
        return "  ".join(cells).rstrip()

    if title:
        click.echo(f"# {title}")
    click.echo(line(headers))
    for row in rows:
        click.echo(line(row))
    if caption:
        click.echo(f"# {caption}")
