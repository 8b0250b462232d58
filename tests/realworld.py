"""Checks every real-world workbook test makes: what must hold of a workbook the tool wrote to.

The workbooks accountants keep come from Excel, LibreOffice and Google Sheets, not from
openpyxl. A run on one of them must leave it as it was but for the tool's own columns:

- ``assert_members_unchanged``: every zip member byte-identical, but the invoice sheet and
  its table parts (``xl/tables/tableN.xml``), which the tool may extend;
- ``assert_original_cells_kept``: every cell with content in the sheet before the run has
  the same value, formula and style after it;
- ``assert_tables_match_headers``: every table's column names equal its header cells
  (what Excel checks on opening, and "repairs" otherwise);
- ``assert_libreoffice_opens``: LibreOffice loads the result and shows the sheet.

``realworld_copy`` copies one of the Excel-made files in ``../shared/realworld/`` into
``tmp_path``; ``REALWORLD_MANUALS`` holds the billing manual each needs (their README).
``sheet_cells`` and ``column_by_header`` read a sheet's cells straight from its XML,
without the tool's reader, so a test does not check the tool with itself.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.libreoffice import read_sheet_via_libreoffice, require_soffice
from toolkit.text import column_index, column_letter

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"

# The manual settings each real file needs (from ../shared/realworld/README.md).
REALWORLD_MANUALS = {
    "excel-tables-bad-debts.xlsx": """
[columns]
due_date = ["Transaction Date"]
[policy]
require_email = false
""",
    "excel-invoices-text-dates.xlsx": """
[company]
locale = "en_IN"
currency = "INR"
[columns]
invoice = ["InvoiceID"]
customer = ["CustomerID"]
issue_date = ["InvoiceDate"]
due_date = ["DueDate"]
[policy]
require_email = false
""",
    "excel-receivables-datetimes.xlsx": """
[columns]
invoice = ["InvoiceID"]
customer = ["CustomerName"]
due_date = ["InvoiceDate"]
issue_date = ["Emission"]
[policy]
require_email = false
""",
}


def realworld_folder() -> Path | None:
    """The folder of the real Excel-made workbooks: ``$RECEIVABLES_REALWORLD``, or ``shared/realworld`` above the repo."""
    env = os.environ.get("RECEIVABLES_REALWORLD")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "realworld"
        if candidate.is_dir():
            return candidate
    return None


def realworld_copy(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """Copy a real workbook and write its manual into ``tmp_path``: (workbook, manual).

    Skips the test when the files are not on this machine, and fails it when CI is set.
    """
    folder = realworld_folder()
    if folder is None or not (folder / name).is_file():
        message = f"the real workbook {name} is not on this machine (set RECEIVABLES_REALWORLD)"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set: it is required there", pytrace=False)
        pytest.skip(message)
    workbook = tmp_path / name
    shutil.copyfile(folder / name, workbook)
    manual = tmp_path / (Path(name).stem + ".toml")
    manual.write_text(REALWORLD_MANUALS[name], encoding="utf-8")
    return workbook, manual


# --------------------------------------------------------------------------------------------
# Reading a package straight from its XML


def members(path: Path) -> dict[str, bytes]:
    """Every zip member's bytes, by name."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _rels(parts: dict[str, bytes], part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, target part) of a part."""
    folder, base = posixpath.split(part)
    rels = parts.get(posixpath.join(folder, "_rels", base + ".rels"))
    if rels is None:
        return {}
    out = {}
    for rel in etree.fromstring(rels).iter(f"{NS_PKG}Relationship"):
        target = rel.get("Target", "")
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id", "")] = (rel.get("Type", "").rsplit("/", 1)[-1], resolved)
    return out


def sheet_part_of(parts: dict[str, bytes], sheet: str) -> str:
    """The worksheet part of the sheet named ``sheet``."""
    workbook = etree.fromstring(parts["xl/workbook.xml"])
    rels = _rels(parts, "xl/workbook.xml")
    for elem in workbook.iter(f"{NS}sheet"):
        if elem.get("name") == sheet:
            return rels[elem.get(f"{NS_REL}id", "")][1]
    raise AssertionError(f"no sheet {sheet!r} in the workbook")


def table_parts_of(parts: dict[str, bytes], sheet_part: str) -> list[str]:
    """The table parts (``xl/tables/tableN.xml``) of a worksheet part."""
    return sorted(target for kind, target in _rels(parts, sheet_part).values() if kind == "table")


def _shared_strings(parts: dict[str, bytes]) -> list[str]:
    data = parts.get("xl/sharedStrings.xml")
    if data is None:
        return []
    root = etree.fromstring(data)
    return ["".join(t.text or "" for t in si.iter(f"{NS}t") if t.getparent().tag != f"{NS}rPh") for si in root]


