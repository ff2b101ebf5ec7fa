"""The project's promises about itself: docs agree with the code, the public API
changes only on purpose, and the harness's broker really carries messages."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from notification_actions import errors

from notification_actions.registrations import base as registry
from notification_actions.settings import Settings
from tests.support.kafka import consume_until, create_topics, produce
from tests.support.worker_process import unique

ROOT = Path(__file__).resolve().parent.parent


def _default_text(name: str) -> str:
    default = Settings.model_fields[name].default
    if default is None or default == "":
        return "(unset)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, Path) and str(default).startswith(str(Path.home())):
        return "~/" + str(default.relative_to(Path.home()))
    return str(default)


def test_readme_lists_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(NOTIFICATION_ACTIONS_[A-Z0-9_]+)` \| `([^`]*)` \|", readme, flags=re.M))
    for name in Settings.model_fields:
        env = f"NOTIFICATION_ACTIONS_{name.upper()}"
        assert env in rows, f"{env} is missing from the README's settings table"
        assert rows[env] == _default_text(name), f"{env}: README says {rows[env]!r}"
    extra = set(rows) - {f"NOTIFICATION_ACTIONS_{n.upper()}" for n in Settings.model_fields}
    assert not extra, f"README documents settings that do not exist: {extra}"


def test_readme_first_two_commands_are_run_and_test():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands[:2] == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "notification-actions worker" in makefile and "pytest" in makefile


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_docker_compose_agrees_with_the_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    known = {f"NOTIFICATION_ACTIONS_{n.upper()}" for n in Settings.model_fields}
    for name in ("worker", "create-topics"):
        env = services[name]["environment"]
        unknown = {k for k in env if k.startswith("NOTIFICATION_ACTIONS_")} - known
        assert not unknown, f"{name}: environment names no setting: {unknown}"
        assert env["NOTIFICATION_ACTIONS_BROKER"].startswith("kafka://kafka:")
    worker = services["worker"]
    port = int(worker["environment"]["NOTIFICATION_ACTIONS_WEB_PORT"])
    assert f"127.0.0.1:{port}:{port}" in worker["ports"]
    assert Settings.model_fields["web_port"].default == port
    # the broker port the worker uses is one the kafka service listens on
    broker_port = worker["environment"]["NOTIFICATION_ACTIONS_BROKER"].rsplit(":", 1)[1]
    assert f"0.0.0.0:{broker_port}" in services["kafka"]["environment"]["KAFKA_LISTENERS"]
    assert (ROOT / "Dockerfile").exists()


def test_public_api():
    assert sorted(errors.__all__) == sorted([
        "ConfigError", "DeliveryError", "InvalidAction", "InvalidEvent", "NotificationActionsError",
        "PermanentDeliveryError", "Problem", "RegistrationError", "RetryableDeliveryError", "UnknownRegistration",
    ])
    for name in ("ActionRegistration", "FireContext", "FireResult", "ActionInput", "Registry", "REGISTRY"):
        assert hasattr(registry, name)


async def test_broker_round_trip(kafka_bootstrap):
    topic = unique("roundtrip-")
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(30)]
    await produce(kafka_bootstrap, topic, sent)
    got = await consume_until(kafka_bootstrap, topic, lambda rs: len(rs) >= 30, timeout=30)
    assert sorted((r.key, r.value) for r in got) == sorted(sent)
