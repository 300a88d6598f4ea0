"""A local stand-in for Netvisor's XML API (``<resource>.nv``, MAC authentication), for tests and demos.

``start_sandbox(seed="demo")`` serves it on a free loopback port; ``build_sandbox(...)`` gives the WSGI
app to mount elsewhere. See docs/sandbox-netvisor.md.
"""
from .app import NetvisorSandbox, RunningSandbox, build_sandbox, start_sandbox
from .state import Clock, NetvisorState

__all__ = ["NetvisorSandbox", "RunningSandbox", "build_sandbox", "start_sandbox", "Clock", "NetvisorState"]