@dataclass(frozen=True)
class Cell:
    """A cell as its XML has it: the value (shared strings resolved), its formula, type and style."""

    value: str | None
    formula: str | None
    kind: str
    style: str | None


def sheet_cells(path: Path, sheet: str) -> dict[str, Cell]:
    """Every cell of a sheet with a value or a formula, by its reference (``E17``)."""
    parts = members(path)
    strings = _shared_strings(parts)
    root = etree.fromstring(parts[sheet_part_of(parts, sheet)])
    cells = {}
    for c in root.iter(f"{NS}c"):
        kind = c.get("t", "n")
        v, f, inline = c.find(f"{NS}v"), c.find(f"{NS}f"), c.find(f"{NS}is")
        value = v.text if v is not None else None
        if kind == "s" and value is not None:
            value = strings[int(value)]
        elif inline is not None:
            value = "".join(t.text or "" for t in inline.iter(f"{NS}t"))
        formula = f.text if f is not None else None
        if value not in (None, "") or formula is not None or (f is not None and f.get("t") == "shared"):
            cells[c.get("r", "")] = Cell(value, formula, kind, c.get("s"))
    return cells


def split_ref(ref: str) -> tuple[int, int]:
    """``E17`` -> (column 5, row 17)."""
    letters = ref.rstrip("0123456789")
    return column_index(letters), int(ref[len(letters) :])


def column_by_header(path: Path, sheet: str, header_row: int, header: str) -> dict[int, str | None]:
    """Row -> the value of the column whose header cell (in ``header_row``) is exactly ``header``."""
    cells = sheet_cells(path, sheet)
    cols = [
        split_ref(ref)[0] for ref, cell in cells.items() if split_ref(ref)[1] == header_row and cell.value == header
    ]
    assert len(cols) == 1, f"{len(cols)} columns headed {header!r} in row {header_row}"
    return {
        row: cell.value
        for ref, cell in cells.items()
        if (col_row := split_ref(ref))[0] == cols[0] and (row := col_row[1]) > header_row
    }


# --------------------------------------------------------------------------------------------
# The checks


def assert_members_unchanged(before: Path, after: Path, sheet: str) -> None:
    """Every zip member but the sheet's part and its table parts is there, byte for byte; no member added."""
    old, new = members(before), members(after)
    sheet_part = sheet_part_of(old, sheet)
    allowed = {sheet_part, *table_parts_of(old, sheet_part)}
    assert sorted(new) == sorted(old), "the package's members changed"
    changed = sorted(name for name in old if old[name] != new[name] and name not in allowed)
    assert not changed, f"members changed that the tool has no reason to touch: {changed}"


def assert_original_cells_kept(before: Path, after: Path, sheet: str, ours: Collection[int] = ()) -> None:
    """Every cell with content before is there after with the same value, formula and style; ``ours``
    are the columns of the tool's own (written by an earlier run), left out."""
    old, new = sheet_cells(before, sheet), sheet_cells(after, sheet)
    lost = [
        f"{ref}: {cell} -> {new.get(ref)}"
        for ref, cell in old.items()
        if split_ref(ref)[0] not in ours and new.get(ref) != cell
    ]
    assert not lost, "cells of the accountant's changed:\n" + "\n".join(lost[:20])


def assert_tables_match_headers(path: Path) -> None:
    """Every table's column names equal its header cells, its ids are unique, and ``count`` is right."""
    parts = members(path)
    workbook = etree.fromstring(parts["xl/workbook.xml"])
    names = {elem.get(f"{NS_REL}id"): elem.get("name") for elem in workbook.iter(f"{NS}sheet")}
    rels = _rels(parts, "xl/workbook.xml")
    for rid, sheet in names.items():
        sheet_part = rels[rid or ""][1]
        cells = sheet_cells(path, sheet or "")
        for table_part in table_parts_of(parts, sheet_part):
            table = etree.fromstring(parts[table_part])
            first, _, last = table.get("ref", "").partition(":")
            first_col, header_row = split_ref(first)
            columns = table.find(f"{NS}tableColumns")
            assert columns is not None
            ids = [c.get("id") for c in columns]
            assert len(set(ids)) == len(ids), f"{table_part}: column ids repeat: {ids}"
            assert columns.get("count") == str(len(columns)), f"{table_part}: count is not the number of columns"
            last_col = split_ref(last)[0]
            assert last_col - first_col + 1 == len(columns), f"{table_part}: ref and columns disagree"
            if table.get("headerRowCount", "1") == "0":
                continue
            for offset, column in enumerate(columns):
                ref = f"{column_letter(first_col + offset)}{header_row}"
                header = cells.get(ref)
                assert header is not None and header.value == column.get("name"), (
                    f"{table_part}: column {column.get('name')!r} but header cell {ref} holds {header}"
                )


