"""The README's first command: `worker` with no broker configured starts one itself."""

from __future__ import annotations

import os
import socket
import time

import httpx
import pytest

from notification_actions.kafka.local import broker_answers
from tests.support.worker_process import WorkerProcess, free_port


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not _port_free(9092), reason="something already listens on 127.0.0.1:9092")
def test_worker_without_a_broker_starts_one_says_so_and_stops_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATION_ACTIONS_")}
    env.update({
        "NOTIFICATION_ACTIONS_KAFKA_HOME": str(tmp_path / "kafka-home"),  # its own data (and jar cache)
        "NOTIFICATION_ACTIONS_DATA_DIR": str(tmp_path / "data"),
        "NOTIFICATION_ACTIONS_STORE": "memory://",
        "NOTIFICATION_ACTIONS_TOPIC_PARTITIONS": "2",
    })
    worker = WorkerProcess(env, tmp_path / "worker.log", web_port=free_port())
    worker.env = env | {"NOTIFICATION_ACTIONS_WEB_PORT": str(worker.web_port)}
    worker.start()
    try:
        worker.wait_ready(timeout=240)
        log = worker.log_path.read_text()
        assert "NOTIFICATION_ACTIONS_BROKER is unset and nothing answers at 127.0.0.1:9092" in log
        assert broker_answers("127.0.0.1:9092")
        assert httpx.get(f"http://127.0.0.1:{worker.web_port}/healthz").status_code == 200
    finally:
        assert worker.stop(timeout=90) == 0, worker.log_tail()
    deadline = time.monotonic() + 30
    while not _port_free(9092):
        assert time.monotonic() < deadline, "the broker the worker started outlived it"
        time.sleep(0.5)
    assert "stopping the local Apache Kafka this worker started" in worker.log_path.read_text()
