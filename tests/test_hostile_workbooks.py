"""Hostile and broken workbooks: each attack is refused with a one-line message, in bounded time and memory.

Every refusal is checked in a forked child (``tests.hostile.run_bounded``) that may
use at most a few hundred MiB more address space and ten seconds: a bomb that
went off would kill the child or time out, and fail the test.
"""

from __future__ import annotations

import socket
import struct
import warnings
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.hostile import (
    NS,
    SHEET,
    Outcome,
    central_entry,
    libreoffice_csv,
    read_package,
    run_bounded,
    set_central_sizes,
    workbook_parts,
    write_package,
)
from toolkit.cli import cli
from toolkit.errors import WriteRefused
from toolkit.manual import load_manual
from toolkit.pipeline import COMPUTED_KEYS, run_source
from toolkit.source import OutputColumn
from toolkit.xlsx.package import MAX_SPAN_BYTES, XlsxPackage, safe_parser
from toolkit.xlsx.read import iter_sheet_rows, read_workbook
from toolkit.xlsx.safe_write import BACKUP_FOLDER
from toolkit.xlsx.source import XlsxSource

MANUAL = load_manual(None)
AS_OF = date(2026, 11, 20)
SECONDS = 10  # a safety bound, not a benchmark
MEMORY_MB = 400  # address space the child may add; what it really used is asserted below
USED_MB = 250

# The parts the reader parses, and an element in each where an entity reference can go.
PARSED_PARTS = {
    "_rels/.rels": (b"<Relationship ", b'<Relationship Foo="&e;" '),
    "xl/workbook.xml": (b'name="Invoices"', b'name="&e;"'),
    "xl/_rels/workbook.xml.rels": (b"<Relationship ", b'<Relationship Foo="&e;" '),
    "xl/styles.xml": (b"<sz ", b'<sz foo="&e;" '),
    "xl/sharedStrings.xml": (b">Acme Ltd<", b">&e;<"),
    SHEET: (b"<v>1200.0</v>", b"<v>&e;</v>"),
}

BILLION_LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY e0 "lol">'
    + b"".join(b'<!ENTITY e%d "%s">' % (i, b"&e%d;" % (i - 1) * 10) for i in range(1, 10))
    + b'<!ENTITY e "&e9;">]>'
)


def read(path: Path) -> Callable[[], object]:
    """Reading the workbook, as ``run`` and ``check`` do, to be run bounded."""
    return lambda: read_workbook(path, MANUAL)


def assert_refused(outcome: Outcome, path: Path, *fragments: str, used_mb: float = USED_MB) -> None:
    """A WorkbookError on one line, naming the file first, within the time and memory bounds."""
    assert outcome.toolkit_error and outcome.error == "WorkbookError", f"not a clean refusal: {outcome}"
    message = outcome.message
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert outcome.seconds < SECONDS, outcome
    assert outcome.memory_mb < used_mb, outcome


def with_part(tmp_path: Path, name: str, data: bytes, **kwargs: int) -> Path:
    parts = workbook_parts()
    parts[name] = data
    return write_package(tmp_path / "hostile.xlsx", parts, **kwargs)


def with_doctype(xml: bytes, doctype: bytes) -> bytes:
    """Put a document type declaration right after the XML declaration."""
    head, sep, rest = xml.partition(b"?>")
    return head + sep + doctype + rest if sep else doctype + xml


# -- XML: entities, DTDs, well-formedness --------------------------------------------------