def assert_libreoffice_opens(path: Path, sheet: str, tmp_path: Path) -> list[list[str]]:
    """LibreOffice loads the workbook and shows ``sheet``: its rows as LibreOffice shows them."""
    require_soffice()
    rows = read_sheet_via_libreoffice(path, sheet, tmp_path)
    assert rows, f"LibreOffice showed nothing of {sheet!r} in {path}"
    return rows


def assert_written_safely(before: Path, after: Path, sheet: str, tmp_path: Path) -> list[list[str]]:
    """All four checks of a write: members, original cells, tables, LibreOffice. Returns LibreOffice's rows."""
    assert_members_unchanged(before, after, sheet)
    assert_original_cells_kept(before, after, sheet)
    assert_tables_match_headers(after)
    return assert_libreoffice_opens(after, sheet, tmp_path)


# --------------------------------------------------------------------------------------------
# Hand-written workbooks in Excel's own markup


@dataclass(frozen=True)
class TableSpec:
    """An Excel table (Format as Table) to put on the sheet: its name, range and whether it has a Total Row."""

    name: str
    ref: str
    totals_row: bool = False


# The content types of a one-sheet workbook in Excel's markup; {tables} for the table parts it has.
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "{tables}</Types>"
)
_MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_RELS = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>'
_REL = (
    '<Relationship Id="{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{}" Target="{}"/>'
)
# Styles as Excel writes them: 0 General, 1 a date (yyyy-mm-dd), 2 bold with a fill and a number format
# (a header whose look the tool copies but whose number format it must not), 3 a money format.
_STYLES = (
    f'<styleSheet {_MAIN}><numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="#,##0.00"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/>'
    '</font></fonts><fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill '
    'patternType="gray125"/></fill><fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/></patternFill>'
    '</fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="1" fillId="2" applyFont="1" applyFill="1" applyNumberFormat="1"/>'
    '<xf numFmtId="165" applyNumberFormat="1"/><xf numFmtId="0" fontId="1" fillId="2" applyFont="1" applyFill="1"/>'
    "</cellXfs></styleSheet>"
)
EXCEL_EPOCH = date(1899, 12, 30)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _sheet_xml(rows: dict[int, list[Any]], strings: dict[str, int], header_row: int, extra: str, tail: str) -> str:
    out = []
    for number in sorted(rows):
        cells = []
        for offset, value in enumerate(rows[number]):
            ref = f"{column_letter(offset + 1)}{number}"
            header_style = ' s="2"' if number == header_row else ""
            if value is None:
                continue
            if isinstance(value, str) and value.startswith("="):
                cells.append(f'<c r="{ref}" s="3"><f>{_xml_text(value[1:])}</f></c>')
            elif isinstance(value, str):
                index = strings.setdefault(value, len(strings))
                cells.append(f'<c r="{ref}"{header_style} t="s"><v>{index}</v></c>')
            elif isinstance(value, date):
                cells.append(f'<c r="{ref}" s="1"><v>{(value - EXCEL_EPOCH).days}</v></c>')
            else:
                cells.append(f'<c r="{ref}" s="3"><v>{value}</v></c>')
        out.append(f'<row r="{number}">{"".join(cells)}</row>')
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_MAIN} {_R}>{extra}'
        f"<sheetData>{''.join(out)}</sheetData>{tail}</worksheet>"
    )


def _table_xml(table: TableSpec, index: int, rows: dict[int, list[Any]]) -> str:
    first, _, last = table.ref.partition(":")
    first_col, header_row = split_ref(first)
    last_col, last_row = split_ref(last)
    headers = rows[header_row]
    names = "".join(
        f'<tableColumn id="{n + 1}" name="{_xml_text(str(headers[col - 1]))}"'
        + (' totalsRowLabel="Total"' if table.totals_row and n == 0 else "")
        + (' totalsRowFunction="sum"' if table.totals_row and n == last_col - first_col else "")
        + "/>"
        for n, col in enumerate(range(first_col, last_col + 1))
    )
    data_end = last_row - 1 if table.totals_row else last_row
    totals = ' totalsRowCount="1"' if table.totals_row else ' totalsRowShown="0"'
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<table {_MAIN} id="{index}" name="{table.name}" '
        f'displayName="{table.name}" ref="{table.ref}"{totals}>'
        f'<autoFilter ref="{first}:{column_letter(last_col)}{data_end}"/>'
        f'<tableColumns count="{last_col - first_col + 1}">{names}</tableColumns>'
        '<tableStyleInfo name="TableStyleMedium2" showFirstColumn="0" showLastColumn="0" showRowStripes="1" '
        'showColumnStripes="0"/></table>'
    )


