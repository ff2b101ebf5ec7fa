"""The ``jira`` service: create a Jira Cloud issue per event (REST API v3).

Target ``specific``: ``target_identifier`` is a project key listed in the
integration's ``metadata.projects``. The integration (provider ``jira``)::

    {"id": "9", "organization_id": 1, "provider": "jira", "name": "Acme Jira",
     "credentials": {"email": "bot@acme.io", "api_token": "ATATT3x..."},
     "metadata": {"site": "https://acme.atlassian.net", "issue_type": "Task",
                  "projects": [{"key": "OPS", "name": "Operations"}]}}

The request::

    POST {site}/rest/api/3/issue
    Authorization: Basic base64(email:api_token)
    {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"},
                "summary": "<title, ≤255>", "description": <ADF document>,
                "labels": ["notification-actions", "<trigger slug>"]}}

201 is success (the result's detail is the new issue's key); 429 (with
``Retry-After``), 408 and 5xx are retryable; 400/401/403/404/422 permanent.
``site`` is the customer's URL, so it passes the SSRF guard at validation and
again before each request.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem
from notification_actions.models import ActionService, ActionTrigger, Event, Integration, NotificationAction
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult

from notification_actions.registrations.support import http
from notification_actions.registrations.support.common import (
    available,
    configured,
    integration_metadata,
    integration_problems,
    register_all,
    target_problems,
    url_problems,
)
from notification_actions.registrations.support.limits import cut, one_line, units
from notification_actions.registrations.support.text import Composed, compose
from notification_actions.registrations.support.ssrf import check_url_at_fire

__all__ = ["REGISTRATIONS", "JiraMetadata", "JiraRegistration", "JiraTarget", "adf_document", "issue_fields"]

SERVICE = ActionService.JIRA
CREDENTIALS = ("email", "api_token")
# Jira's summary field holds at most 255 characters.
SUMMARY_CHARS = 255
# Jira rejects text fields over 32,767 characters; leave room for the ADF's own overhead.
DESCRIPTION_CHARS = 30_000
LABELS = "notification-actions"


class JiraProject(BaseModel):
    """A project the integration may create issues in."""

    model_config = ConfigDict(extra="allow")

    key: str = Field(min_length=1, max_length=255)
    name: str = ""


class JiraMetadata(BaseModel):
    """``metadata`` of a ``jira`` integration."""

    model_config = ConfigDict(extra="allow")

    site: str = Field(min_length=1, description="Jira Cloud site, e.g. https://acme.atlassian.net")
    projects: list[JiraProject] = Field(default_factory=list)
    issue_type: str = Field("Task", min_length=1)


class JiraTarget(BaseModel):
    """What a Jira action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: str = Field(
        min_length=1, max_length=255, description="Key of a Jira project of the integration (metadata.projects)"
    )


def _text(text: str, href: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def adf_document(composed: Composed) -> dict[str, Any]:
    """The description as an Atlassian Document: one paragraph per line, the link last."""
    lines = [one_line(line) for line in composed.text.splitlines()]
    lines += [one_line(f"{label}: {value}") for label, value in composed.details]
    paragraphs: list[dict[str, Any]] = []
    budget = DESCRIPTION_CHARS
    for line in lines:
        if not line:  # ADF refuses empty text nodes
            continue
        if budget <= len("…"):
            break
        piece = cut(line, budget)
        budget -= units(piece)
        paragraphs.append({"type": "paragraph", "content": [_text(piece)]})
    if composed.url and units(composed.url) <= budget:
        paragraphs.append({"type": "paragraph", "content": [_text(composed.url, composed.url)]})
    return {"type": "doc", "version": 1, "content": paragraphs}


def issue_fields(action: NotificationAction, event: Event, issue_type: str) -> dict[str, Any]:
    """The ``fields`` of the create-issue request for ``event``."""
    composed = compose(action, event)
    return {
        "project": {"key": action.target_identifier},
        "issuetype": {"name": issue_type},
        "summary": cut(one_line(composed.title), SUMMARY_CHARS) or "Notification",
        "description": adf_document(composed),
        "labels": [LABELS, action.trigger_type.slug],
    }


class JiraRegistration(ActionRegistration):
    """Create a Jira issue in the action's project (see the module docstring); one subclass per trigger."""

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a missing project key, a project the integration lacks, and an unusable integration."""
        action, integration = data.action, data.integration
        _, problems = target_problems(JiraTarget, action)
        found = integration_problems(action, integration, SERVICE, CREDENTIALS)
        problems.extend(found)
        if integration is not None and not any(p.field == "integration_id" for p in found):
            problems.extend(cls._metadata_problems(action, integration, data.settings))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def _metadata_problems(cls, action: NotificationAction, integration: Integration, settings: Any) -> list[Problem]:
        meta, problems = integration_metadata(JiraMetadata, integration)
        if meta is None:
            return problems
        problems = url_problems(meta.site, settings, "integration.metadata.site")
        keys = [p.key for p in meta.projects]
        if action.target_identifier and action.target_identifier not in keys:
            shown = ", ".join(keys) or "none"
            problems.append(
                Problem("target_identifier", f"project {action.target_identifier!r} is not among the integration's projects ({shown})")
            )
        return problems

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per project of each usable ``jira`` integration of ``organization``."""
        return [
            available(cls, JiraTarget, integration, project.key, project.name or project.key)
            for integration, meta in configured(organization, integrations, SERVICE, CREDENTIALS, JiraMetadata)
            for project in meta.projects
        ]

    def _integration(self) -> tuple[Integration, JiraMetadata]:
        integration = self.context.integration
        if integration is None or integration.provider != SERVICE.slug:
            raise PermanentDeliveryError("jira: the action's jira integration is missing", code="integration_missing")
        if any(not integration.secret(name) for name in CREDENTIALS):
            raise PermanentDeliveryError("jira: the integration's email or api_token is missing", code="integration_missing")
        try:
            return integration, JiraMetadata.model_validate(integration.metadata)
        except ValidationError:
            raise PermanentDeliveryError("jira: the integration's metadata is invalid", code="invalid_integration") from None

    async def fire(self, data: Event) -> FireResult:
        """Create the issue; return its key, or raise a classified ``DeliveryError``."""
        integration, meta = self._integration()
        site = meta.site.strip().rstrip("/")
        await check_url_at_fire(site, self.context.settings)
        token = integration.secret("api_token") or ""
        basic = base64.b64encode(f"{integration.secret('email')}:{token}".encode()).decode("ascii")
        body = orjson.dumps({"fields": issue_fields(self.action, data, meta.issue_type)})
        headers = {
            "authorization": f"Basic {basic}",
            "accept": "application/json",
            "content-type": "application/json",
            "user-agent": http.USER_AGENT,
        }
        redact = (token, basic)
        response = await http.send(
            self.context, "POST", f"{site}/rest/api/3/issue",
            service=SERVICE.slug, redact=redact, content=body, headers=headers,
        )
        try:
            key = orjson.loads(response.content).get("key")
        except (orjson.JSONDecodeError, AttributeError):
            key = None
        detail = key if isinstance(key, str) else http.body_excerpt(response, redact=redact)
        return FireResult(status=response.status_code, detail=detail)


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(JiraRegistration, SERVICE)
"""The registered subclass of :class:`JiraRegistration` for each trigger."""
