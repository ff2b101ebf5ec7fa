"""What the command groups share: settings, ISO times, JSON input, refusals.

Every command builds its settings with :func:`load_settings`, parses
``--since``/``--until`` with :func:`parse_time`, reads a SOURCE argument (a
file or ``-``) with :func:`read_json` and :func:`as_records`, and reports
records the models refused with :func:`fail_with`.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import orjson
from pydantic import ValidationError

from notification_actions.errors import NotificationActionsError
from notification_actions.settings import Settings, env_name

__all__ = ["ENV_FILE", "as_records", "fail_with", "load_settings", "parse_time", "read_json"]


ENV_FILE = "NOTIFICATION_ACTIONS_ENV_FILE"
"""A settings file read after ``.env`` (``make run`` points it at ``var/local.env``); the environment wins."""


def load_settings() -> Settings:
    """The settings of this run (``NOTIFICATION_ACTIONS_*`` environment, then ``$NOTIFICATION_ACTIONS_ENV_FILE``,
    then ``.env``, defaults otherwise).

    Refused settings end the command with one line per problem, naming the
    variable; the values are never shown (pydantic's own text would quote
    them, a password included).
    """
    env_file = os.environ.get(ENV_FILE)
    try:
        return Settings(_env_file=(".env", env_file)) if env_file else Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            message = error["msg"].removeprefix("Value error, ")
            field = str(error["loc"][0]) if error["loc"] else ""
            lines.append(f"  {env_name(field)}: {message}" if field else f"  {message}")
        raise click.ClickException("invalid settings:\n" + "\n".join(lines)) from None


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time option (``Z`` allowed; no zone means UTC), ``None`` when not given.

    Raises :class:`click.BadParameter` naming the value: a usage error, exit code 2.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-26T20:00:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def read_json(source: str) -> Any:
    """The JSON document in the file ``source``, or on standard input for ``-``."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{source}: not valid JSON: {exc}") from exc


def as_records(doc: Any) -> list[Any]:
    """A SOURCE holds one record or a list of them."""
    return doc if isinstance(doc, list) else [doc]


def fail_with(errors: list[tuple[int, NotificationActionsError]]) -> None:
    """Print each refused record's problems to standard error, then exit 1."""
    for index, exc in errors:
        problems = getattr(exc, "problems", None) or []
        click.echo(f"record {index}: refused", err=True)
        for p in problems:
            click.echo(f"  {p.field or '(record)'}: {p.message}", err=True)
        if not problems:
            click.echo(f"  {exc}", err=True)
    raise SystemExit(1)