@pytest.mark.parametrize("part", list(PARSED_PARTS))
def test_external_entity_is_refused_in_every_part(tmp_path: Path, part: str) -> None:
    """XXE: an entity pointing at a local file is refused in every part the reader parses, never read."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PAYROLL")
    before, after = PARSED_PARTS[part]
    xml = workbook_parts()[part].replace(before, after, 1)
    path = with_part(
        tmp_path, part, with_doctype(xml, b'<!DOCTYPE x [<!ENTITY e SYSTEM "%s">]>' % secret.as_uri().encode())
    )
    outcome = run_bounded(read(path), seconds=SECONDS, megabytes=MEMORY_MB)
    assert_refused(outcome, path, part, "DTD or entities")
    assert "TOP-SECRET" not in outcome.message


@pytest.mark.parametrize("part", list(PARSED_PARTS))
def test_billion_laughs_is_refused_in_every_part(tmp_path: Path, part: str) -> None:
    """Entity expansion (a billion "lol"s from a few hundred bytes) is refused in every parsed part."""
    before, after = PARSED_PARTS[part]
    xml = workbook_parts()[part].replace(before, after, 1)
    path = with_part(tmp_path, part, with_doctype(xml, BILLION_LAUGHS))
    assert_refused(run_bounded(read(path), seconds=SECONDS, megabytes=MEMORY_MB), path, part, "DTD or entities")


def test_external_entity_over_the_network_is_never_fetched(tmp_path: Path) -> None:
    """An entity or a parameter entity with an http:// address is refused, and no connection is ever made."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        server.settimeout(0.2)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/x.dtd".encode()
        for doctype in (b'<!DOCTYPE x [<!ENTITY e SYSTEM "%s">]>' % url, b'<!DOCTYPE x SYSTEM "%s">' % url):
            xml = workbook_parts()[SHEET].replace(b"<v>1200.0</v>", b"<v>&e;</v>")
            path = with_part(tmp_path, SHEET, with_doctype(xml, doctype))
            assert_refused(run_bounded(read(path)), path, SHEET, "DTD or entities")
        with pytest.raises(TimeoutError):
            server.accept()


def test_doctype_in_utf16_part_is_refused(tmp_path: Path) -> None:
    """A DTD in a UTF-16 encoded sheet (which a byte search for "<!DOCTYPE" would miss) is refused."""
    xml = (
        workbook_parts()[SHEET]
        .replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
        .replace(b"<v>1200.0</v>", b"<v>&e;</v>")
    )
    xml = with_doctype(xml, BILLION_LAUGHS)
    path = with_part(tmp_path, SHEET, xml.decode().encode("utf-16"))
    assert_refused(run_bounded(read(path)), path, SHEET, "DTD or entities")


def test_doctype_in_exotic_encoding_is_refused(tmp_path: Path) -> None:
    """A DTD hidden in UTF-7 (no "<!DOCTYPE" bytes at all) is still found after parsing, and refused."""
    doctype = b"+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY e +ACI-lol+ACI-+AD4-+AF0-+AD4-"
    xml = workbook_parts()["xl/workbook.xml"].replace(b'encoding="UTF-8"', b'encoding="UTF-7"')
    path = with_part(tmp_path, "xl/workbook.xml", with_doctype(xml, doctype))
    assert_refused(run_bounded(read(path)), path, "xl/workbook.xml", "DTD or entities")


@pytest.mark.parametrize(("part", "padding"), [(SHEET, 300_000), ("xl/workbook.xml", 5_000)])
def test_doctype_after_a_long_prolog_is_refused(tmp_path: Path, part: str, padding: int) -> None:
    """A DTD pushed past the first chunk read by a long comment in the prolog is still refused."""
    before, after = PARSED_PARTS[part]
    xml = workbook_parts()[part].replace(before, after, 1)
    prolog = b"<!--" + b"x" * padding + b"-->" + BILLION_LAUGHS
    path = with_part(tmp_path, part, with_doctype(xml, prolog))
    assert_refused(run_bounded(read(path)), path, part, "DTD or entities")


