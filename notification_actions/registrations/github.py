"""The ``github`` service: open a GitHub issue per event (REST API, version 2022-11-28).

Target ``specific``: ``target_identifier`` is ``owner/repo``, one of the
integration's ``metadata.repositories``. The integration (provider ``github``)::

    {"id": "11", "organization_id": 1, "provider": "github", "name": "Acme GitHub",
     "credentials": {"token": "github_pat_..."},
     "metadata": {"repositories": [{"full_name": "acme/backend"}, "acme/web"]}}

The request goes to ``settings.github_api_url`` (an operator's setting, not a
customer's URL)::

    POST {github_api_url}/repos/{owner}/{repo}/issues
    Authorization: Bearer <token>
    Accept: application/vnd.github+json
    X-GitHub-Api-Version: 2022-11-28
    {"title": "<≤256>", "body": "<markdown, ≤65536>", "labels": ["notification-actions", "<trigger>"]}

201 is success (detail: the issue's ``html_url``). Rate limits are retryable:
429, and 403 with ``retry-after`` or ``x-ratelimit-remaining: 0`` (then
``x-ratelimit-reset`` says when); 401, 403, 404, 410 and 422 are permanent.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from notification_actions.errors import InvalidAction, PermanentDeliveryError, Problem, RetryableDeliveryError
from notification_actions.models import ActionService, ActionTrigger, Event, Integration
from notification_actions.registrations.base import ActionInput, ActionRegistration, FireResult

from notification_actions.registrations.support import http
from notification_actions.registrations.support.common import (
    available,
    configured,
    integration_metadata,
    integration_problems,
    register_all,
    target_problems,
)
from notification_actions.registrations.support.limits import cut, one_line, units
from notification_actions.registrations.support.text import Composed, compose

__all__ = ["REGISTRATIONS", "GitHubMetadata", "GitHubRegistration", "GitHubTarget", "issue_body"]

SERVICE = ActionService.GITHUB
API_VERSION = "2022-11-28"
# GitHub's documented limits: titles of 256 characters, bodies of 65,536.
TITLE_CHARS = 256
BODY_CHARS = 65_536
# GitHub asks to wait at least a minute after a secondary rate limit that names no time.
SECONDARY_LIMIT_WAIT = 60.0
LABELS = "notification-actions"

# Where GitHub sees a mention: "@name" not preceded by a word character (so not in jane@acme.io).
_MENTION = re.compile(r"(?<![A-Za-z0-9._%+-])@(?=[A-Za-z0-9])")

FullName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")]


def _full_name(value: Any) -> Any:
    return value.get("full_name") if isinstance(value, dict) else value


class GitHubMetadata(BaseModel):
    """``metadata`` of a ``github`` integration; a repository is ``"owner/repo"`` or ``{"full_name": ...}``."""

    model_config = ConfigDict(extra="allow")

    repositories: list[Annotated[FullName, BeforeValidator(_full_name)]] = Field(default_factory=list)


class GitHubTarget(BaseModel):
    """What a GitHub action must say: ``validate_action`` and ``requires`` both come from here."""

    target_identifier: FullName = Field(description="Repository as owner/repo, one of the integration's")


def _no_mentions(text: str) -> str:
    # Event data comes from end users (feedback comments); "@org/team" in it must not ping anyone.
    return _MENTION.sub("@\u200b", text)


def issue_body(composed: Composed) -> str:
    """The issue's markdown: the text, then the details in a code block (where nothing @mentions)."""
    head = cut(_no_mentions(composed.text), BODY_CHARS)
    lines = [f"{label}: {value}" for label, value in composed.details]
    if composed.url:
        lines.append(composed.url)
    block = "\n".join(lines)
    runs = (line.strip() for line in block.split("\n"))
    longest = max((len(run) for run in runs if run and set(run) == {"`"}), default=0)
    fence = "`" * max(3, longest + 1)
    room = BODY_CHARS - units(head) - 2 * len(fence) - 4
    if room < 100:
        return head
    return f"{head}\n\n{fence}\n{cut(block, room)}\n{fence}"


class GitHubRegistration(ActionRegistration):
    """Open a GitHub issue in the action's repository (see the module docstring); one subclass per trigger."""

    @classmethod
    def validate_action(cls, data: ActionInput) -> None:
        """Refuse a malformed repository, one the integration lacks, and an unusable integration."""
        action, integration = data.action, data.integration
        _, problems = target_problems(GitHubTarget, action)
        found = integration_problems(action, integration, SERVICE, ("token",))
        problems.extend(found)
        if integration is not None and not any(p.field == "integration_id" for p in found):
            meta, invalid = integration_metadata(GitHubMetadata, integration)
            problems.extend(invalid)
            if meta is not None and action.target_identifier and action.target_identifier not in meta.repositories:
                shown = ", ".join(meta.repositories) or "none"
                problems.append(Problem(
                    "target_identifier",
                    f"repository {action.target_identifier!r} is not among the integration's ({shown})",
                ))
        if problems:
            raise InvalidAction(problems)

    @classmethod
    def serialize_available(
        cls, organization: int, integrations: list[Integration] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per repository of each usable ``github`` integration of ``organization``."""
        return [
            available(cls, GitHubTarget, integration, full_name, full_name)
            for integration, meta in configured(organization, integrations, SERVICE, ("token",), GitHubMetadata)
            for full_name in meta.repositories
        ]

    def payload(self, event: Event) -> dict[str, Any]:
        """The create-issue body for ``event``."""
        composed = compose(self.action, event)
        return {
            "title": cut(one_line(composed.title), TITLE_CHARS) or "Notification",
            "body": issue_body(composed),
            "labels": [LABELS, self.trigger_type.slug],
        }

    async def fire(self, data: Event) -> FireResult:
        """Open the issue; return its URL, or raise a classified ``DeliveryError``."""
        integration = self.context.integration
        token = integration.secret("token") if integration is not None and integration.provider == SERVICE.slug else None
        if not token:
            raise PermanentDeliveryError("github: the action's integration or its token is missing", code="integration_missing")
        repository = self.action.target_identifier or ""
        try:
            GitHubTarget.model_validate({"target_identifier": repository})
        except ValidationError:
            raise PermanentDeliveryError("github: target is not owner/repo", code="invalid_target") from None
        url = f"{self.context.settings.github_api_url.rstrip('/')}/repos/{repository}/issues"
        headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/vnd.github+json",
            "x-github-api-version": API_VERSION,
            "user-agent": http.USER_AGENT,
            "content-type": "application/json",
        }
        try:
            response = await http.send(
                self.context, "POST", url, service=SERVICE.slug, redact=(token,),
                content=orjson.dumps(self.payload(data)), headers=headers,
            )
        except PermanentDeliveryError as exc:
            # A secondary rate limit without Retry-After is a 403 whose only sign is its
            # message ("You have exceeded a secondary rate limit"): wait a minute (SERVICES.md).
            if exc.status == 403 and "rate limit" in exc.message.lower():
                raise RetryableDeliveryError(
                    exc.message, retry_after=SECONDARY_LIMIT_WAIT, code="403", status=403
                ) from exc
            raise
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        link = answer.get("html_url") if isinstance(answer, dict) else None
        detail = link if isinstance(link, str) else http.body_excerpt(response, redact=(token,))
        return FireResult(status=response.status_code, detail=detail, wait_after=http.bucket_empty_for(response))


REGISTRATIONS: dict[ActionTrigger, type[ActionRegistration]] = register_all(
    GitHubRegistration, SERVICE, name="GitHub{trigger}Registration"
)
"""The registered subclass of :class:`GitHubRegistration` for each trigger."""
