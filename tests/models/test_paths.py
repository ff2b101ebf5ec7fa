"""The one dotted-path resolver: mappings by key, lists by ASCII position, MISSING for anything else."""

from __future__ import annotations

import copy
import pickle

import pytest

from notification_actions.models.paths import MISSING, resolve

ENVELOPE = {
    "id": "e1",
    "organization_id": 7,
    "project_id": None,
    "data": {
        "actor": "jane@acme.io",
        "tags": ["red", "blue"],
        "nested": {"items": [{"name": "first"}, {"name": "second"}], "0": "key-zero"},
        "empty": [],
        "zero": 0,
        "nothing": None,
        "text": "hello",
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("id", "e1"),
        ("organization_id", 7),
        ("data.actor", "jane@acme.io"),
        ("data.tags", ["red", "blue"]),
        ("data.tags.0", "red"),
        ("data.tags.1", "blue"),
        ("data.nested.items.1.name", "second"),
        ("data.nested.0", "key-zero"),  # a numeric part is a key in a mapping
        ("data.zero", 0),  # falsy values are values
        ("data.empty", []),
        ("data.tags.01", "blue"),  # ASCII digits, leading zero and all
    ],
)
def test_present_paths(path, expected):
    assert resolve(ENVELOPE, path) == expected


def test_null_is_a_value_not_missing():
    assert resolve(ENVELOPE, "project_id") is None
    assert resolve(ENVELOPE, "data.nothing") is None


@pytest.mark.parametrize(
    "path",
    [
        "nope",  # a missing root
        "trigger",  # a root the envelope happens to lack
        "data.nope",
        "data.actor.length",  # no attributes on strings
        "data.text.0",  # strings are not indexed
        "data.tags.2",  # out of range
        "data.tags.99",
        "data.empty.0",
        "data.tags.-1",  # no negative positions
        "data.tags.x",
        "data.tags.²",  # str.isdigit() says yes; not an ASCII digit, so no position
        "data.tags.٠",  # ARABIC-INDIC DIGIT ZERO: int() would accept it; the resolver does not
        "data.tags.0.name",  # a string inside a list has no keys
        "data.zero.0",
        "data.nothing.0",  # nothing below a null
        "data.nested.items.0.missing",
        "",
        "data.",
    ],
)
def test_missing_paths(path):
    assert resolve(ENVELOPE, path) is MISSING


def test_roots_that_are_not_containers():
    for root in (None, 5, "text", ["a"]):
        assert resolve(root, "data") is MISSING
    assert resolve(["a", "b"], "1") == "b"
    assert resolve({}, "data.tags.0") is MISSING


def test_missing_is_one_object_with_a_plain_name():
    assert copy.deepcopy(MISSING) is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert repr(MISSING) == "MISSING"
    assert MISSING is not None and MISSING != None  # noqa: E711
