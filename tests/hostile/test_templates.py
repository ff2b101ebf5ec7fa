"""A template bomb cannot take a worker's memory.

``"{{ data }}" * 2000`` over a 300 KB event took the worker to 1.8 GB. Templates
are bounded when the action is validated (length, placeholders) and rendering
stops at a size limit, each distinct path rendered once.
"""

from __future__ import annotations

import orjson
import pytest

from notification_actions.models.template import (
    MAX_PLACEHOLDERS,
    MAX_RENDERED_CHARS,
    MAX_TEMPLATE_CHARS,
    check_template,
    render,
)
from tests.hostile.conftest import bystander_still_served, new_org
from tests.support.kafka import consume_until
from tests.support.pipeline import action, event


def test_render_stops_at_the_limit_and_renders_each_path_once():
    big = {"data": {"blob": "x" * 300_000}}
    out = render("{{ data }}" * MAX_PLACEHOLDERS, big)
    assert len(out) == MAX_RENDERED_CHARS
    assert render("a{{ data.n }}b{{ data.n }}c", {"data": {"n": 5}}) == "a5b5c"
    assert render("abcdef{{ x }}", {}, limit=3) == "abc"
    assert render("ab{{ x }}cdef", {"x": "ZZZ"}, limit=4) == "abZZ"


def test_templates_past_the_bounds_are_refused():
    with pytest.raises(ValueError, match=f"at most {MAX_PLACEHOLDERS} placeholders"):
        check_template("{{ data }}" * (MAX_PLACEHOLDERS + 1))
    with pytest.raises(ValueError, match=f"at most {MAX_TEMPLATE_CHARS} characters"):
        check_template("x" * (MAX_TEMPLATE_CHARS + 1))
    assert check_template("{{ data.actor }} did {{ data.event }}")


async def test_a_template_bomb_is_refused_and_the_largest_allowed_one_stays_small(pipeline, sink):
    org = new_org()
    await pipeline.put_actions(action(f"bomb{org}", org, f"{sink.url}/bomb/{org}", template="{{ data }}" * 2000))
    rejected = await consume_until(pipeline.bootstrap, pipeline.topic("config_rejected"),
                                   lambda rs: any(r.key == f"bomb{org}".encode() for r in rs))
    [report] = [orjson.loads(r.value) for r in rejected if r.key == f"bomb{org}".encode()]
    assert report["reasons"][0]["field"] == "template"
    assert "placeholders" in report["reasons"][0]["error"] or "characters" in report["reasons"][0]["error"]

    # the largest template allowed, over an event of 300 KB, many times
    await pipeline.put_actions(action(f"big{org}", org, f"{sink.url}/big/{org}",
                                      template="{{ data }}" * MAX_PLACEHOLDERS))
    pipeline.wait_actions(org, lambda a: f"big{org}" in a)
    await pipeline.publish(*(event(f"big{org}-{i}", org, blob="y" * 300_000) for i in range(20)))
    got = await sink.wait_for(20, 60, path_prefix=f"/big/{org}")
    assert all(len(r.json()["text"]) <= MAX_RENDERED_CHARS for r in got)
    await bystander_still_served(pipeline, sink)
