"""The same checks over every HTTP registration (cases in tests/cases_*.py):

- one classification table: each status and transport error → ok / retryable / permanent;
- no credential ever appears in an exception's text, even when the service echoes it back.
"""

from __future__ import annotations

import httpx
import pytest

import notification_actions.registrations  # noqa: F401  (registers every service)
from notification_actions.registrations.support.transport import new_client
from notification_actions.errors import PermanentDeliveryError, RetryableDeliveryError
from notification_actions.models import Directory, Integration, NotificationAction, example_event
from notification_actions.registrations.base import REGISTRY, FireContext
from notification_actions.settings import Settings
from tests.support.fakes.http_sink import HttpSink
from tests.support.registration_cases import FireCase, all_cases

CASES = all_cases()

TABLE = {
    408: "retry", 429: "retry", 500: "retry", 502: "retry", 503: "retry", 504: "retry",
    400: "permanent", 401: "permanent", 403: "permanent", 404: "permanent", 410: "permanent", 422: "permanent",
}


def _settings(case: FireCase) -> Settings:
    return Settings(_env_file=None, webhook_allow_http=True, webhook_allow_private=True,
                    http_timeout_seconds=3, **case.settings)


async def _fire(case: FireCase, settings: Settings) -> None:
    action = NotificationAction.model_validate(case.action)
    integration = Integration.model_validate(case.integration) if case.integration else None
    directory = Directory.model_validate(case.directory) if case.directory else None
    registration = REGISTRY.get(action.trigger_type, action.service_type, action.target_type)
    async with new_client(timeout=10, max_connections=8) as http:
        context = FireContext(settings=settings, http=http, integration=integration, directory=directory,
                              delivery_id="evt-1:act-1")
        event = example_event(action.trigger_type, organization_id=action.organization_id)
        await registration(action, context).fire(event)


def _cases(sink_url: str = "http://127.0.0.1:1") -> list[str]:
    return [factory(sink_url).name for factory in CASES]


@pytest.mark.parametrize("index", range(len(CASES)), ids=_cases())
@pytest.mark.parametrize("status", sorted(TABLE))
async def test_classification_table(sink: HttpSink, index: int, status: int):
    case = CASES[index](sink.url)
    expected = case.overrides.get(status, TABLE[status])
    headers = {"Retry-After": "7"} if status in (429, 503) else {}
    sink.script(case.path, [(status, headers, {"message": "scripted failure"})])
    if expected == "ok":
        await _fire(case, _settings(case))
        return
    error = RetryableDeliveryError if expected == "retry" else PermanentDeliveryError
    with pytest.raises(error) as info:
        await _fire(case, _settings(case))
    if status == 429 and expected == "retry":
        assert info.value.retry_after == pytest.approx(7, abs=1)


@pytest.mark.parametrize("index", range(len(CASES)), ids=_cases())
async def test_success_and_transport_errors(sink: HttpSink, index: int):
    case = CASES[index](sink.url)
    sink.script(case.path, [case.ok])
    await _fire(case, _settings(case))
    assert sink.requests_to(case.path), "the request reached the fake service"
    # nothing listens on port 1: a connection error is retryable
    dead = CASES[index]("http://127.0.0.1:1")
    with pytest.raises(RetryableDeliveryError):
        await _fire(dead, _settings(dead))


@pytest.mark.parametrize("index", range(len(CASES)), ids=_cases())
@pytest.mark.parametrize("status", [400, 401, 500])
async def test_no_secret_in_errors(sink: HttpSink, index: int, status: int):
    case = CASES[index](sink.url)
    echo = {"message": f"bad credential {case.secret}", "error": case.secret, "errors": [case.secret]}
    sink.script(case.path, [(status, {}, echo)])
    with pytest.raises((RetryableDeliveryError, PermanentDeliveryError)) as info:
        await _fire(case, _settings(case))
    text = f"{info.value} {info.value!r} {info.value.code} {getattr(info.value, 'message', '')}"
    assert case.secret not in text
