"""The leak scan: after every other test, no integration's credential is anywhere it may not be.

Runs last (``@pytest.mark.last``; tests/conftest.py moves it), so it reads what the
whole session left behind. The credentials looked for are every string of 8 or
more characters under ``credentials`` in any record of any topic whose name holds
``integrations`` (a record that is a JSON list counts each element), plus this
module's own; each also JSON-escaped and percent-encoded, a secret URL's tokens on
their own (path segments of 16 characters or more, query values of 8 or more: what
``url_secrets`` redacts), Jira's ``email:api_token`` as the Basic auth it becomes, and
this module's raw tokens however they are wrapped (``xoxb-…``, ``whsec_<base64>``, a URL).

Where they must not be:

- every ``*.log`` under pytest's basetemp (the log of each worker the session ran);
- every other topic on the broker (values, keys, header names and values) -- the
  integrations topics and their tables' changelogs hold credentials by design;
- every HTTP answer of a running worker, with and without the bearer token: our
  paths and Faust's (``/table/integrations/<id>/`` …), the console's pages and endpoints (dead letters included);
- what the command line prints (``integrations list``, ``actions list``, ``dlq list``,
  ``lag``, ``test-fire`` against services that echo the request back, ``replay``).

This module's own worker holds an integration of every provider per organization
(one set answered 200, one 400, one 500 then dead-lettered; a Discord URL nobody
listens on; a Teams flow slower than the timeout), with echoing fake services and
debug logging; and it is sent the mistakes operators make with credentials: an
integration record wrapped in a list, a misspelled ``credential`` field, a token
pasted into ``provider`` (with and without the same token in the record's
``credentials``), truncated JSON, a key that is not the id, a credential nested too
deep.

A finding in a topic of another suite (a broker shared with other worktrees) is
reported as a warning, not a failure: that suite may run other code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
import pytest

from tests.support.kafka import consume_until, list_topics, produce_each, read_topics
from tests.support.pipeline import Pipeline, action, event, run_cli, running_pipeline
from tests.support.worker_process import ISSUED

pytestmark = [pytest.mark.last, pytest.mark.timeout(900)]

ORGS = {"ok": 75_001, "bad": 75_002, "retry": 75_003}  # the services answer 200, 400, 500 to each
CANARY_ORG = 75_009
PROVIDERS = ("slack", "pagerduty", "opsgenie", "jira", "github", "webhook", "discord", "msteams", "sentry_app")
RUN = uuid.uuid4().hex[:8]
MIN_CHARS = 8
FAUST_PATHS = ["/", "/router/", "/router/integrations/", "/table/", "/table/integrations/", "/table/actions/",
               "/table/directory/", "/table/circuits/", "/table/dedup/", "/graph/", "/stats/", "/stats/assignment/",
               "/signal/", "/performance/", "/static/", "/integrations/", "/debug/"]


def secret(org: int, provider: str, mark: str = "") -> str:
    return f"LEAKSECRET-{org}-{provider}{mark}-{RUN}"


def whsec(text: str) -> str:
    return "whsec_" + base64.b64encode(text.encode()).decode()


def integration(ident: str, org: int, provider: str, sink_url: str, token: str) -> dict:
    credentials, metadata = {
        "slack": ({"bot_token": f"xoxb-{token}"}, {"channels": [{"id": "C024BE91L", "name": "#alerts"}]}),
        "pagerduty": ({"integration_keys": {"PSVC1": token}}, {"services": [{"id": "PSVC1", "name": "API"}]}),
        "opsgenie": ({"api_key": token}, {"teams": [{"id": "ops", "name": "Ops"}]}),
        "jira": ({"email": f"bot-{token}@acme.io", "api_token": token},
                 {"site": f"{sink_url}/jira", "projects": [{"key": "OPS", "name": "Ops"}]}),
        "github": ({"token": f"github_pat_{token}"}, {"repositories": ["acme/backend"]}),
        "webhook": ({"signing_secret": whsec(token)}, {}),
        "discord": ({"webhook_url": f"{sink_url}/discord/api/webhooks/112233/{token}"}, {}),
        "msteams": ({"webhook_url": f"{sink_url}/msteams/workflows/abc/invoke?api-version=1&sig={token}"}, {}),
        "sentry_app": ({"client_secret": whsec(token)}, {"webhook_url": f"{sink_url}/app", "sentry_app_id": "triage"}),
    }[provider]
    return {"id": ident, "organization_id": org, "provider": provider, "name": f"Leak {provider}",
            "credentials": credentials, "metadata": metadata}


def action_for(integration: dict, sink_url: str) -> dict:
    provider, ident = integration["provider"], integration["id"]
    target = {"slack": ("specific", "C024BE91L"), "pagerduty": ("specific", "PSVC1"), "opsgenie": ("team", "ops"),
              "jira": ("specific", "OPS"), "github": ("specific", "acme/backend"),
              "webhook": ("specific", f"{sink_url}/webhook/{ident}"), "discord": ("specific", "#alerts"),
              "msteams": ("specific", "Ops / Alerts"), "sentry_app": ("sentry_app", None)}[provider]
    out = action(f"act-{ident}", integration["organization_id"], target[1] or "", service_type=provider,
                 target_type=target[0], integration_id=ident)
    if target[1] is None:
        out.pop("target_identifier")
    return out


# --- the services: each echoes the request back, the status chosen by the credential it carries ----

def echo(request) -> tuple:
    seen = " ".join([request.path, request.query, request.text, *(f"{k}: {v}" for k, v in request.headers.items())])
    basic = request.headers.get("authorization", "")
    if basic.startswith("Basic "):
        seen += " " + base64.b64decode(basic[6:]).decode(errors="replace")
    # a credential says whose request it is, or (webhook, sentry_app: signed, no credential sent) the integration id
    bad, retry = f"leak-{ORGS['bad']}-", f"leak-{ORGS['retry']}-"
    status = 400 if ("-bad-" in seen or bad in seen) else 500 if ("-retry-" in seen or retry in seen) else 0
    if not status:
        status = {"/jira": 201, "/github": 201, "/pagerduty": 202, "/opsgenie": 202, "/msteams": 202}.get(
            "/" + request.path.split("/")[1], 200)
    delay = 3.0 if "/msteams/" in request.path and "slow" in seen else 0.0
    body = {"ok": status < 300, "key": "OPS-1", "html_url": "https://github.com/acme/backend/issues/1",
            "error": "echo" if status >= 300 else None, "message": "echoing what you sent",
            "echo": {"path": request.path, "query": request.query, "headers": {str(k): v for k, v in request.headers.items()},
                     "body": request.text[:4000]}}
    return (status, {"Retry-After": "0"} if status == 500 else {}, body, delay)


# --- what the worker is given ----------------------------------------------------------------

@dataclass
class Setup:
    pipe: Pipeline
    integrations: list[dict]
    actions: list[dict]
    canaries: dict[str, str]  # what each planted mistake is about -> the secret it carries
    http: list[tuple[str, str, int, str]]  # path, "open"/"token", status, text
    cli: list[tuple[str, str, int]]  # command, output, exit code
    timings: dict[str, float]
    tokens: dict[str, str] = None  # integration id -> the token its credentials wrap
    outcomes: dict[str, str] = None  # dedup key -> final result ("ok", "dead")
    echoed: list = None  # requests the fake services answered by echoing them


def _canary_records(sink_url: str) -> tuple[list[tuple[bytes, bytes]], dict[str, str]]:
    """The mistakes: each a valid integration first, then the bad update (or a bad record on its own)."""
    def valid(ident: str, token: str) -> dict:
        return integration(ident, CANARY_ORG, "slack", sink_url, token)

    canaries = {name: secret(CANARY_ORG, name)
                for name in ("list", "typo", "paste", "alone", "trunc", "mismatch", "nested")}
    recs: list[tuple[bytes, bytes]] = []
    # a list of one record, as `integrations put` accepts them in a file
    recs.append((b"leak-list", orjson.dumps([valid("leak-list", canaries["list"])])))
    # "credential" for "credentials"
    recs.append((b"leak-typo", orjson.dumps(valid("leak-typo", canaries["typo"]))))
    typo = valid("leak-typo", canaries["typo"])
    typo["credential"] = typo.pop("credentials")
    recs.append((b"leak-typo", orjson.dumps(typo)))
    # the token pasted into the wrong field
    recs.append((b"leak-paste", orjson.dumps(valid("leak-paste", canaries["paste"]))))
    pasted = valid("leak-paste", canaries["paste"])
    recs.append((b"leak-paste", orjson.dumps({**pasted, "provider": pasted["credentials"]["bot_token"]})))
    # ... and pasted into `provider` of an update that carries it nowhere else (its credentials left empty):
    # the token is still the integration's credential, in the version that was applied
    alone = valid("leak-alone", canaries["alone"])
    recs.append((b"leak-alone", orjson.dumps(alone)))
    recs.append((b"leak-alone", orjson.dumps({**alone, "provider": alone["credentials"]["bot_token"], "credentials": {}})))
    # controls: masked or withheld today
    recs.append((b"leak-trunc", orjson.dumps(valid("leak-trunc", canaries["trunc"]))))
    recs.append((b"leak-trunc", orjson.dumps(valid("leak-trunc", canaries["trunc"]))[:-30]))
    recs.append((b"leak-mismatch-key", orjson.dumps(valid("leak-mismatch", canaries["mismatch"]))))
    recs.append((b"leak-nested", orjson.dumps({**valid("leak-nested", "x" * 8),  # one level is allowed, two are not
                                               "credentials": {"bot_token": {"deeper": {"deepest": canaries["nested"]}}}})))
    return recs, canaries


def _get_all(pipe: Pipeline, paths: list[str]) -> list[tuple[str, str, int, str]]:
    out = []
    for path in paths:
        for auth, headers in (("open", {}), ("token", {"Authorization": f"Bearer {pipe.token}"})):
            r = httpx.get(pipe.api + path, headers=headers, timeout=30)
            out.append((path, auth, r.status_code, r.text))
    return out


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f}s")
        time.sleep(0.2)


def _run(pipe: Pipeline, sink, setup: Setup, canary_recs) -> None:
    t0 = time.monotonic()
    bootstrap = pipe.bootstrap
    asyncio.run(produce_each(bootstrap, [(pipe.topic("integrations"), i["id"].encode(), orjson.dumps(i), None)
                                         for i in setup.integrations]))
    asyncio.run(produce_each(bootstrap, [(pipe.topic("integrations"), k, v, None) for k, v in canary_recs]))
    asyncio.run(produce_each(bootstrap, [(pipe.topic("config"), a["id"].encode(), orjson.dumps(a), None)
                                         for a in setup.actions]))
    for org in ORGS.values():
        want = {a["id"] for a in setup.actions if a["organization_id"] == org}
        pipe.wait_actions(org, lambda held: want <= set(held), timeout=120)
    setup.timings["config applied"] = time.monotonic() - t0

    # two events per organization; every action fires (OK), fails (400) or retries then dies (500)
    events = [event(f"leak-{org}-{i}", org) for org in ORGS.values() for i in range(2)]
    asyncio.run(pipe.publish(*events))
    keys = {f"{e['id']}:{a['id']}" for e in events for a in setup.actions if a["organization_id"] == e["organization_id"]}
    circuits = []

    def open_circuits():
        r = httpx.get(f"{pipe.api}/circuits", headers={"Authorization": f"Bearer {pipe.token}"}, timeout=10)
        circuits.append(("/circuits (while retrying)", "token", r.status_code, r.text))
        return r.status_code == 200 and r.json()["circuits"]

    try:
        _wait(open_circuits, 60, "no circuit opened")
    except AssertionError:
        pass  # the answers are kept either way; an open circuit is only more to look at
    setup.http += circuits[-3:]
    final = lambda rs: keys <= {r.key.decode() for r in rs if orjson.loads(r.value)["result"] in ("ok", "dead")}
    outcomes = asyncio.run(consume_until(bootstrap, pipe.topic("outcomes"), final, timeout=180))
    setup.outcomes = {r.key.decode(): orjson.loads(r.value)["result"] for r in outcomes
                      if orjson.loads(r.value)["result"] in ("ok", "dead")}
    setup.timings["deliveries done"] = time.monotonic() - t0

    _wait(lambda: httpx.get(f"{pipe.api}/lag", headers={"Authorization": f"Bearer {pipe.token}"}).status_code == 200,
          60, "/lag never had a sample")
    ids = [i["id"] for i in setup.integrations] + ["leak-list", "leak-typo", "leak-paste", "leak-alone", "leak-trunc",
                                                     "leak-nested"]
    paths = ["/healthz", "/readyz", "/metrics", "/lag", "/circuits"] + FAUST_PATHS
    paths += ["/console/", "/console/console.js", "/api/0/console/me", "/api/0/console/health", "/api/0/console/lag",
              "/api/0/dead-letters/"]  # the console's (dead letters: the "bad" and "retry" organizations')
    for org in [*ORGS.values(), CANARY_ORG]:
        paths += [f"/organizations/{org}/actions", f"/organizations/{org}/available-actions",
                  f"/api/0/organizations/{org}/notifications/dead-letters/",
                  f"/api/0/organizations/{org}/notifications/last-outcomes/"]
    for ident in ids:
        paths += [f"/table/integrations/{ident}/", f"/table/integrations/{ident}", f"/router/integrations/{ident}/",
                  f"/integrations/{ident}"]
    # the REST API (api/): lists, each action, its last attempts (outcomes of every failure mode), available ones
    for org in [*ORGS.values(), CANARY_ORG]:
        base = f"/api/0/organizations/{org}/notifications"
        paths += [f"{base}/actions/", f"{base}/available-actions/"]
        for a in (a for a in setup.actions if a["organization_id"] == org):
            paths += [f"{base}/actions/{a['id']}/", f"{base}/actions/{a['id']}/deliveries/"]
    setup.http += _get_all(pipe, paths)
    for a in setup.actions:  # a test-fire's answer quotes the service's: it must hold no credential either
        r = httpx.post(f"{pipe.api}/api/0/organizations/{a['organization_id']}/notifications/actions/{a['id']}/test/",
                       headers={"Authorization": f"Bearer {pipe.token}"}, timeout=60)
        setup.http.append((f"POST …/actions/{a['id']}/test/", "token", r.status_code, r.text))
    for org in ORGS.values():  # a backfill job's answers (api/backfill.py) name actions and counts, nothing more
        a = next(a for a in setup.actions if a["organization_id"] == org)
        base = f"{pipe.api}/api/0/organizations/{org}/notifications/actions/{a['id']}/backfill/"
        auth = {"Authorization": f"Bearer {pipe.token}"}
        r = httpx.post(base, headers=auth, json={"dryRun": True}, timeout=60)
        setup.http.append((f"POST …/actions/{a['id']}/backfill/", "token", r.status_code, r.text))
        if r.status_code == 202:
            job = httpx.get(f"{base}{r.json()['id']}/", headers=auth, timeout=60)
            setup.http.append((f"GET …/actions/{a['id']}/backfill/{{job}}/", "token", job.status_code, job.text))
    setup.timings["http"] = time.monotonic() - t0

    env = pipe.env
    commands = [
        ["integrations", "list"], ["integrations", "list", "--org", str(ORGS["ok"])], ["actions", "list"],
        ["dlq", "list"], ["dlq", "list", "--json"], ["dlq", "list", "--json", "--topic", pipe.topic("events_dlq")],
        ["dlq", "redrive", "--dry-run"], ["lag", "--json", "--samples", "1"], ["lag", "--samples", "1", "--all"],
        ["replay", "--topic", pipe.events_topic(), "--from-offset", "0", "--dry-run"],
    ]
    commands += [["test-fire", a["id"]] for a in setup.actions if a["organization_id"] in (ORGS["ok"], ORGS["bad"])]
    for args in commands:
        done = run_cli(env, *args, timeout=120)
        setup.cli.append((" ".join(["notification-actions", *args]),
                          done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"), done.returncode))
    # a refused `integrations put`: the token pasted into `provider`
    bad_put = orjson.dumps({**integration("leak-cli", CANARY_ORG, "slack", sink.url, setup.canaries["paste"]),
                            "provider": f"xoxb-{setup.canaries['paste']}"})
    done = run_cli(env, "integrations", "put", "-", input=bad_put, timeout=120)
    setup.cli.append(("notification-actions integrations put - (provider: <token>)",
                      done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"), done.returncode))
    setup.timings["cli"] = time.monotonic() - t0
    setup.echoed = sink.requests


@pytest.fixture(scope="module")
def leak_worker(kafka_bootstrap, tmp_path_factory, sink):
    """This module's worker, fed and asked everything; stopped before the logs and topics are scanned."""
    url = sink.url
    sink.route("/", echo)
    integrations, tokens = [], {}
    for mood, org in ORGS.items():
        for provider in PROVIDERS:
            tokens[f"leak-{org}-{provider}"] = secret(org, provider, f"-{mood}" if mood != "ok" else "")
            integrations.append(integration(f"leak-{org}-{provider}", org, provider, url, tokens[f"leak-{org}-{provider}"]))
    for kind, provider in (("discord-dead", "discord"), ("msteams-slow", "msteams")):
        ident = tokens_key = f"leak-{ORGS['ok']}-{kind}"
        tokens[tokens_key] = secret(ORGS["ok"], kind)
        integrations.append(integration(ident, ORGS["ok"], provider, url, tokens[tokens_key]))
    # nobody listens on port 1
    integrations[-2]["credentials"]["webhook_url"] = f"http://127.0.0.1:1/api/webhooks/112233/{tokens[integrations[-2]['id']]}"
    actions = [action_for(i, url) for i in integrations]
    canary_recs, canaries = _canary_records(url)
    t0 = time.monotonic()
    with running_pipeline(
        kafka_bootstrap, tmp_path_factory.mktemp("leaks"), ready_timeout=300,
        NOTIFICATION_ACTIONS_LOG_LEVEL="debug",
        NOTIFICATION_ACTIONS_SLACK_API_URL=f"{url}/slack", NOTIFICATION_ACTIONS_PAGERDUTY_EVENTS_URL=f"{url}/pagerduty",
        NOTIFICATION_ACTIONS_OPSGENIE_API_URL=f"{url}/opsgenie", NOTIFICATION_ACTIONS_GITHUB_API_URL=f"{url}/github",
        NOTIFICATION_ACTIONS_HTTP_TIMEOUT_SECONDS="1", NOTIFICATION_ACTIONS_QUICK_RETRIES="1",
        NOTIFICATION_ACTIONS_QUICK_RETRY_BASE_SECONDS="0.05", NOTIFICATION_ACTIONS_RETRY_DELAYS_SECONDS="[1.0]",
        NOTIFICATION_ACTIONS_MAX_ATTEMPTS="3", NOTIFICATION_ACTIONS_LAG_SAMPLE_INTERVAL_SECONDS="1",
    ) as pipe:
        setup = Setup(pipe, integrations, actions, canaries, [], [], {"worker start": time.monotonic() - t0}, tokens)
        _run(pipe, sink, setup, canary_recs)
    yield setup