def excel_workbook(
    path: Path,
    rows: dict[int, list[Any]],
    *,
    header_row: int = 1,
    sheet: str = "Invoices",
    tables: Sequence[TableSpec] = (),
    cols: str = "",
    merges: Sequence[str] = (),
) -> Path:
    """Write a workbook part by part as Excel writes it: shared strings, styles, tables, ``<cols>``, merges.

    ``rows`` maps a row number to its values from column A (None leaves a cell out; text
    starting with "=" is a formula without a cached value; dates get a date style).
    """
    strings: dict[str, int] = {}
    extra = f"<cols>{cols}</cols>" if cols else ""
    tail = ""
    if merges:
        tail += f'<mergeCells count="{len(merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
        tail += "</mergeCells>"
    if tables:
        tail += f'<tableParts count="{len(tables)}">'
        tail += "".join(f'<tablePart r:id="rId{n + 1}"/>' for n in range(len(tables))) + "</tableParts>"
    sheet_xml = _sheet_xml(rows, strings, header_row, extra, tail)
    shared = "".join(f'<si><t xml:space="preserve">{_xml_text(s)}</t></si>' for s in strings)
    parts = {
        "[Content_Types].xml": CONTENT_TYPES.format(
            tables="".join(
                f'<Override PartName="/xl/tables/table{n + 1}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml"/>'
                for n in range(len(tables))
            )
        ),
        "_rels/.rels": _RELS.format(_REL.format("rId1", "officeDocument", "xl/workbook.xml")),
        "xl/workbook.xml": f'<workbook {_MAIN} {_R}><sheets><sheet name="{_xml_text(sheet)}" sheetId="1" '
        'r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": _RELS.format(
            _REL.format("rId1", "worksheet", "worksheets/sheet1.xml")
            + _REL.format("rId2", "styles", "styles.xml")
            + _REL.format("rId3", "sharedStrings", "sharedStrings.xml")
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
        "xl/styles.xml": _STYLES,
        "xl/sharedStrings.xml": f'<sst {_MAIN} count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>',
    }
    if tables:
        parts["xl/worksheets/_rels/sheet1.xml.rels"] = _RELS.format(
            "".join(_REL.format(f"rId{n + 1}", "table", f"../tables/table{n + 1}.xml") for n in range(len(tables)))
        )
        for n, table in enumerate(tables):
            parts[f"xl/tables/table{n + 1}.xml"] = _table_xml(table, n + 1, rows)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return path


def table_ref(path: Path, table_part: str) -> str:
    """The ``ref`` of a table part."""
    return str(etree.fromstring(members(path)[table_part]).get("ref"))


def sort_table_rows(path: Path, table_part: str, order: Sequence[int]) -> None:
    """Sort a table as Excel does: the cells of its data rows (between the header and a Total Row)
    rewritten in another order, ``order`` giving the old row of each new one, top first."""
    parts = members(path)
    table = etree.fromstring(parts[table_part])
    first, _, last = str(table.get("ref")).partition(":")
    first_col, header_row = split_ref(first)
    last_col, last_row = split_ref(last)
    last_row -= int(table.get("totalsRowCount", "0"))
    sheet_part = next(
        name for name in parts if name.startswith("xl/worksheets/") and table_part in table_parts_of(parts, name)
    )
    root = etree.fromstring(parts[sheet_part])
    rows = {int(row.get("r")): row for row in root.iter(f"{NS}row")}
    data = list(range(header_row + 1, last_row + 1))
    assert sorted(order) == data, "order must list every data row of the table once"
    taken = {}
    for number in data:
        cells = [c for c in rows[number] if first_col <= split_ref(c.get("r"))[0] <= last_col]
        for cell in cells:
            rows[number].remove(cell)
        taken[number] = cells
    for new, old in zip(data, order, strict=True):
        row = rows[new]
        for cell in taken[old]:
            cell.set("r", f"{column_letter(split_ref(cell.get('r'))[0])}{new}")
        keep = list(row)
        for cell in keep:
            row.remove(cell)
        for cell in sorted([*keep, *taken[old]], key=lambda c: split_ref(c.get("r"))[0]):
            row.append(cell)
    parts[sheet_part] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data_bytes in parts.items():
            zf.writestr(name, data_bytes)


def hidden_column_ranges(path: Path, sheet: str) -> list[tuple[int, int]]:
    """The hidden column ranges of a sheet's ``<cols>``."""
    parts = members(path)
    root = etree.fromstring(parts[sheet_part_of(parts, sheet)])
    return [
        (int(col.get("min", "0")), int(col.get("max", "0")))
        for col in root.iter(f"{NS}col")
        if col.get("hidden") in ("1", "true")
    ]
