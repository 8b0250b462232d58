"""Property-based and fuzz tests: whatever the cells or the package hold, the tool answers, never crashes.

Every test runs a bounded number of hypothesis examples so the suite stays fast;
LibreOffice opens a handful of what the fuzzed writes produced.
"""

from __future__ import annotations

import itertools
import re
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.hostile import HEADERS, NS, SHEET, libreoffice_csv, workbook_parts, write_package
from toolkit.errors import ToolkitError
from toolkit.findings import render
from toolkit.manual import load_manual
from toolkit.pipeline import COMPUTED_KEYS, analyse, plan_columns, run_source
from toolkit.rows.aging import STATUS_ORDER
from toolkit.rows.layout import CellError, SheetData, SheetLayout, SourceRow
from toolkit.xlsx.package import XlsxPackage
from toolkit.xlsx.read import iter_sheet_rows, read_workbook
from toolkit.xlsx.source import XlsxSource

MANUAL = load_manual(None)
AS_OF = date(2026, 11, 20)
FIELDS = list(MANUAL.column_aliases)  # invoice, customer, email, ..., payment_date
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- cell values: everything a cell can hold, and the text that trips parsers up -----------

TRICKY_TEXT = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-0",
    "0x1F",
    "1_000",
    "=1+1",
    '=HYPERLINK("http://example.com","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "-2+3",
    "\u202eevil\u202c",
    "مرحبا",
    "שלום",
    "😀💸🧾",
    "\x00\x01\x1f\x7f",
    "line\r\nbreak",
    "\ufeff",
    "\ufffe",
    "9" * 5000,
    " ",
    "",
    "#N/A",
    "1.234,56",
    "(1,000.00)",
    "R$ 1.234,56",
    "$-",
    "--5",
    "31/02/2026",
    "2026-02-30",
    "0000-00-00",
    "99/99/9999",
    "01/01/0001",
    "Net 30",
    "30/60/90",
    "a@b",
    "x@example.com, y@example.com",
    "Name <x@example.com>",
    "x@example.com\r\nBcc: z@evil.example",
    "{{ 7*7 }}",
    "{% raw %}",
    "../../etc/passwd",
    "C:\\Windows\\win.ini",
    "$(rm -rf /)",
    "`id`",
]

cell_values = st.one_of(
    st.none(),
    st.sampled_from(TRICKY_TEXT),
    st.text(max_size=30),
    st.integers(min_value=1, max_value=40_000).map(lambda n: "é" * n),  # very long text (Excel stops at 32,767)
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**53, 2**63, 10**308, 45000, 45000.5, 1e-300, -1e308]),
    st.dates(),
    st.datetimes(),
    st.booleans(),
    st.sampled_from(["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NULL!", "#NUM!"]).map(CellError),
)

rows_strategy = st.lists(st.fixed_dictionaries({name: cell_values for name in FIELDS}), min_size=1, max_size=12)


def sheet_data(rows: list[dict[str, Any]], customers: list[dict[int, Any]] | None = None) -> SheetData:
    """Rows as the reader would hand them over, one column per field of the manual."""
    columns = {name: index for index, name in enumerate(FIELDS, start=1)}
    layout = SheetLayout("Invoices", 1, columns, {i: n for n, i in columns.items()}, max_column=len(columns))
    source_rows = [SourceRow(number, dict(values)) for number, values in enumerate(rows, start=2)]
    extra = {"customers": customers} if customers else {}
    return SheetData("fuzz.xlsx", layout, source_rows, extra)


# -- validation and computation --------------------------------------------------------------


