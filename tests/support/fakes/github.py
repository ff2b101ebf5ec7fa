"""A fake GitHub "create an issue" endpoint on an ``HttpSink``, as strict as the real one.

``FakeGitHub(sink, prefix="/gh")`` serves ``POST {sink.url}/gh/repos/{owner}/{repo}/issues``
(its ``api_url`` is ``{sink.url}/gh``) and refuses what GitHub refuses: no
``User-Agent`` (403), wrong or missing token (401), an unsupported
``X-GitHub-Api-Version`` (400), a repository the token cannot see (404), a
missing or over-long title or an over-long body (422 ``Validation Failed``).
Accepted issues are kept in ``created`` and answered ``201 {id, number, html_url, …}``.

``fail_next(kind)`` makes the next request get GitHub's documented answer:
401, 403, 404, 410, 422, 429 (with ``retry-after``), ``"primary"`` (403 with
``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``) or ``"secondary"``
(403 "secondary rate limit" with ``retry-after``).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson

from tests.support.fakes.http_sink import Answer, HttpSink, RecordedRequest

__all__ = ["FakeGitHub"]

TITLE_MAX = 256
BODY_MAX = 65_536
VERSIONS = {"2022-11-28"}
DOCS = "https://docs.github.com/rest/issues/issues#create-an-issue"


def _validation(field: str, message: str) -> Answer:
    return Answer(422, {}, {"message": "Validation Failed", "documentation_url": DOCS, "status": "422",
                            "errors": [{"resource": "Issue", "code": "custom", "field": field, "message": message}]})


def _documented(kind: int | str) -> Answer:
    if kind == "primary":
        reset = str(int(time.time()) + 30)
        return Answer(403, {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
                      {"message": "API rate limit exceeded for user ID 1.", "documentation_url": DOCS})
    if kind == "secondary":
        return Answer(403, {"retry-after": "45"},
                      {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                       "documentation_url": DOCS})
    return {
        401: Answer(401, {}, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}),
        403: Answer(403, {}, {"message": "Resource not accessible by integration", "documentation_url": DOCS}),
        404: Answer(404, {}, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}),
        410: Answer(410, {}, {"message": "Issues are disabled for this repo", "documentation_url": DOCS}),
        422: _validation("title", "title is invalid"),
        429: Answer(429, {"retry-after": "12"}, {"message": "Too many requests", "documentation_url": DOCS}),
    }[kind]


class FakeGitHub:
    """GitHub's create-issue endpoint, checking requests like GitHub (see the module docstring)."""

    def __init__(
        self,
        sink: HttpSink,
        *,
        prefix: str = "/github",
        token: str = "github_pat_fake_0000",
        repositories: tuple[str, ...] = ("acme/backend",),
    ) -> None:
        self.sink = sink
        self.prefix = prefix
        self.token = token
        self.repositories = set(repositories)
        self.created: list[dict[str, Any]] = []
        self._failures: deque[int | str] = deque()
        sink.route(prefix + "/", self._handle)

    @property
    def api_url(self) -> str:
        return self.sink.url + self.prefix

    def path(self, repository: str) -> str:
        return f"{self.prefix}/repos/{repository}/issues"

    def fail_next(self, kind: int | str) -> None:
        """Answer the next request with GitHub's documented error ``kind`` (see the module docstring)."""
        self._failures.append(kind)

    def _handle(self, request: RecordedRequest) -> Answer:
        if self._failures:
            return _documented(self._failures.popleft())
        parts = request.path.removeprefix(self.prefix).strip("/").split("/")
        if request.method != "POST" or len(parts) != 4 or parts[0] != "repos" or parts[3] != "issues":
            return _documented(404)
        if not request.headers.get("User-Agent"):
            return Answer(403, {}, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token != self.token:
            return _documented(401)
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in VERSIONS:
            return Answer(400, {}, {"message": f"API version {version!r} is not supported.", "documentation_url": DOCS})
        repository = f"{parts[1]}/{parts[2]}"
        if repository not in self.repositories:
            return _documented(404)
        try:
            body = request.json()
        except orjson.JSONDecodeError:
            return Answer(400, {}, {"message": "Problems parsing JSON", "documentation_url": DOCS})
        title = body.get("title") if isinstance(body, dict) else None
        if not isinstance(title, str) or not title:
            return _validation("title", "title wasn't supplied")
        if len(title) > TITLE_MAX:
            return _validation("title", f"title is too long (maximum is {TITLE_MAX} characters)")
        text = body.get("body")
        if text is not None and (not isinstance(text, str) or len(text) > BODY_MAX):
            return _validation("body", f"body is too long (maximum is {BODY_MAX} characters)")
        labels = body.get("labels", [])
        if not isinstance(labels, list) or any(not isinstance(x, str) for x in labels):
            return _validation("labels", "labels must be strings")
        number = len(self.created) + 1
        issue = {"id": 1000 + number, "number": number, "title": title, "state": "open",
                 "html_url": f"https://github.com/{repository}/issues/{number}"}
        self.created.append({**issue, "repository": repository, "body": text, "labels": labels})
        return Answer(201, {}, issue)
