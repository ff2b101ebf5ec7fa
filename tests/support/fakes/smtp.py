"""A real SMTP server (aiosmtpd) on ``127.0.0.1`` that records every message and answers as told.

``FakeSmtp().start()`` picks a free port (aiosmtpd cannot bind port 0) and
serves in aiosmtpd's own thread, so it works from sync and async tests and
from a worker subprocess. Each accepted message becomes a ``Received``
(envelope sender, recipients, raw bytes, parsed message).

Told answers:

- ``fake.rcpt_reply = "550 5.1.1 no such user"`` (or a dict address → reply)
  answers RCPT TO with that reply instead of ``250``;
- ``fake.data_reply = "451 4.3.0 try later"`` answers DATA with it (nothing recorded);
- ``FakeSmtp(username=..., password=...)`` requires AUTH (PLAIN/LOGIN without
  TLS) and answers ``535`` to wrong credentials and ``530`` to MAIL before AUTH.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["FakeSmtp", "Received"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated_as: str | None

    @property
    def message(self) -> EmailMessage:
        """The message parsed with the modern email API."""
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, fake: "FakeSmtp") -> None:
        self.fake = fake

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        reply = self.fake.rcpt_reply
        if isinstance(reply, dict):
            reply = reply.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fake.data_reply:
            return self.fake.data_reply
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.fake._add(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content), login))
        return "250 OK: queued"


class FakeSmtp:
    """A recording SMTP server (see the module docstring)."""

    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        self.username = username
        self.password = password
        self.rcpt_reply: str | dict[str, str] | None = None
        self.data_reply: str | None = None
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> "FakeSmtp":
        """Serve in a thread of aiosmtpd's own."""
        kwargs: dict[str, Any] = {}
        if self.username is not None:
            kwargs = dict(auth_required=True, auth_require_tls=False, authenticator=self._authenticate)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "FakeSmtp":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget received messages and told answers."""
        with self._cond:
            self._received.clear()
        self.rcpt_reply = None
        self.data_reply = None

    def _add(self, received: Received) -> None:
        with self._cond:
            self._received.append(received)
            self._cond.notify_all()

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_for(self, predicate: Any = None, timeout: float = 10.0) -> list[Received]:
        """Block until a received message satisfies ``predicate`` (any message when None); return those."""
        test = predicate or (lambda r: True)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self._received if test(r)]
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s ({len(self._received)} received)")
                self._cond.wait(left)
