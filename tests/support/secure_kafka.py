"""A local broker with a SASL_SSL listener, started as an operator would: ``kafka start --secure``.

Its client settings are what the command printed (nothing is read from its data
directory), so a test that passes also proves the printed settings are right.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from notification_actions.kafka.io import read_to_end
from notification_actions.kafka.local import LocalKafka, free_port_block
from tests.support.worker_process import settings_from


@dataclass
class SecureBroker:
    data_dir: Path
    env: dict[str, str]
    """The ``NOTIFICATION_ACTIONS_*`` settings ``kafka start --secure`` printed (SCRAM-SHA-512)."""

    @property
    def bootstrap(self) -> str:
        return self.env["NOTIFICATION_ACTIONS_BROKER"].removeprefix("kafka://")

    @property
    def password(self) -> str:
        return self.env["NOTIFICATION_ACTIONS_KAFKA_SASL_PASSWORD"]

    def client_env(self, mechanism: str = "SCRAM-SHA-512", **overrides: str) -> dict[str, str]:
        return {**self.env, "NOTIFICATION_ACTIONS_KAFKA_SASL_MECHANISM": mechanism, **overrides}


def kafka_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "notification_actions", "kafka", *args],
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@contextlib.contextmanager
def secure_broker(data_dir: Path) -> Iterator[SecureBroker]:
    """``kafka start --secure`` on free ports in ``data_dir``; ``kafka stop`` after."""
    started = kafka_cli("start", "--secure", "--port", str(free_port_block(2)), "--data-dir", str(data_dir))
    try:
        assert started.returncode == 0, f"kafka start --secure failed:\n{started.stderr}"
        lines = [shlex.split(line)[0] for line in started.stdout.splitlines() if line.startswith("NOTIFICATION_")]
        env = dict(line.split("=", 1) for line in lines)
        yield SecureBroker(data_dir, env)
    finally:
        stopped = kafka_cli("stop", "--data-dir", str(data_dir), timeout=120)
        if stopped.returncode != 0:
            LocalKafka.from_data_dir(data_dir).stop()


def client_certificate(broker: SecureBroker, directory: Path, *, signed: bool) -> tuple[Path, Path]:
    """A PEM client certificate and its unencrypted key, made with keytool: signed by the
    broker's CA (``signed``) or self-signed; openssl takes the key out of the PKCS12 store."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_store = broker.data_dir / "secure"
    ca_password = json.loads((ca_store / "client.json").read_text())["store_password"]
    store = ["-storetype", "PKCS12", "-storepass", "client-store", "-keystore", str(directory / "client.p12")]

    def run(*cmd: str) -> None:
        proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{cmd[:2]} failed: {proc.stdout}{proc.stderr}"

    keytool = ["keytool", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"]
    run(*keytool, "-genkeypair", "-alias", "client", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "30",
        "-dname", "CN=client", *store)
    if signed:
        run(*keytool, "-certreq", "-alias", "client", "-file", "client.csr", *store)
        run(*keytool, "-gencert", "-alias", "ca", "-infile", "client.csr", "-outfile", "client.pem", "-rfc",
            "-validity", "30", "-ext", "EKU=clientAuth", "-keystore", str(ca_store / "ca.p12"),
            "-storetype", "PKCS12", "-storepass", ca_password)
        (directory / "chain.pem").write_text((directory / "client.pem").read_text()
                                             + (ca_store / "ca.pem").read_text())
        run(*keytool, "-importcert", "-noprompt", "-alias", "client", "-file", "chain.pem", *store)
    cert, key = directory / "cert.pem", directory / "key.pem"
    pkcs12 = ["openssl", "pkcs12", "-in", str(directory / "client.p12"), "-passin", "pass:client-store"]
    run(*pkcs12, "-nokeys", "-out", str(cert))
    run(*pkcs12, "-nocerts", "-nodes", "-out", str(key))
    return cert, key


async def wait_records(env: dict[str, str], topic: str, done: Callable[[list], bool], timeout: float = 30.0) -> list:
    """Read ``topic`` with the service's own client and ``env``'s settings until ``done(records)``."""
    settings = settings_from(env)
    deadline = time.monotonic() + timeout
    while True:
        records = await read_to_end(settings, topic)
        if done(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met on {topic} within {timeout:.0f}s; {len(records)} record(s): "
                                 + "; ".join(repr((r.value or b"")[:200]) for r in records[-5:]))
        await asyncio.sleep(0.3)  # a poll interval: the condition above is what the test waits on
