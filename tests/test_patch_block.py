"""The writer's block path (``SheetPatcher._patch_block``) gives the very bytes of the row-by-row path.

The block path patches a megabyte of rows with a few C calls and a few operations a
row; the row-by-row path is the reference. Every sheet here is patched both ways, in
chunks of several sizes, and must come out byte for byte the same, with the same
count of rows patched and the same answer to "did anything change".
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AS_OF_TEXT, invoke
from tests.realworld import REALWORLD_MANUALS, realworld_copy
from toolkit.errors import WorkbookError, WriteRefused
from toolkit.source import OutputColumn
from toolkit.text import column_letter
from toolkit.xlsx import patch as patch_module
from toolkit.xlsx.package import ReadAhead, Styles
from toolkit.xlsx.patch import SheetPatcher, StyleDonors, _columns_from

COLUMNS = [
    OutputColumn("status", "Status", 8),
    OutputColumn("days_overdue", "Days Overdue", 9),
    OutputColumn("aging", "Aging", 10),
    OutputColumn("problems", "Problems", 11),
]
STYLES = Styles(frozenset({1}), [0, 164, 2])
HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<dimension ref="A1:G9"/><sheetData>'
)
TAIL = b'</sheetData><rowBreaks count="1"><brk id="5"/></rowBreaks></worksheet>'


def patched(
    xml: bytes, values: dict[int, dict[str, Any]], *, blocks: bool, chunk_size: int, columns: list[OutputColumn]
) -> tuple[bytes, int, bool, int]:
    """The sheet patched, rows patched, whether it changed, and how many blocks took the block path."""
    patcher = SheetPatcher(1, columns, values, STYLES, StyleDonors(header_col=7, text_col=2, date_col=5))
    taken = 0
    if not blocks:
        patcher._patch_block = lambda block: None  # type: ignore[method-assign]
    else:
        whole = patcher._patch_block

        def counted(block: bytes) -> tuple[bytes, int, int] | None:
            nonlocal taken
            answer = whole(block)
            taken += answer is not None
            return answer

        patcher._patch_block = counted  # type: ignore[method-assign]
    out = b"".join(patcher.patch(io.BytesIO(xml), chunk_size=chunk_size))
    return out, patcher.rows_patched, patcher.changed, taken


def assert_same_both_ways(
    xml: bytes, values: dict[int, dict[str, Any]], columns: list[OutputColumn] = COLUMNS
) -> tuple[bytes, int]:
    """Patched by blocks and row by row, in several chunk sizes: the same. The bytes, and blocks taken."""
    reference = patched(xml, values, blocks=False, chunk_size=1 << 20, columns=columns)[:3]
    taken = 0
    for size in (1 << 20, 4096, 97):
        out, rows, changed, blocks = patched(xml, values, blocks=True, chunk_size=size, columns=columns)
        assert (out, rows, changed) == reference, size
        taken = max(taken, blocks)
    return reference[0], taken


def cell(col: int, row: int, rest: str) -> str:
    return f'<c r="{column_letter(col)}{row}"{rest}</c>'


def data_row(number: int, *, spans: str | None = "1:7", customer_style: str = "", due_style: str = ' s="1"') -> str:
    cells = (
        cell(1, number, f' t="inlineStr"><is><t>INV-{number}</t></is>')
        + cell(2, number, f'{customer_style} t="s"><v>0</v>')
        + cell(5, number, f"{due_style}><v>46296</v>")
        + cell(6, number, "><v>100.5</v>")
    )
    tag = f'<row r="{number}"' + (f' spans="{spans}"' if spans is not None else "") + ">"
    return tag + cells + "</row>"


HEADER = (
    '<row r="1" spans="1:7">'
    + "".join(cell(i, 1, f' t="inlineStr"><is><t>H{i}</t></is>') for i in range(1, 8))
    + "</row>"
)


def sheet(rows: list[str]) -> bytes:
    return HEAD + (HEADER + "".join(rows)).encode() + TAIL


def values_for(rows: range, **extra: Any) -> dict[int, dict[str, Any]]:
    base = {"status": "Open", "days_overdue": 3, "aging": "1-30", "problems": ""}
    return {row: {**base, **extra} for row in rows}


def test_a_plain_sheet_takes_the_block_path_and_gives_the_same_bytes() -> None:
    xml = sheet([data_row(n) for n in range(2, 400)])
    out, taken = assert_same_both_ways(xml, values_for(range(2, 400)))
    assert taken >= 1
    assert b'<row r="7" spans="1:11"><c r="A7"' in out
    assert b'<c r="H7" t="inlineStr"><is><t>Open</t></is></c><c r="I7"><v>3</v></c>' in out


def test_donor_styles_dates_and_values_left_out() -> None:
    """Text takes the customer's style, dates the due date's; a value not given gets no cell."""
    rows = [
        data_row(n, customer_style=' s="2"' if n % 3 else "", due_style=' s="1"' if n % 2 else "") for n in range(2, 60)
    ]
    values = values_for(range(2, 60))
    for n in range(2, 60, 4):
        values[n] = {"status": date(2026, 11, n % 28 + 1), "days_overdue": datetime(2026, 1, 2)}  # aging left out
    for n in range(3, 60, 7):
        values[n]["aging"] = True
    out, taken = assert_same_both_ways(sheet(rows), values)
    assert taken >= 1
    assert b'<c r="H6" s="1"><v>' in out  # a date in a date-styled donor's style


@pytest.mark.parametrize(
    "odd",
    [
        '<row r="30"/>',  # self-closing, gets values
        '<row r="30" spans="1:7" ht="20"></row>',  # empty
        '<row spans="1:7" r="30">' + cell(2, 30, ' t="s"><v>0</v>') + "</row>",  # r not first
        '<row r="030" spans="1:7">' + cell(2, 30, ' t="s"><v>0</v>') + "</row>",  # a leading zero
        '<row r="30" ht="20" spans="1:7">' + cell(2, 30, ' t="s"><v>0</v>') + "</row>",  # spans not next to r
        '<row r="30" spans="1:7">' + cell(2, 30, ' t="s"><v>0</v>') + cell(12, 30, "><v>1</v>") + "</row>",  # right
        '<row r="30" spans="1:7">' + cell(2, 30, ' t="s"><v>0</v>') + cell(8, 30, ' s="2"><v>1</v>') + "</row>",
        '<row r="30">' + cell(2, 30, ' t="s"><v>0</v>') + "<extLst/></row>",  # ends with no cell
        '<row r="30" spans="2:3 5:7">' + cell(2, 30, ' t="s"><v>0</v>') + "</row>",
    ],
)
def test_odd_rows_give_the_same_bytes(odd: str) -> None:
    rows = [data_row(n) for n in range(2, 30)] + [odd] + [data_row(n) for n in range(31, 80)]
    assert_same_both_ways(sheet(rows), values_for(range(2, 80)))


def test_a_formula_in_a_column_of_ours_is_refused_both_ways() -> None:
    rows = [data_row(n) for n in range(2, 30)]
    rows[5] = rows[5].replace("</row>", cell(9, 7, "><f>1+1</f><v>2</v>") + "</row>")
    for blocks in (True, False):
        with pytest.raises(WriteRefused, match="I7"):
            patched(sheet(rows), values_for(range(2, 30)), blocks=blocks, chunk_size=1 << 20, columns=COLUMNS)


def test_title_rows_and_a_totals_row_are_left_alone() -> None:
    title = '<row r="1">' + cell(1, 1, ' t="inlineStr"><is><t>Receivables</t></is>') + "</row>"
    rows = [data_row(n) for n in range(3, 50)] + [
        '<row r="50" spans="1:7">' + cell(6, 50, "><f>SUM(F3:F49)</f><v>1</v>") + "</row>"
    ]
    xml = HEAD + (title + HEADER.replace('r="1"', 'r="2"').replace('1"', '2"') + "".join(rows)).encode() + TAIL
    values = values_for(range(3, 50))
    reference = patched(xml, values, blocks=False, chunk_size=1 << 20, columns=COLUMNS)[:3]
    assert patched(xml, values, blocks=True, chunk_size=1 << 20, columns=COLUMNS)[:3] == reference
    assert b'<row r="50" spans="1:7"><c r="F50"><f>SUM(F3:F49)</f><v>1</v></c></row>' in reference[0]


def test_one_column_of_ours() -> None:
    rows = [data_row(n) for n in range(2, 40)]
    assert_same_both_ways(sheet(rows), values_for(range(2, 40)), [OutputColumn("status", "Status", 8)])


@pytest.mark.parametrize("first", [1, 2, 8, 25, 26, 27, 52, 53, 700, 702, 703, 16384])
def test_columns_from_matches_exactly_the_columns_from_the_first(first: int) -> None:
    import re

    pattern = re.compile(rb"(?:" + _columns_from(first) + rb")\d")
    for col in {1, 2, 25, 26, 27, 28, 51, 52, 53, 701, 702, 703, 704, 16383, 16384, first - 1, first, first + 1}:
        if col >= 1:
            assert (pattern.fullmatch(column_letter(col).encode() + b"7") is not None) == (col >= first), col


ROW_SHAPES = st.sampled_from(["plain", "styled", "nospans", "self-closing", "empty", "wide", "nodue", "ours"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes=st.lists(ROW_SHAPES, min_size=1, max_size=40), given_rows=st.sets(st.integers(2, 45)))
def test_any_mix_of_rows_gives_the_same_bytes(shapes: list[str], given_rows: set[int]) -> None:
    values = values_for(range(0))
    for n in given_rows:
        values[n] = {"status": "Overdue", "days_overdue": n, "aging": date(2026, 1, n % 28 + 1), "problems": "a & b"}
    assert_same_both_ways(sheet(rows_shaped(shapes)), values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes=st.lists(ROW_SHAPES, min_size=1, max_size=40), picks=st.lists(st.integers(0, 3), min_size=40))
def test_rows_handed_one_dict_of_values_are_patched_as_rows_handed_a_copy_each(
    shapes: list[str], picks: list[int]
) -> None:
    """``ComputedValues`` gives the rows of one result one shared dict; the writer reuses what it made of it."""
    pool = [
        {"status": "Paid", "days_overdue": 0, "aging": "", "problems": ""},
        {"status": "Overdue", "days_overdue": 12, "aging": date(2026, 1, 5), "problems": ""},
        {"status": "Overdue", "days_overdue": 12, "aging": "1-30", "problems": ""},
        {"status": "Open", "days_overdue": 0, "aging": "Current", "problems": "a & b"},
    ]
    shared = {n: pool[pick] for n, pick in enumerate(picks, start=2)}
    copied = {n: dict(values) for n, values in shared.items()}
    xml = sheet(rows_shaped(shapes))
    out = assert_same_both_ways(xml, shared)[0]
    assert out == assert_same_both_ways(xml, copied)[0]
    for n, shape in enumerate(shapes, start=2):  # and each row has its own values, not the row before's
        if shape not in ("self-closing", "empty", "nodue"):
            status, days = (cell_at(out, f"{column}{n}") for column in "HI")
            assert status.endswith(f"<t>{shared[n]['status']}</t></is>".encode()), (n, status)
            assert f"<v>{shared[n]['days_overdue']}</v>".encode() in days, (n, days)


def cell_at(xml: bytes, ref: str) -> bytes:
    """The cell at ``ref`` in a sheet's XML, up to its end."""
    at = xml.index(f'<c r="{ref}"'.encode())
    return xml[at : xml.index(b"</c>", at)]


