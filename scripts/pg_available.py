"""Exit 0 when a PostgreSQL server answers on 127.0.0.1:5432 as user postgres."""
import sys

try:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"):
        pass
except Exception as exc:  # noqa: BLE001 - any failure means "not available"
    print(f"PostgreSQL not available: {exc}", file=sys.stderr)
    sys.exit(1)
