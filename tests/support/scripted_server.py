"""A real HTTP server on loopback that answers from a script, for testing the HTTP layer."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=lambda: {"ok": True})  # bytes as they are, anything else as JSON
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"
    echo: bool = False  # answer with the request itself (body, request line, headers), like a debugging proxy


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes


class ScriptedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.default = Reply()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                reply = server.script.pop(0) if server.script else server.default
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                if reply.echo:
                    head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
                    payload = body + f"\n{self.command} {self.path}\n{head}".encode()
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def then(self, *replies: Reply) -> "ScriptedServer":
        self.script.extend(replies)
        return self
