"""A fake Jira Cloud "create issue" endpoint on an ``HttpSink``, as strict as the real one.

``FakeJira(sink, prefix="/jira-a")`` serves ``{sink.url}/jira-a/rest/api/3/issue``
(its ``site`` is ``{sink.url}/jira-a``) and refuses what Jira refuses: wrong or
missing Basic credentials (401), a non-JSON body (415), an unknown project or
issue type, a missing/multi-line/over-long summary, a description that is not
an Atlassian Document (a plain string included), labels with spaces (400).
Accepted issues are kept in ``created`` and answered ``201 {"id", "key", "self"}``.

``fail_next(status)`` makes the next request get Jira's documented answer for
that status: 400, 401, 403, 404, 422, or 429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from typing import Any

import orjson

from tests.support.fakes.http_sink import Answer, HttpSink, RecordedRequest

__all__ = ["FakeJira"]

SUMMARY_MAX = 255
TEXT_MAX = 32_767

DOCUMENTED: dict[int, Answer] = {
    400: Answer(400, {}, {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}),
    401: Answer(401, {}, {"errorMessages": ["You are not authenticated. Authentication required to perform this operation."]}),
    403: Answer(403, {}, {"errorMessages": ["You do not have permission to create issues in this project."]}),
    404: Answer(404, {}, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
    422: Answer(422, {}, {"errorMessages": ["Unprocessable: the issue could not be created."], "errors": {}}),
    429: Answer(429, {"Retry-After": "17"}, {"errorMessages": ["Rate limit exceeded."]}),
}


def _bad(field: str, message: str) -> Answer:
    return Answer(400, {}, {"errorMessages": [], "errors": {field: message}})


def _adf_problem(node: Any, depth: int = 0) -> str | None:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return "every node must be an object with a type"
    if depth == 0 and (node["type"] != "doc" or node.get("version") != 1):
        return "the root must be {type: doc, version: 1}"
    if node["type"] == "text":
        text = node.get("text")
        return None if isinstance(text, str) and text else "text nodes need non-empty text"
    content = node.get("content", [])
    if not isinstance(content, list):
        return "content must be an array"
    for child in content:
        problem = _adf_problem(child, depth + 1)
        if problem:
            return problem
    return None


def _text_length(node: Any) -> int:
    if isinstance(node, dict):
        own = len(node.get("text", "")) if node.get("type") == "text" else 0
        return own + sum(_text_length(c) for c in node.get("content", []))
    return 0


class FakeJira:
    """Jira's create-issue endpoint, checking requests like Jira (see the module docstring)."""

    def __init__(
        self,
        sink: HttpSink,
        *,
        prefix: str = "/jira",
        email: str = "bot@acme.io",
        api_token: str = "jira-api-token-0000",
        projects: tuple[str, ...] = ("OPS",),
        issue_types: tuple[str, ...] = ("Task", "Bug"),
    ) -> None:
        self.sink = sink
        self.prefix = prefix
        self.email = email
        self.api_token = api_token
        self.projects = set(projects)
        self.issue_types = set(issue_types)
        self.created: list[dict[str, Any]] = []
        self._failures: deque[Answer] = deque()
        sink.route(prefix + "/", self._handle)

    @property
    def site(self) -> str:
        return self.sink.url + self.prefix

    @property
    def path(self) -> str:
        return self.prefix + "/rest/api/3/issue"

    def fail_next(self, status: int) -> None:
        """Answer the next request with Jira's documented error for ``status``."""
        self._failures.append(DOCUMENTED[status])

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.email}:{self.api_token}"

    def _handle(self, request: RecordedRequest) -> Answer:
        if self._failures:
            return self._failures.popleft()
        if request.path != self.path or request.method != "POST":
            return Answer(404, {}, {"errorMessages": ["null for uri"]})
        if not self._authorized(request.headers.get("Authorization", "")):
            return DOCUMENTED[401]
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return Answer(415, {}, "Unsupported Media Type")
        try:
            body = request.json()
        except orjson.JSONDecodeError:
            return Answer(400, {}, {"errorMessages": ["Unexpected character in JSON body"], "errors": {}})
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return Answer(400, {}, {"errorMessages": ["Can not deserialize: fields are required"], "errors": {}})
        return self._check_fields(fields)

    def _check_fields(self, fields: dict[str, Any]) -> Answer:
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            return _bad("project", "Specify a valid project ID or key")
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            return _bad("issuetype", "Specify a valid issue type")
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            return _bad("summary", "You must specify a summary of the issue.")
        if "\n" in summary or "\r" in summary:
            return _bad("summary", "The summary is invalid because it contains newline characters.")
        if len(summary) > SUMMARY_MAX:
            return _bad("summary", "Summary must be less than 255 characters.")
        if "description" in fields:
            problem = _adf_problem(fields["description"])
            if problem:
                return _bad("description", f"Operation value must be an Atlassian Document ({problem}).")
            if _text_length(fields["description"]) > TEXT_MAX:
                return _bad("description", "The entered text is too long. It exceeds the allowed limit of 32,767 characters.")
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x or not x for x in labels):
            return _bad("labels", "The label must not contain spaces.")
        number = len(self.created) + 1
        issue = {"id": str(10000 + number), "key": f"{project}-{number}", "self": f"{self.site}/rest/api/3/issue/{10000 + number}"}
        self.created.append({**issue, "fields": fields})
        return Answer(201, {}, issue)
