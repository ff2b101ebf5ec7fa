"""A refused integration record carries no credential, however malformed.

The rejected-topic writer masked ``credentials`` of a JSON object only: a
typo'd ``credential`` key, a JSON array or string, a credential name that is
itself the secret, a ``provider`` that is an object (its error message echoed
it) were all copied into ``notification-actions.config.rejected`` — value,
reasons or headers — with the secret in clear.
"""

from __future__ import annotations

import orjson

from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.kafka import consume_until, produce


def _shapes(org: int, secret: str) -> dict[str, tuple[bytes, str | None]]:
    """name → (raw value, the field its reason must name: "" = the whole value, None = one it cannot name)."""
    slack = {"organization_id": org, "provider": "slack", "name": "Acme"}
    return {
        "typo-key": (orjson.dumps({**slack, "credential": {"bot_token": secret}}), "credential"),
        "array": (orjson.dumps([{**slack, "credentials": {"bot_token": secret}}]), ""),
        "string": (orjson.dumps(secret), ""),
        "wrong-provider": (orjson.dumps({**slack, "provider": "slak", "credentials": {"bot_token": secret}}),
                           "provider"),
        "provider-object": (orjson.dumps({**slack, "provider": {"slack": secret}, "credentials": {}}), "provider"),
        "nested-deep": (orjson.dumps({**slack, "credentials": {"bot_token": {"inner": {"deep": secret}}}}),
                        "credentials"),
        "secret-as-name": (orjson.dumps({**slack, "credentials": {secret: {"x": 1}}}), "credentials"),
        "not-json": (f"bot_token={secret}".encode(), ""),
        "credentials-list": (orjson.dumps({**slack, "credentials": [secret]}), "credentials"),
        "metadata-and-extra": (orjson.dumps({**slack, "credentials": {"bot_token": secret},
                                             "metadata": {"token": secret}, secret: secret}), None),
        "key-mismatch": (orjson.dumps({**slack, "id": "someone-else", "credentials": {"bot_token": secret}}), "id"),
    }


async def test_no_malformed_integration_carries_its_secret_into_the_rejected_topic(pipeline, sink):
    org = new_org()
    secret = f"xoxb-LEAKCANARY-{org}-9f3e1a77"
    shapes = _shapes(org, secret)
    keys = {f"rj{org}-{name}".encode(): name for name in shapes}
    records = []
    for key, name in keys.items():
        raw, _ = shapes[name]
        if name not in ("array", "string", "not-json", "key-mismatch"):
            raw = orjson.dumps({"id": key.decode(), **orjson.loads(raw)})
        records.append((key, raw))
    await produce(pipeline.bootstrap, pipeline.topic("integrations"), records)

    rejected = await consume_until(pipeline.bootstrap, pipeline.topic("config_rejected"),
                                   lambda rs: set(keys) <= {r.key for r in rs}, timeout=60)
    mine = {keys[r.key]: r for r in rejected if r.key in keys}
    assert set(mine) == set(shapes), "a refused record vanished"
    leaks = []
    for name, record in mine.items():
        report = orjson.loads(record.value)
        assert report["reasons"], name
        wanted = shapes[name][1]
        fields = [reason["field"] for reason in report["reasons"]]
        assert wanted is None or any(f == wanted or f.startswith(wanted + ".") for f in fields), \
            (name, report["reasons"])
        assert record.headers["na-error-class"] == "InvalidAction", (name, record.headers)
        texts = {"key": record.key or b"", "value": record.value or b""}
        texts.update({f"header {h}": v.encode() for h, v in record.headers.items()})
        leaks += [f"{name}: {where}" for where, text in texts.items() if secret.encode() in text]
    assert not leaks, f"the secret was copied into: {leaks}"

    # what may be shown still is: the id, organization and provider of an object
    typo = orjson.loads(orjson.loads(mine["typo-key"].value)["value"])
    assert typo["id"] == f"rj{org}-typo-key" and typo["organization_id"] == org and typo["provider"] == "slack"
    assert "credential" in str(typo)  # the marker names what was withheld
    log = pipeline.worker.log_path.read_text(errors="replace")
    assert secret not in log, "the secret reached the worker's log"
    await bystander_still_served(pipeline, sink)
