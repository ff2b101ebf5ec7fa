"""The README's quickstart in three 'terminals': the worker reads var/local.env (what `make run` writes);
the other terminals set nothing, yet `actions put --wait` of an http://127.0.0.1 webhook is applied and the
API answers the token in that file."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import orjson

from tests.support.pipeline import Pipeline, event, run_cli
from tests.support.worker_process import WorkerProcess, unique, worker_env_for

LOCAL_ONLY = ("NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_HTTP", "NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_PRIVATE",
              "NOTIFICATION_ACTIONS_API_TOKEN")


def test_local_env_is_written_once_and_kept(tmp_path):
    path = tmp_path / "var" / "local.env"
    first = subprocess.run([sys.executable, "-m", "notification_actions", "local-env", str(path)],
                           capture_output=True, check=True)
    text = path.read_text()
    token = next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(LOCAL_ONLY[2]))
    assert token.startswith("na_dev_") and token.encode() in first.stdout
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    subprocess.run([sys.executable, "-m", "notification_actions", "local-env", str(path)], check=True,
                   capture_output=True)
    assert path.read_text() == text


def test_api_token_prints_a_token_and_an_entry_that_holds_only_its_digest():
    import hashlib

    out = subprocess.run([sys.executable, "-m", "notification_actions", "api-token", "--name", "ci", "--org", "7",
                          "--org", "3", "--read-only"], capture_output=True, check=True).stdout.decode()
    token = out.split("token: ", 1)[1].split()[0]
    entry = orjson.loads(out.split("entry: ", 1)[1])
    assert entry == {"name": "ci", "sha256": hashlib.sha256(token.encode()).hexdigest(), "organizations": [3, 7],
                     "write": False}
    assert token not in out.split("entry: ", 1)[1]


async def test_the_quickstart_needs_no_settings_in_the_other_terminals(kafka_bootstrap, tmp_path, sink):
    env = worker_env_for(kafka_bootstrap, unique(), tmp_path)
    worker_env = {k: v for k, v in env.items() if k not in LOCAL_ONLY}
    local = tmp_path / "local.env"
    run = subprocess.run([sys.executable, "-m", "notification_actions", "local-env", str(local)], capture_output=True)
    assert run.returncode == 0, run.stderr
    token = next(line.split("=", 1)[1] for line in local.read_text().splitlines() if line.startswith(LOCAL_ONLY[2]))
    worker = WorkerProcess({**worker_env, "NOTIFICATION_ACTIONS_ENV_FILE": str(local)}, tmp_path / "w.log").start()
    try:
        worker.wait_ready(90)
        terminal = {k: v for k, v in worker_env.items()}  # the topics of this test; no allow flags, no token
        assert not any(os.environ.get(k) for k in LOCAL_ONLY)
        doc = {"id": "42", "organization_id": 1, "trigger_type": "audit-log", "service_type": "webhook",
               "target_type": "specific", "target_identifier": f"{sink.url}/quickstart"}
        put = run_cli(terminal, "actions", "put", "--wait", "-", input=orjson.dumps(doc))
        assert put.returncode == 0, put.stderr.decode()
        assert put.stdout.decode().startswith("action 42: applied")
        pipe = Pipeline(kafka_bootstrap, {**terminal, "NOTIFICATION_ACTIONS_API_TOKEN": token}, worker.web_port)
        await pipe.publish(event("ev-1", 1))
        [request] = sink.wait_for_sync(1, 30, path_prefix="/quickstart")
        assert request.headers["webhook-id"] == "ev-1:42"
        listed = httpx.get(f"{pipe.api}/api/0/organizations/1/notifications/actions/",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [42]
    finally:
        worker.stop()
