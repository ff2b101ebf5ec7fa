"""``actions``, ``integrations`` and ``directory`` put/delete/list, and ``publish``.

Config commands validate locally — the same model checks the worker makes —
and publish nothing when a record is refused.
"""

from __future__ import annotations

import asyncio

import click
import orjson

from notification_actions.cli.options import as_records, fail_with, load_settings, read_json
from notification_actions.errors import InvalidAction, InvalidEvent
from notification_actions.settings import Settings

__all__ = ["actions", "directory", "integrations", "publish"]


@click.command()
@click.argument("trigger")
@click.argument("source", default="-")
def publish(trigger: str, source: str) -> None:
    """Publish events (one JSON object or a list) from SOURCE (a file or -) to TRIGGER's topic.

    Each event is validated first; if any is invalid nothing is published.
    """
    from notification_actions.kafka.io import publish as send
    from notification_actions.models import ActionTrigger, decode_event

    settings = load_settings()
    try:
        trig = ActionTrigger.parse(trigger)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TRIGGER") from exc
    records, errors = [], []
    for i, doc in enumerate(as_records(read_json(source))):
        raw = orjson.dumps(doc)
        try:
            event = decode_event(raw, topic_trigger=trig, max_bytes=settings.max_event_bytes)
        except InvalidEvent as exc:
            errors.append((i, exc))
            continue
        records.append((str(event.organization_id).encode(), raw))
    if errors:
        fail_with(errors)
    n = asyncio.run(send(settings, settings.event_topic(trig.slug), records))
    click.echo(f"published {n} event(s) to {settings.event_topic(trig.slug)}")


def _put(kind: str, source: str, wait: float | None = None) -> None:
    from notification_actions.kafka.io import publish as send
    from notification_actions.models import Directory, Integration, NotificationAction
    from notification_actions.models.validation import parse_record

    settings = load_settings()
    model, topic, key_of = {
        "action": (NotificationAction, settings.config_topic, lambda r: r.id),
        "integration": (Integration, settings.integrations_topic, lambda r: r.id),
        "directory": (Directory, settings.directory_topic, lambda r: str(r.organization_id)),
    }[kind]
    parsed, errors = [], []
    for i, doc in enumerate(as_records(read_json(source))):
        try:
            parsed.append((i, parse_record(model, orjson.dumps(doc))))
        except InvalidAction as exc:
            errors.append((i, exc))
    if kind == "action" and parsed:
        errors += _check_actions(settings, parsed)
    if errors:
        fail_with(sorted(errors, key=lambda e: e[0]))
    if wait is not None:
        _put_and_wait(settings, [r for _, r in parsed], wait)
        return
    records = [
        (key_of(r).encode(), r.to_storage() if kind == "integration" else orjson.dumps(r.model_dump(mode="json")))
        for _, r in parsed
    ]
    n = asyncio.run(send(settings, topic, records))
    click.echo(f"published {n} {kind} record(s) to {topic}")


def _put_and_wait(settings: Settings, parsed: list, timeout: float) -> None:
    """Publish each action and print the workers' verdict on it (ops/configwrite.py); exit 1 unless all applied."""
    from notification_actions.ops.configwrite import ConfigWriter, WriteTimeout

    async def run() -> bool:
        writer = ConfigWriter(settings)
        ok = True
        try:
            for action in parsed:
                try:
                    verdict = await writer.put(action, timeout)
                except WriteTimeout as exc:
                    click.echo(f"action {action.id}: {exc}", err=True)
                    ok = False
                    continue
                if verdict.applied:
                    click.echo(f"action {action.id}: applied ({verdict.where})")
                    continue
                ok = False
                click.echo(f"action {action.id}: refused by the workers ({verdict.where})", err=True)
                for p in verdict.problems:
                    click.echo(f"  {p.field or '(record)'}: {p.message}", err=True)
        except RuntimeError as exc:  # no topics yet: no worker ever ran
            raise click.ClickException(str(exc)) from None
        finally:
            await writer.stop()
        return ok

    if not asyncio.run(run()):
        raise SystemExit(1)


