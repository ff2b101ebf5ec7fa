"""A directory record's key is an organization id in ASCII digits, or a clear refusal.

``"²".isdigit()`` is true and ``int("²")`` raises: a directory delete keyed
``²`` was refused as an ``InternalError`` (a bug of ours) instead of saying
what was wrong with the record.
"""

from __future__ import annotations

import orjson
import pytest

from notification_actions.models.validation import parse_numeric_id
from tests.hostile.conftest import new_org
from tests.support.kafka import consume_until, produce


@pytest.mark.parametrize("text", ["²", "1²", "١", "٣٤", "-1", "+1", " 1", "1 ", "1e3", "", "1_0", "9" * 20])
def test_only_ascii_digits_are_an_id(text):
    assert parse_numeric_id(text) is None


def test_ids_in_ascii_digits_parse():
    assert parse_numeric_id("0") == 0
    assert parse_numeric_id("42") == 42
    assert parse_numeric_id(str(2**63 - 1)) == 2**63 - 1
    assert parse_numeric_id(str(2**63)) is None  # ids are below 2⁶³


async def test_a_directory_keyed_with_a_superscript_is_refused_with_a_reason(pipeline):
    org = new_org()
    keys = ["²".encode(), f"{org}²".encode(), "١".encode()]
    records = [(key, None) for key in keys]
    records.append((f"{org}²".encode(), orjson.dumps({"organization_id": org, "members": [], "teams": []})))
    await produce(pipeline.bootstrap, pipeline.topic("directory"), records)
    rejected = await consume_until(pipeline.bootstrap, pipeline.topic("config_rejected"),
                                   lambda rs: sum(1 for r in rs if r.key in keys) >= len(records), timeout=60)
    mine = [r for r in rejected if r.key in keys]
    assert len(mine) == len(records)
    for record in mine:
        assert record.headers["na-error-class"] == "InvalidAction", record.headers
        reasons = orjson.loads(record.value)["reasons"]
        assert reasons and reasons[0]["field"] in ("key", "organization_id"), reasons
        assert "internal error" not in record.headers["na-error-message"]
