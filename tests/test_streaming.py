"""The streaming read and write paths: byte-level fast paths that must agree with lxml and with each other."""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.process
import os
import shutil
import subprocess
import tracemalloc
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.styles.numbers import is_date_format as openpyxl_is_date_format
from PIL import Image as PILImage

from tests.conftest import run
from tests.factory import CORE_HEADERS
from tests.libreoffice import require_soffice
from toolkit import pipeline
from toolkit.errors import WorkbookError, WriteRefused
from toolkit.manual import load_manual
from toolkit.pipeline import run_source
from toolkit.rows.layout import CellError
from toolkit.source import OutputColumn
from toolkit.xlsx import read as reader
from toolkit.xlsx import source as xlsx_source
from toolkit.xlsx import zip_rewrite
from toolkit.xlsx.check import XmlCheck
from toolkit.xlsx.package import Styles, XlsxPackage, is_date_format
from toolkit.xlsx.patch import SheetPatcher, StyleDonors
from toolkit.xlsx.scan import ROWS, ScanNotes, SheetSplitter, plain_shared_strings
from toolkit.xlsx.source import XlsxSource
from toolkit.xlsx.zip_rewrite import rewrite

# The minimal packages built here have no named styles, which openpyxl mentions when it reads them.
pytestmark = pytest.mark.filterwarnings("ignore:Workbook contains no default style")

AS_OF = "2026-11-20"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = list(CORE_HEADERS)


# -- building packages byte by byte ------------------------------------------------------------


def write_package(path: Path, rows_xml: str, shared: list[str] = (), prefix: str = "") -> Path:  # type: ignore[assignment]
    """A minimal .xlsx whose sheet rows are exactly ``rows_xml`` (written with ``<c>``, ``<row>``...).

    Style 1 shows dates (DD/MM/YYYY), style 2 is a plain number format. With a
    ``prefix`` every element of the sheet, the styles and the strings is written
    ``<x:c>`` and so on, as some exporters do.
    """
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="{NS}"'

    def px(xml: str) -> str:
        return xml.replace("</", "\x00").replace("<", "<" + p).replace("\x00", "</" + p) if p else xml

    styles = px(
        f"<styleSheet {ns}>"
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
        '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="2"/></cellXfs></styleSheet>'
    )
    items = "".join(f"<si><t>{text}</t></si>" for text in shared)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
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
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="xl/workbook.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
            "</Relationships>",
        )
        z.writestr(
            "xl/workbook.xml",
            px(
                f'<workbook {ns} xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                '<sheets><sheet name="Invoices" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ).replace(f"<{p}r:", "<r:"),
        )
        rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        z.writestr("xl/styles.xml", styles)
        z.writestr("xl/sharedStrings.xml", px(f"<sst {ns}>{items}</sst>"))
        z.writestr(
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            + px(f'<worksheet {ns}><dimension ref="A1:G4"/><sheetData>{rows_xml}</sheetData></worksheet>'),
        )
    return path


def _ref(col: int, number: int, with_r: bool) -> str:
    return f' r="{chr(64 + col)}{number}"' if with_r else ""


def header_row(number: int = 1, with_r: bool = True) -> str:
    cells = "".join(
        f'<c{_ref(i, number, with_r)} t="inlineStr"><is><t>{text}</t></is></c>' for i, text in enumerate(HEADER, 1)
    )
    row_r = f' r="{number}"' if with_r else ""
    return f"<row{row_r}>{cells}</row>"


def invoice_row(number: int, invoice: str, with_r: bool = True, amount: float = 100.0, paid: float = 0) -> str:
    """A data row: due 2026-10-01 (serial 46296), issued 2026-09-01 (46266)."""
    values = [
        f' t="inlineStr"><is><t>{invoice}</t></is>',
        ' t="inlineStr"><is><t>Northwind</t></is>',
        ' t="inlineStr"><is><t>ap@northwind.example</t></is>',
        ' s="1"><v>46266</v>',
        ' s="1"><v>46296</v>',
        f"><v>{amount}</v>",
        f"><v>{paid}</v>",
    ]
    cells = "".join(f"<c{_ref(i, number, with_r)}{v}</c>" for i, v in enumerate(values, 1))
    row_r = f' r="{number}"' if with_r else ""
    return f"<row{row_r}>{cells}</row>"


def read_rows(path: Path) -> list[tuple[int, dict[int, Any]]]:
    with XlsxPackage(path) as pkg:
        return list(reader.iter_sheet_rows(pkg, "xl/worksheets/sheet1.xml"))


def read_rows_lxml(path: Path) -> list[tuple[int, dict[int, Any]]]:
    with XlsxPackage(path) as pkg:
        cells = reader._CellReader(pkg, "test")
        return list(reader._iter_rows_lxml(pkg, "xl/worksheets/sheet1.xml", cells))


def sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read("xl/worksheets/sheet1.xml")


# -- reading -----------------------------------------------------------------------------------


def test_rows_without_r_attributes_are_numbered_in_order(tmp_path: Path) -> None:
    """Rows and cells without r addresses read as the next row and the next column."""
    rows = header_row(with_r=False) + invoice_row(2, "INV-1", with_r=False) + invoice_row(3, "INV-2", with_r=False)
    book = write_package(tmp_path / "no-r.xlsx", rows)
    read = read_rows(book)
    assert [number for number, _ in read] == [1, 2, 3]
    assert read[2][1][1] == "INV-2" and read[2][1][5] == datetime(2026, 10, 1)
    assert read == read_rows_lxml(book)


def test_rows_without_r_attributes_are_written_back(tmp_path: Path) -> None:
    """Our cells land on the right rows of a sheet whose rows carry no r address."""
    rows = header_row(with_r=False) + invoice_row(2, "INV-1", with_r=False) + invoice_row(3, "INV-2", with_r=False)
    book = write_package(tmp_path / "no-r.xlsx", rows)
    run(str(book))
    wb = openpyxl.load_workbook(book)
    ws = wb.active
    assert [ws.cell(row=1, column=c).value for c in range(8, 12)] == ["Status", "Days Overdue", "Aging", "Problems"]
    assert ws["H2"].value == "Overdue" and ws["I3"].value == 50


def test_prefixed_namespace_sheet_reads_and_writes_with_its_prefix(tmp_path: Path) -> None:
    """A sheet written with an x: prefix is read, and our cells are written with the same prefix."""
    rows = header_row() + invoice_row(2, "INV-1") + invoice_row(3, "INV-2", amount=50, paid=50)
    book = write_package(tmp_path / "prefixed.xlsx", rows, prefix="x")
    assert read_rows(book) == read_rows_lxml(book)
    run(str(book))
    xml = sheet_xml(book)
    assert b"<c r=" not in xml and b'<x:c r="H2" t="inlineStr"><x:is><x:t>Overdue</x:t></x:is></x:c>' in xml
    values = dict(read_rows(book))
    assert values[2][8] == "Overdue" and values[3][8] == "Paid" and values[2][9] == 50
    assert openpyxl.load_workbook(book).active["H3"].value == "Paid"


def test_comment_hiding_a_row_end_is_read_with_lxml(tmp_path: Path) -> None:
    """A comment holding "</row>" inside the rows sends the rest of the sheet to lxml, which reads it right."""
    rows = header_row() + invoice_row(2, "INV-1") + "<!-- </row><row r='9'> -->" + invoice_row(3, "INV-2")
    book = write_package(tmp_path / "comment.xlsx", rows)
    read = read_rows(book)
    assert [number for number, _ in read] == [1, 2, 3]
    assert read == read_rows_lxml(book)


def test_rows_that_are_not_plain_are_read_like_lxml(tmp_path: Path) -> None:
    """Errors, booleans, entities, rich inline text and odd attributes read exactly as lxml reads them."""
    rows = (
        '<row r="1"><c r="A1" t="e"><v>#N/A</v></c><c r="B1" t="b"><v>1</v></c>'
        '<c r="C1" t="inlineStr"><is><t>Smith &amp; Sons</t></is></c>'
        '<c r="D1" t="inlineStr"><is><r><t>ri</t></r><r><t>ch</t></r></is></c>'
        '<c r="E1" t="s" s="1"><v>0</v></c><c r="F1" s="01"><v>46296</v></c><c r="G1" t=""><v>x</v></c></row>'
        '<row r="2">\n  <c r="A2" s="1"><v>46296.5</v></c>\n  <c r="B2"><f t="shared" si="0"/><v>7</v></c>\n</row>'
        '<row r="3"><c r="A3" t="str"><f>A1&amp;"x"</f><v>line\r\nend</v></c><c r="B3"><v>1e3</v></c></row>'
        '<row r="4"/>'
    )
    book = write_package(tmp_path / "odd.xlsx", rows, shared=["zero"])
    read = read_rows(book)
    assert read == read_rows_lxml(book)
    assert read[0][1][1] == CellError("#N/A") and read[0][1][3] == "Smith & Sons" and read[3] == (4, {})


def read_with_notes(path: Path) -> tuple[list[tuple[int, dict[int, Any]]], ScanNotes]:
    notes = ScanNotes()
    with XlsxPackage(path) as pkg:
        return list(reader.iter_sheet_rows(pkg, "xl/worksheets/sheet1.xml", notes)), notes