def test_parser_settings_never_resolve_entities(tmp_path: Path) -> None:
    """Defence in depth: should a DTD get past the checks, the parser still expands nothing and reads no file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PAYROLL")
    xxe = b'<!DOCTYPE a [<!ENTITY e SYSTEM "%s">]><a>&e;</a>' % secret.as_uri().encode()
    root = etree.fromstring(xxe, safe_parser())
    assert "TOP-SECRET" not in etree.tostring(root, method="text", encoding="unicode")
    laughs = BILLION_LAUGHS + b"<a>&e;</a>"
    outcome = run_bounded(lambda: etree.tostring(etree.fromstring(laughs, safe_parser()))[:100])
    assert outcome.seconds < SECONDS and outcome.memory_mb < USED_MB, outcome
    assert outcome.error in (None, "XMLSyntaxError") and "lollollol" not in outcome.message


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda xml: xml[: len(xml) // 2], id="cut-in-half"),
        pytest.param(lambda xml: xml.replace(b"</row>", b"</rows>", 1), id="mismatched-tag"),
        pytest.param(lambda xml: xml.replace(b"<v>0</v>", b"<v>\x00</v>", 1), id="nul-byte"),
        pytest.param(lambda xml: xml.replace(b"<v>0</v>", b"<v>\xff\xfe\xc3</v>", 1), id="bad-utf8"),
        pytest.param(lambda xml: xml.replace(b"</row>", b"</row><<>>", 1), id="junk-between-rows"),
        pytest.param(lambda xml: xml.replace(b"<sheetData>", b""), id="no-sheetData-start"),
    ],
)
def test_sheet_not_well_formed_is_refused(tmp_path: Path, broken: Callable[[bytes], bytes]) -> None:
    """A sheet whose XML is not well formed is refused as damaged, naming the sheet part."""
    path = with_part(tmp_path, SHEET, broken(workbook_parts()[SHEET]))
    assert_refused(run_bounded(read(path)), path, SHEET, "the file is damaged")


@pytest.mark.parametrize("part", [p for p in PARSED_PARTS if p != SHEET])
def test_shared_part_not_well_formed_is_refused(tmp_path: Path, part: str) -> None:
    """Workbook, relationships, styles or shared strings that are not well formed are refused, naming the part."""
    xml = workbook_parts()[part]
    path = with_part(tmp_path, part, xml[: len(xml) - 20])
    assert_refused(run_bounded(read(path)), path, part, "not well-formed XML")


def test_flood_of_xml_between_rows_is_refused(tmp_path: Path) -> None:
    """Megabytes of junk elements where rows should be are refused before they fill the memory."""
    junk = b'<x a="" b="" c="" d=""/>' * (2 * MAX_SPAN_BYTES // 24)
    sheet = workbook_parts()[SHEET].replace(b"</sheetData>", junk + b"</sheetData>")
    path = with_part(tmp_path, SHEET, sheet, compression=zipfile.ZIP_STORED)
    assert_refused(run_bounded(read(path), megabytes=MEMORY_MB), path, SHEET, "without one complete <row>")


def test_more_rows_than_excel_allows_are_refused(tmp_path: Path) -> None:
    """A sheet of more than 1,048,576 (empty) rows, Excel's limit, is refused instead of read for minutes."""
    rows = b"<row/>" * 1_048_577
    sheet = workbook_parts()[SHEET].replace(b"</sheetData>", rows + b"</sheetData>")
    path = with_part(tmp_path, SHEET, sheet, compression=zipfile.ZIP_STORED)
    assert_refused(run_bounded(read(path)), path, SHEET, "more than 1,048,576 <row>")


def test_row_outside_sheet_data_is_refused(tmp_path: Path) -> None:
    """A row nested in a cell, where the writer would not look for it, is refused as damaged."""
    sheet = workbook_parts()[SHEET].replace(b"<v>1200.0</v>", b'<v>1200.0</v><row r="9"><c r="A9"/></row>')
    path = with_part(tmp_path, SHEET, sheet)
    assert_refused(run_bounded(read(path)), path, SHEET, "outside the <sheetData>")


def test_huge_cell_reference_is_refused(tmp_path: Path) -> None:
    """A cell reference with a million letters (a quadratic big-number trap) is refused at once."""
    sheet = workbook_parts()[SHEET].replace(b'r="F2"', b'r="' + b"A" * 1_000_000 + b'2"')
    path = with_part(tmp_path, SHEET, sheet)
    assert_refused(run_bounded(read(path)), path, SHEET, "is not a column")


def test_huge_number_format_is_read_in_bounded_time(tmp_path: Path) -> None:
    """Number formats far longer than Excel allows (a quadratic regex trap in openpyxl) cost no time."""
    formats = b"".join(b'<numFmt numFmtId="%d" formatCode="%s"/>' % (200 + i, b"[h" * 100_000) for i in range(20))
    xfs = b"".join(b'<xf numFmtId="%d"/>' % (200 + i) for i in range(20))
    styles = workbook_parts()["xl/styles.xml"].replace(b"</numFmts>", formats + b"</numFmts>")
    styles = styles.replace(b"</cellXfs>", xfs + b"</cellXfs>")
    path = with_part(tmp_path, "xl/styles.xml", styles)
    outcome = run_bounded(lambda: XlsxPackage(path).styles.date_styles)
    assert outcome.error is None, outcome
    assert outcome.seconds < SECONDS, outcome


