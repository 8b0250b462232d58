"""Reading the invoices: find the header row, match columns by name, collect the rows.

The layout logic (header detection and column matching) works on plain rows of
values, so the workbook reader and the Google Sheets reader share it; only the
way cells are obtained differs. Formulas are read by their cached results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from toolkit.errors import SheetLayoutError, WorkbookError
from toolkit.manual import REQUIRED_FIELDS, BillingManual
from toolkit.text import column_index, column_letter, normalize_header
from toolkit.xlsx_package import MAX_ROWS, M, XlsxPackage, iterparse_safe

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


@dataclass
class SourceRow:
    """One invoice row as read: field name -> value, and its sheet row number."""

    row: int
    values: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)  # our own columns, from an earlier run


@dataclass
class SheetData:
    """Everything read from the invoice sheet."""

    source: str  # the file name or sheet URL, for messages
    layout: SheetLayout
    rows: list[SourceRow]
    extra_sheets: dict[str, list[Row]] = field(default_factory=dict)  # e.g. the customers sheet
    cleared_rows: list[int] = field(default_factory=list)  # empty rows still holding our old values
    locator: str | None = None  # how to name the source on the command line, when not ``source``


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


def rows_after_header(
    layout: SheetLayout, rows: Iterable[tuple[int, Row]], cleared: list[int] | None = None
) -> Iterator[SourceRow]:
    """Turn raw rows below the header into ``SourceRow`` objects, skipping empty rows.

    An empty row that still holds values in our columns (an invoice the accountant
    cleared) is listed in ``cleared``, so a stale status does not linger next to nothing.
    """
    columns = list(layout.columns.items())
    outputs = list(layout.output_columns.items())
    for row_number, values in rows:
        if row_number <= layout.header_row:
            continue
        picked = {name: values.get(col) for name, col in columns}
        # A row holding only a Balance formula dragged down past the last invoice is empty too.
        if all(v is None or (isinstance(v, str) and not v.strip()) for name, v in picked.items() if name != "balance"):
            if cleared is not None and any(values.get(col) not in (None, "") for _, col in outputs):
                cleared.append(row_number)
            continue
        source_row = SourceRow(row_number, picked)
        if outputs:
            source_row.outputs = {name: values.get(col) for name, col in outputs}
        yield source_row


# --------------------------------------------------------------------------------------------
# The .xlsx backend


_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)


def _serial_to_datetime(serial: float, date1904: bool) -> datetime | float:
    try:
        return (_EPOCH_1904 if date1904 else _EPOCH_1900) + timedelta(days=serial)
    except OverflowError:
        return serial


def iter_sheet_rows(pkg: XlsxPackage, part: str) -> Iterator[tuple[int, Row]]:
    """Stream the rows of a worksheet part: ``(row number, {column: value})``.

    Memory stays flat: each row element is cleared once read. Values are the
    cached results for formulas; numbers in a date-formatted cell become datetimes.
    """
    try:
        yield from _sheet_rows(pkg, part)
    except ValueError as exc:  # a row number, cell reference or style that is not one
        raise WorkbookError(f"{pkg.name}: {part}: holds a value no workbook has ({exc}); the file is damaged") from None


def _sheet_rows(pkg: XlsxPackage, part: str) -> Iterator[tuple[int, Row]]:
    shared = pkg.shared_strings
    styles = pkg.styles
    date_styles = styles.date_styles
    date1904 = pkg.date1904
    c_tag, v_tag, is_tag, t_tag = f"{M}c", f"{M}v", f"{M}is", f"{M}t"
    where = f"{pkg.name}: {part}"
    last_row = 0
    for row_elem in iterparse_safe(pkg.open(part), where, f"{M}row", until=f"{M}sheetData", max_items=MAX_ROWS):
        r = row_elem.get("r")
        row_number = int(r) if r else last_row + 1
        last_row = row_number
        values: Row = {}
        col = 0
        for c in row_elem.iterchildren(c_tag):
            ref = c.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                col = column_index(letters)
            else:
                col += 1
            kind = c.get("t", "n")
            if kind == "inlineStr":
                is_elem = c.find(is_tag)
                values[col] = "".join(t.text or "" for t in is_elem.iter(t_tag)) if is_elem is not None else ""
                continue
            v = c.find(v_tag)
            if v is None or v.text is None:
                continue  # an empty or style-only cell (or a formula never calculated)
            text = v.text
            if kind == "s":
                try:
                    values[col] = shared[int(text)]
                except (ValueError, IndexError):
                    raise WorkbookError(
                        f"{where}: cell {column_letter(col)}{row_number} points to a missing shared string; "
                        "the file is damaged"
                    ) from None
            elif kind == "n":
                try:
                    number = float(text)
                except ValueError:
                    values[col] = text
                    continue
                style = c.get("s")
                if style is not None and int(style) in date_styles:
                    values[col] = _serial_to_datetime(number, date1904)
                else:
                    values[col] = int(number) if number.is_integer() and abs(number) < 2**53 else number
            elif kind == "str":
                values[col] = text
            elif kind == "b":
                values[col] = text.strip() in ("1", "true")
            elif kind == "e":
                values[col] = CellError(text)
            elif kind == "d":
                try:
                    values[col] = datetime.fromisoformat(text)
                except ValueError:
                    values[col] = text
            else:
                values[col] = text
        yield row_number, values
        row_elem.clear()
        # Drop the rows already handled so the tree does not grow with the sheet.
        parent = row_elem.getparent()
        if parent is not None:
            while row_elem.getprevious() is not None:
                del parent[0]


def read_workbook(
    path: Path,
    manual: BillingManual,
    progress: Callable[[int], None] | None = None,
) -> SheetData:
    """Read the invoice sheet (and the customers sheet, if any) of an .xlsx/.xlsm workbook."""
    source = str(path)
    with XlsxPackage(path) as pkg:
        if not pkg.sheets:
            raise WorkbookError(f"{source}: the workbook has no worksheets")
        if manual.sheet:
            info = pkg.sheet(manual.sheet)
            if info is None:
                names = ", ".join(repr(s.name) for s in pkg.sheets)
                raise SheetLayoutError(
                    f"{source}: no sheet named {manual.sheet!r} (the workbook has {names}); "
                    f"fix [workbook] sheet in {manual.source}"
                )
            candidates = [info]
        else:
            candidates = [s for s in pkg.sheets if s.state == "visible"] or pkg.sheets

        layout = None
        tops: list[tuple[str, list[tuple[int, Row]]]] = []
        chosen = None
        for info in candidates:
            top = _first_rows(pkg, info.part, manual.header_search_rows)
            tops.append((info.name, top))
            layout = find_layout(info.name, top, manual)
            if layout is not None:
                chosen = info
                break
        if layout is None or chosen is None:
            raise SheetLayoutError(describe_missing(source, tops, manual))

        rows: list[SourceRow] = []
        max_column = 0
        all_rows = iter_sheet_rows(pkg, chosen.part)

        def counted() -> Iterator[tuple[int, Row]]:
            nonlocal max_column
            for n, (row_number, values) in enumerate(all_rows, start=1):
                if values:
                    max_column = max(max_column, max(values))
                if progress is not None and n % 5000 == 0:
                    progress(n)
                yield row_number, values

        cleared: list[int] = []
        rows.extend(rows_after_header(layout, counted(), cleared))
        layout.max_column = max(max_column, max(layout.headers, default=0))

        extra: dict[str, list[Row]] = {}
        customers_sheet = manual.section("customers_sheet").get("sheet", "")
        if customers_sheet:
            info = pkg.sheet(customers_sheet)
            if info is not None and info.part != chosen.part:
                extra["customers"] = [values for _, values in iter_sheet_rows(pkg, info.part)]
        return SheetData(source=source, layout=layout, rows=rows, extra_sheets=extra, cleared_rows=cleared)


def _first_rows(pkg: XlsxPackage, part: str, limit: int) -> list[tuple[int, Row]]:
    top = []
    for row_number, values in iter_sheet_rows(pkg, part):
        if row_number > limit:
            break
        if values:
            top.append((row_number, values))
    return top