def test_plain_rows_leave_no_notes_for_the_writer(tmp_path: Path) -> None:
    """A sheet of plain rows is read from its bytes throughout: the writer may patch every row the fast way."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 40))
    read, notes = read_with_notes(write_package(tmp_path / "plain.xlsx", rows))
    assert len(read) == 39 and notes.odd_rows == set() and notes.odd_from is None
    assert all(notes.is_plain(i) for i in range(39))


def test_a_row_the_byte_reader_cannot_read_is_noted_for_the_writer(tmp_path: Path) -> None:
    """A row read with lxml (a cell nested in a value) is noted by its place, and read as lxml reads it."""
    rows = header_row() + invoice_row(2, "INV-2") + invoice_row(3, "INV-3") + invoice_row(4, "INV-4")
    rows = rows.replace('<c r="F3"><v>100.0</v></c>', '<c r="F3"><v><c r="A9"><v>1</v></c></v></c>')
    book = write_package(tmp_path / "nested.xlsx", rows)
    read, notes = read_with_notes(book)
    assert notes.odd_rows == {2} and notes.odd_from is None
    assert not notes.is_plain(2) and notes.is_plain(3)
    assert read == read_rows_lxml(book) and 6 not in dict(read)[3]


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda xml: xml.replace('<row r="3"', '<row x="a>b" r="3"'), "a > in an attribute"),
        (lambda xml: xml.replace('<row r="3"', '<junk/><row r="3"'), "an element between rows"),
        (
            lambda xml: xml.replace('<row r="3"', f'<y:row xmlns:y="{NS}" r="3"><y:c r="A3"/></y:row><row r="3"'),
            "a row under another prefix",
        ),
    ],
)
def test_anything_a_byte_scan_could_misread_hands_the_rest_to_lxml(tmp_path: Path, edit: Any, why: str) -> None:
    """From the first thing a byte scan could misread, the rest is read by lxml, noted, and read as lxml reads it."""
    rows = edit(header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 8)))
    book = write_package(tmp_path / "odd.xlsx", rows)
    read, notes = read_with_notes(book)
    assert read == read_rows_lxml(book), why
    assert notes.odd_from is not None and notes.odd_from <= 2 and not notes.is_plain(2), why


def replace_sheet(book: Path, xml: bytes) -> None:
    """Put ``xml`` in place of the workbook's sheet part, every other part as it was."""
    with zipfile.ZipFile(book) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = xml
    with zipfile.ZipFile(book, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_rows_after_the_sheet_data_are_not_read(tmp_path: Path) -> None:
    """A row after </sheetData> is no row of the sheet: lxml stops at the rows' end, and so does the byte scan."""
    rows = header_row() + invoice_row(2, "INV-2")
    book = write_package(tmp_path / "after.xlsx", rows)
    xml = sheet_xml(book).replace(b"</sheetData>", b'</sheetData><row r="9"><c r="A9"><v>1</v></c></row>')
    replace_sheet(book, xml)
    read, _ = read_with_notes(book)
    assert [number for number, _ in read] == [1, 2]


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_a_truncated_sheet_is_refused_by_the_byte_reader(tmp_path: Path, cut: float) -> None:
    """A sheet cut anywhere in its rows is refused as not well-formed, not read as fewer invoices."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 200))
    book = write_package(tmp_path / "cut.xlsx", rows)
    xml = sheet_xml(book)
    xml = xml[: int(len(xml) * cut)]
    replace_sheet(book, xml)
    with pytest.raises(WorkbookError, match="not well-formed XML"):
        read_with_notes(book)


@pytest.mark.parametrize("large", [False, True])
def test_a_damaged_sheet_read_by_the_second_process_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    """The well-formedness check also holds for a sheet read alongside (forked, or spawned for a large sheet)."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 5000))  # 2 MB: past the first chunk
    book = write_package(tmp_path / "cut.xlsx", rows.replace('<row r="4900">', '<row r="4900"><bad'))
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    monkeypatch.setattr(reader, "PACK_PAID_BYTES", 0 if large else 1 << 60)
    data = reader.read_workbook(book, load_manual(None), stream=True)
    with pytest.raises(WorkbookError, match="not well-formed XML"):
        list(data.iter_rows())


def nul_in_text_book(tmp_path: Path) -> Path:
    """A 2 MB sheet, plain throughout, with a NUL byte in one inline string: only an XML parser sees the damage."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 5000))
    return write_package(tmp_path / "nul.xlsx", rows.replace("<t>INV-4900</t>", "<t>INV-49\x0000</t>"))


@pytest.mark.parametrize("large", [False, True])
def test_a_sheet_read_alongside_is_trusted_only_once_its_check_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    """Damage only an XML parser finds stops the analysis of a sheet read alongside, and the check's process ends."""
    book = nul_in_text_book(tmp_path)
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    monkeypatch.setattr(reader, "PACK_PAID_BYTES", 0 if large else 1 << 60)
    data = reader.read_workbook(book, load_manual(None), stream=True)
    assert len(list(data.iter_rows())) == 4998  # the byte reader takes the text as it is
    with pytest.raises(WorkbookError, match=r"nul\.xlsx: xl/worksheets/sheet1\.xml: not well-formed XML"):
        data.confirm_read()
    data = reader.read_workbook(book, load_manual(None), stream=True)
    with pytest.raises(WorkbookError, match="not well-formed XML"):
        pipeline.analyse(data, load_manual(None), date(2026, 11, 20))
    del data
    assert not [p for p in multiprocessing.active_children() if p.name == "xml-check"]


@pytest.mark.parametrize("large", [False, True])
def test_a_run_waits_for_the_check_before_it_writes_or_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    """A previewing run checks the sheet read next to the writing and writes nothing if it fails; --send checks first."""
    book = nul_in_text_book(tmp_path)
    before = book.read_bytes()
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    monkeypatch.setattr(reader, "PACK_PAID_BYTES", 0 if large else 1 << 60)
    monkeypatch.setattr(xlsx_source, "READ_ALONGSIDE_BYTES", 0)
    output = run(book, "--outbox", tmp_path / "outbox", code=1)
    assert "not well-formed XML" in output
    assert book.read_bytes() == before and not (tmp_path / "receivables-backups").exists()
    # Sending: refused before any SMTP setting is even looked at (none is set here).
    output = run(book, "--send", code=1)
    assert "not well-formed XML" in output and "SMTP" not in output
    assert book.read_bytes() == before


def test_notes_of_the_second_process_reach_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows the second process could not read from their bytes are noted in the data the writer is given."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 60))
    rows = rows.replace('<c r="F30"><v>100.0</v></c>', '<c r="F30"><v><c r="A9"><v>1</v></c></v></c>')
    book = write_package(tmp_path / "nested.xlsx", rows)
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    data = reader.read_workbook(book, load_manual(None), stream=True)
    list(data.iter_rows())
    assert data.scan.odd_rows == {29}


CELL_KINDS = st.sampled_from(["shared", "int", "float", "date", "inline", "formula", "shared-formula", "empty", "bool"])


@st.composite
def plain_rows(draw: st.DrawFn) -> str:
    """Rows of cells in the shapes spreadsheet programs write, some with text needing escapes."""
    out = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        cols = sorted(draw(st.sets(st.integers(1, 30), max_size=6)))
        cells = []
        for col in cols:
            ref = f"{openpyxl.utils.get_column_letter(col)}{number}"
            kind = draw(CELL_KINDS)
            style = draw(st.sampled_from(["", ' s="1"', ' s="2"']))
            if kind == "shared":
                cells.append(f'<c r="{ref}"{style} t="s"><v>{draw(st.integers(0, 2))}</v></c>')
            elif kind == "int":
                cells.append(f'<c r="{ref}"{style}><v>{draw(st.integers(0, 10**17))}</v></c>')
            elif kind == "float":
                value = draw(st.floats(-1e6, 1e6, allow_nan=False))
                cells.append(f'<c r="{ref}"{style}><v>{value!r}</v></c>')
            elif kind == "date":
                cells.append(f'<c r="{ref}" s="1"><v>{draw(st.integers(1, 80000))}</v></c>')
            elif kind == "inline":
                text = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8))
                text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t>{text}</t></is></c>')
            elif kind == "formula":
                cells.append(f'<c r="{ref}"{style}><f>A1+1</f><v>{draw(st.integers(0, 99))}</v></c>')
            elif kind == "shared-formula":
                cells.append(f'<c r="{ref}"{style}><f t="shared" si="0"/><v>{draw(st.integers(0, 99))}</v></c>')
            elif kind == "empty":
                cells.append(f'<c r="{ref}"{style}/>')
            else:
                cells.append(f'<c r="{ref}" t="b"><v>{draw(st.integers(0, 1))}</v></c>')
        out.append(f'<row r="{number}">{"".join(cells)}</row>')
    return "".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=plain_rows())
