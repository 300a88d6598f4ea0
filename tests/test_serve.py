"""`manage.py serve` (what `make run` ends with): the web app and the worker in one command, stopped together."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def test_serve_starts_the_web_app_and_the_worker_and_stops_both(tmp_path):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update({"HUB_ENV_FILE": "", "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
                "DJANGO_SETTINGS_MODULE": "integration_hub.settings"})
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT, timeout=300)
    port = free_port()
    process = subprocess.Popen([*manage, "serve", "--addr", f"127.0.0.1:{port}"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert status == 200
        kids = children_of(process.pid)
        commands = [open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in kids]
        assert any("runserver" in c for c in commands) and any("qcluster" in c for c in commands), commands
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert process.wait(timeout=30) == 0
        time.sleep(0.5)
        assert not [pid for pid in kids if alive(pid)]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
