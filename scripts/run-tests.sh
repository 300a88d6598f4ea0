#!/usr/bin/env bash
# Run the whole suite on each database, then the tests that depend on the date (marker `clock`)
# again under shifted clocks, so that a time bomb fails the day it lands.
# A pass that collects no test (pytest exit code 5) fails.
#
#   HUB_TEST_DATABASES  which full passes to run (default "sqlite postgresql")
#   HUB_TEST_CLOCKS     the shifted passes, "ISO-moment@database ..." ("" skips them)
#   PYTEST_ARGS         extra pytest arguments for every pass
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WANT="${HUB_TEST_DATABASES:-sqlite postgresql}"
# A month's last day late in the evening, 29 February, New Year's Day just after midnight, a year ahead.
CLOCKS="${HUB_TEST_CLOCKS-2027-01-31T22:30:00+00:00@sqlite 2028-02-29T12:00:00+00:00@postgresql 2027-01-01T00:05:00+00:00@postgresql 2027-12-01T09:00:00+00:00@sqlite}"
status=0
mkdir -p var
summary=()
started=$SECONDS

# Each checkout gets its own PostgreSQL database names, so clones can test side by side.
checkout_key="$($PY -c 'import hashlib,os;print(hashlib.sha1(os.getcwd().encode()).hexdigest()[:8])')"
pg_ok=""
if [[ " $WANT $CLOCKS " == *postgresql* ]]; then
  if $PY scripts/pg_available.py; then pg_ok=1; fi
fi

database_url() {
  case "$1" in
    sqlite) echo "sqlite:///$(pwd)/var/test-hub.sqlite3" ;;
    postgresql) echo "postgres://postgres@127.0.0.1:5432/hub_${checkout_key}" ;;
  esac
}

run_pass() {
  local label="$1"; shift
  local t0=$SECONDS
  echo "=================== test suite on $label ==================="
  env "$@" $PY -m pytest ${PYTEST_ARGS:-}
  local code=$?
  if [ $code -eq 5 ]; then
    echo "ERROR: pytest collected no tests on $label (exit code 5)" >&2
  fi
  summary+=("$label: exit $code in $((SECONDS - t0)) s")
  [ $code -eq 0 ] || status=1
}

can_use() {
  if [ "$1" = postgresql ] && [ -z "$pg_ok" ]; then
    echo "SKIPPED: PostgreSQL does not answer on 127.0.0.1:5432; the PostgreSQL pass ($2) did not run." >&2
    summary+=("$2: skipped (PostgreSQL not reachable)")
    return 1
  fi
  return 0
}

for db in $WANT; do
  case "$db" in
    sqlite) label="SQLite" ;;
    postgresql) label="PostgreSQL" ;;
    *) echo "unknown database $db" >&2; exit 2 ;;
  esac
  can_use "$db" "$label" && run_pass "$label" DATABASE_URL="$(database_url "$db")"
done

for entry in $CLOCKS; do
  moment="${entry%@*}"; db="${entry##*@}"
  label="clock $moment on $db"
  can_use "$db" "$label" && run_pass "$label" DATABASE_URL="$(database_url "$db")" HUB_TEST_CLOCK="$moment" \
    PYTEST_ADDOPTS="-m clock -q ${PYTEST_ADDOPTS:-}"
done

echo "=================== summary ==================="
printf '%s\n' "${summary[@]}"
echo "total: $((SECONDS - started)) s"
exit $status
