"""The Alertmanager client against a local HTTP server that answers more than it should."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from resources.alertmanager import AlertmanagerResource, AlertmanagerUnavailable


def test_an_alertmanager_answer_over_the_cap_is_refused_unread() -> None:
    # Alerts are untrusted input: an answer is read into memory only up to the cap.
    class Huge(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            body = b"[" + b"{}," * 2000 + b"{}]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Huge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert len(AlertmanagerResource(url=url).active_alerts()) == 2001
        capped = AlertmanagerResource(url=url, max_response_bytes=1000)
        with pytest.raises(AlertmanagerUnavailable, match="more than 1000 bytes; not read"):
            capped.active_alerts()
    finally:
        server.shutdown()
        server.server_close()
