"""A real Tryton server (trytond 8.x) run locally for tests, benchmarks and the demo.

The hub process never imports trytond: every Tryton program runs in a subprocess with the
same interpreter (``sys.executable -m trytond.cli``, ``-m trytond.cli.admin``,
``-m integration_hub.peers.tryton_setup``).  Only the standard library is needed here;
psycopg is used for PostgreSQL administration when importable, ``psql`` otherwise.

Usage::

    with TrytonPeer.start(tmp_path) as peer:
        db = peer.create_database("hub_tryton_demo")
        peer.run_setup(db, "seed_invoicing", seed=1)
        # JSON-RPC at f"{peer.url}/{db}/rpc/" ... login admin / peer.admin_password

Template database: activating the modules and building the company, the French chart and
the fiscal years takes 25-60 s, so it is done once and cached (see ``ensure_template``):

* PostgreSQL: a database ``hub_tryton_tpl_<key>`` (marked as template, connections
  disallowed) that ``CREATE DATABASE ... TEMPLATE`` clones;
* SQLite: a file ``<cache>/hub_tryton_tpl_<key>.sqlite`` that is copied.

``<key>`` hashes the installed trytond/proteus versions, the module list, the content of
``tryton_setup.py`` and of the template parameters (including the current year, as the fiscal
years are relative to it), so any change builds a new template.  Builds happen under a
temporary name, renamed only when complete, and are serialised where the template lives:

* PostgreSQL (one server shared by every checkout on the machine): an advisory lock on the
  template's name (exclusive to build or prune, shared to clone).  Each builder also holds an
  advisory lock on its own temporary database, so a later builder drops only the leftovers
  whose builder is gone, never a build in progress;
* SQLite (the cache directory of one checkout): an ``fcntl`` lock file beside the template.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

__all__ = ["TrytonPeer", "TrytonPeerError", "ensure_template", "detect_backend", "cache_dir",
           "TEMPLATE_KINDS"]

#: Modules activated in the template (dependencies are activated too).
MODULES = ["account", "account_invoice", "party", "company", "currency",
           "account_fr", "account_eu", "party_siret", "analytic_account", "analytic_invoice"]
#: Optional modules: skipped when their package is not installed.
OPTIONAL_MODULES = {"account_eu"}
#: The ERP company (second template, built on first use): the invoicing company plus products,
#: stock, sales and purchases.  Its key is its own, so the invoicing template is untouched.
ERP_MODULES = MODULES + ["product", "stock", "sale", "purchase"]
#: Template kinds a database can be cloned from, and their modules.
TEMPLATE_KINDS = {"invoicing": MODULES, "erp": ERP_MODULES}

ADMIN_USER = "admin"
ADMIN_PASSWORD = "hub-tryton-admin"
ADMIN_EMAIL = "admin@hub.example"
DEFAULT_COMPANY_NAME = "Hub Demo SAS"
#: Databases created by a peer are prefixed with this (a guard for shared PostgreSQL servers).
DB_PREFIX = "hub_tryton_"
TEMPLATE_PREFIX = "hub_tryton_tpl_"
#: Bump to force a template rebuild when the way it is built (here) changes.
TEMPLATE_FORMAT = 1

PG_HOST = os.environ.get("HUB_TRYTON_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HUB_TRYTON_PG_PORT", "5432"))
PG_USER = os.environ.get("HUB_TRYTON_PG_USER", "postgres")

RESULT_MARKER = "HUB_TRYTON_SETUP_RESULT="
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_REPO_ROOT = Path(__file__).resolve().parents[2]
_SETUP_FILE = Path(__file__).resolve().with_name("tryton_setup.py")
#: ERP setup actions (seed_erp, erp_*) live apart, so that editing them changes no template key.
_ERP_SETUP_MODULE = "integration_hub.peers.tryton_erp_setup"
#: The Finnish company's actions (seed_finnish, fi_*), apart for the same reason.
_FI_SETUP_MODULE = "integration_hub.peers.tryton_fi_setup"


class TrytonPeerError(RuntimeError):
    """Anything that went wrong preparing or running the Tryton peer."""


# --------------------------------------------------------------------------- helpers

def cache_dir() -> Path:
    """Where SQLite templates, locks and build logs live (env ``HUB_TRYTON_CACHE``)."""
    path = Path(os.environ.get("HUB_TRYTON_CACHE") or _REPO_ROOT / ".cache" / "tryton")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _clean_env(extra: dict | None = None) -> dict:
    """Environment for Tryton subprocesses: TRYTOND_* variables would override the config."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRYTOND_") and k != "TRYTONPASSFILE"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(_REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


def _installed_versions() -> dict[str, str]:
    versions = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("-", "_")
        if name.startswith("trytond") or name in ("proteus", "python_sql"):
            versions[name] = dist.version
    return dict(sorted(versions.items()))


def _template_versions(modules: list[str]) -> dict[str, str]:
    """Versions of the packages a template is made of: trytond, proteus, python-sql and the
    modules with their Tryton requirements.  Other installed Tryton packages (the ERP modules,
    for an invoicing template) do not change its key."""
    installed = _installed_versions()
    wanted = {"trytond", "proteus", "python_sql"}
    todo = [f"trytond_{module}" for module in modules]
    while todo:
        name = todo.pop()
        if name in wanted or name not in installed:
            continue
        wanted.add(name)
        for requirement in importlib.metadata.requires(name) or []:
            if ";" in requirement and "extra" in requirement.split(";", 1)[1]:
                continue
            dep = re.split(r"[<>=!~ \[;(]", requirement, maxsplit=1)[0]
            dep = dep.strip().lower().replace("-", "_")
            if dep.startswith("trytond_"):
                todo.append(dep)
    return {name: version for name, version in installed.items() if name in wanted}


def template_modules(kind: str = "invoicing") -> list[str]:
    versions = _installed_versions()
    if "trytond" not in versions:
        raise TrytonPeerError(
            f"trytond is not installed for {sys.executable}; install the tryton extra")
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown Tryton template kind {kind!r}")
    modules = []
    for module in TEMPLATE_KINDS[kind]:
        if f"trytond_{module}" in versions:
            modules.append(module)
        elif module not in OPTIONAL_MODULES:
            raise TrytonPeerError(f"Tryton module {module} (trytond-{module.replace('_', '-')})"
                                  " is not installed")
    return modules


def template_key(kind: str = "invoicing") -> str:
    today = _dt.date.today()
    modules = template_modules(kind)
    payload = {
        # A test that builds its own template sets a salt, so it never touches the shared one.
        "salt": os.environ.get("HUB_TRYTON_TEMPLATE_SALT", ""),
        "format": TEMPLATE_FORMAT,
        "versions": _template_versions(modules),
        "modules": modules,
        "setup": hashlib.sha256(_SETUP_FILE.read_bytes()).hexdigest(),
        "years": [today.year - 2, today.year + 1],
        "admin": [ADMIN_USER, ADMIN_PASSWORD, ADMIN_EMAIL, DEFAULT_COMPANY_NAME],
    }
    if kind != "invoicing":  # the invoicing payload (and key) stays what it always was
        payload["kind"] = kind
    raw = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def _load_prctl():
    try:
        import ctypes  # noqa: PLC0415

        return ctypes.CDLL(None, use_errno=True).prctl
    except Exception:  # pragma: no cover - not Linux
        return None


_PRCTL = _load_prctl()  # loaded here: nothing may be imported between fork and exec


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (Linux), so a killed test
    run does not leave a trytond server behind (it runs in its own session)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _file_lock(path: Path, shared: bool = False, blocking: bool = True):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        flags = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            flags |= fcntl.LOCK_NB
        fcntl.flock(handle, flags)  # raises BlockingIOError when non-blocking and busy
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _advisory_key(name: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks, derived from a database name."""
    digest = hashlib.sha256(f"hub-tryton:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _pg_advisory_lock(name: str, shared: bool = False, blocking: bool = True):
    """Hold a session-level advisory lock on ``name`` for the duration of the block.

    The lock lives on the PostgreSQL server, so it serialises every process that uses the server,
    whatever checkout or cache directory it runs from; it is released when the session ends,
    so a builder that dies (even by SIGKILL) leaves no lock behind.
    """
    import psycopg  # noqa: PLC0415 - a dependency of the project; needed for a lasting session

    kind = "_shared" if shared else ""
    key = _advisory_key(name)
    with psycopg.connect(_pg_conninfo(), autocommit=True,
                         application_name=f"hub-tryton-lock:{name}"[:63]) as conn:
        if blocking:
            conn.execute(f"SELECT pg_advisory_lock{kind}(%s)", (key,))
        elif not conn.execute(f"SELECT pg_try_advisory_lock{kind}(%s)", (key,)).fetchone()[0]:
            raise BlockingIOError(f"{name} is locked by another process")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute(f"SELECT pg_advisory_unlock{kind}(%s)", (key,))


def _template_lock(backend: str, name: str, shared: bool = False, blocking: bool = True):
    """The lock that guards template ``name``: on the server for PostgreSQL, a file for SQLite."""
    if backend == "postgresql":
        return _pg_advisory_lock(name, shared=shared, blocking=blocking)
    return _file_lock(cache_dir() / f"{name}.{backend}.lock", shared=shared, blocking=blocking)


def _pg_now() -> int:
    """The server's clock (seconds): what every checkout sharing the server agrees on."""
    return int(pg_execute(["SELECT extract(epoch FROM now())::bigint"], fetch=True)[0][0])


def _kernel_now(directory: Path) -> float:
    """The wall clock as file times record it (a test may move the process's own clock)."""
    marker = directory / ".clock"
    marker.touch()
    os.utime(marker, None)
    return marker.stat().st_mtime


# --------------------------------------------------------------------------- PostgreSQL

def _pg_quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_conninfo(dbname: str = "postgres") -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={dbname} connect_timeout=5"


def pg_execute(statements: list[tuple[str, tuple]] | list[str], dbname: str = "postgres",
               fetch: bool = False):
    """Run statements in autocommit mode (CREATE/DROP DATABASE need it).

    Returns the rows of the last statement when ``fetch``.  Uses psycopg when importable,
    the ``psql`` client otherwise (parameters are then inlined as quoted literals).
    """
    normalised = [(s, ()) if isinstance(s, str) else s for s in statements]
    try:
        import psycopg  # noqa: PLC0415 - optional dependency
    except ImportError:
        psycopg = None
    if psycopg is not None:
        with psycopg.connect(_pg_conninfo(dbname), autocommit=True) as conn:
            rows = None
            for sql, params in normalised:
                cur = conn.execute(sql, params or None)
                rows = cur.fetchall() if fetch and cur.description else None
            return rows
    psql = shutil.which("psql")
    if not psql:
        raise TrytonPeerError("neither psycopg nor psql is available for PostgreSQL")
    rows = None
    for sql, params in normalised:
        for param in params:
            literal = "NULL" if param is None else "'" + str(param).replace("'", "''") + "'"
            sql = sql.replace("%s", literal, 1)
        proc = subprocess.run(
            [psql, "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", dbname,
             "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, check=False)
        if proc.returncode:
            raise TrytonPeerError(f"psql failed: {proc.stderr.strip()}")
        rows = [tuple(line.split("\t")) for line in proc.stdout.splitlines() if line]
    return rows if fetch else None


def postgres_available() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            pass
    except OSError:
        return False
    try:
        pg_execute(["SELECT 1"], fetch=True)
    except Exception:
        return False
    return True


def detect_backend(backend: str = "auto") -> str:
    """``auto`` (or env ``HUB_TRYTON_BACKEND``) -> ``postgresql`` when it answers, else
    ``sqlite``."""
    if backend == "auto":
        backend = os.environ.get("HUB_TRYTON_BACKEND", "auto") or "auto"
    if backend in ("pg", "postgres"):
        backend = "postgresql"
    if backend == "auto":
        return "postgresql" if postgres_available() else "sqlite"
    if backend not in ("postgresql", "sqlite"):
        raise ValueError(f"unknown Tryton backend {backend!r}")
    if backend == "postgresql" and not postgres_available():
        raise TrytonPeerError(f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT} as {PG_USER}")
    return backend


def _pg_database_exists(name: str) -> bool:
    rows = pg_execute([("SELECT 1 FROM pg_database WHERE datname = %s", (name,))], fetch=True)
    return bool(rows)


def _pg_drop_database(name: str) -> None:
    """DROP ... WITH (FORCE): also ends the sessions trytond keeps in its connection pool."""
    rows = pg_execute([("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,))],
                      fetch=True)
    if not rows:
        return
    ident = _pg_quote_ident(name)
    statements = [f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)"]
    if rows[0][0] in (True, "t"):
        statements.insert(0, f"ALTER DATABASE {ident} WITH IS_TEMPLATE false")
    pg_execute(statements)


# --------------------------------------------------------------------------- config / commands

def write_config(path: Path, *, backend: str, port: int | None, sqlite_path: Path) -> Path:
    """A trytond configuration for the peer (or for a template build)."""
    if backend == "postgresql":
        uri = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/"
    else:
        uri = "sqlite://"
    lines = [
        "# Written by integration_hub.peers.tryton -- do not edit, rewritten at each start.",
        "[database]",
        f"uri = {uri}",
        f"path = {sqlite_path}",
        # Listing would connect to every database of the server; clients name the database.
        "list = False",
        "language = en",
        "",
        "[web]",
        f"listen = 127.0.0.1:{port or 8000}",
        "",
        "[session]",
        # Tests try wrong passwords on purpose: do not lock the admin or 127.0.0.1 out.
        # NB: each failed login still delays the next logins of that login name by
        # random(0 .. 2**failures - 1) seconds until a successful login resets the count
        # (trytond/res/user.py); the count window is [session] timeout (300 s).
        "max_attempt = 1000000",
        "max_attempt_ip_network = 1000000",
        # Defaults kept (documented): timeout = 300 s of inactivity, then posting buttons that
        # need a "fresh session" fail; max_age = 30 days.
        "",
        "[password]",
        "length = 8",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def _run_logged(cmd: list[str], log_path: Path, *, env: dict, timeout: float,
                what: str) -> None:
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  timeout=timeout, check=False, cwd=str(log_path.parent),
                                  preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as exc:
            raise TrytonPeerError(
                f"{what} timed out after {timeout:.0f} s; log {log_path}:\n{_tail(log_path)}"
            ) from exc
    if proc.returncode:
        raise TrytonPeerError(
            f"{what} failed (exit {proc.returncode}); log {log_path}:\n{_tail(log_path)}")


def run_setup_action(config_path: Path, database: str, action: str, kwargs: dict, *,
                     log_path: Path | None = None, timeout: float = 900) -> dict:
    """Run ``tryton_setup`` (``tryton_erp_setup`` for ``seed_erp`` and ``erp_*``,
    ``tryton_fi_setup`` for ``seed_finnish`` and ``fi_*``) in a subprocess and return the
    JSON it printed."""
    module = "integration_hub.peers.tryton_setup"
    if action == "seed_erp" or action.startswith("erp_"):
        module = _ERP_SETUP_MODULE
    elif action == "seed_finnish" or action.startswith("fi_"):
        module = _FI_SETUP_MODULE
    cmd = [sys.executable, "-m", module,
           "--config", str(config_path), "--database", database, action,
           "--kwargs", json.dumps(kwargs, default=str)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(),
                              timeout=timeout, check=False, cwd=str(_REPO_ROOT),
                              preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired as exc:
        raise TrytonPeerError(f"tryton_setup {action} on {database} timed out") from exc
    if log_path is not None:
        with open(log_path, "a") as log:
            log.write(f"\n$ {' '.join(cmd)}\n{proc.stderr}")
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
    if proc.returncode or result is None:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-30:])
        raise TrytonPeerError(
            f"tryton_setup {action} on {database} failed (exit {proc.returncode}):\n{tail}")
    return result


# --------------------------------------------------------------------------- template

def _sqlite_files(directory: Path, name: str) -> list[Path]:
    base = directory / f"{name}.sqlite"
    return [base] + [Path(str(base) + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _sqlite_finalise(path: Path) -> None:
    """Fold the WAL into the main file so that a plain file copy is a complete database."""
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def template_exists(backend: str, name: str) -> bool:
    if backend == "postgresql":
        return _pg_database_exists(name)
    return (cache_dir() / f"{name}.sqlite").is_file()


def _template_ttl() -> float:
    return float(os.environ.get("HUB_TRYTON_TEMPLATE_TTL_DAYS", "3")) * 86400


def _mark_template_used(backend: str, name: str) -> None:
    """Record the last use of a template, so that pruning leaves recent ones alone (another
    checkout of the repository may use another key on the same PostgreSQL server)."""
    if backend == "postgresql":
        comment = f"hub-tryton-template last_used={_pg_now()}"
        pg_execute([f"COMMENT ON DATABASE {_pg_quote_ident(name)} IS '{comment}'"])
    else:
        with contextlib.suppress(OSError):
            os.utime(cache_dir() / f"{name}.sqlite")


def _prune_old_templates(backend: str, keep: str) -> None:
    """Drop complete templates of other keys unused for HUB_TRYTON_TEMPLATE_TTL_DAYS (3)."""
    cache = cache_dir()
    now = _pg_now() if backend == "postgresql" else _kernel_now(cache)
    limit = now - _template_ttl()
    stale: list[str] = []
    if backend == "postgresql":
        rows = pg_execute([(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE %s", (TEMPLATE_PREFIX.replace("_", r"\_") + "%",))],
            fetch=True) or []
        for name, comment in rows:
            match = re.search(r"last_used=(\d+)", comment or "")
            if "_build_" not in name and match and int(match.group(1)) < limit:
                stale.append(name)
    else:
        for path in cache.glob(f"{TEMPLATE_PREFIX}*.sqlite"):
            if "_build_" not in path.name and path.stat().st_mtime < limit:
                stale.append(path.name[:-len(".sqlite")])
    for name in stale:
        if name == keep:
            continue
        try:
            with _template_lock(backend, name, blocking=False):
                if backend == "postgresql":
                    _pg_drop_database(name)
                else:
                    for path in _sqlite_files(cache, name):
                        path.unlink(missing_ok=True)
        except BlockingIOError:
            continue


def template_name(kind: str = "invoicing") -> str:
    """``hub_tryton_tpl_<key>`` (invoicing) or ``hub_tryton_tpl_<kind>_<key>``."""
    key = template_key(kind)
    return f"{TEMPLATE_PREFIX}{key}" if kind == "invoicing" else f"{TEMPLATE_PREFIX}{kind}_{key}"


def ensure_template(backend: str, kind: str = "invoicing") -> str:
    """Build the template database of ``kind`` once (per key) and return its name."""
    name = template_name(kind)
    if not template_exists(backend, name):
        with _template_lock(backend, name):
            if not template_exists(backend, name):
                _build_template(backend, name, kind)
    _mark_template_used(backend, name)
    with contextlib.suppress(Exception):
        _prune_old_templates(backend, keep=name)
    return name


def _drop_abandoned_builds(backend: str, name: str) -> list[str]:
    """Drop the temporary databases of builds of ``name`` whose builder is gone.

    A builder holds an advisory lock on its temporary database for as long as it runs; a
    leftover whose lock can be taken has no builder any more.  Returns what was dropped.
    """
    dropped = []
    if backend == "postgresql":
        rows = pg_execute([("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (name.replace("_", r"\_") + r"\_build\_%",))], fetch=True) or []
        for (leftover,) in rows:
            try:
                with _pg_advisory_lock(leftover, blocking=False):
                    _pg_drop_database(leftover)
                    dropped.append(leftover)
            except BlockingIOError:
                continue  # its builder is alive: not ours to touch
    else:  # the cache directory is this checkout's, and we hold its lock
        for leftover in cache_dir().glob(f"{name}_build_*.sqlite*"):
            leftover.unlink(missing_ok=True)
            dropped.append(leftover.name)
    return dropped


def _build_template(backend: str, name: str, kind: str = "invoicing") -> None:
    cache = cache_dir()
    tmp_name = f"{name}_build_{os.getpid()}"
    log_path = cache / f"{name}.{backend}.build.log"
    log_path.write_text(f"building {name} ({backend}) at {_dt.datetime.now().isoformat()}\n")
    started = time.monotonic()
    _drop_abandoned_builds(backend, name)
    build_lock = _pg_advisory_lock(tmp_name) if backend == "postgresql" else contextlib.nullcontext()
    with build_lock:
        _build_template_as(backend, name, tmp_name, log_path, kind)
    with open(log_path, "a") as log:
        log.write(f"template {name} ready in {time.monotonic() - started:.1f} s\n")


def _build_template_as(backend: str, name: str, tmp_name: str, log_path: Path,
                       kind: str = "invoicing") -> None:
    cache = cache_dir()
    with tempfile.TemporaryDirectory(prefix="hub-tryton-build-") as tmp:
        tmp_dir = Path(tmp)
        config_path = write_config(tmp_dir / "trytond.conf", backend=backend, port=None,
                                   sqlite_path=cache)
        pass_file = tmp_dir / "password"
        pass_file.write_text(ADMIN_PASSWORD)
        try:
            if backend == "postgresql":
                pg_execute([f"CREATE DATABASE {_pg_quote_ident(tmp_name)} "
                            "TEMPLATE template0 ENCODING 'UTF8'"])
            else:
                (cache / f"{tmp_name}.sqlite").touch()
            _run_logged(
                [sys.executable, "-m", "trytond.cli.admin", "-c", str(config_path),
                 "-d", tmp_name, "--all", "--email", ADMIN_EMAIL,
                 "-u", *template_modules(kind), "--activate-dependencies"],
                log_path, env=_clean_env({"TRYTONPASSFILE": str(pass_file)}), timeout=1800,
                what="trytond-admin (module activation)")
            today = _dt.date.today()
            result = run_setup_action(
                config_path, tmp_name, "prepare_template",
                {"company_name": DEFAULT_COMPANY_NAME, "first_year": today.year - 2,
                 "last_year": today.year + 1, "admin_email": ADMIN_EMAIL},
                log_path=log_path, timeout=900)
            if backend == "postgresql":
                ident = _pg_quote_ident(name)
                pg_execute([
                    f"ALTER DATABASE {_pg_quote_ident(tmp_name)} RENAME TO {ident}",
                    # Marked as a template: hidden from database listings, and no one may
                    # connect (CREATE DATABASE ... TEMPLATE needs it free of sessions).
                    f"ALTER DATABASE {ident} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
                ])
            else:
                tmp_file = cache / f"{tmp_name}.sqlite"
                _sqlite_finalise(tmp_file)
                os.replace(tmp_file, cache / f"{name}.sqlite")
        except BaseException:
            if backend == "postgresql":
                with contextlib.suppress(Exception):
                    _pg_drop_database(tmp_name)
            else:
                for path in _sqlite_files(cache, tmp_name):
                    path.unlink(missing_ok=True)
            raise
    with open(log_path, "a") as log:
        log.write(f"prepared: {json.dumps(result)}\n")


# --------------------------------------------------------------------------- the peer

_RUNNING: weakref.WeakSet[TrytonPeer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - interpreter shutdown
    for peer in list(_RUNNING):
        with contextlib.suppress(Exception):
            peer.stop()


class TrytonPeer:
    """A trytond server started by this process, plus database management around it."""

    admin_user = ADMIN_USER
    admin_password = ADMIN_PASSWORD

    def __init__(self, workdir: Path, backend: str, port: int, template: str,
                 keep_databases: bool = False):
        self.workdir = Path(workdir)
        self.backend = backend
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.template = template
        #: Templates by kind; the ERP one is found (or built) on the first ERP database.
        self.templates = {"invoicing": template}
        self.keep_databases = keep_databases
        self.sqlite_dir = self.workdir / "databases"
        self.config_path = self.workdir / "trytond.conf"
        self.log_path = self.workdir / "trytond.log"
        self.setup_log_path = self.workdir / "tryton_setup.log"
        self.databases: list[str] = []
        self.timings: dict[str, float] = {}
        self._process: subprocess.Popen | None = None
        self._log_handle = None
        self._warm_count = 0

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: Path, backend: str = "auto", port: int | None = None, *,
              keep_databases: bool = False, timeout: float | None = None) -> TrytonPeer:
        """Prepare (or reuse) the template and start ``trytond`` on 127.0.0.1.

        ``backend``: ``auto`` (env ``HUB_TRYTON_BACKEND``, else PostgreSQL when it answers,
        else SQLite), ``postgresql`` or ``sqlite``.  ``keep_databases``: do not drop the
        databases created through this peer on ``stop()``.
        """
        workdir = Path(workdir).resolve()  # trytond runs in it: a relative config path would not resolve
        workdir.mkdir(parents=True, exist_ok=True)
        backend = detect_backend(backend)
        t0 = time.monotonic()
        template = ensure_template(backend)
        t1 = time.monotonic()
        timeout = timeout or float(os.environ.get("HUB_TRYTON_START_TIMEOUT", "120"))
        last_error: Exception | None = None
        for _attempt in range(3 if port is None else 1):
            peer = cls(workdir, backend, port or _free_port(), template, keep_databases)
            peer.timings["template"] = t1 - t0
            try:
                peer._launch(timeout)
            except TrytonPeerError as exc:
                last_error = exc
                peer.stop()
                if "Address already in use" in str(exc):
                    continue  # another process took the free port first: try another one
                raise
            peer.timings["server"] = time.monotonic() - t1
            return peer
        raise last_error  # type: ignore[misc]

    def _launch(self, timeout: float) -> None:
        self.sqlite_dir.mkdir(parents=True, exist_ok=True)
        write_config(self.config_path, backend=self.backend, port=self.port,
                     sqlite_path=self.sqlite_dir)
        self._log_handle = open(self.log_path, "ab")
        self._log_handle.write(f"\n--- start {_dt.datetime.now().isoformat()} port "
                               f"{self.port} ({self.backend})\n".encode())
        self._log_handle.flush()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "trytond.cli", "-c", str(self.config_path)],
            stdout=self._log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_clean_env(), cwd=str(self.workdir), start_new_session=True,
            preexec_fn=_die_with_parent)
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise TrytonPeerError(
                    f"trytond exited with code {code} while starting; log {self.log_path}:\n"
                    f"{_tail(self.log_path)}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise TrytonPeerError(
                    f"trytond did not answer JSON-RPC on {self.url} within {timeout:.0f} s; "
                    f"log {self.log_path}:\n{_tail(self.log_path)}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
        request = urllib.request.Request(self.url + "/rpc/", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return "result" in json.loads(response.read() or b"{}")
        except (OSError, ValueError, urllib.error.URLError):
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server (and its children); drop the databases it created unless
        ``keep_databases``.  Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
            else:
                # The group may still hold children of a dead leader.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        _RUNNING.discard(self)
        if not self.keep_databases:
            for name in list(self.databases):
                with contextlib.suppress(Exception):
                    self.drop_database(name)

    def __enter__(self) -> TrytonPeer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------
    def rpc_url(self, database: str) -> str:
        return f"{self.url}/{database}/rpc/"

    def _check_name(self, name: str) -> str:
        if not name.startswith(DB_PREFIX):
            name = DB_PREFIX + name
        if not _NAME_RE.match(name) or name.startswith(TEMPLATE_PREFIX):
            raise ValueError(f"invalid Tryton database name {name!r}")
        return name

    def create_database(self, name: str, *, company_name: str = DEFAULT_COMPANY_NAME,
                        kind: str = "invoicing") -> str:
        """A fresh database cloned from the template of ``kind``; returns its name.

        ``kind``: ``invoicing`` (accounting and invoices) or ``erp`` (plus products, stock,
        sales and purchases; its template is built on first use, ~1-2 min, then cached).
        Names are prefixed with ``hub_tryton_`` when they do not start with it (a guard on
        shared PostgreSQL servers).  A database of the same name is dropped first; do not
        reuse a name while the server runs: trytond keeps per-database caches in memory.
        """
        name = self._check_name(name)
        if kind not in self.templates:
            if kind not in TEMPLATE_KINDS:
                raise ValueError(f"unknown Tryton template kind {kind!r}")
            built = time.monotonic()
            self.templates[kind] = ensure_template(self.backend, kind)
            self.timings[f"template:{kind}"] = time.monotonic() - built
        template = self.templates[kind]
        started = time.monotonic()
        self.drop_database(name)
        with _template_lock(self.backend, template, shared=True):
            if self.backend == "postgresql":
                self._pg_clone(name, template)
            else:
                target = self.sqlite_dir / f"{name}.sqlite"
                partial = self.sqlite_dir / f".{name}.sqlite.partial"
                shutil.copyfile(cache_dir() / f"{template}.sqlite", partial)
                os.replace(partial, target)
        self.databases.append(name)
        if company_name != DEFAULT_COMPANY_NAME:
            self._rename_company(name, company_name)
        if self.running:
            self.warm_database(name)
        self.timings[f"create_database:{name}"] = time.monotonic() - started
        return name

    def warm_database(self, name: str) -> None:
        """Make the running server load ``name`` (trytond 8.2 trap, see docs/tryton-peer.md).

        If the first request a trytond server gets for a database it has not loaded yet is a
        login or a model call, ``Cache.sync`` registers an *empty* Pool for it and every later
        request fails with ``KeyError: 'res.user'`` until the server restarts.  Only the
        ``/<db>/r/...`` route initialises the Pool first -- after checking the database list,
        which the server caches per Host name for ``[session] timeout`` (300 s): a unique Host
        header makes it list the databases again.  A login then proves the database answers.
        """
        self._warm_count += 1
        host = f"hub-warmup-{os.getpid()}-{self._warm_count}.invalid"
        request = urllib.request.Request(f"{self.url}/{name}/r/hub-warmup",
                                         headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=300):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404 is the normal answer once the Pool is loaded
                raise TrytonPeerError(f"warming {name} failed: HTTP {exc.code}") from exc
        try:
            result = self.rpc(name, "common.db.login",
                              [self.admin_user, {"password": self.admin_password}, "en"])
        except Exception as exc:
            raise TrytonPeerError(
                f"database {name} does not answer after warm-up ({exc}); if it was dropped and "
                f"re-created under the same name, restart the peer. Log {self.log_path}:\n"
                f"{_tail(self.log_path, 20)}") from exc
        if not (isinstance(result, list) and result and result[0]):
            raise TrytonPeerError(f"admin login on {name} failed after warm-up: {result!r}")

    def rpc(self, database: str | None, method: str, params: list,
            session: tuple[int, str] | None = None, timeout: float = 120):
        """Minimal JSON-RPC call (stdlib only); returns ``result`` or raises
        TrytonPeerError with the server's ``error``.  ``session`` = (uid, token) from login."""
        url = self.rpc_url(database) if database else self.url + "/rpc/"
        headers = {"Content-Type": "application/json"}
        if session is not None:
            import base64  # noqa: PLC0415

            token = f"{self.admin_user}:{session[0]}:{session[1]}".encode()
            headers["Authorization"] = "Session " + base64.b64encode(token).decode()
        body = json.dumps({"id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise TrytonPeerError(f"{method} on {database}: HTTP {exc.code}") from exc
        if payload.get("error"):
            raise TrytonPeerError(f"{method} on {database}: {payload['error']}")
        return payload.get("result")

    def _pg_clone(self, name: str, template: str | None = None) -> None:
        template = template or self.template
        ident, tpl = _pg_quote_ident(name), _pg_quote_ident(template)
        for attempt in range(20):
            try:
                pg_execute([
                    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (template,)),
                    f"CREATE DATABASE {ident} TEMPLATE {tpl}",
                ])
                return
            except Exception as exc:  # "source database ... is being accessed by other users"
                if "being accessed" not in str(exc) or attempt == 19:
                    raise TrytonPeerError(f"cannot clone {template} into {name}: {exc}") \
                        from exc
                time.sleep(0.5)

    def _rename_company(self, name: str, company_name: str) -> None:
        sql = ("UPDATE party_party SET name = %s WHERE id = "
               "(SELECT party FROM company_company ORDER BY id LIMIT 1)")
        if self.backend == "postgresql":
            pg_execute([(sql, (company_name,))], dbname=name)
        else:
            conn = sqlite3.connect(str(self.sqlite_dir / f"{name}.sqlite"))
            try:
                with conn:
                    conn.execute(sql.replace("%s", "?"), (company_name,))
            finally:
                conn.close()

    def database_exists(self, name: str) -> bool:
        if self.backend == "postgresql":
            return _pg_database_exists(name)
        return (self.sqlite_dir / f"{name}.sqlite").is_file()

    def drop_database(self, name: str) -> None:
        """Drop a database (no error when it does not exist)."""
        name = self._check_name(name)
        if self.backend == "postgresql":
            _pg_drop_database(name)
        else:
            for path in _sqlite_files(self.sqlite_dir, name):
                path.unlink(missing_ok=True)
        if name in self.databases:
            self.databases.remove(name)

    # -- setup -----------------------------------------------------------------------------
    def run_setup(self, db: str, action: str, _timeout: float = 900, **kwargs) -> dict:
        """Run a ``tryton_setup`` action (info, seed_invoicing, set_account_state, ...)
        against ``db`` in a subprocess and return its JSON result (keyword arguments are
        passed to the action as JSON)."""
        if not self.config_path.exists():
            raise TrytonPeerError("the peer has no configuration (not started?)")
        if not self.database_exists(db):
            # Checked here: trytond's PostgreSQL pool would wait 30 s before failing.
            raise TrytonPeerError(f"no Tryton database {db!r} on this peer")
        return run_setup_action(self.config_path, db, action, kwargs,
                                log_path=self.setup_log_path, timeout=_timeout)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<TrytonPeer {self.backend} {self.url} {state}>"
