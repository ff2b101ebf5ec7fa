"""How every Kafka connection is made: TLS and SASL from the settings, in one place.

Each aiokafka client of the package — the retry delay queue, the gap read-back,
topic creation, the lag probe, replay, the command line's reads and writes, the
local broker's probes — is built with ``**client_config(settings)`` (the bootstrap
servers and :meth:`Security.client_kwargs`), and the Faust app with
``broker_credentials=faust_credentials(settings)``, which Faust hands to its
consumer, producer and topic-creating admin requests. Nothing here logs or formats
the password: errors name the setting, never its value.

:func:`connection_problem` says in one sentence why the brokers cannot be reached
with these settings (refused credentials, a certificate that does not verify, a
listener that speaks another protocol), so a worker refuses to start and a command
fails at once, with the reason, instead of aiokafka's "Unable to bootstrap".
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from notification_actions.errors import ConfigError
from notification_actions.settings import Settings, env_name

__all__ = ["Security", "client_config", "connection_problem", "faust_credentials"]


@dataclass(frozen=True)
class Security:
    """The security part of a Kafka connection (see the ``KAFKA_*`` settings)."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> Security:
        return cls(
            settings.kafka_security_protocol, settings.kafka_sasl_mechanism, settings.kafka_sasl_username,
            settings.kafka_sasl_password, settings.kafka_ssl_cafile, settings.kafka_ssl_certfile,
            settings.kafka_ssl_keyfile,
        )  # fmt: skip

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that verifies the broker (its name too), or None without TLS."""
        if not self.tls:
            return None
        from aiokafka.helpers import create_ssl_context

        try:
            return create_ssl_context(cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile)
        except (OSError, ssl.SSLError, ValueError) as exc:
            names = [env_name(f"kafka_ssl_{n}") for n in ("cafile", "certfile", "keyfile") if getattr(self, n)]
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"cannot load the TLS files of {', '.join(names) or 'the system'}: {reason} "
                              "(PEM files expected; a key protected by a passphrase is not supported)") from None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of every aiokafka client (consumer, producer, admin, ``AIOKafkaClient``)."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl:
            kwargs["sasl_mechanism"] = self.mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self.password.get_secret_value() if self.password else None
        return kwargs

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials``: ``SASLCredentials`` (SASL_SSL once given a context), ``SSLCredentials``, or None."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                mechanism=self.mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    def describe(self) -> str:
        """For messages: the protocol, mechanism, user and CA file; never the password."""
        parts = [self.protocol]
        if self.sasl:
            parts.append(f"{self.mechanism} as {self.username!r}")
        if self.tls:
            parts.append(f"CA {self.cafile}" if self.cafile else "the system's CAs")
        return ", ".join(parts)

    def scrub(self, text: str) -> str:
        """``text`` with the password blanked, should a library ever put it in a message."""
        secret = self.password.get_secret_value() if self.password else ""
        return text.replace(secret, "**********") if secret else text


def client_config(settings: Settings, security: Security | None = None) -> dict[str, Any]:
    """``bootstrap_servers`` and the security keyword arguments of an aiokafka client for ``settings``."""
    return {"bootstrap_servers": settings.broker_hosts(), **(security or Security.of(settings)).client_kwargs()}


def faust_credentials(settings: Settings) -> Any:
    """The Faust app's ``broker_credentials`` for ``settings`` (None for PLAINTEXT)."""
    return Security.of(settings).faust_credentials()


def _reason(security: Security, exc: BaseException) -> str:
    from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

    text = str(exc) or type(exc).__name__
    if isinstance(exc, SaslAuthenticationFailed):
        return (f"the broker refused the credentials of {security.username!r} ({text}); check "
                f"{env_name('kafka_sasl_username')}, {env_name('kafka_sasl_password')} and "
                f"{env_name('kafka_sasl_mechanism')}")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return f"the broker does not offer {security.mechanism} ({text}); set {env_name('kafka_sasl_mechanism')}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the broker's certificate did not verify ({exc.verify_message}); set "
                f"{env_name('kafka_ssl_cafile')} to the CA that signed it")
    if isinstance(exc, ssl.SSLError) or (security.tls and isinstance(exc, ConnectionResetError)):
        return (f"the TLS handshake failed ({text}); does this listener speak TLS? "
                f"({env_name('kafka_security_protocol')} is {security.protocol})")
    if isinstance(exc, ConnectionRefusedError):
        return "nothing accepts connections there"
    if isinstance(exc, asyncio.TimeoutError):
        return (f"no answer in time; does this listener speak {security.protocol}? "
                f"(set {env_name('kafka_security_protocol')})")
    if isinstance(exc, KafkaConnectionError) and security.tls and security.certfile:
        return (f"the broker closed the connection ({text}): it may refuse the client certificate of "
                f"{env_name('kafka_ssl_certfile')} (not signed by a CA it trusts?)")
    if isinstance(exc, KafkaConnectionError):
        wanted = {"PLAINTEXT": "TLS or SASL", "SASL_PLAINTEXT": "TLS", "SSL": "SASL"}.get(security.protocol,
                                                                                            "another protocol")
        return (f"the broker closed the connection ({text}): the listener probably wants {wanted} "
                f"({env_name('kafka_security_protocol')} is {security.protocol})")
    return f"{type(exc).__name__}: {text}"


async def connection_problem(settings: Settings, timeout: float = 10.0) -> str | None:
    """None if a broker of ``settings.broker`` answers a metadata request with these
    settings' security; otherwise why not, in a sentence for an operator."""
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    security = Security.of(settings)
    try:
        kwargs = security.client_kwargs()
    except ConfigError as exc:
        return str(exc)
    reasons = []
    for hostport in settings.broker_hosts():
        host, _, port = hostport.rpartition(":")
        conn = None
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **kwargs), timeout
            )
            await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
            return None
        except Exception as exc:  # noqa: BLE001 - every failure is a reason to report
            reasons.append(f"{hostport}: {_reason(security, exc)}")
        finally:
            if conn is not None:
                conn.close()
    return security.scrub(f"cannot connect to Kafka ({security.describe()}): " + "; ".join(reasons))
