"""The sheet's tables, merged cells and hidden columns: what decides where the tool's columns go.

- **Excel tables** (``xl/tables/tableN.xml``, Format as Table): when the invoices are
  in one, the tool's columns become columns of the table, so that its filter, banding
  and sort take them in. ``extend_table`` widens the table's ``ref`` and ``autoFilter``
  (and a ``sortState`` that spans the table), and adds a ``tableColumn`` with a new
  unique id for each new column, named exactly as its header cell. A table's Total Row
  is not an invoice.
- **Merged cells** (``<mergeCell ref="G1:J1"/>``) at or below the header: the tool's
  columns never go under one.
- **Hidden columns** (``<col min="5" max="16384" hidden="1"/>``): a new column of the
  tool's that falls in one is shown (``unhide_columns`` splits the ``<col>``); nothing
  else is unhidden.

Everything is read from the bytes the reader already has (the sheet's prologue and the
XML after its rows) or from the small table parts, and written by patching bytes, as
the rest of the write-back does.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from toolkit.errors import WorkbookError
from toolkit.rows.layout import Area, SheetGrid, SheetLayout
from toolkit.text import column_index, column_letter, xml_safe
from toolkit.xlsx.package import MAX_COLUMNS, NS_PKG_REL, M, XlsxPackage
from toolkit.xlsx.scan import PROLOGUE, SheetSplitter

_TABLE_TYPE = "/relationships/table"
_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?$")
_MERGE = re.compile(rb"<(?:[\w.-]+:)?mergeCell\s[^>]*?\bref\s*=\s*[\"']([A-Z0-9:$]+)[\"']")
_COL = re.compile(rb"<(?:[\w.-]+:)?col\s[^>]*>")
_ATTR = re.compile(rb"""\b(min|max|hidden|width|customWidth)\s*=\s*["']([^"']*)["']""")


def area_of(ref: str) -> Area | None:
    """``A5:D50`` (or ``B2``) as an Area; None for anything else."""
    match = _REF.match(ref.strip())
    if match is None:
        return None
    first_col, first_row = column_index(match.group(1)), int(match.group(2))
    last_col = column_index(match.group(3)) if match.group(3) else first_col
    last_row = int(match.group(4)) if match.group(4) else first_row
    return Area(min(first_col, last_col), min(first_row, last_row), max(first_col, last_col), max(first_row, last_row))


def ref_of(area: Area) -> str:
    return f"{column_letter(area.first_col)}{area.first_row}:{column_letter(area.last_col)}{area.last_row}"


@dataclass(frozen=True)
class Table:
    """An Excel table of the sheet, as its part describes it."""

    part: str
    name: str
    area: Area
    header_rows: int
    totals_rows: int


def sheet_tables(pkg: XlsxPackage, sheet_part: str) -> list[Table]:
    """The tables of a worksheet part, from its relationships."""
    folder, base = posixpath.split(sheet_part)
    rels_part = posixpath.join(folder, "_rels", base + ".rels")
    if not pkg.has(rels_part):
        return []
    tables = []
    for rel in pkg.parse(rels_part).iter(f"{{{NS_PKG_REL}}}Relationship"):
        if not rel.get("Type", "").endswith(_TABLE_TYPE) or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        if not pkg.has(part):
            continue
        root = pkg.parse(part)
        area = area_of(root.get("ref", ""))
        if root.tag != f"{M}table" or area is None:
            continue
        try:
            header_rows = int(root.get("headerRowCount", "1"))
            totals_rows = int(root.get("totalsRowCount", "0"))
        except ValueError:
            raise WorkbookError(f"{pkg.name}: {part}: a row count is not a number; the file is damaged") from None
        tables.append(Table(part, root.get("displayName") or root.get("name", ""), area, header_rows, totals_rows))
    return tables


def grid_for(layout: SheetLayout, tables: list[Table]) -> SheetGrid:
    """The grid of the invoice sheet with its tables: the one whose header row is the invoices' holds them."""
    grid = SheetGrid()
    inputs = list(layout.columns.values())
    for table in tables:
        area = table.area
        holds = (
            grid.table is None
            and table.header_rows == 1
            and area.first_row == layout.header_row
            and all(area.has_column(col) for col in inputs)
        )
        if holds:
            grid.table, grid.table_name, grid.table_part = area, table.name, table.part
            if table.totals_rows > 0:
                grid.totals_row = area.last_row
        else:
            grid.other_tables.append((table.name, area))
    return grid


def merged_areas(xml: bytes) -> list[Area]:
    """The merged ranges in the part of a sheet after its rows."""
    areas = (area_of(ref.decode("ascii", "replace")) for ref in _MERGE.findall(xml))
    return [area for area in areas if area is not None]


def hidden_columns(prologue: bytes) -> list[tuple[int, int]]:
    """The hidden column ranges of a sheet's ``<cols>`` (in the part before its rows)."""
    hidden = []
    for tag in _COL.findall(prologue):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get(b"hidden", b"0").lower() in (b"1", b"true"):
            try:
                hidden.append((int(attrs.get(b"min", b"0")), int(attrs.get(b"max", b"0"))))
            except ValueError:
                continue
    return hidden


