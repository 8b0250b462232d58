"""Reading the invoices: find the header row, match columns by name, collect the rows.

The layout logic (header detection and column matching) works on plain rows of
values, so the workbook reader and the Google Sheets reader share it; only the
way cells are obtained differs. Formulas are read by their cached results.
"""

from __future__ import annotations

import itertools
import multiprocessing
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from lxml import etree

from toolkit.errors import SheetLayoutError, ToolkitError, WorkbookError
from toolkit.manual import REQUIRED_FIELDS, BillingManual
from toolkit.sheet_scan import (
    PROLOGUE,
    DateStyles,
    PlainRowReader,
    ScanNotes,
    SheetSplitter,
    has_markup,
    is_plain_prologue,
    namespace_wrapper,
    number_value,
    row_number_in,
    tags_end_at_first_gt,
)
from toolkit.text import column_index, column_letter, normalize_header
from toolkit.xlsx_package import (
    MAX_ROWS,
    MAX_SPAN_BYTES,
    M,
    XlsxPackage,
    iterparse_safe,
    safe_parser,
    too_many,
    well_formed,
)
from toolkit.xml_check import PartCheck, widen_pipe

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
            for row in pending:
                self.rows.append(row)
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


# --------------------------------------------------------------------------------------------
# The .xlsx backend


class _CellReader:
    """Turns the cells of one lxml row element into ``{column: value}``."""

    def __init__(self, pkg: XlsxPackage, where: str) -> None:
        self.shared = pkg.shared_strings
        self.is_date = DateStyles(pkg.styles.date_styles)
        self.date1904 = pkg.date1904
        self.where = where
        self.columns: dict[str, int] = {}  # column letters -> index, filled as letters are met
        self.dates: dict[str, Any] = {}  # serial text -> datetime: invoices share a few hundred dates

    def values(self, row_elem: etree._Element, row_number: int) -> Row:
        c_tag, v_tag = f"{M}c", f"{M}v"
        values: Row = {}
        col = 0
        for c in row_elem:
            if c.tag != c_tag:
                continue  # an extLst, a comment
            ref = c.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                col = self.columns.get(letters) or self.columns.setdefault(letters, column_index(letters))
            else:
                col += 1
            kind = c.get("t", "n")
            if kind == "inlineStr":
                is_elem = c.find(f"{M}is")
                values[col] = "".join(t.text or "" for t in is_elem.iter(f"{M}t")) if is_elem is not None else ""
                continue
            if not len(c):
                continue  # an empty or style-only cell
            # The value comes last, after a formula, in every workbook seen; look further only if not.
            v = c[-1]
            if v.tag != v_tag:
                v = c.find(v_tag)
                if v is None:
                    continue
            text = v.text
            if text is None:
                continue  # a formula never calculated
            if kind == "n":
                if self.is_date(c.get("s")):
                    value = self.dates.get(text)
                    if value is None:
                        value = number_value(text, True, self.date1904)
                        if len(self.dates) < 100_000:  # dates repeat; timestamps would not, and are not kept
                            self.dates[text] = value
                    values[col] = value
                else:
                    values[col] = number_value(text, False, self.date1904)
            elif kind == "s":
                try:
                    values[col] = self.shared[int(text)]
                except (ValueError, IndexError):
                    raise WorkbookError(
                        f"{self.where}: cell {column_letter(col)}{row_number} points to a missing shared string; "
                        "the file is damaged"
                    ) from None
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
        return values


def iter_sheet_rows(
    pkg: XlsxPackage, part: str, notes: ScanNotes | None = None, *, check_xml: bool = True
) -> Iterator[tuple[int, Row]]:
    """Stream the rows of a worksheet part: ``(row number, {column: value})``.

    Memory stays flat: only one chunk of the XML is held at a time. Values are
    the cached results for formulas; numbers in a date-formatted cell become
    datetimes. Plain rows are read from their bytes (``toolkit.sheet_scan``);
    any other row is parsed with lxml. At the first sign of XML a byte scan
    could misread (comments, CDATA, another encoding, a ``>`` in a value,
    anything but whitespace between rows, a row where no row belongs) the rest
    of the sheet is read with lxml, which stays the reference. Either way the
    part must be well-formed XML without a DTD, its rows right inside the
    ``<sheetData>``, and no more of them than Excel allows. ``notes`` learns
    which rows were not read from their bytes, for the writer. ``check_xml=False``
    leaves the check that the XML is well formed to the caller (``PartCheck``).
    """
    where = f"{pkg.name}: {part}"
    try:
        yield from _sheet_rows(pkg, part, where, notes if notes is not None else ScanNotes(), check_xml)
    except ValueError as exc:  # a row number, cell reference or style that is not one
        raise WorkbookError(f"{where}: holds a value no workbook has ({exc}); the file is damaged") from None