def rows_shaped(shapes: list[str]) -> list[str]:
    """A row of each shape, numbered from 2."""
    rows = []
    for n, shape in enumerate(shapes, start=2):
        if shape == "plain":
            rows.append(data_row(n))
        elif shape == "styled":
            rows.append(data_row(n, customer_style=' s="2"', due_style=""))
        elif shape == "nospans":
            rows.append(data_row(n, spans=None))
        elif shape == "self-closing":
            rows.append(f'<row r="{n}" spans="1:7"/>')
        elif shape == "empty":
            rows.append(f'<row r="{n}"></row>')
        elif shape == "wide":
            rows.append(data_row(n).replace("</row>", cell(13, n, "><v>9</v>") + "</row>"))
        elif shape == "nodue":
            rows.append(f'<row r="{n}" spans="1:7">' + cell(1, n, "><v>5</v>") + "</row>")
        else:
            rows.append(
                data_row(n).replace("</row>", cell(8, n, ' s="2" t="inlineStr"><is><t>Old</t></is>') + "</row>")
            )
    return rows


def test_the_block_path_is_what_runs_on_a_plain_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a path kept for show: a sheet of plain rows is patched by blocks, none row by row."""
    calls: list[int] = []
    original = patch_module.SheetPatcher._patch_plain_parts

    def spied(self: SheetPatcher, *args: Any) -> Any:
        calls.append(args[2])
        return original(self, *args)

    monkeypatch.setattr(patch_module.SheetPatcher, "_patch_plain_parts", spied)
    xml = sheet([data_row(n) for n in range(2, 300)])
    _, rows, changed, taken = patched(xml, values_for(range(2, 300)), blocks=True, chunk_size=1 << 20, columns=COLUMNS)
    assert calls == [1] and rows == 299 and changed and taken == 1  # only the header row, row by row


def test_a_sheet_written_with_a_namespace_prefix() -> None:
    """``<x:row>``, ``<x:c>``, as some exporters write: the block path works with the prefix, and gives the same."""
    rows = (HEADER + "".join(data_row(n) for n in range(2, 200))).replace("</", "\x00").replace("<", "<x:")
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
        + rows.replace("\x00", "</x:").encode()
        + b"</x:sheetData></x:worksheet>"
    )
    out, taken = assert_same_both_ways(xml, values_for(range(2, 200)))
    assert taken >= 1 and b'<x:c r="H9" t="inlineStr"><x:is><x:t>Open</x:t></x:is></x:c>' in out


@pytest.mark.parametrize("name", sorted(REALWORLD_MANUALS))
def test_workbooks_saved_by_excel_come_out_the_same(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daily run on each Excel-made workbook writes the same file with the block path as without."""
    workbook, manual = realworld_copy(name, tmp_path)
    written = {}
    for blocks in (True, False):
        if not blocks:
            monkeypatch.setattr(SheetPatcher, "_patch_block", lambda self, block: None)
        output = tmp_path / f"out-{blocks}.xlsx"
        result = invoke("run", workbook, "--manual", manual, "--as-of", AS_OF_TEXT, "--output", output)
        assert result.exit_code in (0, 1), result.output
        with zipfile.ZipFile(output) as z:
            written[blocks] = {n: z.read(n) for n in z.namelist()}
    assert written[True] == written[False]


class _Failing:
    """A stream that gives two chunks, then fails as a damaged zip member does."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 2:
            raise WorkbookError("xl/worksheets/sheet1.xml: the zip member is damaged (a test)")
        return b"x" * 10


def test_the_read_ahead_gives_every_byte_in_order_and_the_error_where_it_happened() -> None:
    data = bytes(range(256)) * 5000
    with ReadAhead(io.BytesIO(data), chunk_size=4096) as ahead:
        pieces = iter(lambda: ahead.read(1 << 20), b"")
        assert b"".join(pieces) == data and ahead.read() == b""
    with ReadAhead(_Failing(), chunk_size=10) as ahead:
        assert ahead.read() + ahead.read() == b"x" * 20
        with pytest.raises(WorkbookError, match="damaged"):
            ahead.read()


def test_the_read_ahead_stops_when_its_reader_does() -> None:
    """A write that fails half way leaves no thread reading on."""
    stream = io.BytesIO(b"y" * (10 << 20))
    with ReadAhead(stream, chunk_size=1 << 16, ahead=2) as ahead:
        ahead.read()
        thread = ahead._thread
    assert not thread.is_alive() and stream.tell() < 10 << 20