@FAST
@given(rows=rows_strategy, as_of=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)))
def test_any_rows_get_a_status(rows: list[dict[str, Any]], as_of: date) -> None:
    """Any mix of cell types through validation and aging gives every row a status, never an exception."""
    analysis = analyse(sheet_data(rows), MANUAL, as_of)
    computed = analysis.computed_values()
    assert set(analysis.results) == set(range(2, len(rows) + 2))
    assert len(computed) == len(list(computed))
    labels = set(MANUAL.statuses.values())
    for row, result in analysis.results.items():
        assert result.status in STATUS_ORDER
        assert computed[row]["status"] in labels
        assert computed[row]["days_overdue"] is None or computed[row]["days_overdue"] >= 0
    for finding in analysis.findings:
        assert render(finding)
    analysis.totals()


@FAST
@given(
    rows=rows_strategy,
    customers=st.lists(st.dictionaries(st.integers(1, 4), cell_values, max_size=4), min_size=1, max_size=8),
)
def test_any_customers_sheet_is_survived(rows: list[dict[str, Any]], customers: list[dict[int, Any]]) -> None:
    """A customers sheet holding anything (credit limits, emails) never breaks validation."""
    customers = [{1: "Customer", 2: "Credit Limit", 3: "Email"}, *customers]
    analysis = analyse(sheet_data(rows, customers), MANUAL, AS_OF)
    assert len(analysis.results) == len(rows)


def _row_values(rows: list[dict[str, Any]]) -> list[list[Any]]:
    header = [MANUAL.column_aliases[name][0] for name in FIELDS]
    return [header] + [[values[name] for name in FIELDS] for values in rows]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_any_rows_through_a_real_workbook(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    """Random rows written into a real package, read back and written to: statuses for all, other cells intact."""
    source = write_package(tmp_path / "in.xlsx", workbook_parts(_row_values(rows)))
    output = tmp_path / "out.xlsx"
    analysis, report = run_source(XlsxSource(source, output=output), MANUAL, AS_OF)
    assert report is not None
    assert {r.row for r in analysis.data.rows} == set(analysis.results)
    assert_same_cells(source, output, analysis.data.layout.max_column)


def assert_same_cells(original: Path, written: Path, last_own_column: int) -> None:
    """Every cell the accountant wrote reads back the same from what the tool wrote."""
    with XlsxPackage(original) as before, XlsxPackage(written) as after:
        part = before.sheets[0].part
        old = dict(iter_sheet_rows(before, part))
        new = dict(iter_sheet_rows(after, part))
    for row, values in old.items():
        kept = {col: v for col, v in new.get(row, {}).items() if col <= last_own_column}
        assert _comparable(kept) == _comparable(values), f"row {row} changed"


def _comparable(values: dict[int, Any]) -> dict[int, Any]:
    return {col: ("nan" if isinstance(v, float) and v != v else v) for col, v in values.items()}


# -- mutated packages through the reader -------------------------------------------------------

BASE_PARTS = workbook_parts()

XML_TOKENS = [
    b"<",
    b">",
    b"/>",
    b"</row>",
    b'<row r="2">',
    b"<row>",
    b'<row r="0">',
    b'<row r="-1">',
    b'<row r="99999999">',
    b'<c r="A2" t="s"><v>99</v></c>',
    b'<c r="B2"><v>nan</v></c>',
    b'<c r="E2" s="1"><v>1e300</v></c>',
    b'<c r="E2" s="1"><v>nan</v></c>',
    b'<c r="A2" t="d"><v>2026-99-99</v></c>',
    b'<c r="AAAA2"><v>1</v></c>',
    b'<c r="a2"><v>1</v></c>',
    b'<c r="A2" s="x"><v>1</v></c>',
    b'<c r="A2" t="inlineStr"><is><t>x</t></is></c>',
    b'<c r="A2" t="e"><v>#REF!</v></c>',
    b'<c r="A2" t="b"><v>2</v></c>',
    b'<c t="zz"><v>1</v></c>',
    b"&amp;",
    b"&lol;",
    b"&#0;",
    b"&#xFFFE;",
    b"<!--",
    b"-->",
    b"<![CDATA[x]]>",
    b"<?pi x?>",
    b'"',
    b"'",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\r\n",
    b"</sheetData>",
    b"<sheetData>",
    b"</worksheet>",
    b"<x:row>",
    b'<dimension ref="A1:ZZZZ9"/>',
    b'<!DOCTYPE x [<!ENTITY e "e">]>',
    b' r="A1"',
    b' s="4294967296"',
]


@st.composite
def xml_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few random edits: slices cut, copied or moved, tokens of XML put in."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "replace"]))
        at = draw(st.integers(0, len(out)))
        if kind == "insert":
            out[at:at] = draw(st.one_of(st.sampled_from(XML_TOKENS), st.binary(min_size=1, max_size=8)))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 40))]
        elif kind == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 200))]
        else:
            out[at : at + 1] = draw(st.sampled_from(XML_TOKENS))
    return bytes(out)