def _check_actions(settings: Settings, parsed: list) -> list:
    """The worker's own checks (``checks.check_action``) against what the workers hold now."""
    from notification_actions import registrations  # noqa: F401
    from notification_actions.models.checks import check_action
    from notification_actions.models.registry import REGISTRY
    from notification_actions.tables.state import load_state

    state = asyncio.run(load_state(settings, actions=False))
    # Where a webhook may point (http://, this machine) is the workers' setting, not this terminal's:
    # the workers refuse what their policy does not allow (`--wait` shows it).
    settings = settings.model_copy(update={"webhook_allow_http": True, "webhook_allow_private": True})
    errors = []
    for i, action in parsed:
        try:
            check_action(
                action,
                registry=REGISTRY,
                integration=state.integrations.get(action.integration_id or ""),
                directory=state.directories.get(action.organization_id),
                settings=settings,
            )
        except InvalidAction as exc:
            errors.append((i, exc))
    return errors


def _delete(topic: str, key: str, what: str) -> None:
    from notification_actions.kafka.io import publish as send

    asyncio.run(send(load_settings(), topic, [(key.encode(), None)]))
    click.echo(f"published a delete of {what} {key} to {topic}")


def _list(kind: str, org: int | None) -> None:
    from notification_actions.tables.state import load_state

    state = asyncio.run(load_state(load_settings(), actions=kind == "actions", integrations=kind == "integrations",
                                   directories=False))
    if kind == "actions":
        rows = [a.model_dump(mode="json") for a in state.actions.values()]
    else:
        rows = [i.redacted() for i in state.integrations.values()]
    rows = sorted((r for r in rows if org is None or r.get("organization_id") == org), key=lambda r: r["id"])
    click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())


@click.group()
def actions() -> None:
    """Put, delete and list notification actions (through the config topic)."""


@actions.command("put")
@click.argument("source")
@click.option("--wait", "wait", is_flag=True, help="Wait for the workers to apply or refuse each action; "
              "print their verdict (exit 1 unless all applied).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="With --wait: seconds to wait for each verdict.")
def actions_put(source: str, wait: bool, timeout: float) -> None:
    """Publish action definition(s) from SOURCE (a file or -), validated first.

    Where a webhook URL may point (http://, private addresses) is checked by the
    workers, under their own settings: --wait shows their verdict.
    """
    _put("action", source, timeout if wait else None)


@actions.command("delete")
@click.argument("action_id")
def actions_delete(action_id: str) -> None:
    """Delete an action (publishes a tombstone)."""
    _delete(load_settings().config_topic, action_id, "action")


JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="JSON (what this command prints anyway: one array, whole lines when piped).")


@actions.command("list")
@click.option("--org", type=int, default=None, help="Only this organization's actions.")
@JSON_OPTION
def actions_list(org: int | None, as_json: bool) -> None:
    """List the actions the workers hold (refused records are not among them), as JSON."""
    _list("actions", org)


@click.group()
def integrations() -> None:
    """Put, delete and list integrations (credentials are never printed)."""


@integrations.command("put")
@click.argument("source")
def integrations_put(source: str) -> None:
    _put("integration", source)


@integrations.command("delete")
@click.argument("integration_id")
def integrations_delete(integration_id: str) -> None:
    _delete(load_settings().integrations_topic, integration_id, "integration")


@integrations.command("list")
@click.option("--org", type=int, default=None)
@JSON_OPTION
def integrations_list(org: int | None, as_json: bool) -> None:
    """List the integrations the workers hold, credentials masked."""
    _list("integrations", org)


@click.group()
def directory() -> None:
    """Publish organization directories (members and teams)."""


@directory.command("put")
@click.argument("source")
def directory_put(source: str) -> None:
    _put("directory", source)
