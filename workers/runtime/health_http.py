"""The small web view of the workers that are not faust apps (the inbox and mailbox
workers): ``/claims/live``, ``/claims/ready`` and ``/claims/metrics``, served from a
daemon thread on the worker's web port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve_health(host: str, port: int, registry: Any, ready: Callable[[], bool]) -> Any:
    """Start serving; the returned server's ``shutdown()`` stops it."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/claims/live":
                self._send(200, b'{"live": true}', "application/json")
            elif self.path == "/claims/ready":
                ok = ready()
                body = b'{"ready": true}' if ok else b'{"ready": false}'
                self._send(200 if ok else 503, body, "application/json")
            elif self.path == "/claims/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return  # no access log lines

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