@st.composite
def mutated_package(draw: st.DrawFn) -> bytes:
    """The bytes of a workbook package damaged in one of the ways files get damaged (or tampered with)."""
    parts = dict(BASE_PARTS)
    kind = draw(st.sampled_from(["bits", "truncate", "delete", "duplicate", "xml", "xml-other", "stored"]))
    if kind == "delete":
        del parts[draw(st.sampled_from(sorted(parts)))]
    elif kind == "xml":
        parts[SHEET] = draw(xml_mutation(parts[SHEET]))
    elif kind == "xml-other":
        name = draw(st.sampled_from(sorted(set(parts) - {SHEET})))
        parts[name] = draw(xml_mutation(parts[name]))
    packed = _pack(parts, zipfile.ZIP_STORED if kind == "stored" else zipfile.ZIP_DEFLATED)
    if kind == "duplicate":
        name = draw(st.sampled_from(sorted(parts)))
        packed = _pack([*parts.items(), (name, draw(xml_mutation(parts[name])))])
    elif kind == "bits":
        data = bytearray(packed)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        packed = bytes(data)
    elif kind == "truncate":
        packed = packed[: draw(st.integers(0, len(packed) - 1))]
    elif kind == "stored":
        data = bytearray(packed)
        at = draw(st.integers(0, len(data) - 1))
        data[at : at + 1] = draw(st.sampled_from(XML_TOKENS))
        packed = bytes(data)
    return packed


