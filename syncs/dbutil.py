"""Bulk writes the ORM makes expensive."""
from __future__ import annotations

from django.db import connection


def bulk_set(objects: list, fields: list[str]) -> None:
    """UPDATE each object's `fields` by primary key, in one executemany.

    Django's bulk_update builds a CASE expression per field and row, which costs more Python time
    than the database spends on the rows; the engine updates a batch of documents per call.
    """
    if not objects:
        return
    model = type(objects[0])
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name) for name in fields]
    sql = (f"UPDATE {quote(model._meta.db_table)} SET "
           + ", ".join(f"{quote(c.column)} = %s" for c in columns)
           + f" WHERE {quote(model._meta.pk.column)} = %s")
    rows = [[c.get_db_prep_save(getattr(obj, c.attname), connection) for c in columns] + [obj.pk] for obj in objects]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
