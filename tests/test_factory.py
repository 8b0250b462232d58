"""Tests of the test helpers themselves (tests/factory.py, tests/libreoffice.py) and the sample workbooks."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from tests.factory import (
    DEFAULT_HEADERS,
    FIRST_DATA_ROW,
    HEADER_ROW,
    PT_HEADER_MAP,
    PT_HEADERS,
    cell_xml,
    expected_balance,
    inject_cached_values,
    make_workbook,
    read_parts,
    sample_rows,
    sheet_xml,
)
from tests.libreoffice import read_all_sheets_via_libreoffice, read_sheet_via_libreoffice, require_soffice

ROOT = Path(__file__).resolve().parents[1]
ACME = ROOT / "sample_workbooks" / "acme" / "receivables.xlsx"
BRASIL = ROOT / "sample_workbooks" / "brasil" / "recebiveis.xlsx"


def _money(value: float) -> str:
    return f"{value:,.2f}"


def test_factory_workbook_has_title_rows_and_header_on_row_4(tmp_path: Path) -> None:
    """make_workbook puts the title on row 1, the header on row 4 and the first invoice on row 5."""
    rows = sample_rows()
    path = make_workbook(tmp_path / "r.xlsx", rows)
    wb = openpyxl.load_workbook(path)
    ws = wb["Invoices"]
    assert ws["A1"].value == "Acme Supplies Ltd - Accounts Receivable"
    assert [c.value for c in ws[HEADER_ROW]] == list(DEFAULT_HEADERS)
    assert ws.cell(FIRST_DATA_ROW, 1).value == rows[0]["Invoice"]
    assert ws.max_row == HEADER_ROW + len(rows)
    assert ws.freeze_panes == "A5"
    assert wb.sheetnames == ["Invoices", "Customers"]
    assert wb.defined_names["CreditLimits"].attr_text == f"Customers!$C$2:$C${1 + len({r['Customer'] for r in rows})}"


def test_balance_formulas_carry_cached_values(tmp_path: Path) -> None:
    """Every Balance cell is the formula =F<n>-G<n> with its result cached in <v>, as Excel saves it."""
    rows = sample_rows()
    path = make_workbook(tmp_path / "r.xlsx", rows)
    xml = sheet_xml(path, "Invoices")
    for offset, row in enumerate(rows):
        r = FIRST_DATA_ROW + offset
        cell = cell_xml(xml, f"H{r}")
        assert cell is not None
        match = re.search(r"<f>(.*?)</f><v>(.*?)</v>", cell)
        assert match, cell
        assert match.group(1) == f"F{r}-G{r}"
        assert float(match.group(2)) == pytest.approx(expected_balance(row))
    cached = openpyxl.load_workbook(path, data_only=True)["Invoices"]
    assert cached.cell(FIRST_DATA_ROW, 8).value == pytest.approx(expected_balance(rows[0]))


def test_text_stays_text_and_explicit_balance_is_a_value(tmp_path: Path) -> None:
    """Text in a date column is written as text, and a row's own Balance is written as a plain value."""
    rows = sample_rows()[:2]
    rows[0]["Due Date"] = "31/02/2026"
    rows[1]["Balance"] = 123.45
    path = make_workbook(tmp_path / "r.xlsx", rows)
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert ws.cell(FIRST_DATA_ROW, 5).value == "31/02/2026"
    assert ws.cell(FIRST_DATA_ROW, 8).value == f"=F{FIRST_DATA_ROW}-G{FIRST_DATA_ROW}"
    assert ws.cell(FIRST_DATA_ROW + 1, 8).value == 123.45


def test_header_map_and_moved_columns_keep_the_formula_on_the_right_letters(tmp_path: Path) -> None:
    """With renamed, reordered headers the Balance formula uses the Amount and Paid columns where they now are."""
    headers = ["Valor", "Fatura", "Cliente", "Vencimento", "Saldo", "Pago"]
    rows = sample_rows()[:3]
    path = make_workbook(
        tmp_path / "pt.xlsx", rows, headers=headers, header_map=PT_HEADER_MAP, sheet="Faturas", title_rows=()
    )
    ws = openpyxl.load_workbook(path)["Faturas"]
    assert [c.value for c in ws[1]] == headers
    assert ws["B2"].value == rows[0]["Invoice"]
    assert ws["E2"].value == "=A2-F2"
    assert isinstance(ws["D2"].value, (date,))
    cell = cell_xml(sheet_xml(path, "Faturas"), "E3")
    assert cell is not None and f"<v>{expected_balance(rows[1]):g}</v>" in cell
    assert PT_HEADERS[0] == "Fatura"