def test_byte_reader_agrees_with_lxml(tmp_path: Path, rows: str) -> None:
    """Whatever the cells, reading rows from their bytes gives what lxml gives."""
    book = write_package(tmp_path / "any.xlsx", rows, shared=["a", "Smith &amp; Sons", ""])
    assert read_rows(book) == read_rows_lxml(book)


FORMAT_CHARACTERS = 'dmyhsDMHYS0#.,;:"[]$-_\\@ /'


@settings(max_examples=300, deadline=None)
@given(code=st.one_of(st.sampled_from(list(BUILTIN_FORMATS.values())), st.text(alphabet=FORMAT_CHARACTERS)))
def test_date_formats_are_told_as_openpyxl_tells_them(code: str) -> None:
    """A number format shows a date for the reader exactly when openpyxl says it does (without importing openpyxl)."""
    assert is_date_format(code) == openpyxl_is_date_format(code)


def test_row_split_across_reading_chunks(tmp_path: Path) -> None:
    """Rows are the same whatever the size of the chunks the sheet is read in, down to a byte."""
    rows = header_row() + invoice_row(2, "INV-1") + '<row r="3"/>' + invoice_row(4, "INV-2")
    xml = sheet_xml(write_package(tmp_path / "chunks.xlsx", rows))

    def split(size: int) -> tuple[list[bytes], bytes]:
        splitter = SheetSplitter(io.BytesIO(xml), chunk_size=size)
        pieces = list(splitter)
        found = [
            splitter.row_xml(attributes, content)
            for kind, block in pieces
            if kind == ROWS
            for _, attributes, content in splitter.split_rows(block)[0]
        ]
        return found, b"".join(piece for _, piece in pieces)

    whole, joined = split(1 << 20)
    assert joined == xml and len(whole) == 4 and whole[2] == b'<row r="3"/>'
    for size in (1, 7, 64):
        assert split(size) == (whole, xml)


