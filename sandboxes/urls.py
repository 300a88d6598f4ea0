"""The sandboxes mounted in the hub: ``path("sandbox/", include("sandboxes.urls"))`` in the project urls.

``/sandbox/factorial/...`` is one process-wide Factorial sandbox seeded with "demo", whose API key
is the setting HUB_SANDBOX_FACTORIAL_API_KEY (default "sandbox-factorial-key"). The view hands the
request to the WSGI app with SCRIPT_NAME set to the mount point, so the URLs it builds (file
downloads) point back under it.

``/sandbox/xero/...`` is one process-wide Xero sandbox seeded with "demo" (identity, accounting API
and admin on one address: ``/sandbox/xero/identity/connect/authorize``, ``/sandbox/xero/connect/token``,
``/sandbox/xero/connections``, ``/sandbox/xero/api.xro/2.0/...``). Its app is the settings
HUB_XERO_CLIENT_ID / HUB_XERO_CLIENT_SECRET (defaults "sandbox-xero-client" / "sandbox-xero-secret"),
its clock runs HUB_XERO_CLOCK_SPEED times faster (default 1).

``/sandbox/procountor/...`` is one process-wide Procountor sandbox seeded with "demo" (token endpoint and API under
every version prefix; see docs/sandbox-procountor.md).
"""
from __future__ import annotations

import datetime as dt
import io
import threading

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from sandboxes.factorial.app import FactorialSandbox
from sandboxes.factorial.state import SandboxState

_lock = threading.Lock()
_factorial: FactorialSandbox | None = None
_xero = None


def factorial_sandbox() -> FactorialSandbox:
    """The process-wide Factorial sandbox, created (and seeded) on first use."""
    global _factorial
    with _lock:
        if _factorial is None:
            api_key = getattr(settings, "HUB_SANDBOX_FACTORIAL_API_KEY", None) or "sandbox-factorial-key"
            day = getattr(settings, "HUB_SANDBOX_TODAY", "") or None
            _factorial = FactorialSandbox(SandboxState(api_key=api_key, seed="demo",
                                                       today=dt.date.fromisoformat(day) if day else None))
        return _factorial


def xero_sandbox():
    """The process-wide Xero sandbox (a ``sandboxes.xero.app.XeroSandbox``), created on first use."""
    global _xero
    from sandboxes.xero.app import build_sandbox

    with _lock:
        if _xero is None:
            day = getattr(settings, "HUB_SANDBOX_TODAY", "") or None
            _xero = build_sandbox(
                client_id=getattr(settings, "HUB_XERO_CLIENT_ID", None) or "sandbox-xero-client",
                client_secret=getattr(settings, "HUB_XERO_CLIENT_SECRET", None) or "sandbox-xero-secret",
                seed="demo", speed=float(getattr(settings, "HUB_XERO_CLOCK_SPEED", 1) or 1),
                today=dt.date.fromisoformat(day) if day else None)
        return _xero


_procountor = None


def procountor_company_keys() -> dict:
    """What a company types to connect the mounted Procountor sandbox (the demo's connection uses the same)."""
    return {"api_key": getattr(settings, "HUB_PROCOUNTOR_API_KEY", None) or "sandbox-procountor-key"}


def netvisor_company_keys() -> dict:
    """What a company types to connect the mounted Netvisor sandbox (the demo's connection uses the same)."""
    return {"customer_id": getattr(settings, "HUB_NETVISOR_CUSTOMER_ID", None) or "sandbox-customer",
            "customer_key": getattr(settings, "HUB_NETVISOR_CUSTOMER_KEY", None) or "sandbox-customer-key",
            "organisation_id": getattr(settings, "HUB_NETVISOR_ORGANISATION_ID", None) or "1234567-1"}