# --- the scan --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    secret: str
    form: str  # "as is", "JSON-escaped", "percent-encoded", "a path segment of the URL", "Basic auth", …
    where: str  # "topic T partition P offset O value" / "file F:line" / "GET path (token)" / "command"
    context: str  # the text around it
    kind: str  # "topic", "log", "http", "cli"
    foreign: bool = False  # in another suite's topic
    report_part: str | None = None  # for a config.rejected report: "value (a list)", "value", "reasons", ...
    logger: str | None = None  # for a log line: "DEBUG faust.topics"

    def known_bug(self) -> str | None:
        if "is not a valid" in self.context:
            return "echo"
        if self.logger in ("DEBUG faust.topics", "DEBUG aiokafka.producer.producer"):
            return "debug"
        if self.report_part == "value (a list)":
            return "list"
        if self.report_part == "value, outside credentials":
            return "outside"
        return None

    def __str__(self) -> str:
        return f"{self.secret[:48]!r} ({self.form}) in {self.where}: …{self.context}…"


def _strings_under(node: Any) -> list[str]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
        elif isinstance(n, str):
            out.append(n)
    return out


def credentials_of(value: bytes | None) -> list[tuple[str, dict]]:
    """(credential, its record) for every string under ``credentials`` of an integration record (or a list of them)."""
    try:
        doc = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return []
    out = []
    for record in doc if isinstance(doc, list) else [doc]:
        if isinstance(record, dict) and "credentials" in record:
            out += [(s, record) for s in _strings_under(record["credentials"])]
    return out


