"""Two checkouts sharing one PostgreSQL server build the Tryton template at the same time.

Each checkout has its own cache directory (its own lock files), so only a lock on the server can
keep their builds apart; a build must also leave alone another builder's database in progress.
The test builds a template of its own (a salted key), never the one the rest of the suite uses.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

if importlib.util.find_spec("trytond") is None:
    pytest.skip("trytond is not installed (pip install -e '.[tryton]')", allow_module_level=True)

from integration_hub.peers import tryton as peers  # noqa: E402

pytestmark = pytest.mark.tryton
REPO_ROOT = Path(__file__).resolve().parents[2]

BUILD = "from integration_hub.peers.tryton import ensure_template; print('TEMPLATE=' + ensure_template('postgresql'))"


@pytest.fixture
def salted(monkeypatch):
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("runs in the PostgreSQL pass of the suite (a template build takes a minute)")
    if os.environ.get("HUB_TEST_CLOCK"):
        pytest.skip("the builders run on the real clock: their template key would differ")
    if not peers.postgres_available():
        pytest.skip("PostgreSQL does not answer")
    salt = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("HUB_TRYTON_TEMPLATE_SALT", salt)
    name = peers.TEMPLATE_PREFIX + peers.template_key()
    made: list[str] = [name]
    yield name, made
    for database in made:
        peers._pg_drop_database(database)
    rows = peers.pg_execute([("SELECT datname FROM pg_database WHERE datname LIKE %s", (name + "%",))], fetch=True)
    for (left,) in rows or []:
        peers._pg_drop_database(left)


def exists(name: str) -> bool:
    return bool(peers.pg_execute([("SELECT 1 FROM pg_database WHERE datname = %s", (name,))], fetch=True))


def test_two_builds_with_separate_caches_at_once_both_end_with_one_working_template(salted, tmp_path):
    name, made = salted
    # Another checkout's build in progress: its builder holds the advisory lock on its database.
    alive = f"{name}_build_4000001"
    # A build whose builder died: nobody holds its lock.
    abandoned = f"{name}_build_4000002"
    for database in (alive, abandoned):
        peers.pg_execute([f'CREATE DATABASE "{database}" TEMPLATE template0'])
        made.append(database)

    with peers._pg_advisory_lock(alive):
        builders = []
        for label in ("one", "two"):
            env = {**os.environ, "HUB_TRYTON_CACHE": str(tmp_path / label), "HUB_TRYTON_BACKEND": "postgresql"}
            builders.append(subprocess.Popen([sys.executable, "-c", BUILD], cwd=str(REPO_ROOT), env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        outputs = [builder.communicate(timeout=1500)[0] for builder in builders]

        for builder, output in zip(builders, outputs):
            assert builder.returncode == 0, output[-3000:]
            assert f"TEMPLATE={name}" in output
        assert exists(alive), "a build dropped another builder's database in progress"
    assert not exists(abandoned), "the leftover of a dead builder was kept"

    # Exactly one of the two built it; the other waited on the server's lock, then used it.
    logs = [tmp_path / label / f"{name}.postgresql.build.log" for label in ("one", "two")]
    assert sum(log.is_file() for log in logs) == 1

    # The template works: a clone of it has the company and the fiscal years.
    clone = f"hub_tryton_t_clone_{uuid.uuid4().hex[:8]}"
    made.append(clone)
    peers.pg_execute([f'CREATE DATABASE "{clone}" TEMPLATE "{name}"'])
    years = peers.pg_execute(["SELECT name FROM account_fiscalyear ORDER BY name"], dbname=clone, fetch=True)
    assert len(years) == 4
    companies = peers.pg_execute(["SELECT count(*) FROM company_company"], dbname=clone, fetch=True)
    assert int(companies[0][0]) == 1


def test_a_template_in_use_is_not_pruned_by_another_checkout(salted, tmp_path, monkeypatch):
    name, made = salted
    # An old template (last used long ago by the server's clock) held in use by a clone in progress.
    old = f"{peers.TEMPLATE_PREFIX}{uuid.uuid4().hex[:12]}"
    peers.pg_execute([f'CREATE DATABASE "{old}" TEMPLATE template0',
                      f"COMMENT ON DATABASE \"{old}\" IS 'hub-tryton-template last_used=1000'"])
    made.append(old)
    monkeypatch.setenv("HUB_TRYTON_CACHE", str(tmp_path))
    with peers._template_lock("postgresql", old, shared=True):
        peers._prune_old_templates("postgresql", keep=name)
        assert exists(old)
    peers._prune_old_templates("postgresql", keep=name)
    assert not exists(old)
