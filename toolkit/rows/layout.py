"""The sheet's layout: find the header row, match columns by name, collect the rows.

The layout logic (header detection and column matching) works on plain rows of
values, so the workbook reader and the Google Sheets reader share it; only the
way cells are obtained differs. Formulas are read by their cached results.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from toolkit.errors import WorkbookError
from toolkit.manual import REQUIRED_FIELDS, BillingManual
from toolkit.text import column_letter, normalize_header
from toolkit.xlsx.check import PartCheck
from toolkit.xlsx.scan import (
    ScanNotes,
)

Row = dict[int, Any]  # column index (1-based) -> value


@dataclass(frozen=True)
class CellError:
    """A cell showing an error such as ``#N/A`` or ``#REF!``."""

    code: str

    def __str__(self) -> str:
        return self.code


@dataclass
class SheetLayout:
    """Where things are on the invoice sheet."""

    sheet: str
    header_row: int
    columns: dict[str, int]  # field name -> column index
    headers: dict[int, str]  # column index -> header text as written
    output_columns: dict[str, int] = field(default_factory=dict)  # our columns already present
    max_column: int = 0  # the right-most column used anywhere in the sheet

    def cell(self, field_name: str, row: int) -> str:
        """The A1 address of a field's cell, e.g. ``E17``."""
        return f"{column_letter(self.columns[field_name])}{row}"

    def header_name(self, field_name: str) -> str:
        return self.headers.get(self.columns[field_name], field_name)


@dataclass(slots=True)
class SourceRow:
    """One invoice row as read: field name -> value, and its sheet row number."""

    row: int
    values: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)  # our own columns, from an earlier run


@dataclass
class SheetData:
    """Everything read from the invoice sheet.

    ``pending`` holds rows still being read when the reading was started
    alongside the checks (``read_workbook(..., stream=True)``): ``iter_rows``
    gives every row, moving the pending ones into ``rows`` as they come.
    """

    source: str  # the file name or sheet URL, for messages
    layout: SheetLayout
    rows: list[SourceRow]
    extra_sheets: dict[str, list[Row]] = field(default_factory=dict)  # e.g. the customers sheet
    cleared_rows: list[int] = field(default_factory=list)  # empty rows still holding our old values
    locator: str | None = None  # how to name the source on the command line, when not ``source``
    pending: Iterator[SourceRow] | None = None
    scan: ScanNotes = field(default_factory=ScanNotes)  # for the writer: rows not read from their bytes
    # Checks still to pass before the rows may be trusted (a large sheet's XML, checked alongside).
    checks: list[PartCheck] = field(default_factory=list)
    # False: rows still pending are given once by ``iter_rows`` and not kept in ``rows`` (a run that
    # reads a large sheet in one pass need not hold every row's cells as read until it ends).
    keep_rows: bool = True

    def begin_checks(self) -> None:
        """Let the checks of what was read start, if they wait for a free core."""
        for check in self.checks:
            check.begin()

    def settle_checks(self) -> None:
        """The checks of what was read are needless: a check of the same bytes passed (see ``XlsxSource.write``)."""
        for check in self.checks:
            check.settle()

    def confirm_read(self) -> None:
        """Wait for the checks of what was read; a ``WorkbookError`` if one failed (the sheet is damaged)."""
        for check in self.checks:
            problem = check.result()
            if problem is not None:
                raise WorkbookError(problem)

    def iter_rows(self) -> Iterator[SourceRow]:
        """Every row, those read already and those still pending."""
        yield from self.rows
        if self.pending is not None:
            pending, self.pending = self.pending, None
            keep = self.rows.append if self.keep_rows else None
            for row in pending:
                if keep is not None:
                    keep(row)
                yield row


# --------------------------------------------------------------------------------------------
# Layout: shared by every backend


