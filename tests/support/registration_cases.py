"""One entry per HTTP registration, for the tests that run over all of them.

Each ``tests/cases_*.py`` module contributes factories ``sink_url -> FireCase``
in its ``CASES`` list. ``tests/registrations/test_all.py``
then runs the same classification table and the same secret-leak check over
every case, so a new service gets both tests by adding one case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.fakes.http_sink import AnswerLike


@dataclass
class FireCase:
    name: str                       # the case's id in test output, e.g. "slack"
    action: dict                    # an action definition (JSON shape) aimed at the sink
    integration: dict | None        # its integration record (JSON shape), if any
    path: str                       # path prefix at the sink that the request goes to
    secret: str                     # a credential that must never appear in errors/outcomes
    ok: AnswerLike = 200            # the answer that means success
    settings: dict[str, Any] = field(default_factory=dict)  # Settings overrides, e.g. {"slack_api_url": url}
    directory: dict | None = None
    # statuses this service classifies unlike the shared table (status -> "retry" | "permanent" | "ok")
    overrides: dict[int, str] = field(default_factory=dict)


CaseFactory = Callable[[str], FireCase]

CASE_MODULES = ("tests.support.cases_webhook", "tests.support.cases_chat", "tests.support.cases_tickets")


def all_cases() -> list[CaseFactory]:
    """Every module's ``CASES``, loaded on call (case modules import this one)."""
    import importlib

    cases: list[CaseFactory] = []
    for name in CASE_MODULES:
        cases.extend(importlib.import_module(name).CASES)
    return cases
