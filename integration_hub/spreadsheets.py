"""Spreadsheets in and out of the hub: the CSV and XLSX formats every import and export uses.

Out: text that a spreadsheet would read as a formula is made inert (OWASP "CSV injection"):
a cell of text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading single quote, in CSV and in XLSX alike. Numbers stay numbers: XLSX number cells are
not text and are left alone, and in a CSV (where everything is text) a cell that is only a
number, such as ``-12.50``, is left alone too.

In: an import is refused before it is parsed when the file is larger than
``HUB_IMPORT_MAX_BYTES``, and while it is parsed as soon as it has more than
``HUB_IMPORT_MAX_ROWS`` rows, with a form error naming the limit. The quote the export added is
taken off again, so a file exported, edited and imported back keeps its values.
"""
from __future__ import annotations

import re

import tablib
from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import ImportForm

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_ROWS = 1000


def escape_formula(value):
    """The value as a spreadsheet should show it: text that could start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def unescape_formula(value):
    """Undo ``escape_formula`` on an imported cell."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _escaped(dataset: tablib.Dataset) -> tablib.Dataset:
    return tablib.Dataset(*[tuple(escape_formula(cell) for cell in row) for row in dataset],
                          headers=dataset.headers, title=dataset.title)


def max_bytes() -> int:
    return int(getattr(settings, "HUB_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_rows() -> int:
    return int(getattr(settings, "HUB_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


class ImportTooLarge(ValueError):
    """A file over the import limits; its message is meant for the person importing."""


def too_many_rows_message(limit: int) -> str:
    return (f"This file has more than {limit:,} rows, the most one import accepts (HUB_IMPORT_MAX_ROWS). "
            "Split it into smaller files.")


def _check_rows(dataset: tablib.Dataset) -> tablib.Dataset:
    if len(dataset) > max_rows():
        raise ImportTooLarge(too_many_rows_message(max_rows()))
    return dataset


def _unescaped(dataset: tablib.Dataset) -> tablib.Dataset:
    return tablib.Dataset(*[tuple(unescape_formula(cell) for cell in row) for row in dataset],
                          headers=dataset.headers, title=dataset.title)


class SafeCSV(CSV):
    """CSV whose exported text cells cannot start a formula."""

    def export_data(self, dataset, **kwargs):
        return super().export_data(_escaped(dataset), **kwargs)

    def create_dataset(self, in_stream, **kwargs):
        return _unescaped(_check_rows(super().create_dataset(in_stream, **kwargs)))


class SafeXLSX(XLSX):
    """XLSX whose exported text cells are plain strings (never formulas), read with a row limit."""

    def export_data(self, dataset, **kwargs):
        return super().export_data(_escaped(dataset), **kwargs)

    def create_dataset(self, in_stream):
        from io import BytesIO

        import openpyxl

        book = openpyxl.load_workbook(BytesIO(in_stream), read_only=True, data_only=True)
        try:
            rows = book.active.iter_rows(values_only=True)
            dataset = tablib.Dataset()
            dataset.headers = list(next(rows, ()))
            limit = max_rows()
            for values in rows:
                if all(value is None for value in values):
                    continue
                if len(dataset) >= limit:  # stop reading at once: the sheet may be huge once unzipped
                    raise ImportTooLarge(too_many_rows_message(limit))
                dataset.append([unescape_formula(value) for value in values])
        finally:
            book.close()
        return dataset


def _size(n: int) -> str:
    return str(filesizeformat(n)).replace("\xa0", " ")


class LimitedImportForm(ImportForm):
    """django-import-export's import form, refusing a file over HUB_IMPORT_MAX_BYTES before reading it."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        limit = max_bytes()
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(
                f"This file is {_size(upload.size)}; an import accepts at most {_size(limit)} "
                f"(HUB_IMPORT_MAX_BYTES). Split it into smaller files.", code="too_large")
        return upload


__all__ = ["SafeCSV", "SafeXLSX", "LimitedImportForm", "ImportTooLarge", "escape_formula", "unescape_formula"]
