"""The command line's surface: every command's ``--help``, the command names, shared time parsing.

In-process with click's ``CliRunner``; no broker needed (nothing here gets as far
as connecting to one).
"""

from __future__ import annotations

import pkgutil

import click
import pytest
from click.testing import CliRunner

import notification_actions.cli as cli_package
from notification_actions.cli import cli

PROG = "notification-actions"

COMMANDS = ["actions", "api-token", "dev-sink", "directory", "dlq", "integrations", "kafka", "lag", "local-env", "publish", "replay",
            "test-fire", "worker"]
SUBCOMMANDS = {
    "actions": ["delete", "list", "put"],
    "directory": ["put"],
    "dlq": ["list", "redrive"],
    "integrations": ["delete", "list", "put"],
    "kafka": ["start", "status", "stop"],
}


def _paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += _paths(command.commands[name], (*path, name))
    return found


def _invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name=PROG)


def _listed(help_text: str) -> list[str]:
    """The names in a group's ``Commands:`` section."""
    section = help_text.split("\nCommands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.strip()]


def test_the_root_lists_every_command():
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]...")
    assert _listed(result.output) == COMMANDS
    assert sorted(cli.commands) == COMMANDS


@pytest.mark.parametrize("group", sorted(SUBCOMMANDS))
def test_each_group_lists_its_commands(group):
    result = _invoke(group, "--help")
    assert result.exit_code == 0, result.output
    assert _listed(result.output) == SUBCOMMANDS[group]


@pytest.mark.parametrize("path", _paths(cli)[1:], ids=" ".join)
def test_every_command_has_help(path):
    result = _invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {PROG} {' '.join(path)} [OPTIONS]")
    assert "--help" in result.output


@pytest.mark.parametrize("args", [
    ("dlq", "list", "--since", "yesterday"),
    ("dlq", "redrive", "--since", "yesterday"),
    ("replay", "--topic", "events.audit-log", "--since", "yesterday"),
], ids=lambda args: " ".join(args[:2]))
def test_a_bad_since_names_the_value(args):
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Error: Invalid value: 'yesterday' is not an ISO 8601 time (e.g. 2026-11-26T20:00:00Z)" in result.output


def test_a_bad_until_names_the_value_too():
    result = _invoke("replay", "--topic", "events.audit-log", "--until", "2026-13-01")
    assert result.exit_code == 2, result.output
    assert "'2026-13-01' is not an ISO 8601 time" in result.output


def test_the_package_docstring_names_every_module():
    modules = sorted(m.name for m in pkgutil.iter_modules(cli_package.__path__))
    missing = [m for m in modules if f"``{m}``" not in (cli_package.__doc__ or "")]
    assert not missing, f"notification_actions/cli/__init__.py's docstring does not name: {missing}"
