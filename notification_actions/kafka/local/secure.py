"""A SASL_SSL listener for the local broker (``kafka start --secure``), like a managed Kafka's.

Made once per data directory, in ``<data_dir>/secure/`` (kept across restarts: the
SCRAM credentials live in the cluster's metadata from the format on):

- ``ca.p12`` / ``ca.pem``: a CA of its own, made with the JDK's ``keytool`` (EC P-256
  keys: an RSA key takes seconds to make on a busy machine); ``ca.pem`` is also the
  brokers' truststore, for inter-broker TLS;
- ``broker.p12``: the brokers' key and the certificate the CA signed for
  ``localhost`` and ``127.0.0.1``, with its chain;
- ``client.json`` (mode 0600): the client user's name and password, the brokers'
  own PLAIN user and the stores' password, all random;
- ``client.env`` (mode 0600): the ``NOTIFICATION_ACTIONS_*`` settings a client needs.

The listener offers PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 to the one client user
(PLAIN users come from the listener's JAAS options, SCRAM credentials from
``kafka-storage format --add-scram``); brokers talk to each other over it with PLAIN;
the controller listener stays plaintext, on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

from pydantic import SecretStr

from notification_actions.kafka.local.jars import LocalKafkaError, tail
from notification_actions.kafka.security import Security
from notification_actions.settings import env_name

__all__ = ["CLIENT_USER", "LISTENER", "SecureListener"]

CLIENT_USER = "notification-actions"
LISTENER = "SASL_SSL"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_BROKER_USER = "broker"
_NAMES = "SAN=dns:localhost,ip:127.0.0.1"
_KEYTOOL_JVM = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"]


def _keytool(java: str) -> str:
    beside = Path(os.path.realpath(java)).parent / "keytool"
    found = str(beside) if beside.is_file() else shutil.which("keytool")
    if found is None:
        raise LocalKafkaError("the JDK's keytool is not beside java nor on PATH; --secure needs it for certificates")
    return found


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    tmp.replace(path)


class SecureListener:
    """Certificates, users and ``server.properties`` entries of a local SASL_SSL listener in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.cafile = self.dir / "ca.pem"
        self.env_file = self.dir / "client.env"
        self._secrets: dict[str, str] | None = None

    @property
    def ready(self) -> bool:
        return (self.dir / "client.json").is_file() and (self.dir / "broker.p12").is_file()

    @property
    def secrets(self) -> dict[str, str]:
        if self._secrets is None:
            try:
                self._secrets = json.loads((self.dir / "client.json").read_text())
            except (OSError, ValueError) as exc:
                raise LocalKafkaError(f"{self.dir / 'client.json'} is missing or broken ({exc}); "
                                      "start the broker with --secure in a new data dir") from None
        return self._secrets

    def ensure(self, java: str) -> None:
        """Make the CA, the brokers' keystore and the users, unless made already."""
        if self.ready:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.p12"):
            old.unlink()
        store = secrets.token_urlsafe(18)
        tool = [_keytool(java), *_KEYTOOL_JVM]
        store_args = ["-storetype", "PKCS12", "-storepass", store]

        def run(*args: str) -> None:
            proc = subprocess.run([*tool, *args], cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            if proc.returncode != 0:
                out = (proc.stdout + proc.stderr).replace(store, "***")
                raise LocalKafkaError(f"keytool {args[0]} failed (exit {proc.returncode}):\n{tail(out)}")

        key = ["-keyalg", "EC", "-groupname", "secp256r1", "-validity", "3650"]
        run("-genkeypair", "-alias", "ca", *key, "-dname", "CN=notification-actions local CA", "-ext", "bc:c",
            "-keystore", "ca.p12", *store_args)
        run("-exportcert", "-alias", "ca", "-rfc", "-file", "ca.pem", "-keystore", "ca.p12", *store_args)
        run("-genkeypair", "-alias", "broker", *key, "-dname", "CN=localhost", "-ext", _NAMES,
            "-keystore", "broker.p12", *store_args)
        run("-certreq", "-alias", "broker", "-file", "broker.csr", "-keystore", "broker.p12", *store_args)
        run("-gencert", "-alias", "ca", "-infile", "broker.csr", "-outfile", "broker.pem", "-rfc",
            "-validity", "3650", "-ext", _NAMES, "-ext", "KU=digitalSignature", "-ext", "EKU=serverAuth,clientAuth",
            "-keystore", "ca.p12", *store_args)
        # The reply with its chain (broker, CA) goes in at once, in place of the self-signed certificate.
        (self.dir / "chain.pem").write_text((self.dir / "broker.pem").read_text() + self.cafile.read_text())
        run("-importcert", "-noprompt", "-alias", "broker", "-file", "chain.pem", "-keystore", "broker.p12",
            *store_args)
        for leftover in ("broker.csr", "broker.pem", "chain.pem"):
            (self.dir / leftover).unlink(missing_ok=True)
        made = {"username": CLIENT_USER, "password": secrets.token_urlsafe(24),
                "broker_password": secrets.token_urlsafe(24), "store_password": store}  # fmt: skip
        _write_private(self.dir / "client.json", json.dumps(made, indent=2) + "\n")
        self._secrets = made

    def properties(self) -> dict[str, str]:
        """``server.properties`` entries of the listener (its name is :data:`LISTENER`)."""
        s = self.secrets
        prefix = f"listener.name.{LISTENER.lower()}"
        plain_users = f'user_{_BROKER_USER}="{s["broker_password"]}" user_{s["username"]}="{s["password"]}"'
        props = {
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            f"{prefix}.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{_BROKER_USER}" password="{s["broker_password"]}" {plain_users};',
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.dir / "broker.p12"),
            "ssl.keystore.password": s["store_password"],
            "ssl.key.password": s["store_password"],
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.cafile),
            # A client certificate is checked when one is presented (mutual TLS), never required.
            f"{prefix}.ssl.client.auth": "requested",
        }
        for mechanism in MECHANISMS[1:]:
            props[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = \
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return props

    def format_args(self) -> list[str]:
        """``kafka-storage format`` arguments that create the client user's SCRAM credentials."""
        s = self.secrets
        return [arg for mechanism in MECHANISMS[1:]
                for arg in ("--add-scram", f"{mechanism}=[name={s['username']},password={s['password']}]")]

    def security(self, mechanism: str = "SCRAM-SHA-512") -> Security:
        """How a client connects as the client user."""
        s = self.secrets
        return Security("SASL_SSL", mechanism, s["username"], SecretStr(s["password"]), self.cafile)

    def write_client_env(self, bootstrap: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """The settings a client of this listener needs; also written to ``client.env``, quoted for a shell."""
        s = self.secrets
        env = {
            env_name("broker"): "kafka://" + bootstrap.replace(",", ";"),
            env_name("kafka_security_protocol"): "SASL_SSL",
            env_name("kafka_sasl_mechanism"): mechanism,
            env_name("kafka_sasl_username"): s["username"],
            env_name("kafka_sasl_password"): s["password"],
            env_name("kafka_ssl_cafile"): str(self.cafile),
        }
        _write_private(self.env_file, "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))
        return env