def test_inject_cached_values_changes_only_formula_results(tmp_path: Path) -> None:
    """inject_cached_values adds <v> to simple formulas and leaves every other part and member order as it was."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["A1"], ws["A2"], ws["A3"] = 10, 2.5, "text"
    ws["B1"], ws["B2"], ws["B3"] = "=SUM(A1:A2)", "=A1-A3", "=B1*2"
    path = tmp_path / "f.xlsx"
    wb.save(path)
    before = read_parts(path)
    assert inject_cached_values(path) == 2
    after = read_parts(path)
    assert list(after) == list(before)
    assert [name for name in before if before[name] != after[name]] == ["xl/worksheets/sheet1.xml"]
    xml = after["xl/worksheets/sheet1.xml"]
    assert cell_xml(xml, "B1") == '<c r="B1"><f>SUM(A1:A2)</f><v>12.5</v></c>'
    assert cell_xml(xml, "B2") == '<c r="B2"><f>A1-A3</f><v></v></c>'
    assert cell_xml(xml, "B3") == '<c r="B3"><f>B1*2</f><v>25</v></c>'


def test_make_workbook_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    """Building the same workbook twice gives identical bytes (fixed timestamps, no randomness)."""
    first = make_workbook(tmp_path / "a.xlsx", sample_rows()).read_bytes()
    second = make_workbook(tmp_path / "b.xlsx", sample_rows()).read_bytes()
    assert first == second


@pytest.mark.libreoffice
def test_libreoffice_shows_the_balance_values(tmp_path: Path) -> None:
    """LibreOffice opens a factory workbook and shows each Balance formula's value, formatted."""
    require_soffice()
    rows = sample_rows()
    path = make_workbook(tmp_path / "r.xlsx", rows)
    shown = read_sheet_via_libreoffice(path, "Invoices", tmp_path)
    assert shown[HEADER_ROW - 1] == list(DEFAULT_HEADERS)
    balances = [line[7] for line in shown[HEADER_ROW : HEADER_ROW + len(rows)]]
    assert balances == [_money(expected_balance(row)) for row in rows]
    assert shown[FIRST_DATA_ROW - 1][4] == rows[0]["Due Date"].isoformat()


def test_sample_workbooks_exist_and_open() -> None:
    """Both committed sample workbooks open in openpyxl with their header on row 4 and their customers sheet."""
    acme = openpyxl.load_workbook(ACME)
    assert acme.sheetnames == ["Invoices", "Customers"]
    assert [c.value for c in acme["Invoices"][HEADER_ROW]] == list(DEFAULT_HEADERS)
    assert acme["Invoices"].max_row == 46
    assert "CreditLimits" in acme.defined_names
    brasil = openpyxl.load_workbook(BRASIL)
    assert brasil.sheetnames == ["Faturas", "Clientes"]
    assert [c.value for c in brasil["Faturas"][HEADER_ROW]] == list(PT_HEADERS)
    assert brasil["Faturas"].max_row == 29


def test_sample_workbooks_match_their_build_script(tmp_path: Path) -> None:
    """The committed samples are what sample_workbooks/build_samples.py builds now (images aside)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_samples", ROOT / "sample_workbooks" / "build_samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for committed, build in ((ACME, module.build_acme), (BRASIL, module.build_brasil)):
        rebuilt = read_parts(build(tmp_path / committed.name))
        current = read_parts(committed)
        assert list(rebuilt) == list(current)
        changed = [n for n in current if current[n] != rebuilt[n] and not n.startswith("xl/media/")]
        assert not changed, f"{committed.name} is stale in {changed}: run python sample_workbooks/build_samples.py"


@pytest.mark.libreoffice
def test_libreoffice_reads_the_sample_workbooks(tmp_path: Path) -> None:
    """LibreOffice opens both samples and shows their headers, accents and cached balances."""
    require_soffice()
    acme = read_all_sheets_via_libreoffice(ACME, tmp_path)
    assert set(acme) == {"Invoices", "Customers"}
    assert acme["Invoices"][HEADER_ROW - 1] == list(DEFAULT_HEADERS)
    assert acme["Invoices"][FIRST_DATA_ROW + 1][7] == "6,750.00"  # INV-1003: 8,750.00 - 2,000.00
    brasil = read_all_sheets_via_libreoffice(BRASIL, tmp_path)
    assert set(brasil) == {"Faturas", "Clientes"}
    assert brasil["Faturas"][HEADER_ROW - 1] == list(PT_HEADERS)
    assert brasil["Faturas"][FIRST_DATA_ROW][1] == "Colégio Santa Inês"
    assert brasil["Faturas"][FIRST_DATA_ROW][7] == "R$ 6,400.00"
