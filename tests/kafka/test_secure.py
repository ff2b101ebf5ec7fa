"""A managed Kafka's way of connecting: TLS and SASL settings, refused at start when they cannot work."""

from __future__ import annotations

import certifi
import pytest
from pydantic import ValidationError

from notification_actions.settings import Settings
from tests.support.pipeline import run_cli


def _output(proc) -> str:
    return (proc.stdout or b"").decode(errors="replace") + (proc.stderr or b"").decode(errors="replace")


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