def test_oversized_parsed_part_is_refused(tmp_path: Path) -> None:
    """A workbook part too big to parse whole in memory (over 64 MiB) is refused before it is read."""
    xml = workbook_parts()["xl/workbook.xml"].replace(b"<sheets>", b"<sheets>" + b" " * (65 * 1024**2))
    path = with_part(tmp_path, "xl/workbook.xml", xml, compression=zipfile.ZIP_STORED)
    assert_refused(run_bounded(read(path)), path, "xl/workbook.xml", "far more than any workbook")


def test_oversized_shared_strings_are_refused(tmp_path: Path) -> None:
    """Shared strings declaring more than 256 MiB (all kept in memory as text) are refused before reading."""
    parts = workbook_parts()
    parts["xl/sharedStrings.xml"] += b" " * (2 * 1024**2)
    packed = write_package(tmp_path / "p.xlsx", parts, compression=zipfile.ZIP_STORED).read_bytes()
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(set_central_sizes(packed, "xl/sharedStrings.xml", file_size=300 * 1024**2))
    assert_refused(run_bounded(read(path)), path, "xl/sharedStrings.xml", "more than 256 MiB")


# -- the zip package --------------------------------------------------------------------------


def test_zip_bomb_part_is_refused_before_unpacking(tmp_path: Path) -> None:
    """A sheet that inflates a thousandfold (200 MiB from 200 KiB) is refused from its header, never inflated."""
    path = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in workbook_parts().items():
            if name != SHEET:
                zf.writestr(name, data)
        with zf.open(SHEET, "w") as member:
            member.write(workbook_parts()[SHEET].replace(b"</worksheet>", b""))
            for _ in range(200):
                member.write(b" " * 1024**2)
            member.write(b"</worksheet>")
    assert path.stat().st_size < 1024**2
    assert_refused(run_bounded(read(path)), path, SHEET, "the mark of a zip bomb")


def test_part_declaring_more_than_the_part_cap_is_refused(tmp_path: Path) -> None:
    """A part whose header declares over 2 GiB is refused before a byte is inflated."""
    packed = write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes()
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(set_central_sizes(packed, SHEET, file_size=3 * 1024**3))
    assert_refused(run_bounded(read(path)), path, SHEET, "would unpack to 3,221,225,472 bytes")


def test_package_declaring_more_than_the_total_cap_is_refused(tmp_path: Path) -> None:
    """Parts under the per-part cap that together declare over 4 GiB are refused."""
    parts = workbook_parts()
    for n in range(3):
        parts[f"xl/media/image{n}.bin"] = b"x"
    packed = write_package(tmp_path / "p.xlsx", parts, compression=zipfile.ZIP_STORED).read_bytes()
    for n in range(3):
        size = 1536 * 1024**2
        packed = set_central_sizes(packed, f"xl/media/image{n}.bin", file_size=size, compress_size=size)
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(packed)
    assert_refused(run_bounded(read(path)), path, "would unpack to")


def test_whole_package_ratio_is_refused(tmp_path: Path) -> None:
    """Many parts each just under the per-part ratio check, together a thousandfold, are refused."""
    parts = workbook_parts()
    for n in range(10):
        parts[f"xl/media/image{n}.bin"] = b"x"
    packed = write_package(tmp_path / "p.xlsx", parts).read_bytes()
    for n in range(10):
        packed = set_central_sizes(packed, f"xl/media/image{n}.bin", file_size=15 * 1024**2)
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(packed)
    assert_refused(run_bounded(read(path)), path, "the mark of a zip bomb")


def test_part_whose_header_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    """A sheet declaring 1 KiB that really inflates to 100 MiB stops at 1 KiB and is refused as damaged."""
    sheet = workbook_parts()[SHEET].replace(b"</worksheet>", b" " * (100 * 1024**2) + b"</worksheet>")
    packed = with_part(tmp_path, SHEET, sheet).read_bytes()
    path = tmp_path / "liar.xlsx"
    path.write_bytes(set_central_sizes(packed, SHEET, file_size=1024))
    assert_refused(run_bounded(read(path)), path, SHEET, "damaged")


