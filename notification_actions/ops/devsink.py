"""``notification-actions dev-sink``: a local webhook receiver for trying the service.

Prints every request it gets (Standard Webhooks headers, JSON body), verifies
the signature when given the signing secret, and answers 200. Standard
library only, so it runs from a plain install.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from notification_actions.registrations.support.signing import verify

__all__ = ["serve"]


def serve(host: str, port: int, secret: str | None = None, out=sys.stdout) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, verdict = 200, ""
            if secret is not None:
                try:
                    ok = verify(
                        secret,
                        self.headers.get("webhook-id", ""),
                        int(self.headers.get("webhook-timestamp", "0")),
                        body,
                        self.headers.get("webhook-signature", ""),
                    )
                except ValueError:
                    ok = False
                status, verdict = (200, " signature ok") if ok else (401, " SIGNATURE INVALID")
            try:
                shown = json.dumps(json.loads(body), indent=2)
            except ValueError:
                shown = body.decode(errors="replace")
            print(f"POST {self.path} webhook-id={self.headers.get('webhook-id')}{verdict}\n{shown}", file=out, flush=True)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "invalid signature"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    print(f"dev-sink listening on http://{host}:{port}/", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