def grid_markup(pkg: XlsxPackage, part: str) -> tuple[bytes, list[Area]]:
    """The prologue and the merged ranges of a sheet, read in a pass of their own.

    For a sheet the reader could not read from its bytes (it hands such a sheet to lxml).
    """
    splitter = SheetSplitter(pkg.open(part), where=f"{pkg.name}: {part}")
    prologue = b""
    merged: list[Area] = []
    after = False
    for kind, piece in splitter:
        if kind == PROLOGUE:
            prologue = piece
            continue
        at = piece.find(splitter.data_close)
        if at >= 0:
            after = True
        if after:
            merged += merged_areas(piece[max(at, 0) :])
    return prologue, merged


# --------------------------------------------------------------------------------------------
# Writing


def extend_table(xml: bytes, last_col: int, names: list[str]) -> bytes:
    """A table part widened to ``last_col``, with a column named ``names[i]`` for each new column, in order.

    ``ref``, the ``autoFilter`` and a ``sortState`` spanning the table are widened;
    each new ``tableColumn`` gets an id one more than the largest there.
    """
    text = xml.decode("utf-8")
    ref = re.search(r'<(?:[\w.-]+:)?table\b[^>]*?\sref="([^"]+)"', text)
    columns = re.search(r"<((?:[\w.-]+:)?)tableColumns\b([^>]*)>(.*?)</(?:[\w.-]+:)?tableColumns>", text, re.S)
    if ref is None or columns is None:
        raise WorkbookError("the table part has no ref or no tableColumns")
    area = area_of(ref.group(1))
    assert area is not None
    old_last = area.last_col

    def widen(match: re.Match[str]) -> str:
        found = area_of(match.group(2))
        if found is None or found.last_col != old_last:
            return match.group(0)
        wide = Area(found.first_col, found.first_row, last_col, found.last_row)
        return f"{match.group(1)}{ref_of(wide)}{match.group(3)}"

    prefix, attributes, body = columns.group(1), columns.group(2), columns.group(3)
    ids = [int(i) for i in re.findall(r'<(?:[\w.-]+:)?tableColumn\b[^>]*?\sid="(\d+)"', body)]
    next_id = max(ids, default=0) + 1
    added = "".join(
        f'<{prefix}tableColumn id="{next_id + n}" name="{_attribute(name)}"/>' for n, name in enumerate(names)
    )
    count = len(ids) + len(names)
    attributes = re.sub(r'\scount="\d+"', f' count="{count}"', attributes)
    new_columns = f"<{prefix}tableColumns{attributes}>{body}{added}</{prefix}tableColumns>"
    text = text[: columns.start()] + new_columns + text[columns.end() :]
    # The table's ref, its autoFilter's and a sortState's: each widened when it reaches the table's last column.
    text = re.sub(r'(<(?:[\w.-]+:)?(?:table|autoFilter|sortState)\b[^>]*?\sref=")([^"]+)(")', widen, text)
    return text.encode("utf-8")


def _attribute(text: str) -> str:
    return xml_safe(text).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace(">", "&gt;")


def unhide_columns(prologue: bytes, shown: set[int]) -> bytes:
    """A sheet's prologue with the columns ``shown`` taken out of every hidden ``<col>`` range.

    A hidden range ``min..max`` that holds some of them is split: the parts
    around them stay hidden, each of them gets a ``<col>`` of its own with the
    range's other attributes, not hidden (and a zero width dropped).
    """
    if not shown:
        return prologue

    def split(match: re.Match[bytes]) -> bytes:
        tag = match.group(0)
        attrs = dict(_ATTR.findall(tag))
        if attrs.get(b"hidden", b"0").lower() not in (b"1", b"true"):
            return tag
        low, high = int(attrs.get(b"min", b"0")), int(attrs.get(b"max", b"0"))
        inside = sorted(col for col in shown if low <= col <= min(high, MAX_COLUMNS))
        if not inside:
            return tag
        pieces = []
        start = low
        for col in inside:
            if col > start:
                pieces.append(_col_range(tag, start, col - 1, hidden=True))
            pieces.append(_col_range(tag, col, col, hidden=False))
            start = col + 1
        if start <= high:
            pieces.append(_col_range(tag, start, high, hidden=True))
        return b"".join(pieces)

    return _COL.sub(split, prologue)


def _col_range(tag: bytes, low: int, high: int, *, hidden: bool) -> bytes:
    tag = re.sub(rb"""\bmin\s*=\s*["'][^"']*["']""", b'min="%d"' % low, tag)
    tag = re.sub(rb"""\bmax\s*=\s*["'][^"']*["']""", b'max="%d"' % high, tag)
    if not hidden:
        tag = re.sub(rb"""\s+hidden\s*=\s*["'][^"']*["']""", b"", tag)
        # A column hidden by a zero width gets the width of a column of text.
        tag = re.sub(rb"""\bwidth\s*=\s*["']0*(?:\.0*)?["']""", b'width="14"', tag)
    return tag