def test_overlapping_parts_are_refused(tmp_path: Path) -> None:
    """Parts sharing the same compressed bytes (a non-recursive zip bomb, a disk filler for the writer) are refused."""
    packed = write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes()
    entry = central_entry(packed, SHEET)
    length = 46 + struct.unpack_from("<HHH", packed, entry + 28)[0] + sum(struct.unpack_from("<HH", packed, entry + 30))
    record = packed[entry : entry + length]
    eocd = packed.rfind(b"PK\x05\x06")
    count, cd_size, cd_offset = struct.unpack_from("<HII", packed, eocd + 10)
    extra = b""
    for n in range(200):  # same size name as the sheet's, same offset: the same bytes
        name = f"xl/media/i{n:010d}.xml".encode()
        assert len(name) == len(SHEET)
        extra += record.replace(SHEET.encode(), name)
    tail = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count + 200, count + 200, cd_size + len(extra), cd_offset, 0)
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(packed[:eocd] + extra + tail)
    assert_refused(run_bounded(read(path)), path, "overlaps another part")


def test_unsupported_compression_method_is_refused(tmp_path: Path) -> None:
    """A part compressed with bzip2 or LZMA (which Excel never writes) is refused by name."""
    path = with_part(tmp_path, SHEET, workbook_parts()[SHEET], compression=zipfile.ZIP_BZIP2)
    assert_refused(run_bounded(read(path)), path, "compression method 12")


def test_encrypted_part_is_refused(tmp_path: Path) -> None:
    """A part flagged as encrypted with the old zip cipher is refused."""
    packed = write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes()
    at = central_entry(packed, SHEET)
    flags = struct.unpack_from("<H", packed, at + 8)[0] | 0x1
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(packed[: at + 8] + struct.pack("<H", flags) + packed[at + 10 :])
    assert_refused(run_bounded(read(path)), path, "encrypted part")


@pytest.mark.parametrize(
    "name",
    [
        "../evil.xml",
        "xl/../../evil.xml",
        "/etc/evil.xml",
        "\\evil.xml",
        "xl\\..\\..\\evil.xml",
        "C:/evil.xml",
        "C:evil",
    ],
)
def test_unsafe_part_name_is_refused(tmp_path: Path, name: str) -> None:
    """A part named with ``../``, an absolute path, a backslash or a drive is refused, and nothing is written."""
    parts = workbook_parts()
    parts[name] = b"<evil/>"
    folder = tmp_path / "inbox"
    folder.mkdir()
    path = write_package(folder / "hostile.xlsx", parts)
    assert_refused(run_bounded(read(path)), path, "unsafe name")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["hostile.xlsx", "inbox"]


@pytest.mark.parametrize("twin", [SHEET, SHEET.upper()])
def test_duplicate_part_names_are_refused(tmp_path: Path, twin: str) -> None:
    """Two parts of one name (or differing only in case) are refused: the tool and Excel could read different ones."""
    parts = [*workbook_parts().items(), (twin, workbook_parts()[SHEET].replace(b"1200.0", b"1.0"))]
    path = tmp_path / "hostile.xlsx"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate: it is the point
        for name, data in parts:
            zf.writestr(name, data)
    assert_refused(run_bounded(read(path)), path, "twice")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -1, -22])
def test_truncated_zip_is_refused(tmp_path: Path, keep: float) -> None:
    """A package cut short anywhere (a half-copied download, a full disk) is refused as damaged."""
    packed = write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes()
    cut = int(len(packed) * keep) if keep > 0 else len(packed) + int(keep)
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(packed[:cut])
    assert_refused(run_bounded(read(path)), path, "damaged")


def test_corrupt_compressed_data_is_refused(tmp_path: Path) -> None:
    """Bytes flipped inside the sheet's compressed data are refused as damage to that part."""
    packed = bytearray(write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes())
    with zipfile.ZipFile(tmp_path / "p.xlsx") as zf:
        info = zf.getinfo(SHEET)
    start = info.header_offset + 30 + len(SHEET)
    for offset in range(start + 10, start + info.compress_size - 10, 7):
        packed[offset] ^= 0x55
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(bytes(packed))
    assert_refused(run_bounded(read(path)), path, SHEET, "damaged")


