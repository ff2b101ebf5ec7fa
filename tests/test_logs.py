"""Logs: the formatters, and a real worker in JSON mode writing nothing but JSON lines."""

from __future__ import annotations

import io
import logging
import sys

import orjson
import pytest

from notification_actions.logs import JsonFormatter, LineLogger, TextFormatter, configure_logging, context
from notification_actions.settings import Settings
from tests.support.fakes.http_sink import HttpSink
from tests.support.pipeline import Pipeline, action, event


def record(msg: str = "delivery %s ok", *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("notification_actions.streams.dispatch", logging.INFO, __file__, 1, msg, args, exc_info)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_lines_carry_the_known_ids():
    line = JsonFormatter().format(record("delivery %s ok", "e1:a1", **context(organization_id=1, action_id="a1",
                                                                              delivery_id="e1:a1")))
    out = orjson.loads(line)
    assert out["level"] == "info" and out["logger"] == "notification_actions.streams.dispatch"
    assert out["message"] == "delivery e1:a1 ok"
    assert (out["organization_id"], out["action_id"], out["delivery_id"]) == (1, "a1", "e1:a1")
    assert out["ts"].endswith("Z") and "T" in out["ts"]
    assert "\n" not in line


def test_json_keeps_a_traceback_on_one_line():
    line = JsonFormatter().format(record("failed", exc=True))
    assert "\n" not in line and "RuntimeError: boom" in orjson.loads(line)["exc"]


def test_text_shows_ids_only_when_known():
    fmt = TextFormatter()
    assert fmt.format(record("plain")).endswith("notification_actions.streams.dispatch: plain")
    assert fmt.format(record("x", **context(action_id="a1", organization_id=2))).endswith(
        "x [organization_id=2 action_id=a1]")


def test_context_drops_unknown_values_and_refuses_unknown_names():
    assert context(organization_id=1, action_id=None) == {"organization_id": 1}
    with pytest.raises(TypeError):
        context(org=1)


def test_configure_logging_owns_the_root_handler_and_checks_its_settings():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        stream = io.StringIO()
        configure_logging(Settings(_env_file=None, log_format="json", log_level="warning"), stream)
        logging.getLogger("faust.transport").warning("from %s", "faust")
        logging.getLogger("x").info("hidden")
        [line] = stream.getvalue().splitlines()
        assert orjson.loads(line)["logger"] == "faust.transport"
        with pytest.raises(ValueError):
            configure_logging(Settings(_env_file=None, log_format="yaml"))
        with pytest.raises(ValueError):
            configure_logging(Settings(_env_file=None, log_level="loud"))
    finally:
        sys.excepthook, sys.unraisablehook = sys.__excepthook__, sys.__unraisablehook__
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_line_logger_turns_prints_into_records():
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            seen.append(rec.getMessage())

    logger = logging.getLogger("test.line_logger")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    out = LineLogger(logger, logging.INFO)
    print("OK ^", file=out)
    out.write("half")
    assert seen == ["OK ^"]
    out.write(" done\n\n")
    assert seen == ["OK ^", "half done"]


async def test_a_json_worker_writes_only_json_and_a_delivery_line_has_its_ids(worker_env, start_worker, kafka_bootstrap,
                                                                                   tmp_path):
    env = {**worker_env, "NOTIFICATION_ACTIONS_LOG_FORMAT": "json"}
    worker = start_worker(env, name="json").wait_ready()
    pipeline = Pipeline(kafka_bootstrap, env, worker.web_port)
    org = 777
    with HttpSink.start_in_thread() as sink:
        await pipeline.put_actions(action(f"a{org}", org, f"{sink.url}/logs/{org}"))
        pipeline.wait_actions(org, lambda a: f"a{org}" in a)
        await pipeline.publish(event(f"e{org}", org))
        await pipeline.publish_raw(b"{not json")  # a warning, with a reason
        sink.wait_for_sync(1, 30, path_prefix=f"/logs/{org}")
    assert worker.stop() == 0

    lines = [line for line in worker.log_path.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"].startswith("faust") for r in records), "Faust's own logs go through the same formatter"
    [delivered] = [r for r in records if r.get("delivery_id") == f"e{org}:a{org}"]
    assert delivered["organization_id"] == org and delivered["action_id"] == f"a{org}"
    assert delivered["level"] == "info" and " ok" in delivered["message"]
    applied = [r for r in records if r.get("action_id") == f"a{org}" and "applied" in r["message"]]
    assert applied and applied[0]["organization_id"] == org
