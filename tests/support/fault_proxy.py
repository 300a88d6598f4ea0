"""A fault proxy between the hub and a real server, on loopback: what a flaky gateway does to requests.

Each JSON-RPC call is matched by its method (``model.account.move.create``...) against a plan of
faults, used once each, in order:

- ``before:<status>``: answer ``status`` without forwarding (nothing applied);
- ``after:<status>``: forward, let the server apply it, then answer ``status`` (the answer is lost);
- ``after:drop``: forward, then close the connection without answering.
- ``before:429``: answer 429 with ``Retry-After: 1`` without forwarding (a gateway's rate limit);
- ``delay:<seconds>``: wait, then forward and answer normally (a slow gateway);
- ``late:<seconds>``: forward (applied at once), then answer only after the wait;
- ``inflight:<seconds>``: hold the request, forward it only after the wait, then answer: with a client read
  timeout shorter than the wait, the client gives up while its write is still on its way (the in-flight race).

Everything else is forwarded as it is. ``forwarded`` counts what reached the server, per method.
``randomly(rate, kinds, seed)`` adds faults drawn at random (seeded) on any call besides the plan.
"""
from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan: dict[str, list[str]] = {}
        self.forwarded: Counter[str] = Counter()
        self.faults_done: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._random: tuple[float, tuple[str, ...], random.Random] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    method = json.loads(body).get("method", "")
                except ValueError:
                    method = ""
                fault = proxy._next_fault(method)
                if fault == "before:429":
                    return self._answer(429, b'{"error": "slow down"}', {"Retry-After": "1"})
                if fault.startswith("before:"):
                    return self._answer(int(fault.split(":")[1]), b'{"error": "gateway"}')
                if fault.startswith(("delay:", "inflight:")):
                    time.sleep(float(fault.split(":")[1]))
                status, payload, headers = proxy._forward(self.path, body, self.headers)
                if fault.startswith("late:"):
                    time.sleep(float(fault.split(":")[1]))
                proxy.forwarded[method] += 1
                if fault == "after:drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if fault.startswith("after:"):
                    return self._answer(int(fault.split(":")[1]), b"<html>Service Unavailable</html>")
                return self._answer(status, payload, headers)

            def _answer(self, status: int, payload: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", (headers or {}).get("Content-Type", "application/json"))
                if (headers or {}).get("Retry-After"):
                    self.send_header("Retry-After", headers["Retry-After"])
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting (a late answer)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def fail(self, method: str, *faults: str) -> None:
        with self._lock:
            self.plan.setdefault(method, []).extend(faults)

    def randomly(self, rate: float, kinds: tuple[str, ...], seed: int = 0) -> None:
        with self._lock:
            self._random = (rate, tuple(kinds), random.Random(seed)) if rate else None

    def _next_fault(self, method: str) -> str:
        with self._lock:
            queue = self.plan.get(method) or []
            if not queue:
                if self._random and method.startswith("model.") and self._random[2].random() < self._random[0]:
                    fault = self._random[2].choice(self._random[1])
                    self.faults_done.append((method, fault))
                    return fault
                return ""
            fault = queue.pop(0)
            self.faults_done.append((method, fault))
            return fault

    def _forward(self, path: str, body: bytes, headers) -> tuple[int, bytes, dict]:
        request = urllib.request.Request(f"{self.upstream}{path}", data=body, method="POST", headers={
            k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