def needles_from(credentials: list[tuple[str, dict]]) -> dict[str, tuple[str, str]]:
    """text to look for -> (the credential, the form it is in)."""
    out: dict[str, tuple[str, str]] = {}
    for value, record in credentials:
        if len(value) < MIN_CHARS:
            continue
        out.setdefault(value, (value, "as is"))
        for form, text in (("JSON-escaped", json.dumps(value)[1:-1]), ("percent-encoded", quote(value, safe=""))):
            if text != value:
                out.setdefault(text, (value, form))
        if "://" in value:  # a secret URL's tokens on their own: long path segments, query values
            parts = urlsplit(value)
            for segment in parts.path.split("/"):
                if len(segment) >= 16:
                    out.setdefault(segment, (value, "a path segment of the URL"))
            for _, _, query_value in (pair.partition("=") for pair in parts.query.split("&")):
                if len(query_value) >= MIN_CHARS:
                    out.setdefault(query_value, (value, "a query value of the URL"))
        creds = record.get("credentials") if isinstance(record.get("credentials"), dict) else {}
        if record.get("provider") == "jira" and value == creds.get("api_token") and isinstance(creds.get("email"), str):
            basic = base64.b64encode(f"{creds['email']}:{value}".encode()).decode()
            out.setdefault(basic, (value, "Basic auth"))
    return out