def _sheet_rows(
    pkg: XlsxPackage, part: str, where: str, notes: ScanNotes, check_xml: bool
) -> Iterator[tuple[int, Row]]:
    cells = _CellReader(pkg, where)
    stream = well_formed(pkg.open(part), where, parse=check_xml)
    splitter = SheetSplitter(stream, max_span=MAX_SPAN_BYTES, where=where)
    plain: PlainRowReader | None = None
    wrapper = b""
    index = 0  # rows met so far
    last_row = 0
    for kind, piece in splitter:
        if kind == PROLOGUE:
            if not is_plain_prologue(piece) or _has_row(piece, splitter.row_open):
                break
            plain = PlainRowReader(splitter.prefix, cells.shared, cells.is_date.date_styles, cells.date1904)
            wrapper = namespace_wrapper(piece)
            continue
        if plain is None:
            continue
        if index == 0 and piece.startswith(splitter.data_open):
            gt = piece.find(b">")
            if piece[gt - 1 : gt] == b"/":
                break  # <sheetData/>: no rows (lxml says so, and checks the rest)
            piece = piece[gt + 1 :]  # the rows' start tag, first in the first block
        clean = plain.is_clean(piece)
        if not clean and has_markup(piece):
            break  # a comment or CDATA may hide a "</row>"
        if not tags_end_at_first_gt(piece):
            break  # a ">" in a value or an attribute: tags do not end at the first ">"
        rows, tail = splitter.split_rows(piece)
        if piece.count(splitter.row_open, 0, len(piece) - len(tail)) != len(rows):
            break  # a row inside a row
        end = tail.find(splitter.data_close)
        if (tail[:end] if end >= 0 else tail).strip() or (end >= 0 and _has_row(tail, splitter.row_open, end)):
            break  # something else than rows in the <sheetData>, or a row after it
        for before, attributes, content in rows:
            if before and not before.isspace():
                break
            if index >= MAX_ROWS:
                raise too_many(where, "row", MAX_ROWS)
            number = row_number_in(attributes)
            values = {} if content is None else plain.values(content, clean)
            if values is None:
                notes.odd_rows.add(index)
                elem = _parse_row(wrapper, splitter.row_xml(attributes, content), where)
                number = _row_number(elem, last_row)
                values = cells.values(elem, number)
            elif number is None:
                number = last_row + 1
            last_row = number
            index += 1
            yield number, values
        else:
            continue
        break
    else:
        return
    # Not plain XML: read the rest of the sheet with lxml, from where the byte scan stopped.
    notes.odd_from = index
    yield from itertools.islice(_iter_rows_lxml(pkg, part, cells), index, None)


def _has_row(xml: bytes, row_open: bytes, start: int = 0) -> bool:
    """Whether a row element starts in ``xml`` (after ``start``)."""
    at = xml.find(row_open, start)
    while at >= 0:
        if xml[at + len(row_open) : at + len(row_open) + 1] in (b" ", b">", b"/", b"\t", b"\r", b"\n"):
            return True
        at = xml.find(row_open, at + 1)
    return False


def _row_number(elem: etree._Element, last_row: int) -> int:
    r = elem.get("r")
    return int(r) if r else last_row + 1


def _iter_rows_lxml(pkg: XlsxPackage, part: str, cells: _CellReader) -> Iterator[tuple[int, Row]]:
    """The rows of a worksheet part, each row element parsed by lxml and then dropped."""
    last_row = 0
    rows = iterparse_safe(pkg.open(part), cells.where, f"{M}row", until=f"{M}sheetData", max_items=MAX_ROWS)
    for row_elem in rows:
        number = last_row = _row_number(row_elem, last_row)
        yield number, cells.values(row_elem, number)
        row_elem.clear()
        # Drop the rows already handled so the tree does not grow with the sheet.
        parent = row_elem.getparent()
        if parent is not None:
            while row_elem.getprevious() is not None:
                del parent[0]


def _parse_row(wrapper: bytes, row_xml: bytes, where: str) -> etree._Element:
    """One row element parsed on its own, inside a wrapper that declares the sheet's namespaces."""
    try:
        return etree.fromstring(wrapper + row_xml + b"</wrapper>", safe_parser())[0]
    except etree.XMLSyntaxError as exc:
        raise WorkbookError(f"{where}: not well-formed XML ({exc}); the file is damaged") from None


# A sheet part this large (some 20,000 rows) is read by a second process while this one checks
# the rows already read; below it, starting the process would cost more than it saves.
READ_ALONGSIDE_BYTES = 8 * 1024**2


