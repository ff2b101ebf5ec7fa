"""Tables store bytes: we encode values ourselves (orjson), so a bad record
fails in our code, with our error message, not inside Faust's serializer."""

from typing import Any

import faust

from notification_actions.kafka.recovery import batch_recovery


__all__ = ["global_table", "raw_codecs"]


def raw_codecs() -> dict[str, Any]:
    """Table kwargs for bytes in, bytes out.

    Faust derives a table's changelog codecs from ``key_type``/``value_type``
    (``bytes`` → raw, anything else → JSON) and ignores the schema's, so both
    are given: with the schema alone, recovery JSON-decodes raw keys and hangs.
    """
    return {
        "key_type": bytes,
        "value_type": bytes,
        "schema": faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"),
    }


def global_table(app: faust.App, name: str, help: str) -> faust.GlobalTable:
    """A one-partition GlobalTable of bytes that every worker holds whole (config records)."""
    table = app.GlobalTable(
        name,
        partitions=1,
        recovery_buffer_size=1,  # read live after recovery; recovery itself is batched
        use_partitioner=True,
        **raw_codecs(),
        help=help,
    )
    batch_recovery(app, table)
    return table
