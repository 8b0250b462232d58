"""Workbooks written part by part, in Excel's own markup, for cases no Python library writes.

Excel writes shared strings, ``<workbookPr date1904="1"/>`` for the Mac date system, and
formulas with their cached results (``<f>SUM(E2:E4)</f><v>600</v>``). ``write_xlsx`` writes
exactly that, so a test sees what a workbook saved by Excel holds. A cell is given as:

- ``str``: a shared string; ``int``/``float``: a number in General format;
- ``Dated(serial)``: a number in a date format (style 1, ``numFmtId`` 14);
- ``Formula("SUM(E2:E4)", 600)``: a formula with its cached result;
- ``None``: no cell. A row given as ``{column: value}`` places its cells anywhere (``{16384: "x"}``: XFD).

``assert_only_new_cells`` checks a written copy the way issue 12 asks: every zip member but
the sheet byte-identical, every original cell with content unchanged.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl

from tests.realworld import CONTENT_TYPES
from toolkit.text import column_letter

SHEET_PART = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"


@dataclass(frozen=True)
class Dated:
    """A date serial in a date-formatted cell."""

    serial: int


@dataclass(frozen=True)
class Formula:
    """A formula and the result Excel cached for it."""

    text: str
    cached: float | str


def _cell(ref: str, value: Any, strings: list[str]) -> str:
    if isinstance(value, Dated):
        return f'<c r="{ref}" s="1"><v>{value.serial}</v></c>'
    if isinstance(value, Formula):
        if isinstance(value.cached, str):
            return f'<c r="{ref}" t="str"><f>{escape(value.text)}</f><v>{escape(value.cached)}</v></c>'
        return f'<c r="{ref}"><f>{escape(value.text)}</f><v>{value.cached}</v></c>'
    if isinstance(value, str):
        strings.append(value)
        return f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[Any] | Mapping[int, Any]],
    *,
    date1904: bool = False,
    namespace: str = MAIN_NS,
    odd_cells: bool = False,
) -> Path:
    """A one-sheet workbook named 'Invoices' holding ``rows`` from A1, as Excel saves it.

    ``odd_cells`` writes each cell's start tag with two spaces (``<c  r="A1">``), valid XML
    that the byte scanner does not take as plain: the reader then parses every row with lxml,
    so a test covers both ways of reading.
    """
    strings: list[str] = []
    row_xml = []
    for number, row in enumerate(rows, start=1):
        placed = row.items() if isinstance(row, Mapping) else enumerate(row, start=1)
        cells = "".join(
            _cell(f"{column_letter(col)}{number}", value, strings) for col, value in placed if value is not None
        )
        if odd_cells:
            cells = cells.replace("<c r=", "<c  r=")
        row_xml.append(f'<row r="{number}">{cells}</row>')
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{namespace}"><sheetData>'
        f"{''.join(row_xml)}</sheetData></worksheet>"
    )
    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    doc_rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    if namespace == STRICT_NS:  # Strict names its relationships under purl.oclc.org too
        doc_rel = "http://purl.oclc.org/ooxml/officeDocument/relationships"
    rel_ns = doc_rel
    parts = {
        "[Content_Types].xml": CONTENT_TYPES.format(tables=""),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{doc_rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="{namespace}" xmlns:r="{rel_ns}">{pr}'
            '<sheets><sheet name="Invoices" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{doc_rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{doc_rel}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{doc_rel}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<styleSheet xmlns="{namespace}">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        ),
        "xl/sharedStrings.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<sst xmlns="{namespace}" count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>'
        ),
        SHEET_PART: sheet,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text.encode())
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def cells_with_content(path: Path | bytes) -> dict[str, Any]:
    """Every cell holding something, by address, as openpyxl reads it (formulas as their text)."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    ws = openpyxl.load_workbook(source).active
    assert ws is not None
    return {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value not in (None, "")}


def assert_only_new_cells(before: bytes, after: Path, sheet_parts: Iterable[str] = (SHEET_PART,)) -> None:
    """Every member but the sheet byte-identical; every cell that held something before unchanged."""
    with zipfile.ZipFile(io.BytesIO(before)) as zf:
        old = {name: zf.read(name) for name in zf.namelist()}
    new = members(after)
    assert set(new) == set(old)
    changed = {name for name in old if old[name] != new[name]}
    assert changed <= set(sheet_parts), changed
    old_cells = cells_with_content(before)
    new_cells = cells_with_content(after)
    assert {ref: new_cells.get(ref) for ref in old_cells} == old_cells
