"""Logging: human-readable text by default, or one JSON object per line.

``configure_logging(settings)`` puts one handler on the root logger, writing
to stderr, so our logs, Faust's, aiokafka's and Python warnings all share one
format. The worker then starts Faust with ``override_logging=False`` (Faust
would otherwise replace the root handlers with its colour handler on stdout);
in JSON mode the worker's own prints (its "ready" line, the ``-INT-`` banner,
a crash report) go through :class:`LineLogger` so they become JSON too.

Ids a log call knows are passed with ``extra=context(...)`` and appear as
fields in JSON (``organization_id``, ``action_id``, ``delivery_id``, …) and
as a ``key=value`` tail in text.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from typing import IO, Any

import click
import orjson

from notification_actions.settings import Settings

__all__ = [
    "CONTEXT_FIELDS", "JsonFormatter", "LineLogger", "TextFormatter", "configure_logging", "context",
    "log_format_option",
]

FORMATS = ("text", "json")
# Held at WARNING whatever the level: httpx logs request URLs (a webhook URL is a credential);
# at debug, faust.topics and aiokafka's producer log every record sent in full — the
# integrations table's changelog writes, credentials in clear, included.
QUIET_LOGGERS = ("httpx", "httpcore", "faust.topics", "aiokafka.producer", "aiokafka.consumer.fetcher",
                 "faust.transport.drivers.aiokafka")
CONTEXT_FIELDS = ("organization_id", "action_id", "delivery_id", "event_id", "trigger", "service", "integration_id")


def context(**ids: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the ids that are known (``None`` ones are left out)."""
    unknown = set(ids) - set(CONTEXT_FIELDS)
    if unknown:
        raise TypeError(f"not a log context field: {', '.join(sorted(unknown))}")
    return {k: v for k, v in ids.items() if v is not None}


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the known ids, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """``[time] [LEVEL] logger: message key=value…`` (the ids, when known)."""

    def __init__(self) -> None:
        super().__init__("[%(asctime)s] [%(levelname)s] %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        ids = [f"{n}={getattr(record, n)}" for n in CONTEXT_FIELDS if getattr(record, n, None) is not None]
        return f"{text} [{' '.join(ids)}]" if ids else text


class LineLogger(io.TextIOBase):
    """A file-like object whose complete lines become log records (for code that prints)."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self.logger = logger
        self.level = level
        self._buffer = ""

    def write(self, s: str) -> int:
        self._buffer += s
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                self.logger.log(self.level, line.strip())
        return len(s)

    def flush(self) -> None:
        if self._buffer.strip():
            self.logger.log(self.level, self._buffer.strip())
        self._buffer = ""

    def isatty(self) -> bool:
        return False


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Route every log record (ours, Faust's, warnings) to one handler on ``stream`` (stderr).

    Raises ``ValueError`` for an unknown ``log_format`` or ``log_level``.
    """
    fmt = settings.log_format.lower()
    if fmt not in FORMATS:
        raise ValueError(f"NOTIFICATION_ACTIONS_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise ValueError(f"NOTIFICATION_ACTIONS_LOG_LEVEL {settings.log_level!r} is not a log level")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request's full URL at INFO, and a webhook URL (Discord,
    # Teams, Slack incoming webhooks) carries its token in the path.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    if fmt == "json":
        _route_uncaught_errors()
    return handler


def _route_uncaught_errors() -> None:
    # Python prints these straight to stderr; in JSON mode they must be JSON too.
    errors = logging.getLogger("notification_actions.uncaught")

    def excepthook(kind, value, tb) -> None:
        errors.critical("uncaught exception", exc_info=(kind, value, tb))

    def unraisablehook(unraisable) -> None:
        exc = unraisable.exc_value
        errors.error(
            "%s: %r", unraisable.err_msg or "exception ignored", unraisable.object,
            exc_info=(type(exc), exc, unraisable.exc_traceback) if exc is not None else None,
        )

    sys.excepthook = excepthook
    sys.unraisablehook = unraisablehook


def _set_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    import os

    if value is not None:
        os.environ["NOTIFICATION_ACTIONS_LOG_FORMAT"] = value


log_format_option = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_set_format,
    help="text or json (one object per line); sets NOTIFICATION_ACTIONS_LOG_FORMAT.",
)