def find(needles: dict[str, tuple[str, str]], text: str) -> list[tuple[str, str, str]]:
    """(credential, form, context) of every needle in ``text``."""
    hits = []
    for needle, (value, form) in needles.items():
        at = text.find(needle)
        if at >= 0:
            hits.append((value, form, text[max(0, at - 120): at + len(needle) + 60].replace("\n", "⏎")))
    return hits


@dataclass
class Scan:
    needles: dict[str, tuple[str, str]]
    findings: list[Finding]
    counts: dict[str, int]


LINE = re.compile(r"^\[[^]]*\] \[([A-Z]+)\] ([\w.]+):")


def _logger_of(line: str) -> str | None:
    """``LEVEL logger`` of a log line, text (``[ts] [LEVEL] name: …``) or JSON (``{"level", "logger"}``)."""
    if m := LINE.match(line):
        return f"{m[1]} {m[2]}"
    try:
        doc = orjson.loads(line)
        return f"{doc['level'].upper()} {doc['logger']}"
    except Exception:
        return None


def _ours(topic: str) -> bool:
    return any(topic.startswith((f"{name}.", f"{name}-")) or topic == name for name in ISSUED)


def _report_parts(value: bytes) -> list[tuple[str, str]]:
    """A config.rejected report, in parts: the reasons, the refused record (a list? inside its credentials?), the rest."""
    try:
        report = orjson.loads(value)
    except Exception:
        return []
    if not isinstance(report, dict):
        return []
    try:
        original = orjson.loads(report["value"]) if isinstance(report.get("value"), str) else report.get("value")
    except orjson.JSONDecodeError:
        original = report.get("value")  # not JSON: withheld, or text
    parts = [("reasons", orjson.dumps(report.get("reasons")).decode()),
             ("rest of the report", orjson.dumps({k: v for k, v in report.items() if k not in ("value", "reasons")}).decode())]
    if isinstance(original, list):
        parts.append(("value (a list)", orjson.dumps(original).decode()))
    elif isinstance(original, dict):
        parts.append(("value, outside credentials",
                      orjson.dumps({k: v for k, v in original.items() if k != "credentials"}).decode()))
        parts.append(("value, credentials", orjson.dumps(original.get("credentials")).decode()))
    elif original is not None:
        parts.append(("value", json.dumps(original)))
    return parts


