"""The webhook registration and the shared pieces it stands on: signing, HTTP classification, SSRF guard, text."""

from __future__ import annotations

import base64
import email.utils
import os
import socket
import time

import httpx
import pytest

from notification_actions.registrations.support.transport import new_client
from notification_actions.errors import InvalidAction, PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import (
    ActionService,
    ActionTarget,
    ActionTrigger,
    Integration,
    NotificationAction,
    example_event,
)
from notification_actions.registrations.support import http, signing, ssrf, text
from notification_actions.registrations.webhook import REGISTRATIONS, WebhookRegistration
from notification_actions.registrations.base import REGISTRY, ActionInput, FireContext
from notification_actions.settings import Settings
from tests.support.fakes import HttpSink

VECTOR = {  # the Standard Webhooks reference implementations' test vector
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def strict() -> Settings:
    return Settings(_env_file=None)


def local() -> Settings:
    """Settings that let tests reach a sink on http://127.0.0.1."""
    return Settings(_env_file=None, webhook_allow_http=True, webhook_allow_private=True, http_timeout_seconds=5)


def make_action(url: str | None, *, integration_id: str | None = None, **extra) -> NotificationAction:
    return NotificationAction(
        id="42", organization_id=1, trigger_type="audit-log", service_type="webhook", target_type="specific",
        target_identifier=url, target_display="ops hook", integration_id=integration_id, **extra,
    )


def make_integration(secret: str | None, *, organization_id: int = 1, provider: str = "webhook") -> Integration:
    credentials = {"signing_secret": secret} if secret is not None else {}
    return Integration(
        id="7", organization_id=organization_id, provider=provider, name="Acme hook", credentials=credentials
    )


def registration(action, client: httpx.AsyncClient, integration=None, settings=None, delivery_id="d-1"):
    context = FireContext(settings or local(), client, integration=integration, delivery_id=delivery_id)
    return REGISTRY.get(action.trigger_type, action.service_type, action.target_type)(action, context)


# --- signing ------------------------------------------------------------------


def test_github_signature_matches_the_documented_vector():
    assert signing.github_signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_sign_matches_the_standard_webhooks_vector():
    v = VECTOR
    assert signing.sign(v["secret"], v["msg_id"], v["timestamp"], v["body"]) == v["signature"]
    assert signing.verify(v["secret"], v["msg_id"], v["timestamp"], v["body"], v["signature"], now=v["timestamp"])


def test_verify_round_trip_and_refusals():
    secret, now = new_secret(), int(time.time())
    sig = signing.sign(secret, "msg_1", now, b'{"a":1}')
    assert signing.verify(secret, "msg_1", now, b'{"a":1}', sig)
    assert signing.verify(secret, "msg_1", str(now), b'{"a":1}', f"v1,bm9wZQ== v2,xyz {sig}")
    assert not signing.verify(secret, "msg_1", now, b'{"a":2}', sig), "tampered body"
    assert not signing.verify(secret, "msg_2", now, b'{"a":1}', sig), "other message id"
    assert not signing.verify(new_secret(), "msg_1", now, b'{"a":1}', sig), "other secret"
    old = now - 301
    assert not signing.verify(secret, "msg_1", old, b"{}", signing.sign(secret, "msg_1", old, b"{}")), "stale"
    future = now + 301
    assert not signing.verify(secret, "msg_1", future, b"{}", signing.sign(secret, "msg_1", future, b"{}"))
    assert not signing.verify(secret, "msg_1", now, b'{"a":1}', sig.replace("v1,", "v2,"))


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64!", "whsec_"])
def test_malformed_secrets_are_refused_without_echo(bad):
    with pytest.raises(ValueError) as info:
        signing.sign(bad, "m", 1, b"")
    assert bad not in str(info.value) or bad == "whsec_"


# --- HTTP classification ----------------------------------------------------------

URL = "https://hooks.example.com/services/T0001/B0002/SECRETTOKEN"
R, P = RetryableDeliveryError, PermanentDeliveryError
CLASSIFIER_TABLE = [
    *[(s, {}, b"", None, None) for s in (200, 201, 202, 204)],
    (301, {"location": "https://elsewhere.example/"}, b"", P, None),
    *[(s, {}, b'{"error":"nope"}', P, None) for s in (400, 401, 403, 404, 409, 410, 422)],
    (408, {}, b"", R, None),
    (429, {}, b"", R, None),
    (429, {"retry-after": "30"}, b"", R, 30.0),
    (429, {"retry-after": "1.5"}, b"", R, 1.5),
    (429, {}, b'{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}', R, 64.57),
    *[(s, {}, b"upstream trouble", R, None) for s in (500, 502, 503, 504)],
    (503, {"retry-after": "120"}, b"", R, 120.0),
]


@pytest.mark.parametrize(("status", "headers", "body", "expected", "retry_after"), CLASSIFIER_TABLE)
def test_classify_response_table(status, headers, body, expected, retry_after):
    response = httpx.Response(status, headers=headers, content=body, request=httpx.Request("POST", URL))
    if expected is None:
        assert http.classify_response(response, service="webhook") is None
        return
    with pytest.raises(expected) as info:
        http.classify_response(response, service="webhook")
    err = info.value
    assert (err.code, err.status) == (str(status), status)
    assert f"HTTP {status}" in err.message and err.message.startswith("webhook: ")
    assert "https://hooks.example.com" in err.message and "SECRETTOKEN" not in err.message
    if expected is R:
        assert err.retry_after == retry_after


def test_retry_after_as_http_date_and_github_reset():
    request = httpx.Request("POST", URL)
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    with pytest.raises(R) as info:
        http.classify_response(httpx.Response(429, headers={"retry-after": date}, request=request), service="x")
    assert 55 <= info.value.retry_after <= 61
    github = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 90)}
    with pytest.raises(R) as info:  # GitHub's primary rate limit is a 403
        http.classify_response(httpx.Response(403, headers=github, request=request), service="github")
    assert 85 <= info.value.retry_after <= 91


