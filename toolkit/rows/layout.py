"""The sheet's layout: find the header row, match columns by name, collect the rows.

The layout logic (header detection and column matching) works on plain rows of
values, so the workbook reader and the Google Sheets reader share it; only the
way cells are obtained differs. Formulas are read by their cached results.
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from toolkit.errors import WorkbookError
from toolkit.manual import REQUIRED_FIELDS, BillingManual
from toolkit.rows.own_columns import ForeignColumn, OwnColumnRules
from toolkit.text import column_letter, normalize_header

Row = dict[int, Any]  # column index (1-based) -> value

# A workbook reader puts ``SUM_FORMULA`` at this key (no sheet column is 0) for a row holding a
# SUM or SUBTOTAL formula: with no invoice number, such a row is a totals row (``is_totals_row``).
FORMULA_MARK: Final = 0


class _SumFormula:
    """The mark of a row holding a SUM/SUBTOTAL formula (see ``FORMULA_MARK``)."""

    def __repr__(self) -> str:
        return "SUM_FORMULA"


SUM_FORMULA: Final = _SumFormula()


@dataclass(frozen=True)
class CellError:
    """A cell showing an error such as ``#N/A`` or ``#REF!``."""

    code: str

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class Area:
    """A block of cells, by first and last column and row (1-based, inclusive)."""

    first_col: int
    first_row: int
    last_col: int
    last_row: int

    def has_rows_of(self, other: Area) -> bool:
        """Whether the two share a row."""
        return self.first_row <= other.last_row and other.first_row <= self.last_row

    def has_column(self, col: int) -> bool:
        return self.first_col <= col <= self.last_col


@dataclass
class SheetGrid:
    """What besides its cells decides where the tool's columns may go: tables, merged cells, hidden columns.

    Filled by the workbook reader (``toolkit.xlsx.grid``); empty for a Google Sheet.
    """

    table: Area | None = None  # the Excel table the invoices are in (header row to last row)
    table_name: str = ""
    table_part: str = ""  # e.g. xl/tables/table2.xml
    totals_row: int | None = None  # the table's Total Row: not an invoice, our cells in it stay empty
    other_tables: list[tuple[str, Area]] = field(default_factory=list)
    merged: list[Area] = field(default_factory=list)
    hidden: list[tuple[int, int]] = field(default_factory=list)  # hidden column ranges (first, last)
    used_right_of_table: set[int] = field(default_factory=set)  # columns with values right of it, in its rows

    def is_hidden(self, col: int) -> bool:
        return any(first <= col <= last for first, last in self.hidden)


@dataclass
class SheetLayout:
    """Where things are on the invoice sheet."""

    sheet: str
    header_row: int
    columns: dict[str, int]  # field name -> column index
    headers: dict[int, str]  # column index -> header text as written
    output_columns: dict[str, int] = field(default_factory=dict)  # our columns already present
    max_column: int = 0  # the right-most column used anywhere in the sheet
    date1904: bool = False  # the workbook counts date serials from 1904 (Mac Excel's date system)
    # Columns named like ours that are the accountant's (``toolkit.rows.own_columns``): never written.
    foreign_columns: dict[str, ForeignColumn] = field(default_factory=dict)
    own_rules: OwnColumnRules | None = field(default=None, compare=False, repr=False)  # to tell, once rows are read
    grid: SheetGrid = field(default_factory=SheetGrid)

    def cell(self, field_name: str, row: int) -> str:
        """The A1 address of a field's cell, e.g. ``E17``."""
        return f"{column_letter(self.columns[field_name])}{row}"


@dataclass(slots=True)
class SourceRow:
    """One invoice row as read: field name -> value, and its sheet row number."""

    row: int
    values: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)  # our own columns, from an earlier run


class ReadCheck(Protocol):
    """A check of what a backend read, still running beside the analysis (the xlsx reader's XML check)."""

    def begin(self) -> None:
        """Start, if the check waits for a free core."""

    def settle(self) -> None:
        """Drop the check: a check of the same bytes passed."""

    def result(self) -> str | None:
        """Wait for the check: None when it passed, else what is wrong, starting with where."""


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
    totals_rows: list[int] = field(default_factory=list)  # totals and subtotal rows: not invoices, left alone
    locator: str | None = None  # how to name the source on the command line, when not ``source``
    pending: Iterator[SourceRow] | None = None
    # The backend's notes for its own writer (the xlsx reader's rows not read from their bytes).
    scan: Any = None
    # Checks still to pass before the rows may be trusted (a large sheet's XML, checked alongside).
    checks: list[ReadCheck] = field(default_factory=list)
    # False: rows still pending are given once by ``iter_rows`` and not kept in ``rows`` (a run that
    # reads a large sheet in one pass need not hold every row's cells as read until it ends).
    keep_rows: bool = True
    # True: invoices paid in full with nothing to report are kept packed (``toolkit.rows.packed``),
    # for a sheet too large to hold an object per row.
    pack_paid: bool = False

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
    headers = {col: str(v) for col, v in header_values.items() if col != FORMULA_MARK and v not in (None, "")}
    outputs: dict[str, int] = {}
    lookalikes: dict[str, ForeignColumn] = {}
    exact = {name: key for key, name in manual.output_columns.items()}
    wanted = {normalize_header(name): key for key, name in manual.output_columns.items()}
    for col, text in headers.items():
        key = exact.get(text)
        if key is not None:
            outputs.setdefault(key, col)
        elif (key := wanted.get(normalize_header(text))) is not None:
            lookalikes.setdefault(key, ForeignColumn(key, col, text))
    foreign = {key: column for key, column in lookalikes.items() if key not in outputs}
    return SheetLayout(
        sheet=sheet,
        header_row=header_row,
        columns=columns,
        headers=headers,
        output_columns=outputs,
        foreign_columns=foreign,
        own_rules=OwnColumnRules(manual),
    )


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
        f"missing: {expected}. Rename those headers in the workbook, or add their names under [columns] in {where}. "
        f"The header was looked for in the first {manual.header_search_rows} rows of each sheet; if it is lower, "
        f"raise [workbook] header_search_rows in {where}."
    )