async def _scan_topics(bootstrap: str, needles, findings: list[Finding], counts: dict[str, int]) -> None:
    topics = [t for t in await list_topics(bootstrap) if "integrations" not in t]
    records = await read_topics(bootstrap, topics, timeout=300)
    counts["topics"], counts["records"] = len(topics), len(records)
    counts["topics of this session"] = sum(1 for t in topics if _ours(t))
    for r in records:
        blobs = [("value", r.value or b""), ("key", r.key or b"")]
        blobs += [(f"header {k!r} (name)", k.encode()) for k, _ in r.raw_headers]
        blobs += [(f"header {k!r}", v) for k, v in r.raw_headers]
        for part, blob in blobs:
            hits = find(needles, blob.decode("utf-8", errors="replace"))
            if not hits:
                continue
            where = f"topic {r.topic} partition {r.partition} offset {r.offset} {part}"
            # a rejected report is looked at part by part (each part's hits, with their own context)
            sub = _report_parts(blob) if part == "value" and r.topic.endswith("config.rejected") else []
            explained = set()
            for name, text in sub:
                for value, form, context in find(needles, text):
                    explained.add(value)
                    findings.append(Finding(value, form, f"{where} ({name})", context, "topic",
                                            foreign=not _ours(r.topic), report_part=name))
            for value, form, context in hits:
                if value not in explained:
                    findings.append(Finding(value, form, where, context, "topic", foreign=not _ours(r.topic)))