def read_workbook(
    path: Path,
    manual: BillingManual,
    progress: Callable[[int], None] | None = None,
    *,
    stream: bool = False,
) -> SheetData:
    """Read the invoice sheet (and the customers sheet, if any) of an .xlsx/.xlsm workbook.

    With ``stream``, a large sheet is read by a second process and its rows are
    left ``pending`` in the result, to be taken with ``SheetData.iter_rows``
    while they are checked: reading and checking then run on two cores.
    """
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

        extra: dict[str, list[Row]] = {}
        customers_sheet = manual.section("customers_sheet").get("sheet", "")
        if customers_sheet:
            info = pkg.sheet(customers_sheet)
            if info is not None and info.part != chosen.part:
                extra["customers"] = [values for _, values in iter_sheet_rows(pkg, info.part)]

        data = SheetData(source=source, layout=layout, rows=[], extra_sheets=extra)
        if stream and pkg.members[chosen.part].file_size >= READ_ALONGSIDE_BYTES:
            # The XML is checked by a third process, which begins when told (``SheetData.begin_checks``)
            # or when the check is waited for (``SheetData.confirm_read``), unless the check of the
            # sheet written made it needless (``SheetData.settle_checks``).
            check = PartCheck(path, chosen.part, f"{path}: {chosen.part}")
            data.checks.append(check)
            weakref.finalize(data, check.close)
            data.pending = _source_rows(
                layout, _rows_read_alongside(path, chosen.part, data.scan), progress, data.cleared_rows
            )
        else:
            rows = iter_sheet_rows(pkg, chosen.part, data.scan)
            data.rows.extend(_source_rows(layout, rows, progress, data.cleared_rows))
        return data


def _source_rows(
    layout: SheetLayout,
    sheet_rows: Iterator[tuple[int, Row]],
    progress: Callable[[int], None] | None,
    cleared: list[int],
) -> Iterator[SourceRow]:
    """The invoice rows below the header; once all are read, the layout learns the right-most column used."""
    max_column = 0

    def counted() -> Iterator[tuple[int, Row]]:
        nonlocal max_column
        for n, (row_number, values) in enumerate(sheet_rows, start=1):
            if values:
                max_column = max(max_column, max(values))
            if progress is not None and n % 5000 == 0:
                progress(n)
            yield row_number, values

    yield from rows_after_header(layout, counted(), cleared)
    layout.max_column = max(max_column, max(layout.headers, default=0))


def _rows_read_alongside(path: Path, part: str, notes: ScanNotes) -> Iterator[tuple[int, Row]]:
    """The rows of a sheet part, read by a second process and handed over in batches.

    The process starts now, so that it reads while the caller gets ready; the
    rows come as the returned iterator is read.
    """
    context = multiprocessing.get_context()
    receiver, sender = context.Pipe(duplex=False)
    widen_pipe(sender)
    reader = context.Process(
        target=_read_rows_for, args=(str(path), part, sender, receiver), name="sheet-reader", daemon=True
    )
    try:
        reader.start()
    except OSError:  # no second process allowed here: read in this one
        receiver.close()
        sender.close()
        return _rows_in_process(path, part, notes)
    sender.close()
    rows = _received_rows(path, receiver, reader, notes)
    # Also when the rows are dropped unread (an error before they are taken): end the process.
    weakref.finalize(rows, _stop_reader, receiver, reader)
    return rows


def _rows_in_process(path: Path, part: str, notes: ScanNotes) -> Iterator[tuple[int, Row]]:
    with XlsxPackage(path) as pkg:
        yield from iter_sheet_rows(pkg, part, notes)


def _received_rows(
    path: Path, receiver: Connection, reader: BaseProcess, notes: ScanNotes
) -> Iterator[tuple[int, Row]]:
    try:
        while True:
            try:
                batch = receiver.recv()
            except EOFError:
                raise WorkbookError(f"{path}: the process reading the sheet stopped; run again") from None
            if isinstance(batch, BaseException):
                raise batch
            if isinstance(batch, ScanNotes):
                notes.odd_rows, notes.odd_from = batch.odd_rows, batch.odd_from
                continue
            if batch is None:
                return
            yield from batch
    finally:
        _stop_reader(receiver, reader)


def _stop_reader(receiver: Connection, reader: BaseProcess) -> None:
    """Close our end (the reader's next send then fails and it ends) and wait for the reader."""
    receiver.close()
    reader.join(timeout=10)
    if reader.is_alive():
        reader.terminate()


def _read_rows_for(path: str, part: str, sender: Connection, receiver: Connection) -> None:
    """In the second process: send the sheet's rows 1,000 at a time, then what it learnt of them, then None."""
    receiver.close()  # the reading end, inherited: closed so that a send fails once the caller closes its end
    try:
        with XlsxPackage(Path(path)) as pkg:
            batch: list[tuple[int, Row]] = []
            notes = ScanNotes()
            for row in iter_sheet_rows(pkg, part, notes, check_xml=False):
                batch.append(row)
                if len(batch) == 1000:
                    sender.send(batch)
                    batch = []
            sender.send(batch)
            sender.send(notes)
            sender.send(None)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the reading side stopped
    except ToolkitError as exc:
        sender.send(exc)
    except Exception as exc:  # a bug: hand it over as the internal error it is
        sender.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()


def _first_rows(pkg: XlsxPackage, part: str, limit: int) -> list[tuple[int, Row]]:
    top = []
    for row_number, values in iter_sheet_rows(pkg, part):
        if row_number > limit:
            break
        if values:
            top.append((row_number, values))
    return top
