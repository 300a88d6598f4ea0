#!/usr/bin/env bash
# Run the whole suite on each database (both at once), then the tests that depend on the date (marker `clock`)
# again under shifted clocks, so that a time bomb fails the day it lands.
# A pass that collects no test (pytest exit code 5) fails.
#
#   HUB_TEST_DATABASES  which full passes to run (default "sqlite postgresql")
#   HUB_TEST_CLOCKS     the shifted passes, "ISO-moment@database ..." ("" skips them); they run two at a time
#   PYTEST_ARGS         extra pytest arguments for every pass
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WANT="${HUB_TEST_DATABASES:-sqlite postgresql}"
# A month's last day late in the evening, 29 February, New Year's Day just after midnight, a year ahead.
CLOCKS="${HUB_TEST_CLOCKS-2028-02-29T12:00:00+00:00@sqlite 2027-01-01T00:05:00+00:00@postgresql}"
# Suites that never touch the hub's own database (a real Tryton, the sandboxes, the connectors): the
# PostgreSQL pass skips them when the SQLite pass ran them. tests/peers/test_template_build.py stays:
# it is about PostgreSQL itself.
DB_INDEPENDENT="--ignore=tests/peers/test_tryton_peer.py --ignore=tests/sandboxes --ignore=tests/connectors --ignore=tests/finnish --ignore=tests/netvisor --ignore=tests/procountor"
# Suites whose cost is a live Tryton company of their own, and that read nothing the hub stores differently on
# SQLite: the SQLite pass skips them when the PostgreSQL pass runs them (they still run on PostgreSQL, always).
POSTGRES_ONLY="--ignore=tests/syncs/test_finnish_flows_tryton.py --ignore=tests/syncs/test_finnish_killed_tryton.py --ignore=tests/peers/test_tryton_finnish.py --ignore=tests/wizard/test_wizard_documents.py"
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

database_url() {  # database_url <sqlite|postgresql> [suffix]
  case "$1" in
    sqlite) echo "sqlite:///$(pwd)/var/test-hub${2:+-$2}.sqlite3" ;;
    postgresql) echo "postgres://postgres@127.0.0.1:5432/hub_${checkout_key}${2:+_$2}" ;;
  esac
}

record() {  # record <label> <exit code> <seconds>
  local label="$1" code="$2"
  if [ "$code" -eq 5 ]; then
    echo "ERROR: pytest collected no tests on $label (exit code 5)" >&2
  fi
  summary+=("$label: exit $code in $3 s")
  [ "$code" -eq 0 ] || status=1
}

can_use() {
  if [ "$1" = postgresql ] && [ -z "$pg_ok" ]; then
    echo "SKIPPED: PostgreSQL does not answer on 127.0.0.1:5432; the PostgreSQL pass ($2) did not run." >&2
    summary+=("$2: skipped (PostgreSQL not reachable)")
    return 1
  fi
  return 0
}

# Passes run in batches, the passes of a batch at the same time (two cores; each pass has its own
# database, Tryton server and ports); their output is shown whole, one pass after the other.
pids=(); labels=(); logs=(); batch_start=$SECONDS
start_pass() {  # start_pass <label> <extra pytest args> <env assignments...>
  local label="$1" extra="$2"; shift 2
  local log="var/pass-${#summary[@]}-${#pids[@]}.log"
  env "$@" $PY -m pytest -p no:cacheprovider ${PYTEST_ARGS:-} $extra > "$log" 2>&1 &
  pids+=($!); labels+=("$label"); logs+=("$log")
}
finish_batch() {
  local j code
  for j in "${!pids[@]}"; do
    wait "${pids[$j]}"; code=$?
    echo "=================== test suite on ${labels[$j]} ==================="
    cat "${logs[$j]}"
    record "${labels[$j]}" $code $((SECONDS - batch_start))
  done
  pids=(); labels=(); logs=(); batch_start=$SECONDS
}

# 1. The whole suite on each database.
for db in $WANT; do
  case "$db" in
    sqlite)
      extra=""
      if [[ " $WANT " == *" postgresql "* ]] && [ -n "$pg_ok" ]; then
        extra="$POSTGRES_ONLY"
        echo "(the suites that run on PostgreSQL only when both passes run: $POSTGRES_ONLY)"
      fi
      can_use sqlite SQLite && start_pass "SQLite" "$extra" DATABASE_URL="$(database_url sqlite)" ;;
    postgresql)
      extra=""
      if [[ " $WANT " == *" sqlite "* ]]; then
        extra="$DB_INDEPENDENT"
        echo "(the suites that never touch the hub's database run in the SQLite pass: $DB_INDEPENDENT)"
      fi
      can_use postgresql PostgreSQL && start_pass "PostgreSQL" "$extra" DATABASE_URL="$(database_url postgresql)" ;;
    *) echo "unknown database $db" >&2; exit 2 ;;
  esac
done
finish_batch

# 2. The tests that depend on the date, under shifted clocks, two at a time.
entries=($CLOCKS)
for ((i = 0; i < ${#entries[@]}; i += 2)); do
  for entry in "${entries[@]:i:2}"; do
    moment="${entry%@*}"; db="${entry##*@}"; label="clock $moment on $db"
    can_use "$db" "$label" || continue
    start_pass "$label" "-m clock -q" DATABASE_URL="$(database_url "$db" "c$((i + ${#pids[@]}))")" HUB_TEST_CLOCK="$moment"
  done
  finish_batch
done

echo "=================== summary ==================="
printf '%s\n' "${summary[@]}"
echo "total: $((SECONDS - started)) s"
exit $status
