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

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from toolkit.errors import WriteRefused
from toolkit.text import column_index, column_letter, xml_safe
from toolkit.xlsx_package import Readable, Styles

CHUNK = 1 << 20
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet[\s>]")
_EXCEL_EPOCH = date(1899, 12, 30)


@dataclass(frozen=True)
class OutputColumn:
    """One of the tool's columns: its key (``status``), header text and column index."""

    key: str
    header: str
    col: int


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
        values: dict[int, dict[str, Any]],
        styles: Styles,
        donors: StyleDonors,
        date1904: bool = False,
        where: str = "the sheet",
    ) -> None:
        self.where = where  # for messages: "book.xlsx: xl/worksheets/sheet1.xml"
        self.header_row = header_row
        self.columns = sorted(columns, key=lambda c: c.col)
        self.values = values
        self.styles = styles
        self.donors = donors
        self.max_col = max((c.col for c in columns), default=0)
        self.fallback_date_style = min(styles.date_styles) if styles.date_styles else None
        self.epoch = date(1904, 1, 1) if date1904 else _EXCEL_EPOCH
        self.rows_patched = 0
        self.changed = False  # whether any byte of the sheet differs from what was read
        self._p = b""  # the namespace prefix of the sheet's elements, e.g. b"x:"

    # -- the stream ----------------------------------------------------------------------

    def patch(self, stream: Readable) -> Iterator[bytes]:
        """Yield the patched sheet XML, reading ``stream`` in chunks."""
        buffer = b""
        prefix_done = False
        last_row = 0
        row_re: re.Pattern[bytes] | None = None
        while True:
            chunk = stream.read(CHUNK)
            buffer += chunk
            if not prefix_done:
                at = buffer.find(b"sheetData")
                if at < 0:
                    if chunk:
                        continue  # the sheet's prologue is longer than one chunk
                    yield buffer  # no rows at all: nothing to patch
                    return
                root = _ROOT.search(buffer)
                self._p = (root.group(1) + b":") if root and root.group(1) else b""
                row_re = re.compile(rb"<" + re.escape(self._p) + rb"row[\s>/]")
                lt = buffer.rfind(b"<", 0, at)
                yield self._patch_dimension(buffer[:lt])
                buffer = buffer[lt:]
                prefix_done = True
            assert row_re is not None
            pos = 0
            out: list[bytes] = []
            while True:
                m = row_re.search(buffer, pos)
                if m is None:
                    keep_from = max(pos, len(buffer) - 16)  # a tag may be split across chunks
                    out.append(buffer[pos:keep_from])
                    buffer = buffer[keep_from:]
                    break
                end = self._row_end(buffer, m.start())
                if end is None:
                    out.append(buffer[pos : m.start()])
                    buffer = buffer[m.start() :]
                    break
                out.append(buffer[pos : m.start()])
                row_xml = buffer[m.start() : end]
                number = _row_number(row_xml)
                if number is None:
                    number = last_row + 1
                last_row = number
                row_values = self._values_for(number)
                out.append(self._patch_row(row_xml, number, row_values) if row_values is not None else row_xml)
                pos = end
            yield b"".join(out)
            if not chunk:
                yield buffer
                return

    def _row_end(self, buffer: bytes, start: int) -> int | None:
        """End offset of the row element starting at ``start``, or None if not in the buffer yet."""
        tag_end = buffer.find(b">", start)
        if tag_end < 0:
            return None
        if buffer[tag_end - 1 : tag_end] == b"/":
            return tag_end + 1
        close = buffer.find(b"</" + self._p + b"row", tag_end)
        if close < 0:
            return None
        gt = buffer.find(b">", close)
        return None if gt < 0 else gt + 1

    def _values_for(self, row: int) -> dict[str, Any] | None:
        if row == self.header_row:
            return {c.key: c.header for c in self.columns}
        return self.values.get(row)

    # -- one row -------------------------------------------------------------------------

    def _patch_row(self, row_xml: bytes, number: int, row_values: dict[str, Any]) -> bytes:
        p = self._p
        tag_end = row_xml.find(b">")
        self_closing = row_xml[tag_end - 1 : tag_end] == b"/"
        start_tag = row_xml[: tag_end - 1].rstrip() + b">" if self_closing else row_xml[: tag_end + 1]
        body = b"" if self_closing else row_xml[tag_end + 1 : row_xml.rfind(b"</" + p + b"row")]
        start_tag = _widen_spans(start_tag, self.max_col)

        cells = list(_split_cells(body, p))  # (col, bytes, style) in order; col None for non-cells
        ours = {c.col: c for c in self.columns}
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
        self.rows_patched += 1
        patched = start_tag + b"".join(xml for _, xml in pieces) + b"".join(trailing) + b"</" + p + b"row>"
        if patched != row_xml:
            self.changed = True
        return patched

    def _donor_style(self, row: int, value: Any, donor_styles: dict[int, bytes | None]) -> bytes | None:
        donors = self.donors
        if row == self.header_row:
            return donor_styles.get(donors.header_col) if donors.header_col else None
        if isinstance(value, date):
            style = donor_styles.get(donors.date_col) if donors.date_col else None
            if style is not None and self.styles.is_date(int(style)):
                return style
            return str(self.fallback_date_style).encode() if self.fallback_date_style is not None else None
        style = donor_styles.get(donors.text_col) if donors.text_col else None
        if style is None:
            return None
        if isinstance(value, str) or self.styles.is_general(int(style)):
            return None if self.styles.is_date(int(style)) else style
        return None

    def _cell_xml(self, col: int, row: int, value: Any, style: bytes | None) -> bytes:
        ref = f"{column_letter(col)}{row}".encode()
        s_attr = b' s="' + style + b'"' if style is not None else b""
        if value is None or value == "":
            return b'<c r="' + ref + b'"' + s_attr + b"/>"
        if isinstance(value, bool):
            return b'<c r="' + ref + b'"' + s_attr + b' t="b"><v>' + (b"1" if value else b"0") + b"</v></c>"
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            if style is None:
                value = value.isoformat()  # no date style to show it with: text is clearer than a number
            else:
                serial = (value - self.epoch).days
                return b'<c r="' + ref + b'"' + s_attr + b"><v>" + str(serial).encode() + b"</v></c>"
        if isinstance(value, int | float | Decimal):
            number = format(value, "f") if isinstance(value, Decimal) else repr(value)
            return b'<c r="' + ref + b'"' + s_attr + b"><v>" + number.encode() + b"</v></c>"
        text = escape(xml_safe(str(value)))
        space = b' xml:space="preserve"' if text != text.strip() else b""
        p = self._p
        return (
            b'<c r="'
            + ref
            + b'"'
            + s_attr
            + b' t="inlineStr"><'
            + p
            + b"is><"
            + p
            + b"t"
            + space
            + b">"
            + text.encode("utf-8")
            + b"</"
            + p
            + b"t></"
            + p
            + b"is></c>"
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


class _Keep:
    """Marks a column the caller did not give a value for in a row: the cell is left alone."""


_KEEP: Any = _Keep()

_CELL_TAG = re.compile(rb"</?(?:[\w.-]+:)?c[\s>/]")
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["'](\d+)["']""")
_CELL_REF = re.compile(rb"""\sr\s*=\s*["']([A-Z]+)\d+["']""")
_CELL_STYLE = re.compile(rb"""\ss\s*=\s*["'](\d+)["']""")
_SPANS = re.compile(rb"""(\sspans\s*=\s*["'])([\d: ]+)(["'])""")


def _row_number(row_xml: bytes) -> int | None:
    tag = row_xml[: row_xml.find(b">")]
    match = _ROW_NUMBER.search(tag)
    return int(match.group(1)) if match else None


def _widen_spans(start_tag: bytes, max_col: int) -> bytes:
    match = _SPANS.search(start_tag)
    if match is None:
        return start_tag
    numbers = [int(n) for n in re.findall(rb"\d+", match.group(2))]
    if not numbers or max(numbers) >= max_col:
        return start_tag
    spans = f"{min(numbers)}:{max_col}".encode()
    return start_tag[: match.start()] + match.group(1) + spans + match.group(3) + start_tag[match.end() :]


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
