"""The console in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) against a real
worker, broker and webhook sink: log in with a token, see an action made through the API, test-fire it,
see its deliveries, see a dead letter, preview and redrive it and see it arrive; a wrong organization's
token sees none of it. Writes a screenshot of each page to ``docs/console/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.console.conftest import create_webhook, dead_letter, wait_for

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,860",
                "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def until(driver, predicate, what: str, timeout: float = 20.0):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def probe(d):
        try:
            return predicate(d)
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(probe, message=what)


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def log_in(driver, base: str, token: str, view: str = "actions") -> None:
    driver.get(base + "/console/#" + view)
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()  # a new page without a token (a change of #view alone would keep the page's state)
    field = until(driver, lambda d: css(d, "#token").is_displayed() and css(d, "#token"), "no log-in form")
    field.send_keys(token)
    css(driver, "#login").click()
    until(driver, lambda d: css(d, "#session").is_displayed(), "not logged in")


def go(driver, view: str) -> None:
    driver.execute_script("location.hash = arguments[0]", view)


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def test_an_organization_operates_its_actions_and_dead_letters(pipeline, sink, clients, browser):
    org1 = clients["org1"]
    ok = create_webhook(org1, 1, sink.url + "/browser/ok")
    hostile = org1.call("POST", org1.org(1, "actions/"), {
        "triggerType": "audit-log", "serviceType": "webhook", "targetIdentifier": sink.url + "/browser/xss",
        "targetDisplay": '<img id="xss" src="x">#alerts'}).json()
    dead = dead_letter(pipeline, sink, org1, 1, "/browser/dl", "ev-browser-1")
    key = f"ev-browser-1:{dead['id']}"

    log_in(browser, pipeline.api, org1.token)
    row = f'#actions-table tr[data-action-id="{ok["id"]}"]'
    until(browser, lambda d: css(d, row), "the action made through the API is not listed")
    shown = css(browser, f'#actions-table tr[data-action-id="{hostile["id"]}"]').text
    assert '<img id="xss" src="x">#alerts' in shown  # the tenant's string, as text
    assert not browser.find_elements("id", "xss")

    css(browser, f"{row} .test-fire").click()
    until(browser, lambda d: "ok" in css(d, f"{row} .test-outcome").text and "200" in css(d, f"{row} .test-outcome").text,
          "the test-fire's outcome never showed")
    sink.wait_for_sync(1, 10, path_prefix="/browser/ok")
    shot(browser, "actions")

    go(browser, f"#deliveries/{ok['id']}")

    def attempt_listed(d):
        if d.find_elements("id", "deliveries-table"):
            return "ok" in css(d, "#deliveries-table tbody").text
        d.refresh()  # the outcome travels through the outcomes topic; the token survives a reload
        return False

    until(browser, attempt_listed, "the test-fire is not among the action's deliveries", timeout=30)
    shot(browser, "deliveries")

    go(browser, "#dead-letters")
    until(browser, lambda d: css(d, f'#dlq-table tr[data-delivery-id="{key}"]'), "the dead letter is not listed")
    assert "PermanentDeliveryError" in css(browser, "#dlq-counts").text
    css(browser, "#dlq-dry-run").click()
    until(browser, lambda d: "would be re-submitted" in css(d, "#dlq-preview").text, "no dry-run preview")
    assert key in css(browser, "#dlq-result").text and len(sink.requests_to("/browser/dl")) == 1
    assert "null" not in css(browser, "#view").text and "undefined" not in css(browser, "#view").text
    shot(browser, "dead-letters")
    css(browser, "#dlq-redrive").click()
    until(browser, lambda d: "Re-submitted 1 of" in css(d, "#dlq-sent").text, "the redrive did not report")
    got = sink.wait_for_sync(2, 30, path_prefix="/browser/dl")  # the refused attempt, then the redriven one
    assert [r.headers["webhook-id"] for r in got] == [key, key]

    go(browser, "#health")
    until(browser, lambda d: "ready" in css(d, "#health").text and "partitions assigned" in css(d, "#health").text,
          "no health")
    assert "null" not in css(browser, "#view").text and "[object" not in css(browser, "#view").text
    shot(browser, "health")
    go(browser, "#lag")
    until(browser, lambda d: css(d, "#lag-admin-only"), "lag is not refused to an organization token")


def test_the_admin_sees_lag_with_a_sparkline_and_the_circuits(pipeline, clients, browser):
    log_in(browser, pipeline.api, clients["admin"].token, view="lag")
    until(browser, lambda d: len(d.find_elements("css selector", "#lag-table svg.sparkline polyline")) > 0,
          "no lag table with sparklines", timeout=40)
    assert pipeline.events_topic("audit-log") in css(browser, "#lag-table").text
    until(browser, lambda d: css(d, "#circuits-empty") or css(d, "#circuits-table"), "no circuits section")
    assert "null" not in css(browser, "#view").text and "[object" not in css(browser, "#view").text
    shot(browser, "lag")


def test_a_token_of_another_organization_sees_none_of_it(pipeline, sink, clients, browser):
    mine = create_webhook(clients["org1"], 1, sink.url + "/browser/mine")
    log_in(browser, pipeline.api, clients["org2"].token, view="actions")
    until(browser, lambda d: css(d, "#actions-empty") or css(d, "#actions-table"), "no actions view")
    assert not browser.find_elements("css selector", f'tr[data-action-id="{mine["id"]}"]')
    assert [o.text for o in browser.find_elements("css selector", "#org option")] == ["2"]
    go(browser, "#dead-letters")
    until(browser, lambda d: css(d, "#dlq-summary"), "no dead-letter view")
    assert "ev-browser-1" not in css(browser, "#view").text
    # organization 1 by hand: the API answers 404, and the page shows only that
    browser.execute_script("sessionStorage.setItem('na-console-org', '1')")
    browser.refresh()
    wait_for(lambda: browser.execute_script("return document.getElementById('org').value") == "2", 10,
             "the page took an organization the token does not grant")
    browser.execute_script("state.org = '1'; location.hash = '#actions'; location.hash = '#dead-letters'")
    until(browser, lambda d: "404" in css(d, "#view").text, "organization 1 was not refused")
    assert "ev-browser-1" not in css(browser, "#view").text
