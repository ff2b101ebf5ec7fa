"""``api-token`` and ``local-env``: tokens for the HTTP API, and the settings of a local try-out."""

from __future__ import annotations

import secrets
from pathlib import Path

import click
import orjson

__all__ = ["api_token", "local_env"]


@click.command("api-token")
@click.option("--name", required=True, help="Who the token is for (shown in nothing but the settings).")
@click.option("--org", "organizations", type=click.IntRange(0, 2**63 - 1), multiple=True, required=True,
              help="An organization it grants (repeatable).")
@click.option("--read-only", is_flag=True, help="Reads only: no writes, test-fires or redrives.")
def api_token(name: str, organizations: tuple[int, ...], read_only: bool) -> None:
    """Print a new organization token for the HTTP API and its settings entry.

    The token is printed once and kept nowhere. Add the entry (it holds only the
    token's SHA-256) to the JSON list in NOTIFICATION_ACTIONS_API_TOKENS of every worker.
    """
    from notification_actions.api.auth import new_token

    token, grant = new_token(name, sorted(set(organizations)), write=not read_only)
    click.echo(f"token: {token}")
    click.echo(f"NOTIFICATION_ACTIONS_API_TOKENS entry: {orjson.dumps(grant.model_dump()).decode()}")


LOCAL_SETTINGS = """\
# Settings of a local try-out, written by `notification-actions local-env` (`make run` does).
# Never used by the test suite. Delete this file for a new token.
NOTIFICATION_ACTIONS_API_TOKEN={token}
# Webhooks to this machine (http://127.0.0.1:…), as the README's quickstart sends.
NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_HTTP=true
NOTIFICATION_ACTIONS_WEBHOOK_ALLOW_PRIVATE=true
"""


@click.command("local-env")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="var/local.env")
def local_env(path: Path) -> None:
    """Write the settings of a local try-out to PATH once (a random API token; webhooks to this machine).

    `make run` writes it when no broker is configured and points the worker at it
    (NOTIFICATION_ACTIONS_ENV_FILE). An existing file is kept, token and all.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LOCAL_SETTINGS.format(token="na_dev_" + secrets.token_urlsafe(24)))
        path.chmod(0o600)
        click.echo(f"wrote the local try-out settings to {path}")
    token = next(line.split("=", 1)[1] for line in path.read_text().splitlines()
                 if line.startswith("NOTIFICATION_ACTIONS_API_TOKEN="))
    click.echo(f"local try-out: webhooks may go to http://127.0.0.1; the API token is {token} (in {path})")
