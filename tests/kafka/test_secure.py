"""A managed Kafka's way of connecting: TLS and SASL, on a real SASL_SSL listener.

One broker for the module, started with ``kafka start --secure`` (a CA and the
broker's keystore made with keytool, PLAIN and SCRAM users; tests/support/secure_kafka.py)
and used with the settings that command printed. A real worker (Faust's consumer,
producer and topic creation, the retry delay queue, the lag sampler) delivers an
event through a retry tier over SCRAM-SHA-512; the command line publishes, reads
lag and replays over it; PLAIN and SCRAM-SHA-256 work too, and a client certificate
is presented for mutual TLS. A wrong password, a plaintext client and an unknown CA
each end promptly with the reason, and the password is in no log, HTTP answer or
command output. Settings that cannot work are refused at start, naming the variable.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import certifi
import httpx
import orjson
import pytest
from pydantic import ValidationError

from notification_actions.kafka.local import LocalKafka
from notification_actions.kafka.local.secure import SecureListener
from notification_actions.settings import Settings
from tests.support.pipeline import Pipeline, action, event, run_cli
from tests.support.secure_kafka import SecureBroker, client_certificate, kafka_cli, secure_broker, wait_records
from tests.support.worker_process import WorkerProcess, unique, worker_env_for

pytestmark = pytest.mark.timeout(300)

PROMPT_SECONDS = 20.0  # a refused connection is known in well under a second; this is Python start-up on a busy CI


@pytest.fixture(scope="module")
def secure(tmp_path_factory) -> SecureBroker:
    with secure_broker(tmp_path_factory.mktemp("secure-kafka")) as broker:
        yield broker


def _output(proc) -> str:
    return (proc.stdout or b"").decode(errors="replace") + (proc.stderr or b"").decode(errors="replace")


def _event_json(event_id: str, org: int) -> bytes:
    return orjson.dumps(event(event_id, org))


# --- settings: refused at start, naming the setting, never showing the value -------------------


@pytest.mark.parametrize(("given", "named"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_password": "pw-1"},
     "NOTIFICATION_ACTIONS_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u", "kafka_sasl_password": "pw-1"},
     "NOTIFICATION_ACTIONS_KAFKA_SASL_MECHANISM"),
    ({"kafka_sasl_username": "u", "kafka_sasl_password": "pw-1", "kafka_sasl_mechanism": "PLAIN"},
     "NOTIFICATION_ACTIONS_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u",
      "kafka_sasl_password": "pw-1", "kafka_ssl_cafile": certifi.where()}, "NOTIFICATION_ACTIONS_KAFKA_SSL_CAFILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": certifi.where()}, "without NOTIFICATION_ACTIONS_KAFKA_SSL_CERTFILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"}, "is not a file"),
    ({"kafka_security_protocol": "TLS"}, "'SASL_SSL'"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI", "kafka_sasl_username": "u",
      "kafka_sasl_password": "pw-1"}, "'SCRAM-SHA-512'"),
])
def test_inconsistent_security_settings_are_refused(given, named):
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None, **given)


def test_lower_case_values_and_empty_variables_are_accepted():
    settings = Settings(_env_file=None, kafka_security_protocol="sasl_ssl", kafka_sasl_mechanism="scram-sha-512",
                        kafka_sasl_username="u", kafka_sasl_password="p", kafka_ssl_cafile="")
    assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert settings.kafka_ssl_cafile is None


def test_a_refused_setting_is_named_on_the_command_line_without_its_value():
    proc = run_cli({"NOTIFICATION_ACTIONS_KAFKA_SASL_PASSWORD": "hunter2-not-shown",
                    "NOTIFICATION_ACTIONS_KAFKA_SASL_USERNAME": "u"}, "lag", timeout=60)
    out = _output(proc)
    assert proc.returncode == 1, out
    assert "NOTIFICATION_ACTIONS_KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in out and "Traceback" not in out, out
    assert "hunter2-not-shown" not in out


# --- the secure broker --------------------------------------------------------------------------


async def test_a_worker_over_sasl_ssl_scram_delivers_through_a_retry_tier(secure, sink, tmp_path):
    org, path = 91_001, f"/secure/{unique()}"
    sink.script(path, [500])  # the first attempt fails: the delivery goes round retry tier 0 (1 s)
    env = {**worker_env_for(secure.bootstrap, unique(), tmp_path, NOTIFICATION_ACTIONS_QUICK_RETRIES="0",
                            NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS="[1]",
                            NOTIFICATION_ACTIONS_LAG_SAMPLE_INTERVAL_SECONDS="1"),
           **secure.client_env("SCRAM-SHA-512")}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    outputs = []
    try:
        worker.wait_ready(120)
        pipe = Pipeline(secure.bootstrap, env, worker.web_port)
        put = run_cli(env, "actions", "put", "-", input=orjson.dumps(action(f"s{org}", org, sink.url + path)))
        outputs.append(put)
        assert put.returncode == 0, _output(put)
        pipe.wait_actions(org, lambda a: f"s{org}" in a, timeout=60)
        published = run_cli(env, "publish", "audit-log", "-", input=_event_json(f"e{org}", org))
        outputs.append(published)
        assert published.returncode == 0, _output(published)

        got = await sink.wait_for(2, 60, path_prefix=path)  # the 500, then the one from the tier
        assert [r.headers["webhook-id"] for r in got] == [f"e{org}:s{org}"] * 2
        outcomes = await wait_records(env, pipe.topic("outcomes"),
                                      lambda rs: [orjson.loads(r.value)["result"] for r in rs] == ["retry", "ok"])
        assert len(outcomes) == 2

        lag = run_cli(env, "lag", "--json", "--samples", "1", "--interval", "0", timeout=60)
        outputs.append(lag)
        assert lag.returncode in (0, 1, 2), _output(lag)  # 3: lag could not be read
        assert env["NOTIFICATION_ACTIONS_APP_ID"] in orjson.loads(lag.stdout)["groups"]
        replay = run_cli(env, "replay", "--topic", pipe.events_topic(), "--from-offset", "0", "--dry-run")
        outputs.append(replay)
        assert replay.returncode == 0 and b"1 event(s) read" in replay.stdout and b"would fire 1" in replay.stdout, \
            _output(replay)

        auth = {"Authorization": f"Bearer {pipe.token}"}
        answers = [httpx.get(pipe.api + p, headers=auth, timeout=10).text
                   for p in ("/healthz", "/readyz", "/metrics", "/lag", "/circuits", f"/organizations/{org}/actions")]
        assert all(secure.password not in text for text in answers)
    finally:
        assert worker.stop() == 0, worker.log_tail()
    log = worker.log_path.read_text(errors="replace")
    assert "SCRAM-SHA-512" in log and "retry delay queue started" in log
    assert secure.password not in log
    assert all(secure.password not in _output(p) for p in outputs)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_the_command_line_publishes_and_reads_with_other_mechanisms(secure, mechanism):
    prefix = unique()
    env = secure.client_env(mechanism, NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX=f"{prefix}.events.")
    published = run_cli(env, "publish", "audit-log", "-", input=_event_json(f"{prefix}-1", 7))
    assert published.returncode == 0, _output(published)
    records = await wait_records(env, f"{prefix}.events.audit-log", lambda rs: len(rs) == 1)
    assert orjson.loads(records[0].value)["id"] == f"{prefix}-1"
    assert secure.password not in _output(published)


def test_a_wrong_password_ends_a_command_promptly_with_the_reason(secure):
    wrong = "wrong-" + unique()
    started = time.monotonic()
    proc = run_cli(secure.client_env(NOTIFICATION_ACTIONS_KAFKA_SASL_PASSWORD=wrong), "publish", "audit-log", "-",
                   input=_event_json("e-wrong", 1), timeout=60)
    elapsed = time.monotonic() - started
    out = _output(proc)
    assert proc.returncode == 1, out
    assert elapsed < PROMPT_SECONDS, f"took {elapsed:.1f}s"
    assert "refused the credentials of 'notification-actions'" in out and "KAFKA_SASL_PASSWORD" in out, out
    assert "Traceback" not in out, out
    assert wrong not in out and secure.password not in out


def test_a_worker_with_a_wrong_password_refuses_to_start(secure, tmp_path):
    wrong = "wrong-" + unique()
    env = {**worker_env_for(secure.bootstrap, unique(), tmp_path),
           **secure.client_env("PLAIN", NOTIFICATION_ACTIONS_KAFKA_SASL_PASSWORD=wrong)}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        code = worker.proc.wait(60)
    finally:
        worker.kill()
    log = worker.log_path.read_text(errors="replace")
    assert code != 0, log
    assert "refusing to start: cannot connect to Kafka (SASL_SSL, PLAIN as 'notification-actions'" in log, log
    assert "refused the credentials" in log, log
    assert wrong not in log and secure.password not in log


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"NOTIFICATION_ACTIONS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "NOTIFICATION_ACTIONS_KAFKA_SASL_MECHANISM": "",
      "NOTIFICATION_ACTIONS_KAFKA_SASL_USERNAME": "", "NOTIFICATION_ACTIONS_KAFKA_SASL_PASSWORD": "",
      "NOTIFICATION_ACTIONS_KAFKA_SSL_CAFILE": ""}, "the listener probably wants TLS or SASL"),
    ({"NOTIFICATION_ACTIONS_KAFKA_SSL_CAFILE": certifi.where()}, "the broker's certificate did not verify"),
])
def test_a_misconfigured_client_is_told_what_is_wrong(secure, overrides, reason):
    proc = run_cli(secure.client_env(**overrides), "dlq", "list", timeout=60)
    out = _output(proc)
    assert proc.returncode == 1 and reason in out and "Traceback" not in out, out
    assert secure.password not in out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl takes the client key out of keytool's store")
async def test_a_client_certificate_is_presented_for_mutual_tls(secure, tmp_path):
    """The listener checks a client certificate when one is given: the CA's passes, a stranger's is refused."""
    prefix = unique()
    results = {}
    for signed in (True, False):
        cert, key = client_certificate(secure, tmp_path / str(signed), signed=signed)
        env = secure.client_env(NOTIFICATION_ACTIONS_EVENTS_TOPIC_PREFIX=f"{prefix}.events.",
                                NOTIFICATION_ACTIONS_KAFKA_SSL_CERTFILE=str(cert),
                                NOTIFICATION_ACTIONS_KAFKA_SSL_KEYFILE=str(key))
        results[signed] = run_cli(env, "publish", "audit-log", "-", input=_event_json(f"{prefix}-{signed}", 7))
    assert results[True].returncode == 0, _output(results[True])
    assert results[False].returncode == 1, _output(results[False])
    assert "may refuse the client certificate of NOTIFICATION_ACTIONS_KAFKA_SSL_CERTFILE" in _output(results[False])
    records = await wait_records(secure.env, f"{prefix}.events.audit-log", lambda rs: len(rs) >= 1)
    assert [orjson.loads(r.value)["id"] for r in records] == [f"{prefix}-True"]


def test_status_of_the_secure_broker_connects_with_its_own_credentials(secure):
    assert LocalKafka.from_data_dir(secure.data_dir).status()["ready"]
    proc = kafka_cli("status", "--data-dir", str(secure.data_dir), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    client_env = Path(orjson.loads(proc.stdout)["client_env"])
    assert client_env.stat().st_mode & 0o077 == 0  # it holds the password
    assert _sourced(client_env) == secure.env


def test_the_client_settings_of_a_three_node_cluster_can_be_sourced_by_a_shell(secure, tmp_path):
    shutil.copytree(secure.data_dir / "secure", tmp_path / "secure")
    listener = SecureListener(tmp_path / "secure")
    env = listener.write_client_env("127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096")
    assert env["NOTIFICATION_ACTIONS_BROKER"] == "kafka://127.0.0.1:9092;127.0.0.1:9094;127.0.0.1:9096"
    assert _sourced(listener.env_file) == env


def _sourced(env_file: Path) -> dict[str, str]:
    """What a shell has after ``set -a; . FILE``: the NOTIFICATION_ACTIONS_* variables."""
    out = subprocess.run(["bash", "-c", f"set -a; . {shlex.quote(str(env_file))}; env -0"], capture_output=True,
                         env={"PATH": os.environ["PATH"]}, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if item.startswith("NOTIFICATION_ACTIONS_"))
