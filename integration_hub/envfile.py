"""Create a local `.env` for a development install, with fresh random secrets.

Run by `make run` before anything else (Django cannot start without a SECRET_KEY and an
encryption key when DEBUG is off). An existing file is never overwritten; missing keys are
appended.

The demo runs everything on loopback, which the outbound policy refuses by default: the file allows
127.0.0.1 and localhost (the demo's Tryton) and points Factorial at the sandbox the web app mounts.
"""
from __future__ import annotations

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

DEFAULTS = {
    "DEBUG": lambda: "1",
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "HUB_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode("ascii"),
    "DEMO_PASSWORD": lambda: "demo-" + secrets.token_urlsafe(9),
    "HUB_OUTBOUND_ALLOW": lambda: "127.0.0.1,localhost",
    "HUB_FACTORIAL_BASE_URL": lambda: "http://127.0.0.1:8000/sandbox/factorial",
    # Xero's consent page, token endpoint and API: the sandbox the web app mounts serves all three.
    "HUB_XERO_LOGIN_URL": lambda: "http://127.0.0.1:8000/sandbox/xero",
    "HUB_XERO_IDENTITY_URL": lambda: "http://127.0.0.1:8000/sandbox/xero",
    "HUB_XERO_API_URL": lambda: "http://127.0.0.1:8000/sandbox/xero",
    # The Finnish accounting tools (issue 17): their sandboxes, mounted by the web app too.
    "HUB_NETVISOR_API_URL": lambda: "http://127.0.0.1:8000/sandbox/netvisor",
    "HUB_PROCOUNTOR_API_URL": lambda: "http://127.0.0.1:8000/sandbox/procountor/latest/api",
}


def ensure_env_file(path: Path) -> list[str]:
    present = set()
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                present.add(line.split("=", 1)[0].strip())
    added = [key for key in DEFAULTS if key not in present]
    if added:
        with path.open("a") as handle:
            if not present:
                handle.write("# Local development settings, created by `make run`. Never commit this file.\n")
            for key in added:
                handle.write(f"{key}={DEFAULTS[key]()}\n")
        path.chmod(0o600)
    return added


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
    added = ensure_env_file(target)
    if added:
        print(f"{target}: added {', '.join(added)}")