def test_shared_strings_read_from_bytes_agree_with_lxml(tmp_path: Path) -> None:
    """Plain shared strings are decoded like lxml does; rich text and phonetic guides go to lxml."""
    plain = b'<sst xmlns="x"><si><t>a &amp; b &#233;&#x41;</t></si><si><t xml:space="preserve"> c </t></si></sst>'
    assert plain_shared_strings(io.BytesIO(plain)) == ["a & b \xe9A", " c "]
    for odd in (b"&nbsp;", b"&#0;", b"<r><t>x</t></r>", b"</t><rPh><t>y</t></rPh><t>"):
        assert plain_shared_strings(io.BytesIO(plain.replace(b"&amp;", odd))) is None
    book = write_package(tmp_path / "strings.xlsx", header_row(), shared=["one", "Smith &amp; Sons", "<b>"[:0]])
    with XlsxPackage(book) as pkg:
        assert pkg.shared_strings == ["one", "Smith & Sons", ""]


def test_reading_keeps_only_what_the_rows_need(tmp_path: Path) -> None:
    """Reading holds a few chunks of XML at a time, however large the sheet (here long notes in a column not used)."""
    notes = os.urandom(10_000).hex()  # not compressible enough to look like a zip bomb
    rows = header_row() + "".join(
        invoice_row(n, f"INV-{n}").replace(
            "</row>", f'<c r="Z{n}" t="inlineStr"><is><t>{notes[n:] + notes[:n]}</t></is></c></row>'
        )
        for n in range(2, 2002)
    )
    book = write_package(tmp_path / "big.xlsx", rows)
    xml_size = len(sheet_xml(book))
    manual = load_manual(None)
    tracemalloc.start()
    data = reader.read_workbook(book, manual)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(data.rows) == 2000
    assert xml_size > 40_000_000 and peak < 12_000_000


def test_rows_read_alongside_match_rows_read_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sheet read by a second process gives the same rows, layout and right-most column as one read in process."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 3002))
    rows = rows.replace('<c r="G9">', '<c r="M9" t="inlineStr"><is><t>note</t></is></c><c r="G9">')
    book = write_package(tmp_path / "big.xlsx", rows)
    manual = load_manual(None)
    here = reader.read_workbook(book, manual, stream=True)
    assert here.pending is None  # a small sheet is read in process
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    seen: list[int] = []
    alongside = reader.read_workbook(book, manual, seen.append, stream=True)
    assert alongside.pending is not None and alongside.rows == []
    assert list(alongside.iter_rows()) == here.rows == alongside.rows
    assert alongside.layout == here.layout and alongside.layout.max_column == 13
    assert seen == [5000 * k for k in range(1, len(seen) + 1)] and alongside.pending is None


def test_rows_are_read_in_process_when_no_second_process_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a second process cannot be started, the sheet is read in this one, with the same rows."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 60))
    book = write_package(tmp_path / "book.xlsx", rows)
    expected = reader.read_workbook(book, load_manual(None)).rows
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)

    def refuse(self: Any) -> None:
        raise OSError("no processes here")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    data = reader.read_workbook(book, load_manual(None), stream=True)
    assert list(data.iter_rows()) == expected


def test_error_in_the_reading_process_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged cell found by the second process is reported like one found in process, with its cell."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 35))
    rows += '<row r="40"><c r="A40" t="s"><v>99</v></c></row>'
    book = write_package(tmp_path / "damaged.xlsx", rows, shared=["x"])
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    data = reader.read_workbook(book, load_manual(None), stream=True)  # past the rows searched for the header
    with pytest.raises(WorkbookError, match=r"cell A40 points to a missing shared string"):
        list(data.iter_rows())


