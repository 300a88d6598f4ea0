"""A faithful local stand-in for Factorial's public API (finance, expenses, OAuth2, webhooks).

    from sandboxes.factorial import start_sandbox
    with start_sandbox(api_key="k", seed="demo") as sandbox:
        requests.get(f"{sandbox.url}/api/2026-10-01/resources/finance/contacts", headers={"x-api-key": "k"})

See docs/sandbox-factorial.md. No Django here: app.py, state.py and seed.py are stdlib only.
"""
from .app import FactorialSandbox, RunningSandbox, make_sandbox_server, start_sandbox
from .state import ApiError, Delivery, Faults, OAuthError, SandboxState

__all__ = ["ApiError", "Delivery", "FactorialSandbox", "Faults", "OAuthError", "RunningSandbox", "SandboxState",
           "make_sandbox_server", "start_sandbox"]
