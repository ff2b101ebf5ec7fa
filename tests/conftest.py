"""Session-scoped real broker and per-test isolation.

The broker is ``NOTIFICATION_ACTIONS_TEST_BROKER`` when set (``.ci/run`` starts
one), otherwise a local Apache Kafka started here on a free port in a temp dir
and stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.worker_process import WorkerProcess, worker_env_for, unique


def pytest_collection_modifyitems(config, items):
    """Tests marked ``last`` run after all the others (in their own order): the leak scan
    (tests/hostile/test_leaks.py) reads the logs and topics every other test left."""
    items[:] = [i for i in items if i.get_closest_marker("last") is None] + \
        [i for i in items if i.get_closest_marker("last") is not None]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    configured = os.environ.get("NOTIFICATION_ACTIONS_TEST_BROKER")
    if configured:
        yield configured.removeprefix("kafka://")
        return
    from notification_actions.kafka.local import LocalKafka, free_port_block

    data = Path(tempfile.mkdtemp(prefix="na-test-kafka-"))
    broker = LocalKafka(data, port=free_port_block(2), heap="512m")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def prefix() -> str:
    """A unique name for this test's app id and topics."""
    return unique()


@pytest.fixture
def worker_env(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return worker_env_for(kafka_bootstrap, prefix, tmp_path)


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path):
    """Factory: start a real worker process (stopped at teardown)."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str] | None = None, name: str | None = None, **extra: str) -> WorkerProcess:
        name = name or f"worker{len(started)}"
        merged = {**(env or worker_env), **extra}
        merged.setdefault("NOTIFICATION_ACTIONS_DATA_DIR", str(tmp_path / name))
        merged["NOTIFICATION_ACTIONS_DATA_DIR"] = str(tmp_path / name)
        w = WorkerProcess(merged, tmp_path / f"{name}.log").start()
        started.append(w)
        return w

    yield start
    for w in started:
        try:
            w.stop(timeout=30)
        except AssertionError:
            w.kill()


def _serve_sink():
    from tests.support.fakes.http_sink import HttpSink

    server = HttpSink.start_in_thread()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sink():
    """A real local HTTP server for the module's fake services (tests/support/fakes/http_sink.py)."""
    yield from _serve_sink()


@pytest.fixture
def fresh_sink():
    """The same server, started for one test alone (for tests that count all it received)."""
    yield from _serve_sink()
