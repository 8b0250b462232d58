"""Writing the tool's own columns into the invoice sheet, touching nothing else.

The workbook is never loaded and saved by a spreadsheet library: that drops the
cached results of formulas and rewrites parts it has no business touching.
Instead the one sheet's XML is patched as a stream of bytes: the rows that get a
value have our cells put in (or replaced) in column order, and every other byte
of the sheet, and every other part of the package, is copied as it was.

Cells the tool writes are typed values: numbers as numbers, dates as date serials
with a date style, text as inline strings. Text never becomes a formula.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from toolkit.errors import WriteRefused
from toolkit.source import OutputColumn
from toolkit.text import column_index, column_letter, xml_safe
from toolkit.xlsx.grid import unhide_columns
from toolkit.xlsx.package import MAX_SPAN_BYTES, Styles
from toolkit.xlsx.scan import (
    EPOCH_1900,
    EPOCH_1904,
    PROLOGUE,
    Readable,
    ScanNotes,
    SheetSplitter,
    has_row,
    row_number_in,
    tags_end_at_first_gt,
)

CHUNK = 1 << 20


@dataclass(frozen=True)
class StyleDonors:
    """Columns whose cells lend their style to new cells in the same row.

    A new text or number cell takes the style of the row's ``text`` cell (the
    customer, say: same font, fill and borders); a new date cell takes the style
    of the row's ``date`` cell (the due date) so it shows as a date.
    """

    header_col: int | None = None
    text_col: int | None = None
    date_col: int | None = None


class SheetPatcher:
    """Patches the rows of one sheet's XML as it streams through."""

    def __init__(
        self,
        header_row: int,
        columns: list[OutputColumn],
        values: Mapping[int, dict[str, Any]],
        styles: Styles,
        donors: StyleDonors,
        date1904: bool = False,
        where: str = "the sheet",
        scan: ScanNotes | None = None,
        shown: frozenset[int] = frozenset(),
    ) -> None:
        self.where = where
        self.shown = shown  # hidden columns to show: new columns of the tool's that fell in a hidden range  # for messages: "book.xlsx: xl/worksheets/sheet1.xml"
        # What the reader learnt: rows it could not read from their bytes are patched the careful way.
        self.scan = scan if scan is not None else ScanNotes()
        self.header_row = header_row
        self.columns = sorted(columns, key=lambda c: c.col)
        self.values = values
        self.styles = styles
        self.donors = donors
        self.max_col = max((c.col for c in columns), default=0)
        self.fallback_date_style = min(styles.date_styles) if styles.date_styles else None
        self.epoch = (EPOCH_1904 if date1904 else EPOCH_1900).date()
        self.rows_patched = 0
        self.changed = False  # whether any byte of the sheet differs from what was read
        self._prefix(b"")  # the namespace prefix of the sheet's elements, e.g. b"x:", once the sheet is read

    # -- the stream ----------------------------------------------------------------------

    def patch(self, stream: Readable, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Yield the patched sheet XML, reading ``stream`` in chunks."""
        splitter = SheetSplitter(stream, chunk_size, max_span=MAX_SPAN_BYTES, where=self.where)
        last_row = 0
        index = 0
        scan = self.scan
        every_row_plain = not scan.odd_rows and scan.odd_from is None  # as the reader found them: the usual
        vouched = scan.plain_to_end()  # tags end at their first ">" everywhere: the reader found so
        values_get, header_row = self.values.get, self.header_row
        for kind, piece in splitter:
            if kind == PROLOGUE:
                self._prefix(splitter.prefix)
                shown = unhide_columns(piece, set(self.shown))
                if shown != piece:
                    self.changed = True
                yield self._patch_dimension(shown)
                continue
            # Tags end at the first ">" only when no ">" stands in a value: else every row is looked at closely.
            tags_plain = vouched or tags_end_at_first_gt(piece)
            plain = tags_plain and self._plain_chunk(piece, vouched)
            if plain and every_row_plain:
                block = self._patch_block(piece)
                if block is not None:
                    patched_block, count, last = block
                    index += count
                    last_row = last or last_row
                    yield patched_block
                    continue
            rows, tail = splitter.split_rows(piece)
            out = []
            for before, attributes, content in rows:
                number = row_number_in(attributes)
                if number is None:
                    number = last_row + 1
                last_row = number
                careful = not (tags_plain and (every_row_plain or scan.is_plain(index)))
                index += 1
                row_values = values_get(number) if number != header_row else self._values_for(number)
                out.append(before)
                if row_values is not None and plain and not careful and content is not None:
                    # The common case, without putting the row's bytes together first.
                    patched = self._patch_plain_parts(attributes, content, number, row_values, True)
                    if patched is not None:
                        self.rows_patched += 1
                        if not self.changed and patched != splitter.row_xml(attributes, content):
                            self.changed = True
                        out.append(patched)
                        continue
                row_xml = splitter.row_xml(attributes, content)
                if careful:
                    self._check_tags(row_xml, number)
                if row_values is not None:
                    row_xml = self._patch_row(row_xml, number, row_values, plain, careful)
                out.append(row_xml)
            out.append(tail)
            yield b"".join(out)

    def _patch_block(self, block: bytes) -> tuple[bytes, int, int] | None:
        """A block of rows patched at once, when none of them has a cell of ours yet; else None.

        The first run on a sheet, and the common case there: every row gets our cells
        after its own. What ``_patch_plain_parts`` finds row by row (where a row ends,
        that none of its cells is at or right of our first column, its number) is
        found here for the whole block by C code (``bytes.split``, one regex each),
        leaving a few operations per row. A row that is not the plain shape is
        patched by ``_patch_row``; a block with any cell at or right of our first
        column, a row without an ``r`` or a self-closing one, by the row-by-row path.
        The bytes are the same either way (``tests/test_patch_block.py``).
        ``(patched bytes, rows met, the last row's number)``.
        """
        if not self.columns or (self._beyond is not None and self._beyond.search(block) is not None):
            return None
        head = b""
        if block.startswith(self._data_open):  # the first block: the rows' start tag, then the rows
            gt = block.find(b">") + 1
            if gt <= 0 or block[gt - 2 : gt] == b"/>":
                return None
            head, block = block[:gt], block[gt:]
        close = self._row_close_tag
        pieces = block.split(close)
        tail = pieces.pop()
        if (
            not pieces
            or block.count(self._row_open, 0, len(block) - len(tail)) != len(pieces)
            or has_row(tail, self._row_open)
        ):
            return None  # a self-closing row (also one after the last closed), or none closed
        if not block.startswith(self._row_start) or block.count(close + self._row_start) != len(pieces) - 1:
            return None  # anything before a row, or a row with another attribute first
        tags = self._row_tags.findall(block, 0, len(block) - len(tail))
        if len(tags) != len(pieces) or block.count(b' spans="') != sum(1 for _, spans in tags if spans):
            return None  # a row without its r first, or spans not right after it
        out = [head]
        append = out.append
        values_get, header_row, cell_close = self.values.get, self.header_row, self._cell_close
        patched = 0
        changed = False
        number = 0
        for piece, (digits, spans) in zip(pieces, tags, strict=True):
            number = int(digits)
            row_values = values_get(number) if number != header_row else self._values_for(number)
            if row_values is None:
                append(piece)
                append(close)
                continue
            if number == header_row or not piece.endswith(cell_close):
                row_xml = piece + close
                append(self._patch_row(row_xml, number, row_values, plain=True))
                continue
            suffix = digits + b'"'
            donors = _RowStyles(self._donor_refs, piece, suffix, self._tag_styles)
            cells = self._our_cells(row_values, {}, donors, suffix)
            if cells is None:  # a value not given: no cell for it (none is there to keep)
                cells = b"".join(self._cells(number, row_values, {}, donors, suffix))
            if spans:
                wide = self._wide_spans(spans)
                if wide != spans:
                    piece = piece.replace(b' spans="' + spans, b' spans="' + wide, 1)  # the row's tag comes first
                    changed = True
            patched += 1
            if cells:
                changed = True
            append(piece)
            append(cells)
            append(close)
        append(tail)
        self.rows_patched += patched
        self.changed = self.changed or changed
        return b"".join(out), len(pieces), number

    def _check_tags(self, row_xml: bytes, number: int) -> None:
        """Refuse a row whose tags do not end at their first ">" (one stands in an attribute's value)."""
        for tag in _TAG.findall(row_xml):
            if tag.count(b'"') % 2 or tag.count(b"'") % 2:
                raise WriteRefused(
                    f"{self.where}: row {number} has a '>' inside an attribute's value, which Excel never writes, "
                    "so the tool cannot update it safely; nothing was written. "
                    "Open the workbook in Excel or LibreOffice, save it, and run again"
                )

    def _prefix(self, prefix: bytes) -> None:
        """Set up the byte patterns for the sheet's namespace prefix (``b"x:"`` or ``b""``)."""
        p = self._p = prefix
        self._cell_r = b"<" + p + b'c r="'
        self._cell_any = b"<" + p + b"c"
        self._row_open = b"<" + p + b"row"
        self._row_close = b"</" + p + b"row"
        self._cell_close = b"</" + p + b"c>"
        self._formula = b"<" + p + b"f"  # a formula's start tag: in no cell the tool writes
        self._letters: dict[int, bytes] = {}  # column -> its letters, as met
        self._letter_columns: dict[bytes, int] = {}  # column letters (b"AB") -> the column
        self._templates: dict[tuple[Any, ...], bytes] = {}  # our cells of a row, by values and styles
        # The values given for the last row ``_our_cells`` built, and what it made of them (values, types, a date?).
        self._last_values: Any = None
        self._last_parts: tuple[tuple[Any, ...], tuple[type, ...], bool] = ((), (), False)
        self._cols = [c.col for c in self.columns]
        self._value_getter = operator.itemgetter(*[c.key for c in self.columns] or ["status"])
        self._refs = {c.col: self._cell_r + column_letter(c.col).encode() for c in self.columns}
        donors = (self.donors.header_col, self.donors.text_col, self.donors.date_col)
        self._donor_refs = {col: self._cell_r + column_letter(col).encode() for col in donors if col}
        self._rests: dict[tuple[type, Any, bytes | None], bytes] = {}
        self._borrowed: dict[tuple[str, bytes | None], bytes | None] = {}
        self._spans: dict[bytes, bytes] = {}  # a row's spans attribute -> widened to our columns
        # For ``_patch_block``: a row's end, its start with its number and spans, a cell at or right
        # of our first column.
        self._row_close_tag = self._row_close + b">"
        self._row_start = b"<" + p + b'row r="'
        self._data_open = b"<" + p + b"sheetData"
        self._row_tags = re.compile(re.escape(self._row_start) + rb'([1-9]\d*)"(?: spans="([\d:]*)")?')
        first = self.columns[0].col if self.columns else None
        self._beyond = re.compile(re.escape(self._cell_r) + rb"(?:" + _columns_from(first) + rb")\d") if first else None
        self._tag_styles: dict[bytes, bytes | None] = {}  # a donor cell's style by the rest of its tag (``_style_at``)

    def _refuse_formula(self, number: int, cells: dict[int, bytes]) -> None:
        """A cell of one of our columns holding a formula: the tool never writes one, so the column is not its."""
        for column in self.columns:
            if self._formula in cells.get(column.col, b""):
                raise WriteRefused(
                    f"{self.where}: cell {column_letter(column.col)}{number} under the header {column.header!r} holds "
                    "a formula, which the tool never writes: the column is yours, not the tool's; nothing was written. "
                    f"Choose another name for the tool's column with [output_columns] {column.key} in the billing "
                    "manual, or rename your column"
                )

    def _values_for(self, row: int) -> dict[str, Any] | None:
        if row == self.header_row:
            return {c.key: c.header for c in self.columns}
        return self.values.get(row)

    # -- one row -------------------------------------------------------------------------

    def _plain_chunk(self, chunk: bytes, cells_vouched: bool = False) -> bool:
        """Whether the rows in a chunk of the sheet hold no whitespace and only cells with an r address first.

        Inside rows only cells have a name starting with "c", so counting ``<c``
        finds every cell. ``cells_vouched``: the reader read every row of the sheet from
        its bytes (``ScanNotes.plain_to_end``), every cell with its r first; not counted again.
        """
        return (
            _WHITESPACE_AFTER_TAG.search(chunk) is None
            and not chunk[:1].isspace()
            and not chunk[-1:].isspace()
            and (cells_vouched or chunk.count(self._cell_any) == chunk.count(self._cell_r))
        )

    def _patch_row(
        self, row_xml: bytes, number: int, row_values: dict[str, Any], plain: bool = False, careful: bool = False
    ) -> bytes:
        """The row with our cells put in; ``plain`` when its chunk passed ``_plain_chunk``; ``careful``
        for a row the reader could not read from its bytes, which is split into its cells and checked."""
        patched = None if careful else self._patch_plain_row(row_xml, number, row_values, plain)
        if patched is None:
            patched = self._patch_any_row(row_xml, number, row_values)
        self.rows_patched += 1
        if patched != row_xml:
            self.changed = True
        return patched

    def _patch_plain_row(
        self, row_xml: bytes, number: int, row_values: dict[str, Any], plain: bool = False
    ) -> bytes | None:
        """The patched row when our cells come last in it (every run but odd layouts), else None.

        Gives the same bytes as ``_patch_any_row`` without splitting the row into
        cells: the row's own cells are kept as one block and ours are put after it.
        It applies when every cell has an ``r`` address, nothing but cells is in
        the row (no whitespace, no extLst), and the cells at or right of our first
        column are all ours.
        """
        tag_end = row_xml.find(b">")
        close = row_xml.rfind(self._row_close)
        if row_xml[tag_end - 1] == 0x2F or close < 0:  # self-closing
            return None
        attributes = row_xml[len(self._row_open) : tag_end]
        return self._patch_plain_parts(attributes, row_xml[tag_end + 1 : close], number, row_values, plain)

    def _patch_plain_parts(
        self, attributes: bytes, body: bytes, number: int, row_values: dict[str, Any], plain: bool
    ) -> bytes | None:
        """``_patch_plain_row`` on a row given as its start tag's attributes and its content."""
        if not self.columns:
            return None
        if body and not (
            body.endswith(self._cell_close)
            or (body.endswith(b"/>") and body.startswith(self._cell_any, body.rfind(b"<")))
        ):
            return None  # the row does not end with a cell: an extLst
        if not plain and not self._plain_chunk(body):
            return None  # whitespace, an extLst, a cell without an r address or with r not first
        suffix = b'%d"' % number
        last = body.rfind(self._cell_r)
        existing: dict[int, bytes] = {}
        if last < 0 or self._column_of_ref(body, last) < self.columns[0].col:
            tail = len(body)  # none of our cells yet: they go after the row's own
        elif (ours := self._ours_last(body, suffix)) is not None:
            tail, existing = ours  # every day after the first: our cells, all of them, end the row
        else:
            found = sorted(
                (at, column.col) for column in self.columns if (at := body.find(self._refs[column.col] + suffix)) >= 0
            )
            if not found:
                return None
            tail = found[0][0]
            if body.count(self._cell_any, tail) != len(found):
                return None  # a cell of the accountant's among or after ours
            last_own = body.rfind(self._cell_r, 0, tail)
            if last_own >= 0 and self._column_at(body, last_own) >= self.columns[0].col:
                return None  # the accountant's cells reach past our first column
            for (at, col), (end, _) in zip(found, [*found[1:], (len(body), 0)], strict=True):
                existing[col] = body[at:end]
        if existing and body.find(self._formula, tail) >= 0:
            self._refuse_formula(number, existing)
        donors = _RowStyles(self._donor_refs, body, suffix, self._tag_styles)
        cells = None if number == self.header_row else self._our_cells(row_values, existing, donors, suffix)
        if cells is None:
            cells = b"".join(self._cells(number, row_values, existing, donors, suffix))
        return b"".join(
            (self._row_open, self._widen_spans(attributes), b">", body[:tail], cells, self._row_close, b">")
        )

    def _cells(
        self, number: int, row_values: dict[str, Any], existing: dict[int, bytes], donors: _StyleLookup, suffix: bytes
    ) -> list[bytes]:
        """Our cells of a row, in column order: new ones for the values given, the old ones kept for the rest."""
        borrowed: dict[type, bytes | None] = {}  # a row's values of one type borrow the same style
        cells = []
        for column in self.columns:
            value = row_values.get(column.key, _KEEP)
            old = existing.get(column.col) if existing else None
            if value is _KEEP:
                if old is not None:
                    cells.append(old)
                continue
            style = _style_of(old) if old is not None else None
            if style is None:
                kind = type(value)
                if kind in borrowed:
                    style = borrowed[kind]
                else:
                    style = borrowed[kind] = self._donor_style(number, value, donors)
            cells.append(self._cell_xml(column.col, number, value, style, suffix))
        return cells

    def _our_cells(
        self, row_values: dict[str, Any], existing: dict[int, bytes], donors: _RowStyles, suffix: bytes
    ) -> bytes | None:
        """What ``_cells`` gives, from a cache: most rows share their values and styles with many others.

        The cells of a row differ from another's with the same values and styles only
        by the row number in their references; the cache keeps them with a NUL byte in
        its place (XML text can hold none: ``xml_safe`` removes it). None for a row
        that keeps any of its old cells (a value not given), which is built as it is.
        """
        if row_values is self._last_values:  # the row before's values (``ComputedValues`` shares them)
            values, types, has_date = self._last_parts
        else:
            try:
                values = self._value_getter(row_values)
            except KeyError:
                return None
            if len(self.columns) == 1:
                values = (values,)
            types = tuple(map(type, values))  # in the key: True == 1 and 1.0 == 1, but not as cells
            has_date = date in types or datetime in types
            self._last_values, self._last_parts = row_values, (values, types, has_date)
        styles = tuple(_style_of(existing[col]) if col in existing else None for col in self._cols) if existing else ()
        text_style = donors.get(self.donors.text_col) if self.donors.text_col else None
        date_style = donors.get(self.donors.date_col) if has_date and self.donors.date_col else None
        key = (values, types, styles, text_style, date_style)
        template = self._templates.get(key)
        if template is None:
            template = b"".join(self._cells(-1, row_values, existing, donors, b"\x00"))
            if len(self._templates) < 50_000:
                self._templates[key] = template
        return template.replace(b"\x00", suffix)

    def _ours_last(self, body: bytes, suffix: bytes) -> tuple[int, dict[int, bytes]] | None:
        """Where our cells start and each by column, when the row ends with all of them in order; else None.

        What ``_patch_plain_row`` finds by looking for each of our cells, found
        here with a few ``rfind`` from the end of the row.
        """
        columns = self.columns
        starts = []
        at = len(body)
        for column in reversed(columns):
            at = body.rfind(self._cell_r, 0, at)
            ref = self._refs[column.col]
            if at < 0 or not body.startswith(ref, at) or not body.startswith(suffix, at + len(ref)):
                return None
            starts.append(at)
        starts.reverse()
        before = body.rfind(self._cell_r, 0, starts[0])
        if before >= 0 and self._column_at(body, before) >= columns[0].col:
            return None  # the accountant's cells reach past our first column
        ends = [*starts[1:], len(body)]
        return starts[0], {
            column.col: body[start:end] for column, start, end in zip(columns, starts, ends, strict=True)
        }

    def _widen_spans(self, start_tag: bytes) -> bytes:
        """The row's start tag with its ``spans`` hint taking in our columns."""
        at = start_tag.find(b' spans="')  # as every program writes it; the regex for any other way
        if at >= 0:
            start = at + len(b' spans="')
            end = start_tag.find(b'"', start)
        else:
            match = _SPANS.search(start_tag)
            if match is None:
                return start_tag
            start, end = match.span(2)
        spans = start_tag[start:end]
        wide = self._wide_spans(spans)
        return start_tag if wide == spans else start_tag[:start] + wide + start_tag[end:]

    def _wide_spans(self, spans: bytes) -> bytes:
        """A ``spans`` value widened to take in our columns (the same when it does already)."""
        wide = self._spans.get(spans)
        if wide is None:
            plain = spans and not spans.translate(None, b"0123456789: ")
            wide = self._spans[spans] = _widened(spans, self.max_col) if plain else spans
        return wide

    def _column_of_ref(self, body: bytes, at: int) -> int:
        """``_column_at``, through a cache of the column letters met."""
        start = at + len(self._cell_r)
        letters = body[start : body.find(b'"', start)].rstrip(b"0123456789")
        col = self._letter_columns.get(letters)
        if col is None:
            col = self._column_at(body, at)
            if letters.isalpha() and letters.isupper() and len(self._letter_columns) < 20_000:
                self._letter_columns[letters] = col
        return col

    def _column_at(self, body: bytes, at: int) -> int:
        start = at + len(self._cell_r)
        end = start
        while 65 <= body[end] <= 90:  # A-Z
            end += 1
        return column_index(body[start:end].decode())

    def _patch_any_row(self, row_xml: bytes, number: int, row_values: dict[str, Any]) -> bytes:
        p = self._p
        tag_end = row_xml.find(b">")
        self_closing = row_xml[tag_end - 1 : tag_end] == b"/"
        start_tag = row_xml[: tag_end - 1].rstrip() + b">" if self_closing else row_xml[: tag_end + 1]
        body = b"" if self_closing else row_xml[tag_end + 1 : row_xml.rfind(b"</" + p + b"row")]
        start_tag = self._widen_spans(start_tag)

        cells = list(_split_cells(body, p))  # (col, bytes, style) in order; col None for non-cells
        ours = {c.col: c for c in self.columns}
        formulas = {col: xml for col, xml, _ in cells if col in ours and self._formula in xml}
        if formulas:
            self._refuse_formula(number, formulas)
        existing_style = {col: style for col, _, style in cells if col in ours}
        donor_styles = {col: style for col, _, style in cells if col is not None}
        pieces: list[tuple[int, bytes]] = []
        trailing: list[bytes] = []
        for col, xml, _style in cells:
            if col is None:
                if _CELL_TAG.search(xml):  # a cell nested in another, or under another prefix: it would move
                    raise WriteRefused(
                        f"{self.where}: row {number} holds a cell inside another element or under another XML "
                        "namespace prefix, which the tool cannot update safely; nothing was written. "
                        "Open the workbook in Excel or LibreOffice, save it, and run again"
                    )
                trailing.append(xml)  # extLst and whitespace stay after the cells
            elif col not in ours:
                pieces.append((col, xml))
        for column in self.columns:
            value = row_values.get(column.key, _KEEP)
            if value is _KEEP:
                # Not ours to write in this run: keep what the row has.
                kept = next((xml for col, xml, _ in cells if col == column.col), None)
                if kept is not None:
                    pieces.append((column.col, kept))
                continue
            style = existing_style.get(column.col)
            if style is None:
                style = self._donor_style(number, value, donor_styles)
            pieces.append((column.col, self._cell_xml(column.col, number, value, style)))
        pieces.sort(key=lambda item: item[0])
        return start_tag + b"".join(xml for _, xml in pieces) + b"".join(trailing) + b"</" + p + b"row>"

    def _donor_style(self, row: int, value: Any, donor_styles: _StyleLookup) -> bytes | None:
        donors = self.donors
        if row == self.header_row:
            header = donor_styles.get(donors.header_col) if donors.header_col else None
            if header is None:
                return None
            # The last header's look, not its number format: a General style that looks the same, or none.
            look = self.styles.look_only(int(header))
            return str(look).encode() if look is not None else None
        if isinstance(value, date):
            style = donor_styles.get(donors.date_col) if donors.date_col else None
            key: tuple[str, bytes | None] = ("date", style)
        else:
            style = donor_styles.get(donors.text_col) if donors.text_col else None
            key = ("text" if isinstance(value, str) else "number", style)
        # The answer depends only on the kind of value and the donor's style: work it out once.
        if key not in self._borrowed:
            self._borrowed[key] = self._borrowed_style(*key)
        return self._borrowed[key]

    def _borrowed_style(self, kind: str, style: bytes | None) -> bytes | None:
        """The style a new cell takes from its donor: dates need a date style, text and numbers must not get one."""
        if kind == "date":
            if style is not None and self.styles.is_date(int(style)):
                return style
            return str(self.fallback_date_style).encode() if self.fallback_date_style is not None else None
        if style is None:
            return None
        if kind == "text" or self.styles.is_general(int(style)):
            return None if self.styles.is_date(int(style)) else style
        return None

    def _cell_xml(self, col: int, row: int, value: Any, style: bytes | None, suffix: bytes | None = None) -> bytes:
        ref = self._refs.get(col)
        if ref is None:
            ref = self._refs[col] = self._cell_r + column_letter(col).encode()
        start = ref + (suffix if suffix is not None else b'%d"' % row)
        kind = type(value)
        if kind is not str and kind is not int:
            return start + self._cell_rest(value, style)
        # Statuses, buckets and day counts repeat on every row: build each cell's XML once.
        key = (kind, value, style)
        rest = self._rests.get(key)
        if rest is None:
            rest = self._cell_rest(value, style)
            if len(self._rests) < 10_000:
                self._rests[key] = rest
        return start + rest

    def _cell_rest(self, value: Any, style: bytes | None) -> bytes:
        """A cell's XML after its ``r`` attribute: its style, type and value."""
        p = self._p
        start = b' s="' + style + b'"' if style is not None else b""
        if value is None or value == "":
            return start + b"/>"
        if isinstance(value, bool):
            return start + b' t="b"><%sv>%s</%sv></%sc>' % (p, b"1" if value else b"0", p, p)
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            if style is None:
                value = value.isoformat()  # no date style to show it with: text is clearer than a number
            else:
                serial = (value - self.epoch).days
                return start + b"><%sv>%d</%sv></%sc>" % (p, serial, p, p)
        if isinstance(value, int | float | Decimal):
            number = format(value, "f") if isinstance(value, Decimal) else repr(value)
            return start + b"><%sv>%s</%sv></%sc>" % (p, number.encode(), p, p)
        text = xml_safe(str(value)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        space = b' xml:space="preserve"' if text != text.strip() else b""
        return start + b' t="inlineStr"><%sis><%st%s>%s</%st></%sis></%sc>' % (
            p,
            p,
            space,
            text.encode("utf-8"),
            p,
            p,
            p,
        )

    def _patch_dimension(self, head: bytes) -> bytes:
        match = re.search(rb'(<(?:[\w.-]+:)?dimension\s+ref=")([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?(")', head)
        if match is None:
            return head
        first_col, first_row = match.group(2), match.group(3)
        last_col = match.group(4) or first_col
        last_row = match.group(5) or first_row
        if column_index(last_col.decode()) >= self.max_col:
            return head
        new_last = column_letter(self.max_col).encode()
        replacement = match.group(1) + first_col + first_row + b":" + new_last + last_row + match.group(6)
        self.changed = True
        return head[: match.start()] + replacement + head[match.end() :]


class _StyleLookup(Protocol):
    def get(self, col: int, /) -> bytes | None: ...


class _RowStyles:
    """The styles of a row's cells by column, each looked up in the row's bytes only when asked for."""

    __slots__ = ("body", "known", "refs", "suffix")

    def __init__(self, refs: dict[int, bytes], body: bytes, suffix: bytes, known: dict[bytes, bytes | None]) -> None:
        self.refs, self.body, self.suffix = refs, body, suffix  # refs: column -> b'<c r="B', for the donors
        self.known = known  # shared by the rows of a sheet: a look-up is a find and a dict's (``_style_at``)

    def get(self, col: int, /) -> bytes | None:
        return _style_at(self.body, self.refs[col] + self.suffix, self.known)


_UNKNOWN: Any = object()  # a style not looked up yet


class _Keep:
    """Marks a column the caller did not give a value for in a row: the cell is left alone."""


_KEEP: Any = _Keep()

_CELL_TAG = re.compile(rb"</?(?:[\w.-]+:)?c[\s>/]")
_TAG = re.compile(rb"<[^>]*>")
_CELL_REF = re.compile(rb"""\sr\s*=\s*["']([A-Z]+)\d+["']""")
_CELL_STYLE = re.compile(rb"""\ss\s*=\s*["'](\d+)["']""")
_SPANS = re.compile(rb"""(\sspans\s*=\s*["'])([\d: ]+)(["'])""")


# Whitespace between a row's cells, which the cell-by-cell path drops. In a chunk of rows any
# such whitespace follows a tag; in one row's body it may also open or close the body.
_WHITESPACE_AFTER_TAG = re.compile(rb">\s")


def _style_of(cell_xml: bytes) -> bytes | None:
    """The ``s`` attribute of a cell, from its start tag."""
    end = cell_xml.find(b">")
    at = cell_xml.find(b' s="', 0, end)  # as every program writes it; the regex for any other way
    if at >= 0:
        close = cell_xml.find(b'"', at + 4, end)
        if close > at + 4 and cell_xml[at + 4 : close].isdigit():
            return cell_xml[at + 4 : close]
    else:
        tag = cell_xml[:end]
        if b"s=" not in tag and b"s " not in tag and b"s\t" not in tag and b"s\n" not in tag and b"s\r" not in tag:
            return None  # no s attribute, written any way (the common text cell: <c r="B5" t="s">)
    match = _CELL_STYLE.search(cell_xml, 0, end)
    return match.group(1) if match else None


def _style_at(piece: bytes, ref: bytes, known: dict[bytes, bytes | None]) -> bytes | None:
    """The style of the first cell in ``piece`` whose start is ``ref`` (``b'<c r="B5"'``); None without one.

    ``known``: the style by the rest of the cell's start tag (``b' s="3"'``), which rows share.
    """
    at = piece.find(ref)
    gt = piece.find(b">", at)
    if at < 0 or gt < 0:
        return None
    rest = piece[at + len(ref) : gt]
    style = known.get(rest, _UNKNOWN)
    if style is _UNKNOWN:
        style = _style_of(b'<c r="A1"' + rest + b">")
        if len(known) < 1000:
            known[rest] = style
    return cast("bytes | None", style)


def _columns_from(first: int) -> bytes:
    """A regex matching the letters of every column from ``first`` on (followed by a row number)."""
    letters = column_letter(first)
    width = len(letters)
    choices = [letters]
    for i, letter in enumerate(letters):
        if letter != "Z":
            rest = f"[A-Z]{{{width - i - 1}}}" if width - i - 1 else ""
            choices.append(f"{letters[:i]}[{chr(ord(letter) + 1)}-Z]{rest}")
    if width < 3:
        choices.append(f"[A-Z]{{{width + 1},3}}")
    return "|".join(choices).encode()


def _widened(spans: bytes, max_col: int) -> bytes:
    """A row's ``spans`` value (``1:10``) stretched to take in our right-most column."""
    numbers = [int(n) for n in re.findall(rb"\d+", spans)]
    if not numbers or max(numbers) >= max_col:
        return spans
    return f"{min(numbers)}:{max_col}".encode()


def _split_cells(body: bytes, p: bytes) -> Iterator[tuple[int | None, bytes, bytes | None]]:
    """The children of a row: ``(column, xml, style)`` for cells, ``(None, xml, None)`` for the rest."""
    cell_start = re.compile(rb"<" + re.escape(p) + rb"c[\s>/]")
    cell_close = b"</" + p + b"c>"
    pos = 0
    col = 0
    while pos < len(body):
        m = cell_start.search(body, pos)
        if m is None:
            rest = body[pos:]
            if rest:
                yield None, rest, None
            return
        if m.start() > pos:
            between = body[pos : m.start()]
            if between.strip():
                yield None, between, None
        tag_end = body.find(b">", m.start())
        tag = body[m.start() : tag_end + 1]
        if tag.endswith(b"/>"):
            end = tag_end + 1
        else:
            close = body.find(cell_close, tag_end)
            end = close + len(cell_close) if close >= 0 else len(body)
        ref = _CELL_REF.search(tag)
        col = column_index(ref.group(1).decode()) if ref else col + 1
        style = _CELL_STYLE.search(tag)
        yield col, body[m.start() : end], style.group(1) if style else None
        pos = end
