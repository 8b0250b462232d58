"""Reading the invoice rows of an .xlsx worksheet: streamed, byte-scanned where plain, parsed by lxml where not.

Formulas are read by their cached results; header detection is shared with the
Google Sheets backend in ``toolkit.rows.layout``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import queue
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from lxml import etree

from toolkit.errors import SheetLayoutError, ToolkitError, WorkbookError
from toolkit.manual import BillingManual
from toolkit.rows.layout import (
    FORMULA_MARK,
    SUM_FORMULA,
    Area,
    CellError,
    Row,
    SheetData,
    SheetLayout,
    SourceRow,
    describe_missing,
    find_layout,
    rows_after_header,
)
from toolkit.text import column_index, column_letter
from toolkit.xlsx import prefetch
from toolkit.xlsx.check import PartCheck, helper_context, widen_pipe
from toolkit.xlsx.grid import grid_for, grid_markup, hidden_columns, merged_areas, sheet_tables
from toolkit.xlsx.package import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_SPAN_BYTES,
    M,
    SheetInfo,
    XlsxPackage,
    iterparse_safe,
    safe_parser,
    too_many,
    well_formed,
)
from toolkit.xlsx.prefetch import Prefetched
from toolkit.xlsx.scan import (
    MAX_STRING,
    PROLOGUE,
    DateStyles,
    PlainRowReader,
    ScanNotes,
    SheetSplitter,
    has_markup,
    has_row,
    is_plain_prologue,
    namespace_wrapper,
    number_value,
    row_number_in,
    tags_end_at_first_gt,
)

if TYPE_CHECKING:
    from toolkit.xlsx.safe_write import Fingerprint

# A SUM or SUBTOTAL formula: in a row without an invoice number, the mark of a totals row.
_SUM_CALL = re.compile(r"\b(?:SUM|SUBTOTAL)\(")
_SUM_FORMULA_XML = re.compile(rb"<(?:[\w.-]+:)?f(?:\s[^>]*)?>[^<]*\b(?:SUM|SUBTOTAL)\(")


class _CellReader:
    """Turns the cells of one lxml row element into ``{column: value}``."""

    def __init__(self, pkg: XlsxPackage, where: str) -> None:
        self.shared = pkg.shared_strings
        self.is_date = DateStyles(pkg.styles.date_styles)
        self.date1904 = pkg.date1904
        self.where = where
        self.columns: dict[str, int] = {}  # column letters -> index, filled as letters are met
        self.dates: dict[str, Any] = {}  # serial text -> datetime: invoices share a few hundred dates

    def _bounded(self, text: str, col: int, row_number: int) -> str:
        """``text``, refused when it is longer than one string may be."""
        if len(text) > MAX_STRING:
            raise WorkbookError(
                f"{self.where}: cell {column_letter(col)}{row_number} holds a string of {len(text):,} characters, "
                f"more than {MAX_STRING // 1024**2} MiB, far more than any workbook holds; refused"
            )
        return text

    def values(self, row_elem: etree._Element, row_number: int) -> Row:
        c_tag, v_tag, f_tag = f"{M}c", f"{M}v", f"{M}f"
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
                text = "".join(t.text or "" for t in is_elem.iter(f"{M}t")) if is_elem is not None else ""
                values[col] = self._bounded(text, col, row_number)
                continue
            if not len(c):
                continue  # an empty or style-only cell
            formula = c[0]
            if formula.tag == f_tag and formula.text and _SUM_CALL.search(formula.text):
                values[FORMULA_MARK] = SUM_FORMULA
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
                values[col] = self._bounded(text, col, row_number)
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
    datetimes. Plain rows are read from their bytes (``toolkit.xlsx.scan``);
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
    prologue = epilogue = b""
    for kind, piece in splitter:
        if kind == PROLOGUE:
            if not is_plain_prologue(piece) or has_row(piece, splitter.row_open):
                break
            prologue = piece
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
        # A totals row may be in this block ("(" alone first: found at the speed of memchr, and rare).
        sums = b"(" in piece and (b"SUM(" in piece or b"SUBTOTAL(" in piece)
        if not splitter.one_row_each and piece.count(splitter.row_open, 0, len(piece) - len(tail)) != len(rows):
            break  # a row inside a row
        end = tail.find(splitter.data_close)
        if (tail[:end] if end >= 0 else tail).strip() or (end >= 0 and has_row(tail, splitter.row_open, end)):
            break  # something else than rows in the <sheetData>, or a row after it
        if end >= 0:
            epilogue = tail[end:]
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
            if sums and content and _SUM_FORMULA_XML.search(content):
                values[FORMULA_MARK] = SUM_FORMULA
            last_row = number
            index += 1
            yield number, values
        else:
            continue
        break
    else:
        notes.markup = (prologue, epilogue)
        return
    # Not plain XML: read the rest of the sheet with lxml, from where the byte scan stopped.
    notes.odd_from = index
    yield from itertools.islice(_iter_rows_lxml(pkg, part, cells), index, None)


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
# From this size of sheet XML (some 160,000 rows), invoices paid in full with nothing to report are
# kept packed rather than as an object each (``toolkit.rows.packed``): at Excel's last row that is
# the difference between about 0.7 GB and 0.3 GB for the process that checks the rows.
PACK_PAID_BYTES = 64 * 1024**2


def read_workbook(
    path: Path,
    manual: BillingManual,
    progress: Callable[[int], None] | None = None,
    *,
    stream: bool = False,
    fingerprint: Fingerprint | None = None,
) -> SheetData:
    """Read the invoice sheet (and the customers sheet, if any) of an .xlsx/.xlsm workbook.

    With ``stream``, a large sheet is read by a second process and its rows are
    left ``pending`` in the result, to be taken with ``SheetData.iter_rows``
    while they are checked: reading and checking then run on two cores. Given the
    ``fingerprint`` of the file as the caller found it, that process may be the one
    the command started reading with (``toolkit.xlsx.prefetch``), when it read this file
    as it is fingerprinted and the sheet chosen here.
    """
    source = str(path)
    with XlsxPackage(path) as pkg:
        chosen, layout = _invoice_sheet(pkg, manual)
        layout.date1904 = pkg.date1904

        extra: dict[str, list[Row]] = {}
        customers_sheet = manual.section("customers_sheet").get("sheet", "")
        if customers_sheet:
            info = pkg.sheet(customers_sheet)
            if info is not None and info.part != chosen.part:
                extra["customers"] = [values for _, values in iter_sheet_rows(pkg, info.part)]

        layout.grid = grid_for(layout, sheet_tables(pkg, chosen.part))
        data = SheetData(source=source, layout=layout, rows=[], extra_sheets=extra, scan=ScanNotes())
        markup = _markup_of(path, chosen.part)
        data.pack_paid = stream and pkg.members[chosen.part].file_size >= PACK_PAID_BYTES
        alongside = stream and pkg.members[chosen.part].file_size >= READ_ALONGSIDE_BYTES
        claimed = None
        if alongside and fingerprint is not None:
            claimed = prefetch.claim(path, chosen.part, fingerprint.size, fingerprint.mtime_ns, fingerprint.sha256)
        else:
            prefetch.discard()  # a sheet read here, or no telling the file read was this one
        if alongside:
            # The XML is checked by a third process, which begins when told (``SheetData.begin_checks``)
            # or when the check is waited for (``SheetData.confirm_read``), unless the check of the
            # sheet written made it needless (``SheetData.settle_checks``).
            check = PartCheck(path, chosen.part, f"{path}: {chosen.part}", large=data.pack_paid)
            data.checks.append(check)
            weakref.finalize(data, check.close)
            data.pending = _source_rows(
                layout,
                _rows_read_alongside(path, chosen.part, data.scan, large=data.pack_paid, claimed=claimed),
                progress,
                data.cleared_rows,
                data.totals_rows,
            )
            data.pending = _with_grid(data.pending, layout, data.scan, markup)
        else:
            rows = iter_sheet_rows(pkg, chosen.part, data.scan)
            data.rows.extend(_source_rows(layout, rows, progress, data.cleared_rows, data.totals_rows))
            _settle_grid(layout, data.scan, markup)
        return data


def _invoice_sheet(pkg: XlsxPackage, manual: BillingManual) -> tuple[SheetInfo, SheetLayout]:
    """The sheet of invoices (the manual's, or the first visible one with their header) and its layout."""
    source = pkg.name
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
    tops: list[tuple[str, list[tuple[int, Row]]]] = []
    for info in candidates:
        top = _first_rows(pkg, info.part, manual.header_search_rows)
        tops.append((info.name, top))
        layout = find_layout(info.name, top, manual)
        if layout is not None:
            return info, layout
    raise SheetLayoutError(describe_missing(source, tops, manual))


def _markup_of(path: Path, part: str) -> Callable[[], tuple[bytes, list[Area]]]:
    """Reads a sheet's prologue and merged cells in a pass of their own, when asked to."""

    def markup() -> tuple[bytes, list[Area]]:
        with XlsxPackage(path) as again:
            return grid_markup(again, part)

    return markup


def _with_grid(
    rows: Iterator[SourceRow], layout: SheetLayout, notes: ScanNotes, markup: Callable[[], tuple[bytes, list[Area]]]
) -> Iterator[SourceRow]:
    yield from rows
    _settle_grid(layout, notes, markup)


def _settle_grid(layout: SheetLayout, notes: ScanNotes, markup: Callable[[], tuple[bytes, list[Area]]]) -> None:
    """Once every row is read: the sheet's hidden columns and merged cells, for placing the tool's columns."""
    if notes.markup is not None:
        prologue, merged = notes.markup[0], merged_areas(notes.markup[1])
    else:
        prologue, merged = markup()  # a sheet read with lxml: its markup read again, on its own
    layout.grid.hidden = hidden_columns(prologue)
    layout.grid.merged = merged


def _source_rows(
    layout: SheetLayout,
    sheet_rows: Iterator[tuple[int, Row]],
    progress: Callable[[int], None] | None,
    cleared: list[int],
    totals: list[int],
) -> Iterator[SourceRow]:
    """The invoice rows below the header; once all are read, the layout learns the right-most column used."""
    max_column = 0
    table = layout.grid.table
    edge = table.last_col if table is not None else MAX_COLUMNS  # beyond it, in the table's rows: kept
    used = layout.grid.used_right_of_table

    def counted() -> Iterator[tuple[int, Row]]:
        nonlocal max_column
        for n, (row_number, values) in enumerate(sheet_rows, start=1):
            if values:
                top = max(values)
                if top > max_column:
                    max_column = top
                if top > edge and table is not None and table.first_row <= row_number <= table.last_row:
                    used.update(col for col, value in values.items() if col > edge and value not in (None, ""))
            if progress is not None and n % 5000 == 0:
                progress(n)
            yield row_number, values

    yield from rows_after_header(layout, counted(), cleared, totals)
    layout.max_column = max(max_column, max(layout.headers, default=0))


def _rows_read_alongside(
    path: Path,
    part: str,
    notes: ScanNotes,
    *,
    large: bool = False,
    claimed: tuple[Connection, BaseProcess] | None = None,
) -> Iterator[tuple[int, Row]]:
    """The rows of a sheet part, read by a second process and handed over in batches.

    The process starts now, so that it reads while the caller gets ready; the
    rows come as the returned iterator is read. It is spawned for a ``large`` sheet
    (``check.helper_context``). A ``claimed`` one (``prefetch.claim``), reading the
    part already, is taken instead of starting one.
    """
    if claimed is not None:
        receiver, reader = claimed
        rows = _received_rows(path, receiver, reader, notes)
        weakref.finalize(rows, _stop_reader, receiver, reader)
        return rows
    context = helper_context(large)
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
                notes.odd_rows, notes.odd_from, notes.markup = batch.odd_rows, batch.odd_from, batch.markup
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
        with _errors_sent(sender.send), XlsxPackage(Path(path)) as pkg:
            _send_rows(pkg, part, sender.send)
    finally:
        sender.close()


def _send_rows(pkg: XlsxPackage, part: str, send: Callable[[Any], None]) -> None:
    """The rows of ``part``, 1,000 at a time, then what was learnt of them (``ScanNotes``), then None."""
    batch: list[tuple[int, Row]] = []
    notes = ScanNotes()
    for row in iter_sheet_rows(pkg, part, notes, check_xml=False):
        batch.append(row)
        if len(batch) == 1000:
            send(batch)
            batch = []
    send(batch)
    send(notes)
    send(None)


@contextlib.contextmanager
def _errors_sent(send: Callable[[Any], None]) -> Iterator[None]:
    """A reading process's error, sent to the command as what it is; a command that stopped listening, left."""
    try:
        yield
    except (BrokenPipeError, ConnectionResetError):
        pass  # the reading side stopped
    except ToolkitError as exc:
        send(exc)
    except Exception as exc:  # a bug: hand it over as the internal error it is
        send(RuntimeError(f"{type(exc).__name__}: {exc}"))


def prefetch_rows(path: Path, sender: Connection) -> None:
    """In the prefetching process (``toolkit.xlsx.prefetch``): what it reads, then the rows as ``_read_rows_for`` sends them.

    First a ``Prefetched``: the file's size, time of change and SHA-256, and the sheet part
    read (the first visible sheet); or None when that sheet is too small to be read
    alongside or the file changed while it was opened. The rows are then pickled here and
    sent from a thread (``_SentAhead``), so that reading goes on while the command, still
    starting, has not begun to take them.
    """
    before = os.stat(path)
    with XlsxPackage(path) as pkg:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            hashed = os.fstat(fh.fileno())
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        opened = os.fstat(pkg.zip.fp.fileno()) if pkg.zip.fp is not None else None
        visible = [s for s in pkg.sheets if s.state == "visible"] or pkg.sheets
        part = visible[0].part if visible else ""
        if (
            opened is None
            or not _same_version(before, opened)
            or not _same_version(before, hashed)
            or not part
            or pkg.members[part].file_size < READ_ALONGSIDE_BYTES
        ):
            sender.send(None)
            return
        sender.send(Prefetched(before.st_size, before.st_mtime_ns, digest.hexdigest(), part))
        ahead = _SentAhead(sender)
        try:
            with _errors_sent(ahead):
                _send_rows(pkg, part, ahead)
        finally:
            ahead.close()


def _same_version(a: os.stat_result, b: os.stat_result) -> bool:
    """The same file, not changed between the two looks: device, inode, size and time of change."""
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


class _SentAhead:
    """``Connection.send`` from a thread, up to ``AHEAD`` messages behind; raises ``BrokenPipeError`` once it cannot.

    The command that will take the rows is still starting when the prefetching process
    reads them: with one send at a time, the reading would stop at a full pipe. The
    messages held are bounded (some 2 MB of rows), so is the wait for a command that has
    gone: it no longer holds the pipe, or its process is no longer this one's parent.
    """

    AHEAD = 16

    def __init__(self, sender: Connection) -> None:
        self.sender = sender
        self.parent = os.getppid()
        self.failed = False
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.AHEAD)
        self.thread = threading.Thread(target=self._run, name="prefetch-send", daemon=True)
        self.thread.start()

    def __call__(self, message: Any) -> None:
        data = bytes(ForkingPickler.dumps(message))
        while True:
            if self.failed or os.getppid() != self.parent:
                raise BrokenPipeError("the command stopped taking the rows")
            try:
                self.queue.put(data, timeout=1.0)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every message has been sent (or cannot be)."""
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=60)
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.failed:
                continue
            try:
                self.sender.send_bytes(data)
            except OSError:
                self.failed = True


def _first_rows(pkg: XlsxPackage, part: str, limit: int) -> list[tuple[int, Row]]:
    top = []
    for row_number, values in iter_sheet_rows(pkg, part):
        if row_number > limit:
            break
        if values:
            top.append((row_number, values))
    return top