def _scan(bootstrap: str, basetemp: Path, setup: Setup) -> Scan:
    counts: dict[str, int] = {}
    integration_topics = [t for t in asyncio.run(list_topics(bootstrap)) if "integrations" in t]
    integration_records = asyncio.run(read_topics(bootstrap, integration_topics, timeout=300))
    credentials = [c for r in integration_records for c in credentials_of(r.value)]
    credentials += [c for i in setup.integrations for c in credentials_of(orjson.dumps(i))]
    needles = needles_from(credentials)
    for token in setup.tokens.values():  # this module's tokens, however they are wrapped (xoxb-, whsec_, a URL)
        needles.setdefault(token, (token, "the token inside"))
        needles.setdefault(base64.b64encode(token.encode()).decode(), (token, "the token inside, base64"))
    counts.update({"integration topics": len(integration_topics), "integration records": len(integration_records),
                   "credentials": len({v for v, _ in needles.values()}), "needles": len(needles)})
    # the matcher finds what it must: every credential of this module, in the integrations topic it skips
    own = {v for i in setup.integrations for v, _ in credentials_of(orjson.dumps(i)) if len(v) >= MIN_CHARS}
    seen = {v for r in integration_records for v, _, _ in find(needles, (r.value or b"").decode(errors="replace"))}
    assert own <= seen, f"the scanner misses credentials it was given: {sorted(own - seen)[:3]}"

    findings: list[Finding] = []
    logs = sorted(basetemp.glob("**/*.log"))
    counts["log files"], counts["log lines"] = len(logs), 0
    for path in logs:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            counts["log lines"] += 1
            for value, form, context in find(needles, line):
                findings.append(Finding(value, form, f"file {path.relative_to(basetemp)}:{n}", context, "log",
                                        logger=_logger_of(line)))
    asyncio.run(_scan_topics(bootstrap, needles, findings, counts))
    counts["http answers"], counts["http paths"] = len(setup.http), len({p for p, *_ in setup.http})
    for path, auth, status, text in setup.http:
        for value, form, context in find(needles, text):
            findings.append(Finding(value, form, f"GET {path} ({auth}, {status})", context, "http"))
    counts["commands"] = len(setup.cli)
    for command, output, _ in setup.cli:
        for value, form, context in find(needles, output):
            findings.append(Finding(value, form, command, context, "cli"))
    return Scan(needles, findings, counts)