def test_stopping_early_ends_the_reading_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that stops taking rows, or drops them unread, leaves no reading process behind."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 5002))
    book = write_package(tmp_path / "big.xlsx", rows)
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    data = reader.read_workbook(book, load_manual(None), stream=True)
    rows_iter = data.iter_rows()
    next(rows_iter)
    rows_iter.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "sheet-reader"]
    unread = reader.read_workbook(book, load_manual(None), stream=True)
    assert [p for p in multiprocessing.active_children() if p.name == "sheet-reader"]
    del unread  # dropped before any row is taken (an error in between, say)
    assert not [p for p in multiprocessing.active_children() if p.name == "sheet-reader"]


# -- writing -----------------------------------------------------------------------------------


COLUMNS = [
    OutputColumn("status", "Status", 8),
    OutputColumn("days_overdue", "Days Overdue", 9),
    OutputColumn("aging", "Aging", 10),
    OutputColumn("problems", "Problems", 11),
]


def patcher(values: dict[int, dict[str, Any]]) -> SheetPatcher:
    styles = Styles(frozenset({1}), [0, 164, 2])
    return SheetPatcher(1, COLUMNS, values, styles, StyleDonors(header_col=7, text_col=2, date_col=5))


def test_row_split_across_patching_chunks(tmp_path: Path) -> None:
    """The patched sheet is the same whatever the size of the chunks it streams in."""
    rows = header_row() + invoice_row(2, "INV-1") + '<row r="3"/>' + invoice_row(4, "INV-2")
    xml = sheet_xml(write_package(tmp_path / "chunks.xlsx", rows))
    values = {2: {"status": "Overdue", "days_overdue": 50}, 3: {"status": "Open"}, 4: {"problems": "a < b & c"}}
    whole = b"".join(patcher(values).patch(io.BytesIO(xml)))
    for size in (1, 5, 33):
        assert b"".join(patcher(values).patch(io.BytesIO(xml), chunk_size=size)) == whole
    assert b'<c r="K4" t="inlineStr"><is><t>a &lt; b &amp; c</t></is></c></row>' in whole


def test_self_closing_rows_get_cells_and_a_closing_tag(tmp_path: Path) -> None:
    """A self-closing row that gets values becomes an open row with our cells; one that gets none is left alone."""
    xml = sheet_xml(write_package(tmp_path / "empty-rows.xlsx", header_row() + '<row r="2"/><row r="3" ht="20"/>'))
    patched = b"".join(patcher({2: {"status": "Open", "days_overdue": 0}}).patch(io.BytesIO(xml)))
    assert b'<row r="2"><c r="H2" t="inlineStr"><is><t>Open</t></is></c><c r="I2"><v>0</v></c></row>' in patched
    assert b'<row r="3" ht="20"/>' in patched


@st.composite
def rows_to_patch(draw: st.DrawFn) -> tuple[bytes, int, dict[str, Any]]:
    """A row as a spreadsheet or an earlier run left it, and the values of our columns for it."""
    number = draw(st.integers(2, 500))
    own = sorted(draw(st.sets(st.integers(1, 13), max_size=8)))
    cells = []
    for col in own:
        ref = f"{openpyxl.utils.get_column_letter(col)}{number}"
        style = draw(st.sampled_from(["", ' s="1"', ' s="2"']))
        kind = draw(st.sampled_from(["number", "text", "empty"]))
        if kind == "number":
            cells.append(f'<c r="{ref}"{style}><v>{col}</v></c>')
        elif kind == "text":
            cells.append(f'<c r="{ref}"{style} t="s"><v>0</v></c>')
        else:
            cells.append(f'<c r="{ref}"{style}/>')
    gap = draw(st.sampled_from(["", "", "", " ", "\n"]))
    tag = draw(st.sampled_from([f'<row r="{number}">', f'<row r="{number}" spans="1:7">']))
    row = (tag + gap.join(cells) + "</row>") if cells or draw(st.booleans()) else tag[:-1] + "/>"
    values = {
        c.key: draw(st.one_of(st.none(), st.text(max_size=5), st.integers(0, 400), st.just(date(2026, 1, 2))))
        for c in COLUMNS
        if draw(st.booleans())
    }
    return row.encode(), number, values


@settings(max_examples=300, deadline=None)
@given(case=rows_to_patch())
def test_fast_and_cell_by_cell_patching_agree(case: tuple[bytes, int, dict[str, Any]]) -> None:
    """When the fast path patches a row, it writes exactly the bytes the cell-by-cell path writes."""
    row, number, values = case
    fast = patcher({number: values})._patch_plain_row(row, number, values)
    slow = patcher({number: values})._patch_any_row(row, number, values)
    if fast is not None:
        assert fast == slow


def test_deflate_thread_stops_when_the_producer_fails(tmp_path: Path) -> None:
    """An error while producing the patched sheet reaches the caller and leaves no thread behind."""
    book = write_package(tmp_path / "fail.xlsx", header_row())

    def produce() -> Any:
        yield b"<worksheet>"
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"), (tmp_path / "out.xlsx").open("wb") as out:
        rewrite(book, out, {"xl/worksheets/sheet1.xml": produce})
    import threading

    assert not [t for t in threading.enumerate() if t.name == "deflate"]


