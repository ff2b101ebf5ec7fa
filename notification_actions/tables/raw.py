"""Tables store bytes: we encode values ourselves (orjson), so a bad record
fails in our code, with our error message, not inside Faust's serializer."""

import faust


def raw_schema() -> faust.Schema:
    return faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