def test_error_message_keeps_a_short_redacted_excerpt():
    body = (f"echo {URL} sig=topsecret " + "x" * 500).encode()
    response = httpx.Response(400, content=body, request=httpx.Request("POST", URL))
    with pytest.raises(P) as info:
        http.classify_response(response, service="discord", redact=["topsecret"])
    message = info.value.message
    assert "SECRETTOKEN" not in message and "topsecret" not in message and "[redacted]" in message
    assert len(message.split(": ", 2)[-1]) <= http.EXCERPT_CHARS


def context_with(handler) -> FireContext:
    return FireContext(local(), httpx.AsyncClient(transport=httpx.MockTransport(handler)))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), R),
        (httpx.ReadTimeout("slow"), R),
        (httpx.RemoteProtocolError("dropped"), R),
        (httpx.UnsupportedProtocol("gopher"), P),
    ],
)
async def test_transport_errors_are_classified(exc, expected):
    def handler(request):
        raise exc

    context = context_with(handler)
    async with context.http:
        with pytest.raises(expected) as info:
            await http.send(context, "POST", URL, service="webhook", content=b"{}")
    assert info.value.__cause__ is exc
    assert "SECRETTOKEN" not in info.value.message and info.value.message.startswith("webhook: ")


def test_other_exceptions_are_permanent():
    assert isinstance(http.classify_exception(ValueError("bad"), service="x"), P)
    assert isinstance(http.classify_exception(TimeoutError(), service="x"), R)