def _pack(parts: dict[str, bytes] | list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    import io
    import warnings

    buffer = io.BytesIO()
    items = parts.items() if isinstance(parts, dict) else parts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        with zipfile.ZipFile(buffer, "w", compression) as zf:
            for name, data in items:
                zf.writestr(name, data)
    return buffer.getvalue()


def test_damaged_packages_fail_cleanly_or_read(tmp_path: Path) -> None:
    """A package with flipped bits, cut short, missing or doubled parts, or broken XML is read or refused cleanly."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(packed=mutated_package())
    def read_or_refuse(packed: bytes) -> None:
        path = tmp_path / "damaged.xlsx"
        path.write_bytes(packed)
        try:
            data = read_workbook(path, MANUAL)
        except ToolkitError as exc:
            event(f"refused: {type(exc).__name__}")
            outcomes["refused"] += 1
            message = str(exc)
            assert message.startswith(str(path)), message
            assert "\n" not in message
            return
        event("read")
        outcomes["read"] += 1
        analyse(data, MANUAL, AS_OF)  # what was read is usable
        assert path.read_bytes() == packed

    read_or_refuse()
    # Both branches were really exercised: a run where every example was refused proves nothing about reading.
    assert outcomes["read"] >= 10 and outcomes["refused"] >= 10, outcomes


# -- a successful write always gives a package that opens ----------------------------------

SHEET_XML = BASE_PARTS[SHEET]
# Where each kind of oddity can go: (where to put it, what to put there).
BETWEEN_ROWS = rb"<(?:x:)?sheetData>|</(?:x:)?row>|<(?:x:)?row[^>]*/>"
BETWEEN_CELLS = rb"</(?:x:)?c>|<(?:x:)?c\s[^>]*/>"
START_TAG_END = rb"<(?:x:)?(?:row|c|worksheet|sheetData|dimension)(?:\s[^>]*?)?(?=/?>)"
ODDITIES = {
    BETWEEN_ROWS: [
        b" \n\t ",
        b"<foo/>",
        b'<x2:foo xmlns:x2="urn:example"><x2:bar/></x2:foo>',
        b"<row/>",
        b'<row r="2"/>',
        b'<row r="40"><c r="A40" t="inlineStr"><is><t>INV-9</t></is></c></row>',
        b'<row r="41" spans="1:3"><c r="XFA41"><v>1</v></c></row>',
        b'<row r="42"><c r="XFD42"><v>1</v></c></row>',
        b"<!-- a note -->",
        b"<?producer data?>",
    ],
    BETWEEN_CELLS: [  # cells without a reference: Excel refuses cells out of column order
        b" \n ",
        b"<foo/>",
        b'<extLst><ext uri="{X}"/></extLst>',
        b"<c/>",
        b'<c t="inlineStr"><is><t xml:space="preserve"> x </t></is></c>',
        b"<c><f>1+1</f><v>2</v></c>",
        b'<!-- <row r="2"><c r="A2"/></row> -->',
    ],
    START_TAG_END: [
        b' x="a>b"',
        b" y='q'",
        b' s="0"',
        b' spans="1:3"',
        b' ht="20" customHeight="1"',
        b' hidden="1"',
        b' xmlns:x2="urn:example" x2:foo="1"',
        b" z = 'gap' ",
    ],
}


@st.composite
def sheet_edits(draw: st.DrawFn) -> bytes:
    """The base sheet with well-formed oddities: unknown elements, extra attributes, other quoting, prefixes."""
    out = SHEET_XML
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["insert", "insert", "quotes", "prefix", "drop-refs", "delete-row"]))
        if kind == "insert":
            where = draw(st.sampled_from(sorted(ODDITIES)))
            at = draw(st.sampled_from([m.end() for m in re.finditer(where, out)]))
            out = out[:at] + draw(st.sampled_from(ODDITIES[where])) + out[at:]
        elif kind == "quotes":
            out = re.sub(rb'(\s[\w:]+)="([^"\']*)"', rb"\1='\2'", out, count=draw(st.integers(1, 50)))
        elif kind == "prefix" and b"xmlns:x=" not in out:
            out = out.replace(b"<worksheet ", b'<worksheet xmlns:x="%s" ' % NS.encode(), 1)
            out = re.sub(rb"<(/?)(worksheet|row|c|v|is|t|sheetData|dimension)([\s>/])", rb"<\1x:\2\3", out)
        elif kind == "drop-refs":
            out = re.sub(rb'\sr="[A-Z]+\d+"', b"", out, count=draw(st.integers(1, 30)))
        elif kind == "delete-row":
            rows = list(re.finditer(rb"<(?:x:)?row[\s>].*?</(?:x:)?row>", out, re.S))
            if len(rows) > 1:
                victim = draw(st.sampled_from(rows[1:]))
                out = out[: victim.start()] + out[victim.end() :]
    return out


def _write_mutated(folder: Path, parts: dict[str, bytes], cells_intact: bool = True) -> Path | None:
    """Write the tool's columns into the workbook made of ``parts``; the output, if written.

    Written, it must read back with the tool's columns and (``cells_intact``) every
    other cell as it was.
    """
    source = write_package(folder / "in.xlsx", parts)
    try:
        data = read_workbook(source, MANUAL)
    except ToolkitError:
        event("refused on reading")
        return None
    output = folder / "out.xlsx"
    output.unlink(missing_ok=True)
    try:
        analysis = analyse(data, MANUAL, AS_OF)
        XlsxSource(source, output=output).write(data, plan_columns(data.layout, MANUAL), analysis.computed_values())
    except ToolkitError as exc:
        event("refused on writing")
        assert "\n" not in str(exc)
        assert not output.exists()
        return None
    event("written")
    assert set(read_workbook(output, MANUAL).layout.output_columns) >= set(COMPUTED_KEYS)
    with zipfile.ZipFile(output) as zf:
        assert zf.testzip() is None
        assert set(zf.namelist()) == set(parts)
    if cells_intact:
        assert_same_cells(source, output, data.layout.max_column)
    return output


def _written_count(tmp_path: Path, sheets: st.SearchStrategy[bytes], cells_intact: bool, examples: int) -> Counter[str]:
    """Run ``_write_mutated`` on sheets drawn from ``sheets``; how many were written and refused."""
    outcomes: Counter[str] = Counter()
    cases = itertools.count()

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(sheet=sheets)
    def write_one(sheet: bytes) -> None:
        folder = tmp_path / f"case{next(cases)}"
        folder.mkdir()
        written = _write_mutated(folder, {**BASE_PARTS, SHEET: sheet}, cells_intact=cells_intact)
        outcomes["written" if written is not None else "refused"] += 1

    write_one()
    return outcomes


def test_odd_but_valid_sheets_are_written_with_every_cell_intact(tmp_path: Path) -> None:
    """Sheet XML that is valid but unusual is written with every cell as it was, or refused; never damaged."""
    outcomes = _written_count(tmp_path, sheet_edits(), cells_intact=True, examples=150)
    assert outcomes["written"] >= 30, outcomes  # most odd-but-valid sheets are written, not refused


def test_successful_write_always_reads_back(tmp_path: Path) -> None:
    """Whatever broken sheet XML the reader accepts, a write is refused or gives a package the reader opens."""
    # Random byte edits rarely leave XML well formed, and the reader refuses what is not (about 1 in 75
    # is read), so this draws many examples to see the write path run on a few.
    outcomes = _written_count(tmp_path, xml_mutation(SHEET_XML), cells_intact=False, examples=750)
    assert outcomes["written"] >= 3, outcomes


@pytest.mark.libreoffice
def test_fuzzed_writes_open_in_libreoffice(tmp_path: Path) -> None:
    """A few fuzzed writes open in LibreOffice showing every cell the input showed, plus the tool's columns."""
    pairs: list[tuple[Path, Path]] = []
    cases = itertools.count()

    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(sheet=sheet_edits(), rows=rows_strategy)
    def write_some(sheet: bytes, rows: list[dict[str, Any]]) -> None:
        if len(pairs) >= 4:  # LibreOffice is slow: a few are enough
            return
        folder = tmp_path / f"case{next(cases)}"
        folder.mkdir()
        parts = {**BASE_PARTS, SHEET: sheet} if len(pairs) % 2 else workbook_parts(_row_values(rows))
        output = _write_mutated(folder, parts)
        if output is not None:
            n = len(pairs)
            pairs.append(
                ((folder / "in.xlsx").rename(tmp_path / f"in{n}.xlsx"), output.rename(tmp_path / f"out{n}.xlsx"))
            )

    write_some()
    assert len(pairs) == 4
    shown = libreoffice_csv([path for pair in pairs for path in pair], tmp_path)
    for source, written in pairs:
        before, after = shown[source], shown[written]
        assert any("Status" in row and "Problems" in row for row in after), f"{written}: no Status column: {after[:2]}"
        for number, row in enumerate(before):
            width = len(row) - next((i for i, v in enumerate(reversed(row)) if v), len(row))
            assert after[number][:width] == row[:width], f"{written}: row {number + 1} differs from {source}"


@pytest.mark.libreoffice
def test_base_workbook_opens_in_libreoffice(tmp_path: Path) -> None:
    """The hand-built workbook the fuzzers start from opens in LibreOffice with its headers and dates."""
    path = write_package(tmp_path / "base.xlsx", workbook_parts())
    rows = libreoffice_csv([path], tmp_path)[path]
    assert rows[0] == HEADERS
    assert rows[1][:5] == ["INV-1001", "Acme Ltd", "ap@acme.example", "2026-10-01", "2026-12-01"]