def test_garbled_central_directory_is_refused(tmp_path: Path) -> None:
    """A part name flagged UTF-8 that is not UTF-8 (a crash in zipfile itself) is refused as damage."""
    packed = write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes()
    at = central_entry(packed, SHEET)
    flags = struct.unpack_from("<H", packed, at + 8)[0] | 0x800
    garbled = packed[: at + 8] + struct.pack("<H", flags) + packed[at + 10 : at + 46] + b"\xff\xfe" + packed[at + 48 :]
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(garbled)
    assert_refused(run_bounded(read(path)), path, "damaged")


def test_local_header_disagreeing_with_directory_is_refused(tmp_path: Path) -> None:
    """A part whose local header names another part than the directory does is refused as damaged."""
    packed = write_package(tmp_path / "p.xlsx", workbook_parts()).read_bytes()
    first = packed.find(SHEET.encode())
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(packed[:first] + SHEET.replace("sheet1", "sheet9").encode() + packed[first + len(SHEET) :])
    assert_refused(run_bounded(read(path)), path, SHEET, "damaged")


def test_missing_workbook_part_is_refused(tmp_path: Path) -> None:
    """A package without its workbook part is refused: not a workbook, or damaged."""
    parts = workbook_parts()
    del parts["xl/workbook.xml"]
    path = write_package(tmp_path / "hostile.xlsx", parts)
    assert_refused(run_bounded(read(path)), path, "no workbook part")


def test_missing_sheet_part_is_refused(tmp_path: Path) -> None:
    """A package missing the sheet part its relationships point to is refused, naming the sheet and the part."""
    parts = workbook_parts()
    del parts[SHEET]
    path = write_package(tmp_path / "hostile.xlsx", parts)
    assert_refused(run_bounded(read(path)), path, "'Invoices'", f"missing part {SHEET}")


def test_sheet_without_relationship_is_refused(tmp_path: Path) -> None:
    """A sheet whose relationship id points nowhere is refused as damaged."""
    path = with_part(
        tmp_path, "xl/workbook.xml", workbook_parts()["xl/workbook.xml"].replace(b'r:id="rId1"', b'r:id="rId9"')
    )
    assert_refused(run_bounded(read(path)), path, "'Invoices' points to no part")


# -- writing: typed values only, and nothing written that the reader cannot read back -------


def _write(tmp_path: Path, values: dict[int, dict[str, object]], sheet: bytes | None = None) -> tuple[Path, Path]:
    parts = workbook_parts()
    if sheet is not None:
        parts[SHEET] = sheet
    source = write_package(tmp_path / "in.xlsx", parts)
    output = tmp_path / "out.xlsx"
    data = read_workbook(source, MANUAL)
    columns = [OutputColumn(key, MANUAL.output_columns[key], 8 + i) for i, key in enumerate(COMPUTED_KEYS)]
    XlsxSource(source, output=output).write(data, columns, values)
    return source, output


