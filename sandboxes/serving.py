"""What every sandbox's server has in common: served from a background thread, stopped, used as a context manager,
and its admin endpoint (``/_sandbox/<action>``, guarded by the sandbox's ``admin_key``) called."""
from __future__ import annotations

import threading

import requests


class ServedSandbox:
    """A WSGI sandbox served in a background thread. ``url`` has no trailing slash. Subclasses set what they expose
    (state, clock, api_url...) after calling ``__init__``; ``_before_stop`` lets one release what blocks its app."""

    def __init__(self, server, name: str, sandbox=None) -> None:
        self.sandbox, self.server = sandbox, server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                                       name=f"{name}-sandbox-{port}")

    def start(self) -> None:
        self.thread.start()

    def admin(self, verb: str, action: str, body: dict | None = None):
        """Call the admin endpoint ``/_sandbox/<action>`` with the right key; raises on an error status."""
        answer = requests.request(verb, f"{self.url}/_sandbox/{action}", json=body, timeout=10,
                                  headers={"x-sandbox-key": self.sandbox.admin_key})
        answer.raise_for_status()
        return answer.json()

    def _before_stop(self) -> None:
        """Anything the app may be waiting on, released before the server shuts down."""

    def stop(self) -> None:
        self._before_stop()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
