"""Cells of the CSV files the bot writes (exports, rejected rows), safe to open in a spreadsheet.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets: a verbatim like `=HYPERLINK("https://evil", "refund")`
would run on the manager's machine. OWASP's rule: prefix such a cell with a single quote, so it
shows as typed. Numbers the bot itself writes (ids, scores) are left alone."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value, with a leading quote when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: list[Any]) -> list[Any]:
    """Every cell of a row made safe."""
    return [safe_cell(v) for v in values]