def procountor_sandbox():
    """The process-wide Procountor sandbox (seeded "demo"), created on first use. Its client, secret and API key are
    the settings HUB_PROCOUNTOR_CLIENT_ID / _CLIENT_SECRET / _API_KEY (defaults sandbox-procountor-*)."""
    global _procountor
    from sandboxes.procountor.app import build_sandbox

    with _lock:
        if _procountor is None:
            _procountor = build_sandbox(
                client_id=getattr(settings, "HUB_PROCOUNTOR_CLIENT_ID", None) or "sandbox-procountor-client",
                client_secret=getattr(settings, "HUB_PROCOUNTOR_CLIENT_SECRET", None) or "sandbox-procountor-secret",
                seed="demo", **procountor_company_keys())
        return _procountor


_netvisor = None


def netvisor_sandbox():
    """The process-wide Netvisor sandbox (seeded "demo"), created on first use; its keys are the settings
    HUB_NETVISOR_CUSTOMER_ID / _CUSTOMER_KEY / _PARTNER_ID / _PARTNER_KEY / _ORGANISATION_ID (defaults sandbox-*)."""
    global _netvisor
    from sandboxes.netvisor.app import build_sandbox

    with _lock:
        if _netvisor is None:
            _netvisor = build_sandbox(
                sender="integration-hub",
                partner_id=getattr(settings, "HUB_NETVISOR_PARTNER_ID", None) or "sandbox-partner",
                partner_key=getattr(settings, "HUB_NETVISOR_PARTNER_KEY", None) or "sandbox-partner-key",
                seed="demo", **netvisor_company_keys())
            # the demo shows an undeliverable invoice refused within minutes rather than Netvisor's own pace
            _netvisor.state.delivery_delay = dt.timedelta(
                seconds=float(getattr(settings, "HUB_SANDBOX_REJECT_AFTER_SECONDS", 120) or 120))
        return _netvisor


def run_wsgi(app, request: HttpRequest, rest: str) -> HttpResponse:
    environ = dict(request.META)
    full_path = request.path  # includes the project's own SCRIPT_NAME
    prefix = full_path[: len(full_path) - len(rest)] if rest and full_path.endswith(rest) else full_path
    body = request.body
    environ.update({"SCRIPT_NAME": prefix.rstrip("/"), "PATH_INFO": "/" + rest, "wsgi.input": io.BytesIO(body),
                    "CONTENT_LENGTH": str(len(body)), "REQUEST_METHOD": request.method})
    environ.setdefault("wsgi.url_scheme", request.scheme)
    captured: dict = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    response = HttpResponse(content, status=int(captured["status"].split()[0]))
    del response["Content-Type"]
    for name, value in captured["headers"]:
        if name.lower() != "content-length":
            response[name] = value
    return response


@csrf_exempt
def factorial(request: HttpRequest, rest: str = "") -> HttpResponse:
    return run_wsgi(factorial_sandbox(), request, rest)


@csrf_exempt
def xero(request: HttpRequest, rest: str = "") -> HttpResponse:
    return run_wsgi(xero_sandbox(), request, rest)


@csrf_exempt
def procountor(request: HttpRequest, rest: str = "") -> HttpResponse:
    return run_wsgi(procountor_sandbox(), request, rest)


@csrf_exempt
def netvisor(request: HttpRequest, rest: str = "") -> HttpResponse:
    return run_wsgi(netvisor_sandbox(), request, rest)


urlpatterns = [
    path("factorial/", factorial, name="sandbox-factorial-root"),
    path("factorial/<path:rest>", factorial, name="sandbox-factorial"),
    path("xero/", xero, name="sandbox-xero-root"),
    path("xero/<path:rest>", xero, name="sandbox-xero"),
    path("procountor/", procountor, name="sandbox-procountor-root"),
    path("procountor/<path:rest>", procountor, name="sandbox-procountor"),
    path("netvisor/", netvisor, name="sandbox-netvisor-root"),
    path("netvisor/<path:rest>", netvisor, name="sandbox-netvisor"),
]
