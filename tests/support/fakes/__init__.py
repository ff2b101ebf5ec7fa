"""Local fake services for the tests, all built on :class:`HttpSink`."""

from .http_sink import Answer, HttpSink, RecordedRequest

__all__ = ["Answer", "HttpSink", "RecordedRequest"]
