#!/usr/bin/env bash
# Run the whole suite on each database. A pass that collects no test (pytest exit code 5) fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WANT="${HUB_TEST_DATABASES:-sqlite postgresql}"
status=0
mkdir -p var
summary=()

run_pass() {
  local label="$1"; shift
  echo "=================== test suite on $label ==================="
  env "$@" $PY -m pytest ${PYTEST_ARGS:-}
  local code=$?
  if [ $code -eq 5 ]; then
    echo "ERROR: pytest collected no tests on $label (exit code 5)" >&2
  fi
  summary+=("$label: exit $code")
  [ $code -eq 0 ] || status=1
}

for db in $WANT; do
  case "$db" in
    sqlite)
      run_pass "SQLite" DATABASE_URL="sqlite:///$(pwd)/var/test-hub.sqlite3" ;;
    postgresql)
      if $PY scripts/pg_available.py; then
        name="hub_$($PY -c 'import hashlib,os;print(hashlib.sha1(os.getcwd().encode()).hexdigest()[:8])')"
        run_pass "PostgreSQL" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name"
      else
        echo "SKIPPED: PostgreSQL does not answer on 127.0.0.1:5432; the PostgreSQL pass did not run." >&2
        summary+=("PostgreSQL: skipped (not reachable)")
      fi ;;
  esac
done
echo "=================== summary ==================="
printf '%s\n' "${summary[@]}"
exit $status