@pytest.mark.asyncio
async def test_send_neither_follows_redirects_nor_reads_unbounded_bodies():
    seen = []

    def handler(request):
        seen.append(request.url.path)
        if request.url.path == "/big":
            return httpx.Response(200, content=b"a" * (3 * http.MAX_RESPONSE_BYTES))
        return httpx.Response(302, headers={"location": "http://169.254.169.254/"})

    context = context_with(handler)
    async with context.http:
        with pytest.raises(P) as info:
            await http.send(context, "POST", "https://example.com/hook", service="webhook")
        response = await http.send(context, "GET", "https://example.com/big", service="webhook")
    assert info.value.code == "302" and seen == ["/hook", "/big"]
    assert len(response.content) == http.MAX_RESPONSE_BYTES


# --- SSRF guard -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook", "https://10.0.0.5/", "https://169.254.169.254/latest/meta-data",
        "https://[::1]/", "https://[fd00:ec2::254]/", "https://127.1/", "https://2130706433/",
        "https://[::ffff:127.0.0.1]/", "https://100.64.0.1/", "https://0.0.0.0/", "https://224.0.0.1/",
        "https://localhost/", "http://93.184.216.34/", "ftp://93.184.216.34/", "https:///nohost", "", "not a url",
    ],
)
def test_check_url_refuses(url):
    with pytest.raises(InvalidAction) as info:
        ssrf.check_url(url, strict(), resolve=False)
    assert info.value.problems[0].field == "target_identifier"


def test_check_url_accepts_public_and_honours_settings():
    ssrf.check_url("https://93.184.216.34/hook?x=1", strict(), resolve=False)
    ssrf.check_url("http://93.184.216.34/", Settings(_env_file=None, webhook_allow_http=True), resolve=False)
    ssrf.check_url("https://10.0.0.5/", Settings(_env_file=None, webhook_allow_private=True), resolve=False)
    for metadata in ("https://169.254.169.254/", "https://[fd00:ec2::254]/", "https://metadata.google.internal/"):
        with pytest.raises(InvalidAction):  # metadata endpoints stay refused even then
            ssrf.check_url(metadata, local(), resolve=False)


def test_check_url_resolving_refuses_localhost_and_private_answers(monkeypatch):
    with pytest.raises(InvalidAction):
        ssrf.check_url("https://localhost/", strict(), resolve=True)

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    ssrf.check_url("https://internal.example/secret-path", strict(), resolve=False)
    with pytest.raises(InvalidAction) as info:
        ssrf.check_url("https://internal.example/secret-path", strict(), resolve=True)
    assert "10.1.2.3" in str(info.value) and "secret-path" not in str(info.value)


@pytest.mark.asyncio
async def test_check_url_at_fire_blocks_private_resolution(monkeypatch):
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.9", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)
    with pytest.raises(PermanentDeliveryError) as info:
        await ssrf.check_url_at_fire("https://internal.example/T/SECRET", strict())
    assert info.value.code == "ssrf_blocked" and "SECRET" not in info.value.message
    await ssrf.check_url_at_fire("https://internal.example/T/SECRET", local())


# --- text -----------------------------------------------------------------------


def test_render_substitutes_dotted_paths_only():
    event = example_event(ActionTrigger.RELEASE_CREATED).as_dict()
    template = "{{ data.version }} on {{data.projects.0}} ({{ data.commit_count }}) {{ nope.x }}{{ __class__ }}"
    template += " {0.__class__}"
    assert text.render(template, event) == "backend@2.4.0 on backend (12)  {0.__class__}"
    assert text.render("{{ data.projects }}", event) == '["backend","worker"]'


@pytest.mark.parametrize("trigger", list(ActionTrigger))
def test_default_text_is_one_line_per_trigger(trigger):
    line = text.default_text(example_event(trigger))
    assert line and "\n" not in line and "None" not in line


# --- the webhook registration -------------------------------------------------------


def test_registered_for_every_trigger():
    for trigger in ActionTrigger:
        cls = REGISTRY.get(trigger, ActionService.WEBHOOK, ActionTarget.SPECIFIC)
        assert issubclass(cls, WebhookRegistration) and REGISTRATIONS[trigger] is cls


