"""Small HTTP servers the tests stand up on a thread: a token endpoint, a refusing one, a fake FCM."""
from __future__ import annotations

import http.server
import socketserver
import threading

# How soon a server's loop notices it is asked to stop: socketserver looks every 0.5 s unless
# told otherwise, and each test that stopped an emulator or a fake waited for it (a fifth of the
# integration tests' wall time in one profile).
POLL_S = 0.02


def serve_on_thread(server: socketserver.BaseServer, name: str | None = None) -> threading.Thread:
    """Starts `server` answering on a daemon thread; its `shutdown()` then returns within POLL_S."""
    thread = threading.Thread(target=server.serve_forever, args=(POLL_S,), name=name, daemon=True)
    thread.start()
    return thread


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A handler that answers JSON and logs nothing; a test's subclass writes do_POST."""

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    """The handler on a free loopback port, answering on a daemon thread; `url(server)` names it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serve_on_thread(server)
    return server


def url(server: http.server.ThreadingHTTPServer, path: str = "") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"
