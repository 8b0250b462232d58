"""Changing a few given cells of a sheet, anywhere in it, touching nothing else.

``toolkit.xlsx.patch`` writes the tool's own columns on every row. This writes
the few cells a payment changes (Paid, Payment Date, the cached result of a
Balance formula), as the sheet's XML streams through: every other byte of the
sheet is copied as it was. A cell that holds a formula keeps it; only a cell
asked for ``cached_only`` may have its cached result replaced, and any other
formula cell is refused rather than overwritten.

``recalculate_on_open`` marks the workbook so that Excel and LibreOffice
recalculate every formula when it is next opened (``<calcPr fullCalcOnLoad="1"/>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from toolkit.errors import WriteRefused
from toolkit.text import column_index, column_letter, xml_safe
from toolkit.xlsx.package import MAX_SPAN_BYTES, Styles
from toolkit.xlsx.patch import _split_cells, _style_of, _widened
from toolkit.xlsx.scan import CHUNK, EPOCH_1900, EPOCH_1904, PROLOGUE, Readable, SheetSplitter, row_number_in


@dataclass(frozen=True)
class CellEdit:
    """One cell to write: ``value`` a Decimal, int, date or text (None clears it).

    ``cached_only``: the cell may hold a formula, which is kept; only its cached
    result becomes ``value`` (a plain cell simply gets the value).
    """

    row: int
    col: int
    value: Any
    cached_only: bool = False

    @property
    def ref(self) -> str:
        return f"{column_letter(self.col)}{self.row}"


@dataclass(frozen=True)
class StyleSources:
    """Columns whose cell in the same row lends its style to a new cell: ``date`` for dates, ``number`` for numbers."""

    date: int | None = None
    number: int | None = None
    header: int | None = None
    header_row: int = 0


class CellPatcher:
    """Streams a sheet's XML with the given cells written."""

    def __init__(
        self, edits: list[CellEdit], styles: Styles, sources: StyleSources, date1904: bool, where: str
    ) -> None:
        self.rows: dict[int, dict[int, CellEdit]] = {}
        for edit in edits:
            self.rows.setdefault(edit.row, {})[edit.col] = edit
        self.styles = styles
        self.sources = sources
        self.epoch = (EPOCH_1904 if date1904 else EPOCH_1900).date()
        self.where = where
        self.max_col = max((edit.col for edit in edits), default=0)
        self.rows_patched: set[int] = set()
        self.fallback_date_style = min(styles.date_styles) if styles.date_styles else None
        self.p = b""

    def patch(self, stream: Readable, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Yield the sheet's XML with the edits made; refuses if a row to edit is not in the sheet."""
        splitter = SheetSplitter(stream, chunk_size, max_span=MAX_SPAN_BYTES, where=self.where)
        last_row = 0
        for kind, piece in splitter:
            if kind == PROLOGUE:
                self.p = splitter.prefix
                yield self._widen_dimension(piece)
                continue
            rows, tail = splitter.split_rows(piece)
            out = []
            for before, attributes, content in rows:
                number = row_number_in(attributes)
                number = last_row + 1 if number is None else number
                last_row = number
                out.append(before)
                edits = self.rows.get(number)
                if edits is None:
                    out.append(splitter.row_xml(attributes, content))
                    continue
                out.append(self._patch_row(attributes, content or b"", number, edits))
                self.rows_patched.add(number)
            out.append(tail)
            yield b"".join(out)
        missing = sorted(set(self.rows) - self.rows_patched)
        if missing:
            raise WriteRefused(
                f"{self.where}: row {missing[0]} was not found in the sheet's XML; nothing was written. Please report it"
            )

    def _patch_row(self, attributes: bytes, body: bytes, number: int, edits: dict[int, CellEdit]) -> bytes:
        p = self.p
        cells = list(_split_cells(body, p))
        styles = {col: style for col, _, style in cells if col is not None}
        pieces: list[tuple[int, bytes]] = []
        trailing: list[bytes] = []
        for col, xml, _style in cells:
            if col is None:
                trailing.append(xml)
            elif col not in edits:
                pieces.append((col, xml))
            else:
                pieces.append((col, self._edited(xml, edits[col])))
        present = {col for col, _, _ in cells if col is not None}
        for col, edit in edits.items():
            if col not in present:
                pieces.append((col, self._new_cell(edit, self._borrowed_style(edit, number, styles))))
        pieces.sort(key=lambda item: item[0])
        start = b"<" + p + b"row" + _widen_spans(attributes, self.max_col) + b">"
        return start + b"".join(xml for _, xml in pieces) + b"".join(trailing) + b"</" + p + b"row>"

    def _edited(self, xml: bytes, edit: CellEdit) -> bytes:
        """An existing cell with its new value: its style kept, its formula kept when ``cached_only``."""
        has_formula = re.search(rb"<(?:[\w.-]+:)?f[\s>/]", xml) is not None
        if has_formula and not edit.cached_only:
            raise WriteRefused(
                f"{self.where}: cell {edit.ref} holds a formula, which the tool will not overwrite; nothing was "
                "written. Record this payment by hand, or make the cell a plain number"
            )
        style = _style_of(xml)
        if not has_formula:
            return self._new_cell(edit, style)
        # Keep the formula; put the new cached result in <v>, as a number.
        p = self.p
        tag_end = xml.find(b">")
        start_tag = re.sub(rb"""\st\s*=\s*["'][^"']*["']""", b"", xml[: tag_end + 1])
        body = xml[tag_end + 1 :]
        body = re.sub(rb"<(?:[\w.-]+:)?v\s*>.*?</(?:[\w.-]+:)?v\s*>|<(?:[\w.-]+:)?v\s*/>", b"", body, flags=re.DOTALL)
        value = b"<" + p + b"v>" + _number_text(edit.value) + b"</" + p + b"v>"
        close = body.rfind(b"</" + p + b"c>")
        return start_tag + body[:close] + value + body[close:]

    def _borrowed_style(self, edit: CellEdit, number: int, styles: dict[int, bytes | None]) -> bytes | None:
        sources = self.sources
        if number == sources.header_row:
            return styles.get(sources.header) if sources.header else None
        if isinstance(edit.value, date):
            style = styles.get(sources.date) if sources.date else None
            if style is not None and self.styles.is_date(int(style)):
                return style
            return str(self.fallback_date_style).encode() if self.fallback_date_style is not None else None
        style = styles.get(sources.number) if sources.number else None
        if style is not None and not self.styles.is_date(int(style)):
            return style
        return None

    def _new_cell(self, edit: CellEdit, style: bytes | None) -> bytes:
        p = self.p
        start = b"<" + p + b'c r="' + edit.ref.encode() + b'"' + (b' s="' + style + b'"' if style else b"")
        value = edit.value
        if value is None or value == "":
            return start + b"/>"
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            if style is None:
                value = value.isoformat()
            else:
                return start + b"><%sv>%d</%sv></%sc>" % (p, (value - self.epoch).days, p, p)
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return start + b"><%sv>%s</%sv></%sc>" % (p, _number_text(value), p, p)
        text = xml_safe(str(value)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return start + b' t="inlineStr"><%sis><%st>%s</%st></%sis></%sc>' % (p, p, text.encode(), p, p, p)

    def _widen_dimension(self, head: bytes) -> bytes:
        match = re.search(rb'(<(?:[\w.-]+:)?dimension\s+ref=")([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?(")', head)
        if match is None:
            return head
        last_col = match.group(4) or match.group(2)
        if column_index(last_col.decode()) >= self.max_col:
            return head
        last_row = match.group(5) or match.group(3)
        wide = match.group(1) + match.group(2) + match.group(3) + b":" + column_letter(self.max_col).encode()
        return head[: match.start()] + wide + last_row + match.group(6) + head[match.end() :]


def _number_text(value: Any) -> bytes:
    if isinstance(value, Decimal):
        return format(value, "f").encode()
    return repr(value).encode()


def _widen_spans(attributes: bytes, max_col: int) -> bytes:
    match = re.search(rb"""(\sspans\s*=\s*["'])([\d: ]+)(["'])""", attributes)
    if match is None:
        return attributes
    return attributes[: match.start(2)] + _widened(match.group(2), max_col) + attributes[match.end(2) :]


_CALC_PR = re.compile(rb"<((?:[\w.-]+:)?)calcPr\b([^>]*?)(/?)>")
_AFTER_CALC_PR = re.compile(
    rb"<(?:[\w.-]+:)?(?:oleSize|customWorkbookViews|pivotCaches|smartTagPr|smartTagTypes|webPublishing"
    rb"|fileRecoveryPr|webPublishObjects|extLst)\b|</(?:[\w.-]+:)?workbook>"
)


def recalculate_on_open(workbook_xml: bytes) -> bytes:
    """``xl/workbook.xml`` with ``fullCalcOnLoad="1"`` on its ``calcPr`` (added where the schema puts it)."""
    match = _CALC_PR.search(workbook_xml)
    if match is not None:
        attributes = re.sub(rb"""\sfullCalcOnLoad\s*=\s*["'][^"']*["']""", b"", match.group(2))
        tag = b"<" + match.group(1) + b"calcPr" + attributes + b' fullCalcOnLoad="1"' + match.group(3) + b">"
        return workbook_xml[: match.start()] + tag + workbook_xml[match.end() :]
    root = re.search(rb"<((?:[\w.-]+:)?)workbook[\s>]", workbook_xml)
    prefix = root.group(1) if root else b""
    after = _AFTER_CALC_PR.search(workbook_xml)
    if after is None:
        raise WriteRefused("the workbook part has no end; nothing was written")
    tag = b"<" + prefix + b'calcPr fullCalcOnLoad="1"/>'
    return workbook_xml[: after.start()] + tag + workbook_xml[after.start() :]
