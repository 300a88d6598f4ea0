"""A local stand-in for Procountor's REST API (M2M tokens, invoices, ledger receipts, payments, settings):
see docs/sandbox-procountor.md.

``start_sandbox(client_id=..., client_secret=..., api_key=..., seed="demo", clock=None, rate_limit=20)``
serves it in a background thread and returns a ``RunningSandbox`` (``.url``, ``.api_url``, ``.state``,
``.tokens``, ``.limiter``, ``.clock``, ``.token()``, ``.admin()``, ``.stop()``); ``build_sandbox(...)``
gives the WSGI app alone (to mount it under a prefix).
"""
from .app import (DEFAULT_API_KEY, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ProcountorSandbox, RunningSandbox,
                  build_sandbox, start_sandbox)
from .state import ProcountorState, SandboxClock

__all__ = ["DEFAULT_API_KEY", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "ProcountorSandbox", "ProcountorState",
           "RunningSandbox", "SandboxClock", "build_sandbox", "start_sandbox"]