def validate(action, integration=None, settings=None):
    REGISTRY.get(action.trigger_type, "webhook", "specific").validate_action(
        ActionInput(action=action, integration=integration, directory=None, settings=settings or strict())
    )


def test_validate_action_accepts_and_refuses():
    secret = new_secret()
    validate(make_action("https://93.184.216.34/hook"))
    validate(make_action("https://93.184.216.34/hook", integration_id="7"), make_integration(secret))
    linked = make_action("https://93.184.216.34/", integration_id="7")
    secret_field = "integration.credentials.signing_secret"
    cases = [
        (make_action(None), None, "target_identifier"),
        (make_action("http://93.184.216.34/"), None, "target_identifier"),
        (make_action("https://10.0.0.5/"), None, "target_identifier"),
        (linked, None, "integration_id"),
        (linked, make_integration(secret, organization_id=2), "integration_id"),
        (linked, make_integration(secret, provider="slack"), "integration_id"),
        (linked, make_integration(None), secret_field),
        (linked, make_integration(secret[6:]), secret_field),
        (linked, make_integration("whsec_*" + secret[6:]), secret_field),
    ]
    for action, integration, field in cases:
        with pytest.raises(InvalidAction) as info:
            validate(action, integration)
        assert [p.field for p in info.value.problems] == [field], (action, field)
        assert secret[6:] not in str(info.value)


def test_serialize_available_lists_plain_and_org_integrations():
    integrations = [
        make_integration(new_secret()),
        make_integration(new_secret(), organization_id=2),
        make_integration("x", provider="slack"),
    ]
    entries = REGISTRATIONS[ActionTrigger.QUOTA].serialize_available(1, integrations)
    assert [e["action"]["integrationId"] for e in entries] == [None, "7"]
    assert entries[0]["action"] == {
        "triggerType": "quota", "serviceType": "webhook", "targetType": "specific", "integrationId": None,
        "integrationName": None, "targetIdentifier": None, "targetDisplay": None,
    }
    assert entries[1]["action"]["integrationName"] == "Acme hook"
    assert entries[0]["requires"] == [{"name": "target_identifier", "description": "HTTPS URL to POST to"}]


@pytest.mark.asyncio
async def test_fire_posts_a_signed_event_to_a_real_server():
    secret = new_secret()
    async with HttpSink() as sink, new_client(timeout=10, max_connections=8) as client:
        sink.require_signature("/hook", secret)
        action = make_action(f"{sink.url}/hook", integration_id="7", template="{{ data.actor }} did {{ data.event }}")
        event = example_event(ActionTrigger.AUDIT_LOG)
        result = await registration(action, client, make_integration(secret), delivery_id="evt-1:42").fire(event)
        [request] = await sink.wait_for(1)
    assert result.status == 200 and result.detail == '{"ok":true}'
    assert request.verified is True and request.method == "POST" and request.path == "/hook"
    assert request.headers["webhook-id"] == "evt-1:42"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("notification-actions/")
    headers = request.headers
    assert signing.verify(secret, "evt-1:42", headers["webhook-timestamp"], request.body, headers["webhook-signature"])
    body = request.json()
    assert body["type"] == "audit-log" and body["delivery_id"] == "evt-1:42"
    assert body["action"] == {
        "id": "42", "organization_id": 1, "trigger_type": "audit-log", "service_type": "webhook",
        "target_display": "ops hook",
    }
    assert body["event"] == event.as_dict()
    assert body["text"] == "jane@acme.io did member.invite"


@pytest.mark.asyncio
async def test_fire_without_integration_is_unsigned_with_default_text():
    async with HttpSink() as sink, new_client(timeout=10, max_connections=8) as client:
        await registration(make_action(f"{sink.url}/plain"), client).fire(example_event(ActionTrigger.AUDIT_LOG))
        [request] = await sink.wait_for(1)
    assert "webhook-signature" not in request.headers and request.verified is None
    assert request.json()["text"] == text.default_text(example_event(ActionTrigger.AUDIT_LOG))