def _blank_row(picked: dict[str, Any]) -> bool:
    # A row holding only a Balance formula dragged down past the last invoice is empty too.
    for name, value in picked.items():
        if value is not None and name != "balance" and not (isinstance(value, str) and not value.strip()):
            return False
    return True


# The first words of a totals or subtotal row's label, in English and Portuguese (accents and case folded).
_TOTALS_WORDS = frozenset({"total", "totals", "totais", "subtotal", "subtotals", "subtotais", "grandtotal"})
_TOTALS_PAIRS = frozenset({("grand", "total"), ("sub", "total"), ("sub", "totais"), ("sub", "totals")})
_WORDS = re.compile(r"[^\W\d_]+")
# What a totals label starts with (after spaces): rows whose invoice cell starts otherwise skip the test.
_LABEL_STARTS = frozenset(("", *"TtSsGg \t\n"))


@functools.lru_cache(maxsize=4096)
def is_totals_label(text: str) -> bool:
    """Whether text labels a totals row: ``TOTAL``, ``Total geral``, ``Subtotal:``, ``Grand total``, ``Totais``."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch))
    words = _WORDS.findall(folded)
    return bool(words) and (words[0] in _TOTALS_WORDS or tuple(words[:2]) in _TOTALS_PAIRS)


def is_totals_row(invoice: Any, values: Row) -> bool:
    """A row with no invoice number (or a totals label in its place) that a label or a SUM formula marks as totals."""
    if invoice is not None and not (isinstance(invoice, str) and (not invoice.strip() or is_totals_label(invoice))):
        return False
    if values.get(FORMULA_MARK) is SUM_FORMULA:
        return True
    return any(isinstance(value, str) and is_totals_label(value) for value in values.values())


def rows_after_header(
    layout: SheetLayout,
    rows: Iterable[tuple[int, Row]],
    cleared: list[int] | None = None,
    totals: list[int] | None = None,
) -> Iterator[SourceRow]:
    """Turn raw rows below the header into ``SourceRow`` objects, skipping empty rows and totals rows.

    An empty row that still holds values in our columns (an invoice the accountant
    cleared) is listed in ``cleared``, so a stale status does not linger next to nothing.
    A totals or subtotal row (``is_totals_row``) is listed in ``totals`` (and in
    ``cleared`` when an earlier version of the tool wrote a status there).
    """
    columns = list(layout.columns.items())
    outputs = list(layout.output_columns.items())
    names = [name for name, _ in columns]
    cols = [col for _, col in columns]
    invoice_col = layout.columns.get("invoice")
    seen: list[SourceRow] = []  # every row with values in our columns, to tell whether they are ours
    totals_row = layout.grid.totals_row
    for row_number, values in rows:
        if row_number <= layout.header_row:
            continue
        picked = dict(zip(names, map(values.get, cols), strict=True))
        if row_number == totals_row or _blank_row(picked):
            if outputs and any(values.get(col) not in (None, "") for _, col in outputs):
                seen.append(SourceRow(row_number, {}, {name: values.get(col) for name, col in outputs}))
                if cleared is not None:
                    cleared.append(row_number)
            continue
        invoice = values.get(invoice_col)  # type: ignore[arg-type]
        if (invoice is None or (type(invoice) is str and invoice[:1] in _LABEL_STARTS)) and is_totals_row(
            invoice, values
        ):
            if totals is not None:
                totals.append(row_number)
            if outputs and any(values.get(col) not in (None, "") for _, col in outputs):
                seen.append(SourceRow(row_number, {}, {name: values.get(col) for name, col in outputs}))
                if cleared is not None:
                    cleared.append(row_number)
            continue
        source_row = SourceRow(row_number, picked)
        if outputs:
            source_row.outputs = {name: values.get(col) for name, col in outputs}
            seen.append(source_row)
        yield source_row
    if outputs:
        settle_own_columns(layout, seen, cleared)


def settle_own_columns(layout: SheetLayout, rows: list[SourceRow], cleared: list[int] | None = None) -> None:
    """Keep as the tool's only the columns whose every value the tool could have written (``own_columns``).

    The others become foreign: left out of ``output_columns`` and of every row's
    ``outputs``, and their rows no longer count as cleared.
    """
    rules = layout.own_rules
    if rules is None:
        return
    # Status first: Problems is the tool's only beside the tool's own Status column.
    keys = sorted(layout.output_columns, key=lambda key: key != "status")
    outputs = [row.outputs for row in rows]  # each with every key of ours (until a foreign one is dropped)
    for key in keys:
        values = dict.fromkeys(map(operator.itemgetter(key), outputs))
        found, value = rules.foreign_value(key, values, "status" in layout.output_columns)
        if not found:
            continue
        # The value found is the very object of the first row holding it (``dict.fromkeys`` keeps the first).
        row = next((r.row for r in rows if r.outputs.get(key) is value), layout.header_row + 1)
        col = layout.output_columns.pop(key)
        layout.foreign_columns[key] = ForeignColumn(key, col, layout.headers.get(col, ""), row, value)
        for source_row in rows:
            source_row.outputs.pop(key, None)
    if cleared and len(layout.foreign_columns):
        still = {r.row for r in rows if any(v not in (None, "") for v in r.outputs.values())}
        cleared[:] = [row for row in cleared if row in still]