FORMULA_TEXT = ["=1+1", '=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]


def test_text_that_looks_like_a_formula_is_written_as_text(tmp_path: Path) -> None:
    """A status or problem text starting with = + - @ is written as an inline string, never a formula."""
    values = {2: {"status": FORMULA_TEXT[0], "problems": FORMULA_TEXT[1], "aging": FORMULA_TEXT[2]}}
    values[3] = {"status": FORMULA_TEXT[3], "problems": FORMULA_TEXT[4]}
    _, output = _write(tmp_path, values)
    sheet = read_package(output)[SHEET]
    assert b"<f>" not in sheet and b"<f " not in sheet
    root = etree.fromstring(sheet)
    cells = {c.get("r"): c for c in root.iter(f"{{{NS}}}c")}
    for ref, text in [
        ("H2", FORMULA_TEXT[0]),
        ("K2", FORMULA_TEXT[1]),
        ("J2", FORMULA_TEXT[2]),
        ("H3", FORMULA_TEXT[3]),
    ]:
        assert cells[ref].get("t") == "inlineStr"
        assert "".join(cells[ref].itertext()) == text
    # Read back as the text written (by the reader; the tool would not take a Status column holding these as its own).
    with XlsxPackage(output) as pkg:
        rows = dict(iter_sheet_rows(pkg, SHEET))
    assert rows[2][11] == FORMULA_TEXT[1]


def test_text_cannot_break_out_of_its_cell(tmp_path: Path) -> None:
    """Text with markup and control characters is escaped: it cannot add cells, formulas or break the XML."""
    nasty = '</t></is></c><c r="Z2"><f>CMD()</f></c><is><t>\x1b]0;x\x07 & <b>'
    _, output = _write(tmp_path, {2: {"problems": nasty}})
    root = etree.fromstring(read_package(output)[SHEET])
    assert not list(root.iter(f"{{{NS}}}f"))
    assert [c.get("r") for c in root.iter(f"{{{NS}}}c") if c.get("r", "").endswith("2")][-1] == "K2"
    assert read_workbook(output, MANUAL).rows[0].outputs["problems"] == nasty.replace("\x1b", "").replace("\x07", "")


@pytest.mark.libreoffice
def test_libreoffice_shows_formula_like_text_as_text(tmp_path: Path) -> None:
    """LibreOffice opens what was written and shows the formula-like texts as they are, uncalculated."""
    _, output = _write(tmp_path, {2: {"status": "=1+1", "problems": FORMULA_TEXT[1]}})
    rows = libreoffice_csv([output], tmp_path)[output]
    assert rows[1][7] == "=1+1" and rows[1][10] == FORMULA_TEXT[1]


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        pytest.param(lambda s: s.replace(b'<row r="2">', b'<row r="2"><!-- <row r="9"> -->'), "comments", id="comment"),
        pytest.param(
            lambda s: s.replace(b'<row r="3"', b'<?pi x?><row r="3"'), "processing", id="processing-instruction"
        ),
        pytest.param(
            lambda s: s.replace(b'<row r="2"', b'<row x="a>b" r="2"'),
            "inside an attribute's value",
            id="gt-in-attribute",
        ),
        pytest.param(
            lambda s: (
                s.replace(b"<worksheet ", b'<worksheet xmlns:x="%s" ' % NS.encode())
                .replace(b"<row", b"<x:row")
                .replace(b"</row>", b"</x:row>")
            ),
            "could be found",
            id="other-prefix",
        ),
        pytest.param(
            lambda s: s.replace(
                b'<c r="G2"><v>0</v></c>', b'<x:c xmlns:x="%s" r="G2"><x:v>0</x:v></x:c>' % NS.encode()
            ),
            "another XML namespace prefix",
            id="cell-other-prefix",
        ),
        pytest.param(
            lambda s: s.replace(b"<v>1200.0</v>", b'<v><c r="A9"><v>1</v></c></v>'),
            "a cell inside another element",
            id="cell-in-cell",
        ),
        pytest.param(
            lambda s: s.replace(b"</sheetData>", b'<row r="9"><c r="XFC9"><v>1</v></c></row></sheetData>'),
            "past XFD",
            id="no-room-right-of-XFD",
        ),
    ],
)
def test_writer_refuses_what_it_cannot_patch_safely(tmp_path: Path, edit: Callable[[bytes], bytes], why: str) -> None:
    """Odd sheet XML the byte-level writer could misread is refused, the workbook left as it was, no backup."""
    parts = workbook_parts()
    parts[SHEET] = edit(parts[SHEET])
    path = write_package(tmp_path / "odd.xlsx", parts)
    before = path.read_bytes()
    with pytest.raises(WriteRefused, match=why) as refused:
        run_source(XlsxSource(path), MANUAL, AS_OF)
    assert "\n" not in str(refused.value) and str(refused.value).startswith(str(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.xlsx"]


# -- the command line ----------------------------------------------------------------------

HOSTILE: dict[str, Callable[[Path], Path]] = {
    "xxe": lambda d: with_part(
        d, SHEET, with_doctype(workbook_parts()[SHEET], b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
    ),
    "billion-laughs": lambda d: with_part(
        d, "xl/workbook.xml", with_doctype(workbook_parts()["xl/workbook.xml"], BILLION_LAUGHS)
    ),
    "zip-slip": lambda d: write_package(d / "hostile.xlsx", {**workbook_parts(), "../../evil.xml": b"<x/>"}),
    "truncated": lambda d: _truncated(d),
    "not-well-formed": lambda d: with_part(d, SHEET, workbook_parts()[SHEET][:-30]),
    "no-workbook": lambda d: write_package(
        d / "hostile.xlsx", {k: v for k, v in workbook_parts().items() if k != "xl/workbook.xml"}
    ),
    "no-sheet": lambda d: write_package(d / "hostile.xlsx", {k: v for k, v in workbook_parts().items() if k != SHEET}),
    "lying-size": lambda d: _lying(d),
    "odd-sheet-for-writer": lambda d: with_part(
        d, SHEET, workbook_parts()[SHEET].replace(b'<row r="2"', b'<row x="a>b" r="2"')
    ),
}


def _truncated(folder: Path) -> Path:
    path = write_package(folder / "hostile.xlsx", workbook_parts())
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _lying(folder: Path) -> Path:
    path = write_package(folder / "hostile.xlsx", workbook_parts())
    path.write_bytes(set_central_sizes(path.read_bytes(), SHEET, file_size=100))
    return path


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("attack", list(HOSTILE))
def test_cli_refuses_hostile_workbook_in_one_line(tmp_path: Path, attack: str, command: str) -> None:
    """Through the CLI each hostile file exits non-zero with one line naming it, no traceback, the file untouched."""
    folder = tmp_path / "work"
    folder.mkdir()
    path = HOSTILE[attack](folder)
    before = path.read_bytes()
    result = CliRunner().invoke(cli, [command, str(path), "--as-of", "2026-11-20"])
    if attack == "odd-sheet-for-writer" and command == "check":
        assert result.exit_code == 0, result.output  # readable: only writing it is refused
        return
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert path.read_bytes() == before
    # No backup, no temporary file (reminders previewed before the write may stay in the outbox).
    assert sorted(p.name for p in folder.iterdir() if p.name != "outbox") == ["hostile.xlsx"]


def test_cli_never_uses_cell_text_as_a_path(tmp_path: Path) -> None:
    """Cells holding paths and shell syntax stay data: a run creates nothing but the workbook's backup."""
    rows = [
        ["Invoice", "Customer", "Email", "Issue Date", "Due Date", "Amount", "Paid"],
        ["../../evil", "$(touch pwned)", "`touch pwned2`", "/etc/passwd", "C:\\x", "{{ 7*7 }}", "; rm -rf ~"],
        ["INV-2", "../../../tmp/evil", "x@example.com", date(2026, 1, 1), date(2026, 2, 1), 10, 0],
    ]
    folder = tmp_path / "work"
    folder.mkdir()
    path = write_package(folder / "book.xlsx", workbook_parts(rows))
    result = CliRunner().invoke(cli, ["run", str(path), "--as-of", "2026-11-20"])
    assert result.exit_code == 0, result.output
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    allowed = ("work/book.xlsx", f"work/{BACKUP_FOLDER}/book.", "work/outbox/")
    assert files and all(f.startswith(allowed) for f in files), files
    assert {p.name for p in folder.iterdir()} <= {"book.xlsx", BACKUP_FOLDER, "outbox"}
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_cli_shows_terminal_controls_from_a_workbook_escaped(tmp_path: Path) -> None:
    """Sheet and customer names with rich markup and escape sequences are shown escaped, not acted on."""
    nasty = "[/]In\u009b31mv\u202e"  # rich markup, an 8-bit escape sequence, a bidi override
    parts = workbook_parts()
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b'name="Invoices"', f'name="{nasty}"'.encode())
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(b">Beta Corp<", f">{nasty}<".encode())
    parts[SHEET] = parts[SHEET].replace(b"<v>1200.0</v>", b"<v>-5</v>")  # a finding, printed with its sheet
    path = write_package(tmp_path / "book.xlsx", parts)
    result = CliRunner().invoke(cli, ["run", str(path), "--as-of", "2026-11-20"])
    assert result.exit_code == 0, result.output
    assert "\u009b" not in result.output and "\u202e" not in result.output
    assert result.output.count("[/]In\\x9b31mv\\u202e") >= 3  # summary, finding, reminder table