def _alias_index(aliases: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for field_name, names in aliases.items():
        for name in names:
            index.setdefault(normalize_header(name), field_name)
    return index


def match_header(values: Row, aliases: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Field name -> column for the cells of one row that are known header names."""
    index = _alias_index(aliases)
    found: dict[str, int] = {}
    for col in sorted(values):
        value = values[col]
        if not isinstance(value, str):
            continue
        field_name = index.get(normalize_header(value))
        if field_name is not None and field_name not in found:
            found[field_name] = col
    return found


def find_layout(
    sheet: str,
    first_rows: list[tuple[int, Row]],
    manual: BillingManual,
    required: Iterable[str] = REQUIRED_FIELDS,
) -> SheetLayout | None:
    """The header row among ``first_rows``: the one with most known headers, holding every required one."""
    required = tuple(required)
    best: tuple[int, int, dict[str, int]] | None = None
    for row_number, values in first_rows:
        found = match_header(values, manual.column_aliases)
        if all(r in found for r in required) and (best is None or len(found) > best[0]):
            best = (len(found), row_number, found)
    if best is None:
        return None
    _, header_row, columns = best
    header_values = dict(first_rows)[header_row]
    headers = {col: str(v) for col, v in header_values.items() if v not in (None, "")}
    outputs = {}
    wanted = {normalize_header(name): key for key, name in manual.output_columns.items()}
    for col, text in headers.items():
        key = wanted.get(normalize_header(text))
        if key is not None and key not in outputs:
            outputs[key] = col
    return SheetLayout(sheet=sheet, header_row=header_row, columns=columns, headers=headers, output_columns=outputs)


def describe_missing(source: str, candidates: list[tuple[str, list[tuple[int, Row]]]], manual: BillingManual) -> str:
    """The message for a workbook where no sheet has the required columns: what was found, what is expected."""
    best: tuple[int, str, int, dict[str, int], Row] | None = None
    for sheet, rows in candidates:
        for row_number, values in rows:
            found = match_header(values, manual.column_aliases)
            if best is None or len(found) > best[0]:
                best = (len(found), sheet, row_number, found, values)
    if best is None or not any(rows for _, rows in candidates):
        sheets = ", ".join(repr(s) for s, _ in candidates) or "none"
        return f"{source}: the workbook has no invoices: every sheet is empty (sheets: {sheets})"
    _, sheet, row_number, found, values = best
    missing = [r for r in REQUIRED_FIELDS if r not in found]
    seen = ", ".join(repr(str(v)) for _, v in sorted(values.items()) if isinstance(v, str) and v.strip())
    expected = "; ".join(f"{m} (one of: {', '.join(manual.column_aliases[m])})" for m in missing)
    where = manual.source if manual.path else "billing-manual.toml"
    return (
        f"{source}: no sheet has the columns the billing manual asks for. "
        f"The closest is sheet {sheet!r} row {row_number}, with headers {seen or 'none'}; "
        f"missing: {expected}. Rename those headers in the workbook, or add their names under [columns] in {where}."
    )


def _blank_row(picked: dict[str, Any]) -> bool:
    # A row holding only a Balance formula dragged down past the last invoice is empty too.
    for name, value in picked.items():
        if value is not None and name != "balance" and not (isinstance(value, str) and not value.strip()):
            return False
    return True


def rows_after_header(
    layout: SheetLayout, rows: Iterable[tuple[int, Row]], cleared: list[int] | None = None
) -> Iterator[SourceRow]:
    """Turn raw rows below the header into ``SourceRow`` objects, skipping empty rows.

    An empty row that still holds values in our columns (an invoice the accountant
    cleared) is listed in ``cleared``, so a stale status does not linger next to nothing.
    """
    columns = list(layout.columns.items())
    outputs = list(layout.output_columns.items())
    names = [name for name, _ in columns]
    cols = [col for _, col in columns]
    for row_number, values in rows:
        if row_number <= layout.header_row:
            continue
        picked = dict(zip(names, map(values.get, cols), strict=True))
        if _blank_row(picked):
            if cleared is not None and any(values.get(col) not in (None, "") for _, col in outputs):
                cleared.append(row_number)
            continue
        source_row = SourceRow(row_number, picked)
        if outputs:
            source_row.outputs = {name: values.get(col) for name, col in outputs}
        yield source_row
