"""A local stand-in for Xero (accounting API, identity service, rate limits): see docs/sandbox-xero.md.

``start_sandbox(client_id, client_secret, seed="demo", speed=1.0, limits=True)`` serves it in a
background thread and returns a ``RunningSandbox`` (``.url``, ``.api_url``, ``.state``,
``.identity``, ``.limiter``, ``.connect()``, ``.custom_token()``, ``.stop()``).
"""
from .app import DEFAULT_SCOPE, RunningSandbox, XeroSandbox, build_sandbox, start_sandbox
from .seed import tenant_id
from .state import XeroState

DEMO_COMPANY = tenant_id("Demo Company (Global)")
HARBOUR_TRADING = tenant_id("Harbour Trading Ltd")

__all__ = ["DEFAULT_SCOPE", "DEMO_COMPANY", "HARBOUR_TRADING", "RunningSandbox", "XeroSandbox", "XeroState",
           "build_sandbox", "start_sandbox"]
