"""A property test: random and mutated events and config records, thrown at ONE worker as one batch.

Hypothesis draws the inputs (``SEED`` fixes them); they are produced at once to a
worker of this module's own (``MAX_EVENT_BYTES`` = 20,000), and then each input is
looked for where it must be.

Events (``N_EVENTS``): valid envelopes for every trigger, mutated ones (a field
dropped, renamed to camelCase or given a wrong type; nesting of depth 31..1000; sizes
around the limit; numbers like 1e309, 2**64, NaN as raw text; lone surrogates
escaped in the JSON text; duplicate keys; a BOM; truncation; invalid UTF-8), raw
garbage (empty, null, arrays, random bytes) and records keyed by something other
than their organization id. Unicode (RTL, combining marks, emoji, NUL) is everywhere.
Every organization an event can name has one catch-all webhook action per trigger,
aimed at the sink, so nothing "matches nothing": each event the door accepts must
arrive exactly once, and every other one must be in the events DLQ. The door is
``decode_event`` with the record's Kafka key (models/event.py, "the one door").

Config records (``N_INTEGRATIONS`` + ``N_ACTIONS``, each with a key of its own): every
field wrong in every way, hostile regexes, template bombs, camelCase/snake_case
mixes, mismatched keys, garbage values and tombstones. Each must be either applied
(actions: the worker's ``/organizations/{org}/actions``; integrations: its table's
changelog, which ``integrations list`` reads) or in ``config.rejected`` with its
reasons -- never both, never neither.

What each input became is gathered once (the ``batch`` fixture); each test asserts
one property of it (three of them — the DLQ's origin timestamp unit, webhook-ids a
header cannot carry raw, events keyed by another organization — found bugs, fixed).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from notification_actions.errors import InvalidEvent
from notification_actions.registrations.support.signing import header_id
from notification_actions.models import ActionTrigger, Integration, NotificationAction, decode_event
from notification_actions.models.triggers import TRIGGER_DATA_MODELS
from tests.hostile.conftest import bystander_still_served, peak_rss_mb, RSS_BOUND_MB
from tests.support.kafka import produce_each, read_all, read_topics
from tests.support.pipeline import Pipeline, action, running_pipeline

SEED = 20261126
MAX_EVENT_BYTES = 20_000
N_EVENTS = 1_100
N_INTEGRATIONS = 90
N_ACTIONS = 240
DEADLINE = 120.0  # for the batch to be accounted for, once produced (a shared 2-core machine)

# the worker's start on a broker that other suites share can take minutes (tests/support/pipeline.py)
pytestmark = pytest.mark.timeout(600)

TRIGGERS = tuple(ActionTrigger)
# Every organization an event may name (boundary ids included) has a catch-all per trigger.
EVENT_ORGS = (0, 81_001, 81_002, 81_003, 81_004, 2**63 - 1)
# Config records only ever name these (or no valid id at all): they never touch the events' orgs.
CFG_ORGS = (91_001, 91_002, 91_003, 91_004)
PROVIDERS = ("slack", "pagerduty", "opsgenie", "jira", "github", "webhook", "discord", "msteams", "sentry_app")

HOSTILE_TEXT = [
    "", " ", "\u202eevil\u202c", "שלום עולם", "مرحبا بالعالم", "e\u0301\u0302\u0303\u0304", "Z\u0351\u0353a\u0352l\u0316go",
    "👩‍👩‍👧‍👦", "🏳️‍🌈", "\x00", "a\x00b", "\r\nX-Injected: 1", "\t", "\u2028", "\ufeff", "\uffff", "𝕏", "\U0010ffff",
    "{{ data }}", "{{ data }}" * 60, "${jndi:ldap://x/a}", "' OR 1=1 --", "../../etc/passwd", "%00%0d%0a", "x" * 300,
    "ǅ", "İ", "ß", "\u0085", "NaN", "-0", "1e308", "Infinity",
]
TEXT = st.one_of(st.text(max_size=24), st.sampled_from(HOSTILE_TEXT))
NUMBERS = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 0, 2**53 + 1, 2**63 - 1, 2**64 - 1]),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)
WRONG = st.one_of(
    st.sampled_from([None, True, False, "", "1", "81001", 1.5, -1, 2**63, 2**64 - 1, [], {}, [1], {"a": 1},
                     "x" * 201, "😀", "null", "true"]),
    JSON,
)
OCCURRED = ["2026-11-26T20:00:00Z", "2026-11-26T20:00:00+05:30", "2026-11-26T20:00:00.123456-08:00",
            "2026-11-26T20:00:00", "2026-11-26", "yesterday", 1795729882, 1e308, -0.0, "", None,
            "2026-02-30T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-11-26T20:00:00Z\x00"]
RAW_NUMBERS = [b"1e308", b"1e309", b"-0", b"NaN", b"Infinity", b"-Infinity", b"18446744073709551616",
               b"-9223372036854775809", b"01", b"1_0", b"0x10", b"1e400", b"2e-400", b"123456789012345678901234567890",
               b"9223372036854775807", b"9223372036854775808", b"-0.0", b"1.0", b"+1"]
RAW_STRINGS = [b'"\\ud800"', b'"x\\udc00y"', b'"\\ud83d\\ude00"', b'"\\u0000"', b'"\\ud800\\ud800"',
               b'"\\u202e\\u0301"', b'"\xff\xfe"', b'"\xc3\x28"', b'"\xed\xa0\x80"']
REGEXES = [r"(a+)+$", r"(?=x)", r"(a)\1", r"\1", r"^(\w+\s?)*$", r"(x+x+)+y", "[", r"(?i)ǅ", r"\p{Greek}+",
           r"a{1000}{1000}", ".*" * 100, "x" * 1001, "\x00", r"(?P<n>a)(?P=n)", r"(?<!a)b", r"\C", r"[[:alpha:]]",
           r"\x{10FFFF}", r"\b", "member\\.invite", ""]
TEMPLATES = ["{{ data }}" * 60, "{{ data }}" * 50, "{{ data.actor }} did {{ data.event }}", "{{" * 1000, "}}{{",
             "{{ data.__class__ }}", "{{ data.actor | upper }}", "x" * 131_073, "שלום {{ data.actor }} \u202e",
             "\x00", "", "{{ data." + "a." * 300 + "b }}", "{{ data.tags.0 }}"]


def _nest(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- drawing the batch -----------------------------------------------------------------

def draw_many(strategy: st.SearchStrategy, n: int, salt: int) -> list:
    """``n`` values of ``strategy`` drawn by one Hypothesis run (seeded, no database, no shrinking)."""
    out: list = []

    @seed(SEED + salt)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(strategy)
    def collect(value):
        out.append(value)

    collect()
    assert len(out) >= n * 0.95, f"Hypothesis drew only {len(out)} of {n}"
    return out


MUTATIONS = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(["id", "organization_id", "occurred_at", "data", "trigger",
                                                 "data.event", "data.actor", "data.version", "data.status"])),
    st.tuples(st.just("set"), st.sampled_from(["id", "organization_id", "project_id", "occurred_at", "data",
                                                "trigger", "data.event", "data.actor", "data.email", "data.url",
                                                "data.usage", "data.level"]), WRONG),
    st.tuples(st.just("extra"), st.sampled_from(["organizationId", "Trigger", "extra", "__proto__", "ID", ""]), JSON),
    st.tuples(st.just("camel"), st.sampled_from(["organization_id", "occurred_at", "project_id"])),
    st.tuples(st.just("deep"), st.sampled_from([29, 30, 31, 32, 40, 1000])),
    st.tuples(st.just("rawnum"), st.sampled_from(["organization_id", "project_id", "data.usage", "data.n"]),
              st.sampled_from(RAW_NUMBERS)),
    st.tuples(st.just("rawstr"), st.sampled_from(["id", "data.actor", "data.s", "occurred_at"]),
              st.sampled_from(RAW_STRINGS)),
    st.tuples(st.just("dupkey"), st.sampled_from(["organization_id", "id", "data"])),
    st.tuples(st.just("pad"), st.sampled_from([-50, -1, 0, 1, 2, 500])),
    st.tuples(st.just("bom")),
    st.tuples(st.just("trailing"), st.sampled_from([b" x", b"}", b"\x00", b"\n{}"])),
    st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
)
# No null key: the config topics are compacted and the broker refuses a keyless record there outright.
CONFIG_KEY_MODES = ["empty", "other", "nonutf8", "upper"]
KEY_MODES = ["none", "empty", "other", "zero", "space", "fullwidth", "nonutf8", "plus", "float", "newline", "nul"]


@st.composite
def event_specs(draw) -> dict:
    kind = draw(st.sampled_from(["valid"] * 8 + ["mutated"] * 6 + ["raw"] * 2 + ["wrong_key"] * 2))
    trigger = draw(st.sampled_from(TRIGGERS))
    spec: dict[str, Any] = {"kind": kind, "trigger": trigger, "org": draw(st.sampled_from(EVENT_ORGS)),
                            "suffix": draw(st.one_of(st.just(""), TEXT)), "key": "org", "mutations": []}
    if kind == "raw":
        spec["raw"] = draw(st.one_of(
            st.sampled_from([None, b"", b"null", b"[]", b"[{}]", b'"event"', b"42", b"true", b"{", b"{}", b" ",
                             b'{"id":"x"}', b"\xef\xbb\xbf{}", _nest(5000)]),
            st.binary(max_size=64), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))))
        return spec
    data = dict(TRIGGER_DATA_MODELS[trigger].example)
    if kind == "mutated":
        for name in draw(st.lists(st.sampled_from(sorted(data)), max_size=2, unique=True)):
            data[name] = draw(st.one_of(TEXT, JSON))
    data.update(draw(st.dictionaries(TEXT.filter(lambda k: k not in data), JSON, max_size=3)))
    doc: dict[str, Any] = {"id": None, "organization_id": spec["org"],
                           "occurred_at": draw(st.sampled_from(OCCURRED[:3] if kind != "mutated" else OCCURRED)),
                           "data": data}
    if draw(st.booleans()):
        doc["project_id"] = draw(st.sampled_from([None, 0, 10, 2**63 - 1]))
    if draw(st.booleans()):
        other = TRIGGERS[(TRIGGERS.index(trigger) + 1) % len(TRIGGERS)]
        forms = [trigger.slug, trigger.value, trigger.name, str(trigger.value), f" {trigger.slug} "]
        doc["trigger"] = draw(st.sampled_from(forms + ([other.slug] if kind == "mutated" else [])))
    spec["doc"] = doc
    if kind == "mutated":
        spec["mutations"] = draw(st.lists(MUTATIONS, min_size=1, max_size=3))
    if kind == "wrong_key":
        spec["key"] = draw(st.sampled_from(KEY_MODES))
    spec["forged"] = draw(st.integers(0, 9)) == 0  # a producer header that looks like ours
    return spec


def _set_path(doc: dict, path: str, value: Any) -> None:
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _drop_path(doc: dict, path: str) -> None:
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return
    node.pop(parts[-1], None)


def _key(org: int, mode: str) -> bytes | None:
    text = str(org)
    return {
        "org": text.encode(), "none": None, "empty": b"", "zero": b"0" + text.encode(), "space": b" " + text.encode(),
        "other": str(EVENT_ORGS[(EVENT_ORGS.index(org) + 1) % len(EVENT_ORGS)]).encode(),
        "fullwidth": "".join(chr(0xFF10 + int(c)) for c in text).encode(), "nonutf8": b"\xff" + text.encode(),
        "plus": b"+" + text.encode(), "float": text.encode() + b".0", "newline": text.encode() + b"\n",
        "nul": text.encode() + b"\x00",
    }[mode]


@dataclass
class EventInput:
    n: int
    spec: dict
    trigger: ActionTrigger
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    event_id: str | None = None  # the id the door sees, when it decodes
    verdict: str = ""  # "valid", "wrong_key" (valid but for its key) or "invalid"
    decoded: Any = None
    where: tuple[str, int, int] | None = None  # topic, partition, offset
    timestamp: int | None = None  # the record's Kafka timestamp (ms), read back


def build_event(n: int, spec: dict) -> EventInput:
    trigger: ActionTrigger = spec["trigger"]
    headers = [("x-prop", str(n).encode())]
    if spec.get("forged"):
        headers += [("na-origin-offset", b"999999"), ("na-error-class", b"Forged")]
    if "raw" in spec:
        return EventInput(n, spec, trigger, _key(spec["org"], "org"), spec["raw"], headers)
    doc = orjson.loads(orjson.dumps(spec["doc"]))  # a copy
    doc["id"] = f"p{n}-{spec['suffix']}"
    splices: dict[bytes, bytes] = {}
    tail: list[tuple] = []

    def splice(path: str, raw: bytes) -> None:
        mark = f"\x01RAW{len(splices)}\x01"
        _set_path(doc, path, mark)
        splices[orjson.dumps(mark)] = raw

    for m in spec["mutations"]:
        op = m[0]
        if op == "drop":
            _drop_path(doc, m[1])
        elif op == "set":
            _set_path(doc, m[1], m[2])
        elif op == "extra":
            doc[m[1]] = m[2]
        elif op == "camel" and m[1] in doc:
            head, *rest = m[1].split("_")
            doc[head + "".join(p.title() for p in rest)] = doc.pop(m[1])
        elif op == "deep":
            splice("data.deep", _nest(m[1]))
        elif op == "rawnum":
            splice(m[1], m[2])
        elif op == "rawstr":
            splice(m[1], m[2])
        else:
            tail.append(m)
    _confine(doc, n, EVENT_ORGS)
    raw = orjson.dumps(doc)
    for mark, replacement in splices.items():
        raw = raw.replace(mark, replacement)
    for m in tail:
        op = m[0]
        if op == "dupkey":
            again = {"organization_id": str(EVENT_ORGS[(EVENT_ORGS.index(spec["org"]) + 1) % len(EVENT_ORGS)]).encode(),
                     "id": f'"p{n}-dup"'.encode(), "data": b"{}"}[m[1]]
            raw = raw[:-1] + b',"' + m[1].encode() + b'":' + again + b"}"
        elif op == "pad" and raw.endswith(b"}"):
            room = MAX_EVENT_BYTES + m[1] - len(raw) - len(b',"pad":""')
            raw = raw[:-1] + b',"pad":"' + b"x" * max(room, 0) + b'"}'
        elif op == "bom":
            raw = b"\xef\xbb\xbf" + raw
        elif op == "trailing":
            raw = raw + m[1]
        elif op == "truncate":
            raw = raw[: int(len(raw) * m[1])]
    return EventInput(n, spec, trigger, _key(spec["org"], spec["key"]), raw, headers)


def judge(e: EventInput) -> None:
    """The door's verdict: ``decode_event`` with the record's key, and without it."""
    try:
        e.decoded = decode_event(e.value, topic_trigger=e.trigger, max_bytes=MAX_EVENT_BYTES, key=e.key)
        e.verdict = "valid"
    except InvalidEvent:
        try:
            e.decoded = decode_event(e.value, topic_trigger=e.trigger, max_bytes=MAX_EVENT_BYTES)
            e.verdict = "wrong_key"
        except InvalidEvent:
            e.verdict = "invalid"
    if e.decoded is not None:
        e.event_id = e.decoded.id


# --- config records ----------------------------------------------------------------------

def secret_for(tag: str) -> str:
    return f"PROPSECRET-{tag}-" + base64.b32encode(tag.encode()).decode().strip("=")[:16]


def integration_doc(ident: str, org: Any, provider: str, sink_url: str) -> dict:
    secret = secret_for(ident.encode("utf-8", "replace").hex()[:24])
    whsec = "whsec_" + base64.b64encode(secret.encode()).decode()
    credentials, metadata = {
        "slack": ({"bot_token": f"xoxb-{secret}"}, {"channels": [{"id": "C024BE91L", "name": "#alerts"}]}),
        "pagerduty": ({"integration_keys": {"PSVC1": secret[:32].ljust(32, "0")}},
                      {"services": [{"id": "PSVC1", "name": "API"}]}),
        "opsgenie": ({"api_key": secret}, {"teams": [{"id": "ops", "name": "Ops"}]}),
        "jira": ({"email": f"{secret}@acme.io", "api_token": secret},
                 {"site": f"{sink_url}/jira", "projects": [{"key": "OPS", "name": "Ops"}]}),
        "github": ({"token": f"github_pat_{secret}"}, {"repositories": ["acme/backend"]}),
        "webhook": ({"signing_secret": whsec}, {}),
        "discord": ({"webhook_url": f"{sink_url}/discord/api/webhooks/1/{secret}"}, {}),
        "msteams": ({"webhook_url": f"{sink_url}/msteams/flow?sig={secret}"}, {}),
        "sentry_app": ({"client_secret": whsec}, {"webhook_url": f"{sink_url}/app", "sentry_app_id": "triage"}),
    }[provider]
    return {"id": ident, "organization_id": org, "provider": provider, "name": f"Prop {provider}",
            "credentials": credentials, "metadata": metadata}


def anchor_id(org: int, provider: str) -> str:
    return f"anc-{org}-{provider}"


@st.composite
def integration_specs(draw) -> dict:
    kind = draw(st.sampled_from(["valid"] * 3 + ["mutated"] * 6 + ["raw"] + ["key"]))
    spec = {"kind": kind, "provider": draw(st.sampled_from(PROVIDERS)), "org": draw(st.sampled_from(CFG_ORGS)),
            "suffix": draw(st.one_of(st.just(""), TEXT)), "key": "id", "mutations": []}
    if kind == "raw":
        spec["raw"] = draw(st.sampled_from([None, b"", b"[]", b"not json", b'{"id": "x"', b"\xff\xfe", b"null", b"7",
                                            b'{"id":"\\ud800"}', "list"]))
    if kind == "mutated":
        spec["mutations"] = draw(st.lists(st.one_of(
            st.tuples(st.just("set"), st.sampled_from(["id", "organization_id", "provider", "name", "credentials",
                                                        "metadata"]), WRONG),
            st.tuples(st.just("set"), st.just("provider"),
                      st.sampled_from(["SLACK", "Slack", 2, "2", "slak", "", " slack ", "email", 99, True])),
            st.tuples(st.just("cred"), st.sampled_from([7, None, [], ["x"], {"deep": {"deeper": "s" * 9}}, {}, True])),
            st.tuples(st.just("drop"), st.sampled_from(["id", "organization_id", "provider", "credentials"])),
            st.tuples(st.just("extra"), st.sampled_from(["organizationId", "Provider", "secret", "extra"]), JSON),
            st.tuples(st.just("camel"), st.sampled_from(["organization_id"])),
        ), min_size=1, max_size=3))
    if kind == "key":
        spec["key"] = draw(st.sampled_from(CONFIG_KEY_MODES))
    return spec


@st.composite
def action_specs(draw) -> dict:
    service = draw(st.sampled_from(["webhook"] * 5 + list(PROVIDERS) + ["email", "sentry_notification"]))
    kind = draw(st.sampled_from(["valid"] * 4 + ["mutated"] * 7 + ["raw"] + ["key"]))
    spec = {"kind": kind, "service": service, "trigger": draw(st.sampled_from(TRIGGERS)),
            "org": draw(st.sampled_from(CFG_ORGS)), "suffix": draw(st.one_of(st.just(""), TEXT)),
            "key": "id", "mutations": [], "extras": {}}
    if kind == "raw":
        spec["raw"] = draw(st.sampled_from([None, b"", b"[]", b"not json", b'{"id": "x"', b"\xff\xfe", b"null",
                                            b'{"id":"\\ud800"}', _nest(1000)]))
        return spec
    spec["target"] = draw(st.sampled_from({
        "webhook": [("specific", "SINK/cfg"), ("specific", "https://example.com/h"),
                    ("specific", "http://169.254.169.254/latest/meta-data"), ("specific", "ftp://x/y"),
                    ("specific", "javascript:alert(1)"), ("specific", "https://пример.рф/h"),
                    ("specific", "https://a/" + "x" * 3000), ("specific", ""), ("user", "SINK/u"), ("specific", None)],
        "slack": [("specific", "C024BE91L"), ("specific", "#alerts"), ("specific", "CNOPE"), ("team", "C1")],
        "pagerduty": [("specific", "PSVC1"), ("specific", "PNOPE")],
        "opsgenie": [("specific", None), ("team", "ops"), ("team", "nobody")],
        "jira": [("specific", "OPS"), ("specific", "NOPE")],
        "github": [("specific", "acme/backend"), ("specific", "acme/other"), ("specific", "not a repo")],
        "discord": [("specific", "#alerts")], "msteams": [("specific", "Ops / Alerts")],
        "sentry_app": [("sentry_app", None), ("specific", None)],
        "email": [("specific", "ops@acme.io"), ("specific", "not-an-email"), ("user", "u1"), ("team", "backend")],
        "sentry_notification": [("specific", "owner"), ("specific", "Not A Role!")],
    }[service]))
    spec["integration"] = draw(st.sampled_from(["none", "same"] * 3 + ["other_org", "wrong_provider", "missing"]))
    optional = {
        "projects": st.one_of(st.lists(st.integers(0, 2**63 - 1), max_size=3), st.just(list(range(1001))), WRONG),
        "target_display": st.one_of(TEXT, st.just("x" * 501), WRONG),
        "enabled": st.sampled_from([True, False, "true", 1, 0, "no", None, "yes"]),
        "conditions": st.one_of(
            st.lists(st.fixed_dictionaries({
                "path": st.sampled_from(["data.event", "data.actor", "project_id", "data.tags.0", "dta.event",
                                         "data..x", "", "data." + "x" * 600, "id", "data.\u202e"]),
                "op": st.sampled_from(["eq", "ne", "in", "not_in", "contains", "exists", "gt", "gte", "lt", "lte",
                                       "regex", "regex", "regex", "regexp", "EQ", ""]),
                "value": st.one_of(st.sampled_from(REGEXES), JSON, st.just(list(range(1001))))}), max_size=3),
            st.just([{"path": "data.event", "op": "eq", "value": "x"}] * 51), WRONG),
        "throttle": st.one_of(st.fixed_dictionaries(
            {"limit": st.sampled_from([1, 10, 0, -1, 10**9, 2**64 - 1, 1.5, True, "10"]),
             "window_seconds": st.sampled_from([60, 0.001, 0, -1, 1e308, "60", None])},
            optional={"key": st.sampled_from(["data.actor", "", "a..b", None, "data.tags.0"])}), WRONG),
        "template": st.one_of(st.sampled_from(TEMPLATES), TEXT, WRONG),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True)):
        spec["extras"][name] = draw(optional[name])
    if kind == "mutated":
        spec["mutations"] = draw(st.lists(st.one_of(
            st.tuples(st.just("set"), st.sampled_from(["id", "organization_id", "trigger_type", "service_type",
                                                        "target_type", "target_identifier", "integration_id"]), WRONG),
            st.tuples(st.just("set"), st.sampled_from(["trigger_type", "service_type", "target_type"]),
                      st.sampled_from([0, 2, "0", "AUDIT_LOG", "Audit-Log", "audit_log", 99, -1, "slack ", 10, 3])),
            st.tuples(st.just("drop"), st.sampled_from(["id", "organization_id", "trigger_type", "service_type",
                                                         "target_type"])),
            st.tuples(st.just("camel"), st.sampled_from(["organization_id", "trigger_type", "service_type",
                                                          "target_type", "target_identifier", "integration_id"])),
            st.tuples(st.just("both"), st.sampled_from(["organization_id", "trigger_type"])),
            st.tuples(st.just("extra"), st.sampled_from(["Trigger_Type", "triggerType ", "organisation_id", "foo"]),
                      JSON),
            st.tuples(st.just("intid"),),
        ), min_size=1, max_size=3))
    if kind == "key":
        spec["key"] = draw(st.sampled_from(CONFIG_KEY_MODES))
    return spec


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _config_key(ident: Any, mode: str) -> bytes | None:
    text = str(ident)
    return {"id": text.encode(), "none": None, "empty": b"", "other": (text + "-other").encode(),
            "nonutf8": b"\xff" + text.encode(), "upper": text.upper().encode() if text.upper() != text else b"X"}[mode]


@dataclass
class ConfigInput:
    kind: str  # "integration" or "action"
    n: int
    key: bytes | None
    value: bytes | None
    doc: Any = None  # the JSON decoded, when it is JSON
    org: int | None = None  # where an applied action would be visible
    where: tuple[str, int, int] | None = None


def _plain(kind: str, doc: dict) -> ConfigInput:
    """A valid record, keyed by its id (anchors, sentinels)."""
    return ConfigInput(kind, -1, doc["id"].encode(), orjson.dumps(doc), doc=doc, org=doc["organization_id"])


def _confine(doc: dict, n: int, orgs: tuple[int, ...]) -> None:
    """A random valid organization id is moved into ``orgs``: configs never touch the events'
    organizations, and every event names one with a catch-all (none "matches nothing")."""
    for name in ("organization_id", "organizationId"):
        if _valid_org(doc.get(name)) is not None and doc[name] not in orgs:
            doc[name] = orgs[n % len(orgs)]


def _valid_org(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None


def _finish(kind: str, n: int, spec: dict, doc: dict | None, ident: Any, sink_url: str) -> ConfigInput:
    if "raw" in spec:
        raw = spec["raw"]
        if raw == "list":  # a list of one integration record, as `integrations put` reads them from a file
            raw = orjson.dumps([integration_doc(f"int{n}-list", spec["org"], spec["provider"], sink_url)])
        return ConfigInput(kind, n, f"{kind[:3]}{n}-raw".encode(), raw, doc=None)
    _confine(doc, n, CFG_ORGS)
    value = orjson.dumps(doc)
    org = _valid_org(doc.get("organization_id", doc.get("organizationId")))
    return ConfigInput(kind, n, _config_key(ident, spec["key"]), value, doc=doc, org=org)


def build_integration(n: int, spec: dict, sink_url: str) -> ConfigInput:
    ident: Any = f"int{n}-{spec['suffix']}"
    doc = integration_doc(ident, spec["org"], spec["provider"], sink_url)
    for m in spec["mutations"]:
        if m[0] == "set":
            if m[1] == "id" and isinstance(m[2], int) and not isinstance(m[2], bool):
                doc["id"] = ident = 7_000_000 + n  # ints are ids too ("7"); keep it unique
            else:
                doc[m[1]] = m[2]
                ident = doc["id"] if m[1] == "id" else ident
        elif m[0] == "cred":
            doc["credentials"] = {next(iter(doc["credentials"])): m[1]}
        elif m[0] == "drop":
            doc.pop(m[1], None)
        elif m[0] == "extra":
            doc[m[1]] = m[2]
        elif m[0] == "camel" and m[1] in doc:
            doc[_camel(m[1])] = doc.pop(m[1])
    if not isinstance(ident, (str, int)) or isinstance(ident, bool):
        ident = f"int{n}-odd"
    return _finish("integration", n, spec, doc, ident, sink_url)


def build_action(n: int, spec: dict, sink_url: str) -> ConfigInput:
    ident: Any = f"cfg{n}-{spec['suffix']}"
    if "raw" in spec:
        return _finish("action", n, spec, None, ident, sink_url)
    target_type, identifier = spec["target"]
    if isinstance(identifier, str):
        identifier = identifier.replace("SINK", sink_url)
    doc: dict[str, Any] = {"id": ident, "organization_id": spec["org"], "trigger_type": spec["trigger"].slug,
                           "service_type": spec["service"], "target_type": target_type}
    if identifier is not None:
        doc["target_identifier"] = identifier
    provider = spec["service"] if spec["service"] in PROVIDERS else "webhook"
    integration = {
        "none": None, "same": anchor_id(spec["org"], provider),
        "other_org": anchor_id(CFG_ORGS[(CFG_ORGS.index(spec["org"]) + 1) % len(CFG_ORGS)], provider),
        "wrong_provider": anchor_id(spec["org"], "slack" if provider != "slack" else "github"),
        "missing": f"missing-{n}",
    }[spec["integration"]]
    if integration is not None:
        doc["integration_id"] = integration
    doc.update(spec["extras"])
    for m in spec["mutations"]:
        if m[0] == "set":
            doc[m[1]] = m[2]
            if m[1] == "id":
                ident = m[2]
        elif m[0] == "drop":
            doc.pop(m[1], None)
        elif m[0] == "camel" and m[1] in doc:
            doc[_camel(m[1])] = doc.pop(m[1])
        elif m[0] == "both" and m[1] in doc:
            doc[_camel(m[1])] = doc[m[1]] if m[1] != "organization_id" else CFG_ORGS[0]
        elif m[0] == "extra":
            doc[m[1]] = m[2]
        elif m[0] == "intid":
            doc["id"] = ident = 9_000_000 + n
    if isinstance(ident, int) and not isinstance(ident, bool) and ident != 9_000_000 + n:
        doc["id"] = ident = 9_000_000 + n  # an integer id is a valid one ("42"): keep every key unique
    if not isinstance(ident, (str, int)) or isinstance(ident, bool) or ident == "":
        ident = f"cfg{n}-odd"
    return _finish("action", n, spec, doc, ident, sink_url)


def _waits_for_an_integration(c: ConfigInput, applied_integrations: set[str]) -> bool:
    """Whether the worker would give this action 5 s for its integration to arrive (config.py)."""
    if not isinstance(c.doc, dict):
        return False
    try:
        model = NotificationAction.model_validate(c.doc)
    except Exception:
        return False
    return c.key == model.id.encode() and model.integration_id is not None \
        and model.integration_id not in applied_integrations


# --- the batch, run once ---------------------------------------------------------------

@dataclass
class Batch:
    pipe: Pipeline
    events: list[EventInput]
    integrations: list[ConfigInput]
    actions: list[ConfigInput]
    catch_alls: dict[tuple[int, str], str]  # (org, trigger slug) -> action id
    deliveries: list[Any] = field(default_factory=list)  # requests the sink got under /prop/
    events_dlq: list[Any] = field(default_factory=list)
    deliveries_dlq: list[Any] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)
    views: dict[int, dict[str, dict]] = field(default_factory=dict)
    integrations_changelog: dict[bytes, bytes | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    accounted_in_time: bool = False
    configs_in_time: bool = False

    # what became of each input
    def delivered(self, e: EventInput) -> list:
        return [r for r in self.deliveries if e.event_id is not None and _body_event_id(r) == e.event_id]

    def in_events_dlq(self, e: EventInput) -> list:
        return [r for r in self.events_dlq if _origin(r) == e.where]

    def in_deliveries_dlq(self, e: EventInput) -> list:
        return [r for r in self.deliveries_dlq if _origin(r) == e.where]

    def fates(self, e: EventInput) -> int:
        return len(self.delivered(e)) + len(self.in_events_dlq(e)) + len(self.in_deliveries_dlq(e))

    def rejections(self, c: ConfigInput) -> list:
        return [r for r in self.rejected if _source(r) == c.where]

    def applied(self, c: ConfigInput) -> bool | None:
        """True: applied and visible; False: not visible; None: a delete (applied when not visible)."""
        if c.value is None:
            return None
        if c.key is None:
            return False
        if c.kind == "integration":
            return self.integrations_changelog.get(c.key) is not None
        return self.held(c) is not None

    def held(self, c: ConfigInput) -> dict | None:
        """The worker's view of an action record's id, from any organization."""
        ident = c.key.decode(errors="replace") if c.key is not None else None
        return next((view[ident] for view in self.views.values() if ident in view), None)


def _body_event_id(request) -> str | None:
    try:
        return request.json()["event"]["id"]
    except Exception:
        return None


def _origin(record) -> tuple[str, int, int] | None:
    h = record.headers
    try:
        return h["na-origin-topic"], int(h["na-origin-partition"]), int(h["na-origin-offset"])
    except (KeyError, ValueError):
        return None


def _source(record) -> tuple[str, int, int] | None:
    try:
        s = orjson.loads(record.value)["source"]
        return s["topic"], s["partition"], s["offset"]
    except Exception:
        return None


def _changelog(records) -> dict[bytes, bytes | None]:
    state: dict[bytes, bytes | None] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        state[r.key] = r.value
    return state


def _views(pipe: Pipeline, orgs) -> dict[int, dict[str, dict]]:
    return {org: pipe.actions_of(org) for org in orgs}


async def _gather(b: Batch, sink) -> None:
    pipe = b.pipe
    b.deliveries = sink.requests_to("/prop/")
    b.events_dlq = await read_all(pipe.bootstrap, pipe.topic("events_dlq"))
    b.deliveries_dlq = await read_all(pipe.bootstrap, pipe.topic("deliveries_dlq"))
    b.rejected = await read_all(pipe.bootstrap, pipe.topic("config_rejected"))
    changelog = f"{pipe.env['NOTIFICATION_ACTIONS_APP_ID']}-integrations-changelog"
    b.integrations_changelog = _changelog(await read_topics(pipe.bootstrap, [changelog]))
    orgs = set(CFG_ORGS) | set(EVENT_ORGS) | {c.org for c in b.actions if c.org is not None}
    b.views = _views(pipe, sorted(orgs))


def _config_accounted(b: Batch, configs: list[ConfigInput]) -> bool:
    return all(c.where is not None and (b.rejections(c) or b.applied(c) is not False) for c in configs)


async def _wait(b: Batch, sink, done, deadline: float) -> bool:
    while True:
        await _gather(b, sink)
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(1.0)  # a poll interval; the condition above is what is waited for


async def _run(b: Batch, sink) -> None:
    pipe = b.pipe
    t0 = time.monotonic()
    ints = [(c, pipe.topic("integrations")) for c in b.integrations]
    for (c, topic), where in zip(ints, await produce_each(pipe.bootstrap, [(t, c.key, c.value, None) for c, t in ints])):
        c.where = where
    catch = [action(ident, org, f"{sink.url}/prop/{org}/{slug}", trigger=slug)
             for (org, slug), ident in b.catch_alls.items()]
    await produce_each(pipe.bootstrap, [(pipe.topic("config"), a["id"].encode(), orjson.dumps(a), None) for a in catch])
    deadline = time.monotonic() + DEADLINE
    ok = await _wait(b, sink, lambda: _config_accounted(b, b.integrations) and all(
        set(b.views.get(org, {})) >= {i for (o, _), i in b.catch_alls.items() if o == org} for org in EVENT_ORGS),
        deadline)
    assert ok, "the integrations and catch-all actions were not all accounted for in time"
    b.timings["integrations and catch-alls"] = time.monotonic() - t0

    # the anchors are in: only an action naming another integration waits 5 s for it (two of them may)
    applied = {c.key.decode() for c in b.integrations if b.applied(c)}
    waiting = [c for c in b.actions if _waits_for_an_integration(c, applied)]
    for c in waiting[2:]:
        c.doc.pop("integration_id", None)
        c.doc.pop("integrationId", None)
        c.value = orjson.dumps(c.doc)
    t1 = time.monotonic()
    acts = [(pipe.topic("config"), c.key, c.value, None) for c in b.actions]
    evs = [(pipe.events_topic(e.trigger.slug), e.key, e.value, e.headers) for e in b.events]
    wheres = await produce_each(pipe.bootstrap, acts + evs)
    for c, where in zip(b.actions, wheres[: len(acts)]):
        c.where = where
    for e, where in zip(b.events, wheres[len(acts):]):
        e.where = where
    deadline = time.monotonic() + DEADLINE
    b.accounted_in_time = await _wait(
        b, sink, lambda: _config_accounted(b, b.actions) and all(b.fates(e) for e in b.events), deadline)
    b.configs_in_time = _config_accounted(b, b.actions)
    stamps = {(r.topic, r.partition, r.offset): r.timestamp
              for r in await read_topics(pipe.bootstrap, sorted({e.where[0] for e in b.events}))}
    for e in b.events:
        e.timestamp = stamps.get(e.where)
    b.timings["actions and events"] = time.monotonic() - t1


class BatchFailed(RuntimeError):
    """The batch could not be run (an error of the harness, not a property that failed)."""


@pytest.fixture(scope="module")
def batch(kafka_bootstrap, tmp_path_factory, sink):
    try:
        yield from _batch(kafka_bootstrap, tmp_path_factory, sink)
    except Exception as exc:
        raise BatchFailed(f"{type(exc).__name__}: {exc}") from exc


def _batch(kafka_bootstrap, tmp_path_factory, sink):
    t0 = time.monotonic()
    events = [build_event(n, spec) for n, spec in enumerate(draw_many(event_specs(), N_EVENTS, 1))]
    for e in events:
        judge(e)
    sink_url = sink.url
    anchors = [_plain("integration", integration_doc(anchor_id(o, p), o, p, sink_url)) for o in CFG_ORGS for p in PROVIDERS]
    integrations = anchors + [build_integration(n, spec, sink_url)
                              for n, spec in enumerate(draw_many(integration_specs(), N_INTEGRATIONS, 2))]
    integrations.append(_plain("integration", integration_doc("zz-int-sentinel", CFG_ORGS[0], "slack", sink_url)))
    sentinel = action("zz-sentinel", CFG_ORGS[0], f"{sink_url}/cfg/sentinel")
    actions = [build_action(n, spec, sink_url) for n, spec in enumerate(draw_many(action_specs(), N_ACTIONS, 3))]
    actions.append(_plain("action", sentinel))  # applied last: everything before it was handled
    catch_alls = {(org, t.slug): f"all-{org}-{t.slug}" for org in EVENT_ORGS for t in TRIGGERS}
    generated = time.monotonic() - t0
    with running_pipeline(kafka_bootstrap, tmp_path_factory.mktemp("property"), ready_timeout=300,
                          NOTIFICATION_ACTIONS_MAX_EVENT_BYTES=str(MAX_EVENT_BYTES)) as pipe:
        b = Batch(pipe, events, integrations, actions, catch_alls)
        b.timings["generation"] = generated
        b.timings["worker start"] = time.monotonic() - t0 - generated
        asyncio.run(_run(b, sink))
        yield b


# --- the properties ----------------------------------------------------------------------

def _show(e: EventInput) -> str:
    return f"#{e.n} {e.spec['kind']} key={e.key!r} value={(e.value or b'')[:160]!r} at {e.where}"


def test_the_batch_is_as_large_and_as_mixed_as_promised(batch):
    verdicts = [e.verdict for e in batch.events]
    assert len(batch.events) >= 1_000
    assert len(batch.integrations) + len(batch.actions) - len(CFG_ORGS) * len(PROVIDERS) - 2 >= 300
    # enough of each kind that every property below is about something
    assert verdicts.count("valid") >= 300 and verdicts.count("invalid") >= 250 and verdicts.count("wrong_key") >= 50
    assert sum(1 for e in batch.events if e.value is not None and len(e.value) > MAX_EVENT_BYTES) >= 5
    assert sum(1 for e in batch.events if e.verdict == "valid" and not _header_safe(e.event_id)) >= 20
    print(f"\nproperty batch: {len(batch.events)} events ({verdicts.count('valid')} valid, "
          f"{verdicts.count('wrong_key')} valid but for their key, {verdicts.count('invalid')} invalid), "
          f"{len(batch.integrations)} integration and {len(batch.actions)} action records; timings "
          + ", ".join(f"{k} {v:.1f}s" for k, v in batch.timings.items()))


def test_the_worker_stays_up_and_every_event_is_accounted_for_once(batch):
    """Each event is delivered, or in the events DLQ, or (its delivery failed) in the deliveries DLQ: once."""
    assert batch.pipe.worker.proc.poll() is None, "the worker died:\n" + batch.pipe.worker.log_tail()
    assert httpx.get(f"{batch.pipe.api}/healthz", timeout=10).status_code == 200
    lost = [_show(e) for e in batch.events if batch.fates(e) == 0]
    twice = [f"{_show(e)}: {batch.fates(e)} fates" for e in batch.events if batch.fates(e) > 1]
    assert not lost, f"{len(lost)} event(s) vanished (no delivery, no dead letter):\n" + "\n".join(lost[:20])
    assert not twice, f"{len(twice)} event(s) went more than one way:\n" + "\n".join(twice[:20])
    known = {e.event_id for e in batch.events if e.event_id is not None}
    invented = [r.path for r in batch.deliveries if _body_event_id(r) not in known]
    assert not invented, f"deliveries of events nobody sent: {invented[:10]}"
    assert batch.accounted_in_time
    assert peak_rss_mb(batch.pipe) < RSS_BOUND_MB


def test_invalid_events_are_in_the_events_dlq_untouched_with_their_origin(batch):
    bad = []
    for e in (e for e in batch.events if e.verdict == "invalid"):
        found = batch.in_events_dlq(e)
        if len(found) != 1:
            bad.append(f"{_show(e)}: {len(found)} dead letter(s), {len(batch.delivered(e))} deliveries")
            continue
        r = found[0]
        names = [k for k, _ in r.raw_headers]
        problems = [
            r.key != e.key and f"key {r.key!r}",
            r.value != e.value and "value changed",
            r.headers.get("na-error-class") != "InvalidEvent" and f"class {r.headers.get('na-error-class')}",
            not r.headers.get("na-error-message") and "no message",
            not isinstance(orjson.loads(r.headers.get("na-error-fields", "null")), list) and "no field list",
            (names.count("na-origin-offset"), names.count("na-error-class")) != (1, 1) and f"headers {names}",
            ("x-prop", str(e.n).encode()) not in r.raw_headers and "the producer's header was dropped",
            not r.headers.get("na-origin-timestamp") and "no origin timestamp",  # its unit: the next test
        ]
        if any(problems):
            bad.append(f"{_show(e)}: " + ", ".join(p for p in problems if p))
    assert not bad, f"{len(bad)} invalid event(s) not dead-lettered as documented:\n" + "\n".join(bad[:20])


def test_the_origin_timestamp_of_a_dead_letter_is_the_records_kafka_timestamp_in_ms(batch):
    dead = [(e, r) for e in batch.events if e.verdict == "invalid" for r in batch.in_events_dlq(e)]
    if not dead or any(e.timestamp is None for e, _ in dead):
        pytest.fail("no dead letters, or the original records' timestamps were not read back")
    wrong = [f"{_show(e)}: header {r.headers.get('na-origin-timestamp')!r}, record {e.timestamp}"
             for e, r in dead if r.headers.get("na-origin-timestamp") != str(e.timestamp)]
    assert not wrong, f"{len(wrong)} of {len(dead)}:\n" + "\n".join(wrong[:5])


def _header_safe(event_id: str | None) -> bool:
    return event_id is not None and all(" " <= c <= "~" for c in event_id)


def _check_delivered(batch: Batch, events: list[EventInput]) -> list[str]:
    bad = []
    for e in events:
        got = batch.delivered(e)
        action_id = batch.catch_alls[(e.decoded.organization_id, e.decoded.trigger.slug)]
        if len(got) != 1:
            why = [r.headers.get("na-error-class") for r in batch.in_deliveries_dlq(e)]
            bad.append(f"{_show(e)}: {len(got)} deliveries (dead-lettered as {why or 'nothing'})")
            continue
        r = got[0]
        problems = [
            r.path != f"/prop/{e.decoded.organization_id}/{e.decoded.trigger.slug}" and f"went to {r.path}",
            # the header carries the dedup key, percent-encoded where a header cannot carry it as is
            r.headers.get("webhook-id") != header_id(f"{e.event_id}:{action_id}")
            and f"webhook-id {r.headers.get('webhook-id')!r}",
            r.json()["event"] != orjson.loads(orjson.dumps(e.decoded.as_dict())) and "event changed on the way",
        ]
        if any(problems):
            bad.append(f"{_show(e)}: " + ", ".join(p for p in problems if p))
    return bad


def test_valid_events_are_delivered_once_to_their_organization(batch):
    """Every event the door accepts reaches its organization's catch-all, once, unchanged.

    (Ids a header cannot carry as they are: the next test.)
    """
    valid = [e for e in batch.events if e.verdict == "valid" and _header_safe(e.event_id)]
    bad = _check_delivered(batch, valid)
    assert not bad, f"{len(bad)} of {len(valid)} valid event(s) not delivered once:\n" + "\n".join(bad[:20])


def test_valid_events_whose_id_a_header_cannot_carry_are_delivered_too(batch):
    unsafe = [e for e in batch.events if e.verdict == "valid" and not _header_safe(e.event_id)]
    if not unsafe:
        pytest.fail("the batch has no valid event whose id a header cannot carry")
    bad = _check_delivered(batch, unsafe)
    assert not bad, f"{len(bad)} of {len(unsafe)} valid event(s) not delivered:\n" + "\n".join(bad[:20])


def test_events_not_keyed_by_their_organization_are_dead_lettered(batch):
    wrong = [e for e in batch.events if e.verdict == "wrong_key"]
    if not wrong:
        pytest.fail("the batch has no event keyed by something else than its organization")
    bad = []
    for e in wrong:
        found = batch.in_events_dlq(e)
        fields = [p.get("field") for r in found for p in orjson.loads(r.headers.get("na-error-fields", "[]"))]
        if len(found) != 1 or "organization_id" not in fields or batch.delivered(e):
            bad.append(f"{_show(e)}: {len(found)} dead letter(s) {fields}, {len(batch.delivered(e))} deliveries")
    assert not bad, f"{len(bad)} of {len(wrong)} wrongly keyed event(s) not dead-lettered:\n" + "\n".join(bad[:20])


def _config_show(c: ConfigInput) -> str:
    return f"{c.kind} #{c.n} key={c.key!r} value={(c.value or b'')[:200]!r} at {c.where}"


def test_every_config_record_is_applied_or_rejected_with_reasons(batch):
    assert batch.configs_in_time, "the config records were not all accounted for in time"
    bad = []
    for c in batch.integrations + batch.actions:
        rejected, applied = batch.rejections(c), batch.applied(c)
        if len(rejected) > 1 or (rejected and applied):
            bad.append(f"{_config_show(c)}: rejected {len(rejected)}x, applied {applied}")
        elif not rejected and applied is False:
            bad.append(f"{_config_show(c)}: neither applied nor rejected")
        elif rejected:
            r = rejected[0]
            report = orjson.loads(r.value)
            reasons = report.get("reasons")
            problems = [
                r.key != c.key and f"rejected under key {r.key!r}",
                r.headers.get("na-error-class") != "InvalidAction" and f"class {r.headers.get('na-error-class')}"
                f" ({r.headers.get('na-error-message')})",
                not (isinstance(reasons, list) and reasons and all(
                    isinstance(x.get("field"), str) and isinstance(x.get("error"), str) and x["error"]
                    for x in reasons)) and f"reasons {reasons!r}",
                _origin(r) != c.where and f"origin headers {_origin(r)}",
            ]
            if any(problems):
                bad.append(f"{_config_show(c)}: " + ", ".join(p for p in problems if p))
        elif applied and c.kind == "action":
            held = batch.held(c)
            if held != NotificationAction.model_validate(c.doc).model_dump(mode="json"):
                bad.append(f"{_config_show(c)}: held as {held}")
        elif applied and c.kind == "integration":
            stored = batch.integrations_changelog[c.key]
            if stored != Integration.model_validate(c.doc).to_storage():
                bad.append(f"{_config_show(c)}: stored as something else")
    assert not bad, f"{len(bad)} config record(s) not accounted for as documented:\n" + "\n".join(bad[:30])


def test_no_action_appears_that_was_not_applied_and_the_catch_alls_are_untouched(batch):
    expected = {c.key.decode(errors="replace") for c in batch.actions if batch.applied(c)}
    held = {ident for org in CFG_ORGS for ident in batch.views.get(org, {})}
    assert held == expected
    for org in EVENT_ORGS:
        assert set(batch.views[org]) == {i for (o, _), i in batch.catch_alls.items() if o == org}, org
    applied = sum(1 for c in batch.integrations + batch.actions if batch.applied(c))
    rejected = sum(1 for c in batch.integrations + batch.actions if batch.rejections(c))
    print(f"\nconfig records: {applied} applied, {rejected} rejected, "
          f"{sum(1 for c in batch.integrations + batch.actions if c.value is None)} deletes")


async def test_a_normal_delivery_still_arrives_afterwards(batch, sink):
    await bystander_still_served(batch.pipe, sink, timeout=60)
    # late duplicates would have arrived by now, behind the bystander's events
    twice = [_show(e) for e in batch.events if len(batch.delivered(e)) > 1]
    batch.deliveries = sink.requests_to("/prop/")
    twice += [_show(e) for e in batch.events if len(batch.delivered(e)) > 1]
    assert not twice, "delivered more than once:\n" + "\n".join(twice[:20])