# -- a whole run on a realistic workbook ---------------------------------------------------------


def realistic_workbook(path: Path, rows: int = 60) -> Path:
    """An openpyxl workbook with title rows, a formula column with cached results, an image and a chart."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Invoices"
    ws.append(["ACME receivables"])
    ws.append([])
    ws.append(["Invoice", "Customer", "Email", "Issue Date", "Due Date", "Amount", "Paid", "Balance"])
    for n in range(rows):
        r = n + 4
        ws.append([f"INV-{n}", f"Customer {n % 7}", f"c{n % 7}@example.com", date(2026, 1, 1), date(2026, 3, 1)])
        ws.cell(row=r, column=6, value=100 + n)
        ws.cell(row=r, column=7, value=n % 3 * 10)
        ws.cell(row=r, column=8, value=f"=F{r}-G{r}")
        for col in (4, 5):
            ws.cell(row=r, column=col).number_format = "DD/MM/YYYY"
    picture = io.BytesIO()
    PILImage.new("RGB", (20, 10), (200, 0, 0)).save(picture, format="PNG")
    ws.add_image(Image(picture), "K1")
    summary = wb.create_sheet("Summary")
    summary.append(["Total", "=SUM(Invoices!F:F)"])
    chart = BarChart()
    chart.add_data(Reference(summary, min_col=2, min_row=1, max_row=1))
    summary.add_chart(chart, "D2")
    wb.save(path)
    # openpyxl saves no cached results; put in the ones Excel would have saved.
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                for n in range(rows):
                    r = n + 4
                    data = data.replace(
                        f"<f>F{r}-G{r}</f><v></v>".encode(), f"<f>F{r}-G{r}</f><v>{100 + n - n % 3 * 10}</v>".encode()
                    )
            zout.writestr(info, data)
    shutil.move(tmp, path)
    return path


def test_run_keeps_every_other_part_and_cached_formula_results(tmp_path: Path) -> None:
    """After a run every part but the invoice sheet is byte-identical, and every formula keeps its cached result."""
    book = realistic_workbook(tmp_path / "real.xlsx")
    out = tmp_path / "out.xlsx"
    run(str(book), "--output", str(out))
    with zipfile.ZipFile(book) as before, zipfile.ZipFile(out) as after:
        assert [i.filename for i in before.infolist()] == [i.filename for i in after.infolist()]
        for info in before.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                assert before.read(info) == after.read(info.filename), info.filename
    xml = sheet_xml(out)
    assert xml.count(b"</f><v>") == xml.count(b"</f>") == 60
    assert b"<f>F4-G4</f><v>100</v>" in xml
    wb = openpyxl.load_workbook(out, data_only=True)
    assert wb["Invoices"]["I3"].value == "Status" and wb["Invoices"]["H5"].value == 91


def test_second_run_changes_nothing_byte_for_byte(tmp_path: Path) -> None:
    """Running again on the same day rewrites nothing: in place the file is untouched, with --output the bytes match."""
    book = realistic_workbook(tmp_path / "real.xlsx")
    run(str(book))
    first = book.read_bytes()
    output = run(str(book))
    assert "already up to date" in output
    assert book.read_bytes() == first
    again = tmp_path / "again.xlsx"
    run(str(book), "--output", str(again))
    assert again.read_bytes() == first


def test_library_run_matches_the_cli(tmp_path: Path) -> None:
    """The pipeline called as a library writes what the command writes."""
    book = realistic_workbook(tmp_path / "real.xlsx")
    by_cli, by_library = tmp_path / "cli.xlsx", tmp_path / "lib.xlsx"
    run(str(book), "--output", str(by_cli))
    run_source(XlsxSource(book, output=by_library), load_manual(None), date.fromisoformat(AS_OF))
    assert by_cli.read_bytes() == by_library.read_bytes()


@pytest.mark.libreoffice
def test_prefixed_output_opens_in_libreoffice(tmp_path: Path) -> None:
    """LibreOffice reads our cells in a sheet written with an x: prefix."""
    soffice = require_soffice()
    rows = header_row() + invoice_row(2, "INV-1") + invoice_row(3, "INV-2", amount=50, paid=50)
    book = write_package(tmp_path / "prefixed.xlsx", rows, prefix="x")
    run(str(book))
    subprocess.run(
        [soffice, "--headless", "--convert-to", "csv", "--outdir", str(tmp_path), str(book)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    lines = (tmp_path / "prefixed.csv").read_text().splitlines()
    assert lines[0].endswith("Status,Days Overdue,Aging,Problems")
    assert lines[1].split(",")[7:10] == ["Overdue", "50", "31-60"]
    assert lines[2].split(",")[7] == "Paid"


# -- checking the XML on a second core ----------------------------------------------------------


HELPERS = [(True, False), (True, True), (False, False)]  # (alongside, large): forked, spawned, in this process


@pytest.mark.parametrize(("alongside", "large"), HELPERS)
def test_xml_check_passes_well_formed_xml_fed_in_pieces(alongside: bool, large: bool) -> None:
    """XML fed a piece at a time, cut anywhere, is found well formed, in a second process or in this one."""
    check = XmlCheck(alongside=alongside, large=large)
    xml = b'<?xml version="1.0"?><a><b x="1">text</b>' + b"<c/>" * 10_000 + b"</a>"
    for at in range(0, len(xml), 7_777):
        check.feed(xml[at : at + 7_777])
    assert check.result() is None


@pytest.mark.parametrize(("alongside", "large"), HELPERS)
def test_xml_check_finds_what_is_not_well_formed(alongside: bool, large: bool) -> None:
    """An unclosed element or a stray byte is reported with expat's words and position."""
    for broken in (b"<a><b></a>", b"<a>\x00</a>", b"<a><b/>"):
        check = XmlCheck(alongside=alongside, large=large)
        check.feed(broken)
        problem = check.result()
        assert problem is not None and problem.startswith("not well-formed XML (")