@pytest.fixture(scope="module")
def scan(leak_worker, kafka_bootstrap, tmp_path_factory) -> Scan:
    t0 = time.monotonic()
    basetemp = tmp_path_factory.getbasetemp()
    result = _scan(kafka_bootstrap, basetemp, leak_worker)
    leak_worker.timings["scan"] = time.monotonic() - t0
    lines = [f"{k}: {v}" for k, v in result.counts.items()]
    lines += ["timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in leak_worker.timings.items()), ""]
    lines += [f"[{f.known_bug() or 'UNKNOWN'}{' foreign' if f.foreign else ''}] {f}" for f in result.findings]
    lines += ["", "commands (exit code, output):"]
    lines += [f"$ {c} -> {rc}\n    " + out[:600].replace("\n", "\n    ") for c, out, rc in leak_worker.cli]
    lines += ["", "HTTP answers:"] + [f"GET {p} ({a}) -> {st} {len(t)} chars" for p, a, st, t in leak_worker.http]
    (basetemp / "leak-report.txt").write_text("\n".join(lines) + "\n")
    print("\nleak scan (" + str(basetemp / "leak-report.txt") + "):\n  " + "\n  ".join(lines[:len(result.counts) + 1]))
    foreign = [f for f in result.findings if f.foreign]
    if foreign:  # another suite's (other code's) topics on a shared broker: reported, not failed
        topics = sorted({f.where.split()[1] for f in foreign})
        warnings.warn(f"{len(foreign)} credential finding(s) in {len(topics)} topic(s) of other suites "
                      f"({', '.join(topics[:5])}…), e.g. {foreign[0]}", stacklevel=1)
    return result


def _unknown(scan: Scan, kind: str) -> list[str]:
    return [str(f) for f in scan.findings if f.kind == kind and not f.foreign and f.known_bug() is None]


# --- the assertions ------------------------------------------------------------------------------

def test_the_services_echoed_credentials_back_and_the_deliveries_ended_as_planned(leak_worker):
    """Else the scan would prove little: every credential went out, and came back in an answer."""
    sent = " ".join(f"{r.path} {r.query} {r.text} {' '.join(r.headers.values())}" for r in leak_worker.echoed)
    sent += " ".join(base64.b64decode(r.headers["authorization"][6:]).decode() for r in leak_worker.echoed
                     if r.headers.get("authorization", "").startswith("Basic "))
    travelling = [i for i in leak_worker.integrations if i["provider"] not in ("webhook", "sentry_app")  # sign only
                  and "discord-dead" not in i["id"]]
    missing = [i["id"] for i in travelling if leak_worker.tokens[i["id"]] not in sent]
    assert not missing, f"never sent to a service: {missing}"
    expect = {"ok": "ok", "bad": "dead", "retry": "dead"}
    for a in leak_worker.actions:
        mood = next(m for m, o in ORGS.items() if o == a["organization_id"])
        planned = "dead" if a["id"].endswith(("-dead", "-slow")) else expect[mood]
        results = {r for k, r in leak_worker.outcomes.items() if k.endswith(f":{a['id']}")}
        assert results == {planned}, (a["id"], results)
    fired = {c: rc for c, _, rc in leak_worker.cli if " test-fire " in c}
    assert all((rc == 0) == (f"-{ORGS['ok']}-" in c and not c.endswith(("-dead", "-slow"))) for c, rc in fired.items()), fired


def test_the_scan_looked_everywhere(scan, leak_worker):
    c = scan.counts
    assert c["log files"] >= 1 and c["log lines"] > 0 and c["records"] > 0 and c["topics of this session"] >= 20
    assert c["credentials"] >= len(leak_worker.integrations) and c["commands"] >= 10 and c["http paths"] >= 40
    statuses = {(path, auth): status for path, auth, status, _ in leak_worker.http}
    assert statuses[("/organizations/75001/actions", "token")] == 200
    assert statuses[("/table/integrations/leak-75001-slack/", "open")] == 404
    assert statuses[("/api/0/dead-letters/", "token")] == statuses[("/console/", "open")] == 200
    assert all(s in (401, 404) for (p, a), s in statuses.items() if a == "open" and p.startswith(("/lag", "/organ")))


def test_no_credential_in_any_worker_log(scan):
    leaks = _unknown(scan, "log")
    assert not leaks, f"{len(leaks)} credential(s) in worker logs:\n" + "\n".join(leaks[:20])


def test_no_credential_on_any_topic(scan):
    leaks = _unknown(scan, "topic")
    assert not leaks, f"{len(leaks)} credential(s) on topics:\n" + "\n".join(leaks[:20])


def test_no_credential_in_any_http_answer(scan):
    leaks = _unknown(scan, "http")
    assert not leaks, f"{len(leaks)} credential(s) in HTTP answers:\n" + "\n".join(leaks[:20])


def test_no_credential_in_command_output(scan):
    leaks = _unknown(scan, "cli")
    assert not leaks, f"{len(leaks)} credential(s) printed by commands:\n" + "\n".join(leaks[:20])


def test_the_controls_stay_masked(scan, leak_worker):
    """Withheld or masked, nowhere else: truncated JSON, a key that is not the id, a credential nested too deep,
    a list of records, a misspelled 'credential'."""
    controls = {leak_worker.canaries[k] for k in ("trunc", "mismatch", "nested", "list", "typo")}
    found = [str(f) for f in scan.findings if f.secret in controls and not f.foreign]
    assert not found, "\n".join(found)


def _known(scan: Scan, bug: str) -> list[str]:
    return [str(f) for f in scan.findings if not f.foreign and f.known_bug() == bug]


def test_a_refused_list_of_integrations_is_masked(scan):
    leaks = _known(scan, "list")
    assert not leaks, "\n".join(leaks[:10])


def test_a_refused_integration_keeps_no_secret_outside_credentials(scan):
    leaks = _known(scan, "outside")
    assert not leaks, "\n".join(leaks[:10])


def test_debug_logging_does_not_log_credentials(scan):
    leaks = _known(scan, "debug")
    assert not leaks, f"{len(leaks)} line(s), e.g.:\n" + "\n".join(leaks[:5])


def test_an_invalid_provider_is_not_echoed(scan):
    leaks = _known(scan, "echo")
    assert not leaks, "\n".join(leaks[:10])