@pytest.mark.asyncio
async def test_fire_classifies_the_servers_answers():
    secret = new_secret()
    async with HttpSink() as sink, new_client(timeout=10, max_connections=8) as client:
        sink.script("/hook", [(500, {}, f"boom {secret}"), (429, {"Retry-After": "7"}, ""), (410, {}, {"x": secret})])
        reg = registration(make_action(f"{sink.url}/hook", integration_id="7"), client, make_integration(secret))
        event = example_event(ActionTrigger.ISSUE_ALERT)
        errors = []
        for expected in (RetryableDeliveryError, RetryableDeliveryError, PermanentDeliveryError):
            with pytest.raises(expected) as info:
                await reg.fire(event)
            errors.append(info.value)
        await sink.wait_for(3)
    assert [e.status for e in errors] == [500, 429, 410] and errors[1].retry_after == 7
    for err in errors:
        assert secret not in str(err) and secret not in repr(err) and sink.url + "/hook" not in str(err)


@pytest.mark.asyncio
async def test_fire_refusals_leak_no_secret():
    secret = new_secret()
    async with HttpSink() as sink, new_client(timeout=10, max_connections=8) as client:
        sink.require_signature("/hook", new_secret())  # the receiver expects another secret: 401
        reg = registration(make_action(f"{sink.url}/hook", integration_id="7"), client, make_integration(secret))
        with pytest.raises(PermanentDeliveryError) as info:
            await reg.fire(example_event(ActionTrigger.BILLING))
        [request] = await sink.wait_for(1)
        assert request.verified is False and info.value.status == 401
        missing = registration(make_action(f"{sink.url}/hook", integration_id="7"), client, None)
        with pytest.raises(PermanentDeliveryError, match="signing secret is missing"):
            await missing.fire(example_event(ActionTrigger.BILLING))
    assert secret not in str(info.value)


@pytest.mark.asyncio
async def test_fire_refuses_private_targets_before_sending():
    sent = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)))
    async with client:
        reg = registration(make_action("https://127.0.0.1/T/SECRET"), client, settings=strict())
        with pytest.raises(PermanentDeliveryError) as info:
            await reg.fire(example_event(ActionTrigger.QUOTA))
    assert info.value.code == "ssrf_blocked" and sent == [] and "SECRET" not in str(info.value)


@pytest.mark.asyncio
async def test_fire_times_out_as_retryable():
    settings = Settings(_env_file=None, webhook_allow_http=True, webhook_allow_private=True, http_timeout_seconds=0.2)
    async with HttpSink() as sink, new_client(timeout=10, max_connections=8) as client:
        sink.script("/slow", [(200, {}, "late", 2.0)])
        reg = registration(make_action(f"{sink.url}/slow"), client, settings=settings)
        with pytest.raises(RetryableDeliveryError) as info:
            await reg.fire(example_event(ActionTrigger.BILLING))
    assert info.value.code == "timeout"


def test_sink_in_a_thread_for_sync_tests():
    with HttpSink.start_in_thread() as sink:
        sink.script("/a", [(503, {}, "busy"), 201])
        with httpx.Client(base_url=sink.url) as client:
            statuses = [client.post("/a/x", content=b"1").status_code for _ in range(3)]
            assert client.get("/other").json() == {"ok": True}
        records = sink.wait_for_sync(3, path_prefix="/a")
    assert statuses == [503, 201, 200]
    assert [r.body for r in records] == [b"1"] * 3 and records[0].arrived <= records[2].arrived


def test_a_webhook_id_a_header_cannot_carry_raw_is_percent_encoded_and_signed_as_sent():
    sent = signing.headers("whsec_" + base64.b64encode(b"k" * 32).decode(), "é\r\n:a", b"{}", service="webhook")
    assert sent["webhook-id"] == "%C3%A9%0D%0A:a" and sent["webhook-id"].isascii()
    assert signing.header_id("e1:a1") == "e1:a1" and signing.header_id("a%b") == "a%25b"