def test_xml_check_stopped_early_leaves_no_process() -> None:
    """A write that fails half way closes the check: its process ends and none is left behind."""
    check = XmlCheck(alongside=True)
    check.feed(b"<a>" + b"<b/>" * 1000)
    check.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "xml-check"]


def test_a_large_sheet_is_checked_alongside_when_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the XML checked by a second process (as for a large sheet), a run writes the same workbook."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 200))
    book = write_package(tmp_path / "book.xlsx", rows)
    here, alongside = tmp_path / "here.xlsx", tmp_path / "alongside.xlsx"
    manual = load_manual(None)
    run_source(XlsxSource(book, output=here), manual, date(2026, 11, 20))
    monkeypatch.setattr(xlsx_source, "READ_ALONGSIDE_BYTES", 0)
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    run_source(XlsxSource(book, output=alongside), manual, date(2026, 11, 20))
    assert sheet_xml(here) == sheet_xml(alongside)
    assert not [p for p in multiprocessing.active_children() if p.name in ("xml-check", "sheet-reader")]


def test_a_patched_sheet_that_is_not_xml_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the patching ever produce broken XML, the check refuses it and the workbook is left as it was."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 50))
    book = write_package(tmp_path / "book.xlsx", rows)
    before = book.read_bytes()
    monkeypatch.setattr(xlsx_source, "READ_ALONGSIDE_BYTES", 0)
    monkeypatch.setattr(SheetPatcher, "_patch_dimension", lambda self, head: head + b"<broken")
    with pytest.raises(WriteRefused, match=r"did not pass its check.*not well-formed XML"):
        run_source(XlsxSource(book), load_manual(None), date(2026, 11, 20))
    assert book.read_bytes() == before
    assert not [p for p in multiprocessing.active_children() if p.name == "xml-check"]


def test_a_deflate_that_does_not_round_trip_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rewritten sheet is inflated again as it is written; bytes that do not come back refuse the write."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 50))
    book = write_package(tmp_path / "book.xlsx", rows)
    before = book.read_bytes()

    class Lossy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def decompress(self, data: bytes) -> bytes:
            return self.inner.decompress(data)[1:]  # one byte lost on the way

        @property
        def eof(self) -> bool:
            return self.inner.eof

    real_init = zip_rewrite._Deflater.__init__

    def lossy_init(self: Any, dst: Any, tap: Any = None) -> None:
        real_init(self, dst, tap)
        self.inflater = Lossy(self.inflater)

    monkeypatch.setattr(zip_rewrite._Deflater, "__init__", lossy_init)
    with pytest.raises(WriteRefused, match="did not inflate back"):
        run_source(XlsxSource(book), load_manual(None), date(2026, 11, 20))
    assert book.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]


def test_the_check_of_the_sheet_written_stands_for_the_sheet_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large sheet written and checked needs no check of its own: it is settled unrun, its process ended."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 300))
    book = write_package(tmp_path / "book.xlsx", rows)
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    monkeypatch.setattr(xlsx_source, "READ_ALONGSIDE_BYTES", 0)
    source = XlsxSource(book, output=tmp_path / "out.xlsx")
    data = source.read(load_manual(None))
    analysis = pipeline.analyse(data, load_manual(None), date(2026, 11, 20), confirm=False)
    (check,) = data.checks
    source.write(data, pipeline.plan_columns(data.layout, load_manual(None)), analysis.computed_values())
    assert check.result() is None and not check._begun  # settled by the written sheet's check, never run
    assert not [p for p in multiprocessing.active_children() if p.name == "xml-check"]
