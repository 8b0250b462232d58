"""`receivables run`: status, days overdue and aging written back, and the workbook otherwise untouched."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, SAMPLES, invoke, run
from tests.factory import DEFAULT_HEADERS, FIRST_DATA_ROW, HEADER_ROW, cell_xml, read_parts, sheet_part, sheet_xml
from tests.libreoffice import read_sheet_via_libreoffice, require_soffice
from toolkit.errors import WriteRefused
from toolkit.manual import load_manual
from toolkit.pipeline import analyse, plan_columns
from toolkit.xlsx.source import XlsxSource

NEW = {"Status": 15, "Days Overdue": 16, "Aging": 17, "Problems": 18}  # after the 14 columns of the factory


def written(path: Path) -> dict[str, dict[str, Any]]:
    """Invoice number -> the tool's columns, as openpyxl reads the saved workbook."""
    ws = openpyxl.load_workbook(path)["Invoices"]
    out = {}
    for r in range(FIRST_DATA_ROW, ws.max_row + 1):
        invoice = ws.cell(r, 1).value
        if invoice:
            out[str(invoice)] = {name: ws.cell(r, col).value for name, col in NEW.items()}
    return out


def test_status_days_and_aging_for_every_invoice(workbook: Path) -> None:
    """Each invoice gets the status, days overdue and aging bucket the rules give, at the bucket edges too."""
    run(workbook)
    out = written(workbook)
    expect = {
        "INV-2001": ("Open", 0, "Current"),
        "INV-2002": ("Overdue", 15, "1-30"),
        "INV-2003": ("Overdue", 45, "31-60"),
        "INV-2004": ("Overdue", 75, "61-90"),
        "INV-2005": ("Overdue", 120, "90+"),
        "INV-2006": ("Paid", 0, None),
        "INV-2008": ("On hold", 0, "On hold"),
        "INV-2009": ("Overdue", 61, "61-90"),
        "INV-2013": ("Overdue", 1, "1-30"),
        "INV-2014": ("Overdue", 60, "31-60"),
        "INV-2015": ("Overdue", 90, "61-90"),
        "INV-2016": ("Overdue", 91, "90+"),
        "INV-2017": ("Open", 0, "Current"),  # due today is not overdue
        "INV-2018": ("Overdue", 31, "31-60"),
    }
    for invoice, (status, days, aging) in expect.items():
        got = out[invoice]
        assert (got["Status"], got["Days Overdue"], got["Aging"]) == (status, days, aging), invoice
        assert got["Problems"] is None


def test_invalid_rows_carry_their_problems(build: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    """A row with an error is Invalid, with no days or bucket, and its problems in the Problems column."""
    rows[1]["Due Date"] = "31/02/2026"
    rows[2]["Payment Method"] = "Bitcoin"
    path = build(rows)
    run(path)
    out = written(path)
    assert out["INV-2002"]["Status"] == "Invalid"
    assert out["INV-2002"]["Days Overdue"] is None and out["INV-2002"]["Aging"] is None
    assert out["INV-2002"]["Problems"] == "E6: due date '31/02/2026' is not a real date (no such day in the calendar)"
    assert out["INV-2003"]["Status"] == "Overdue"  # a warning does not make a row Invalid
    assert out["INV-2003"]["Problems"].startswith("I7: warning: payment method 'Bitcoin'")


def test_summary_shows_counts_amounts_and_problems(build: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    """The owner's summary gives invoices and amounts per status and bucket, and the problems."""
    rows[0]["Due Date"] = "31/02/2026"
    output = run(build(rows))
    assert "19 invoices" not in output and "20 invoices on sheet 'Invoices'" in output
    assert "Overdue" in output and "$" in output and "90+" in output
    assert "1 error (rows marked Invalid), 0 warnings" in output
    assert "Invoices!E5: due date '31/02/2026' is not a real date" in output


def test_only_the_sheet_part_changes_everything_else_byte_identical(workbook: Path) -> None:
    """Every package part other than the invoice sheet is byte-identical after a run, in the same order."""
    before = read_parts(workbook)
    run(workbook)
    after = read_parts(workbook)
    assert list(after) == list(before)
    part = sheet_part(workbook, "Invoices")
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [part]
    for kind in ("xl/drawings/", "xl/charts/", "xl/media/", "xl/styles.xml", "xl/comments", "xl/workbook.xml"):
        assert any(name.startswith(kind) for name in after), kind  # the workbook really has these


def test_the_zip_records_of_untouched_parts_are_copied_raw(workbook: Path) -> None:
    """Untouched parts are not even recompressed: their compressed bytes and CRCs are the same."""
    import zipfile

    with zipfile.ZipFile(workbook) as z:
        before = {i.filename: (i.CRC, i.compress_size, i.date_time) for i in z.infolist()}
    run(workbook)
    with zipfile.ZipFile(workbook) as z:
        after = {i.filename: (i.CRC, i.compress_size, i.date_time) for i in z.infolist()}
    part = sheet_part(workbook, "Invoices")
    assert {k: v for k, v in after.items() if k != part} == {k: v for k, v in before.items() if k != part}


def test_inside_the_sheet_only_our_cells_change(workbook: Path) -> None:
    """In the sheet XML, every original cell, formula, cached value, merge, validation and format survives."""
    before = sheet_xml(workbook, "Invoices")
    run(workbook)
    after = sheet_xml(workbook, "Invoices")
    for r in range(HEADER_ROW, FIRST_DATA_ROW + 20):
        for col in "ABCDEFGHIJKLMN":
            assert cell_xml(after, f"{col}{r}") == cell_xml(before, f"{col}{r}"), f"{col}{r}"
    for marker in (
        b"<mergeCell",
        b"<dataValidation",
        b"<conditionalFormatting",
        b"<autoFilter",
        b"<pane",
        b"<legacyDrawing",
        b"<drawing",
    ):
        assert before.count(marker) == after.count(marker) > 0, marker
    h5 = cell_xml(after, "H5")
    assert h5 is not None and "<f>F5-G5</f>" in h5 and "<v>1200</v>" in h5
    tail_before = before[before.index(b"</sheetData>") :]
    tail_after = after[after.index(b"</sheetData>") :]
    assert tail_after == tail_before


def test_new_columns_go_after_the_last_column_with_the_header_style(workbook: Path) -> None:
    """Status, Days Overdue, Aging, Problems are added after the last used column, styled like the header."""
    run(workbook)
    ws = openpyxl.load_workbook(workbook)["Invoices"]
    headers = [ws.cell(HEADER_ROW, c).value for c in range(1, 19)]
    assert headers == [*DEFAULT_HEADERS, "Status", "Days Overdue", "Aging", "Problems"]
    last = ws.cell(HEADER_ROW, len(DEFAULT_HEADERS))
    for col in NEW.values():
        cell = ws.cell(HEADER_ROW, col)
        assert cell.font.b == last.font.b is True
        assert cell.fill.fgColor.rgb == last.fill.fgColor.rgb
    assert ws.freeze_panes == "A5"
    assert ws.data_validations.dataValidation and ws.conditional_formatting


def test_second_run_with_the_same_date_changes_nothing(workbook: Path) -> None:
    """Running twice with the same as-of date leaves the file byte-for-byte as the first run wrote it."""
    run(workbook)
    first = workbook.read_bytes()
    stat = workbook.stat()
    output = run(workbook)
    assert "already up to date; nothing was written" in output
    assert workbook.read_bytes() == first
    assert workbook.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_later_date_updates_the_columns_in_place(workbook: Path) -> None:
    """A later run updates our cells where they are; no second set of columns appears."""
    run(workbook)
    result = invoke("run", workbook, "--as-of", (AS_OF + timedelta(days=20)).isoformat())
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(workbook)["Invoices"]
    assert ws.max_column == 18
    out = written(workbook)
    assert out["INV-2001"]["Status"] == "Overdue" and out["INV-2001"]["Days Overdue"] == 10
    assert out["INV-2002"]["Days Overdue"] == 35 and out["INV-2002"]["Aging"] == "31-60"


def test_columns_moved_by_the_accountant_are_found_by_name(workbook: Path) -> None:
    """If the accountant moves our Status column, the next run updates it there and adds no other."""
    run(workbook)
    # The accountant moves "Status" to column T (20) by hand and leaves column O blank.
    xml = sheet_xml(workbook, "Invoices")
    import re
    import zipfile

    moved = re.sub(rb'<c r="O(\d+)"', rb'<c r="T\1"', xml)
    part = sheet_part(workbook, "Invoices")
    parts = read_parts(workbook)
    with zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            if name == part:
                # keep cells in column order: T after R
                data = re.sub(rb'(<c r="T\d+"[^>]*?(?:/>|>.*?</c>))(.*?)(</row>)', rb"\2\1\3", moved)
            z.writestr(name, data)
    result = invoke("run", workbook, "--as-of", (AS_OF + timedelta(days=20)).isoformat())
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(workbook)["Invoices"]
    assert ws.cell(HEADER_ROW, 20).value == "Status"
    assert ws.cell(HEADER_ROW, 15).value is None
    assert ws.cell(FIRST_DATA_ROW, 20).value == "Overdue"
    assert "Added" not in result.output


def test_the_accountants_formatting_of_our_columns_is_kept(workbook: Path) -> None:
    """Once our column exists, its cells keep whatever style the accountant gave them."""
    run(workbook)
    xml = sheet_xml(workbook, "Invoices")
    cell = cell_xml(xml, "O6")
    assert cell is not None
    import re

    styled = xml.replace(cell.encode(), re.sub(r'(<c r="O6")(?: s="\d+")?', r'\1 s="1"', cell).encode())
    import zipfile

    part = sheet_part(workbook, "Invoices")
    parts = read_parts(workbook)
    with zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, styled if name == part else data)
    invoke("run", workbook, "--as-of", (AS_OF + timedelta(days=1)).isoformat())
    new_cell = cell_xml(sheet_xml(workbook, "Invoices"), "O6")
    assert new_cell is not None and 's="1"' in new_cell


def test_output_option_writes_a_copy_and_leaves_the_original(workbook: Path, tmp_path: Path) -> None:
    """--output writes the result elsewhere; the original is not touched and no backup is made."""
    before = workbook.read_bytes()
    target = tmp_path / "out" / "copy.xlsx"
    target.parent.mkdir()
    output = run(workbook, "--output", target)
    assert workbook.read_bytes() == before
    assert str(target) in output
    assert written(target)["INV-2005"]["Aging"] == "90+"
    assert not (tmp_path / "receivables-backups").exists()


def test_in_place_run_keeps_a_backup_of_the_previous_version(workbook: Path) -> None:
    """Writing in place keeps the previous file in receivables-backups/, at most five of them."""
    before = workbook.read_bytes()
    run(workbook)
    backups = sorted((workbook.parent / "receivables-backups").iterdir())
    assert len(backups) == 1 and backups[0].read_bytes() == before
    for days in range(1, 8):
        invoke("run", workbook, "--as-of", (AS_OF + timedelta(days=days)).isoformat())
    assert len(list((workbook.parent / "receivables-backups").iterdir())) == 5


@pytest.mark.parametrize("lock_name", ["~$receivables.xlsx", ".~lock.receivables.xlsx#"])
def test_open_in_excel_or_libreoffice_writes_nothing(workbook: Path, lock_name: str) -> None:
    """With Excel's or LibreOffice's lock file present, the run refuses, names who has it open, writes nothing."""
    lock = workbook.parent / lock_name
    if lock_name.startswith("~$"):
        name = b"Maria Silva"
        lock.write_bytes(bytes([len(name)]) + name + b"\x00" * 40)
    else:
        lock.write_text(
            "Maria Silva,host,maria,22.11.2026 10:00,file:///home/maria/.config/libreoffice/4;", encoding="utf-8"
        )
    before = workbook.read_bytes()
    result = invoke("run", workbook, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert "open by Maria Silva" in result.output and "close it and run again" in result.output
    assert workbook.read_bytes() == before
    assert not (workbook.parent / "receivables-backups").exists()


def test_check_works_while_the_workbook_is_open(workbook: Path) -> None:
    """`check` only reads, so an open workbook is fine."""
    (workbook.parent / "~$receivables.xlsx").write_bytes(b"\x05Maria" + b"\x00" * 40)
    assert invoke("check", workbook, "--as-of", AS_OF_TEXT).exit_code == 0


def test_a_change_on_disk_during_the_run_writes_nothing(workbook: Path) -> None:
    """If someone saves the workbook between the tool's read and its write, nothing is written."""
    manual = load_manual()
    source = XlsxSource(workbook)
    data = source.read(manual)
    analysis = analyse(data, manual, AS_OF)
    # The accountant saves the file meanwhile.
    saved = workbook.read_bytes() + b""
    os.utime(workbook, ns=(1, 1))
    with workbook.open("ab") as fh:
        fh.write(b"\x00")
    changed = workbook.read_bytes()
    with pytest.raises(WriteRefused, match="changed on disk while the tool was working"):
        source.write(data, plan_columns(data.layout, manual), analysis.computed_values())
    assert workbook.read_bytes() == changed != saved
    assert not list(workbook.parent.glob(".receivables.xlsx.*.tmp"))


def test_text_never_becomes_a_formula(workbook: Path, tmp_path: Path) -> None:
    """A status word that looks like a formula is written as a text cell, never as a formula."""
    (tmp_path / "billing-manual.toml").write_text('[statuses]\noverdue = "=1+1"\n', encoding="utf-8")
    run(workbook)
    cell = cell_xml(sheet_xml(workbook, "Invoices"), "O6")
    assert cell is not None and 't="inlineStr"' in cell and "<f>" not in cell and "=1+1" in cell
    assert openpyxl.load_workbook(workbook)["Invoices"]["O6"].data_type == "s"


def test_the_demo_sample_runs_and_libreoffice_reads_the_result(tmp_path: Path) -> None:
    """The committed sample runs, and LibreOffice opens the result and shows the new columns and the formulas' values."""
    require_soffice()
    for folder, name, sheet, status in (
        ("acme", "receivables.xlsx", "Invoices", "Status"),
        ("brasil", "recebiveis.xlsx", "Faturas", "Situação"),
    ):
        shutil.copytree(SAMPLES / folder, tmp_path / folder)
        path = tmp_path / folder / name
        run(path)
        shown = read_sheet_via_libreoffice(path, sheet, tmp_path)
        header_index = next(i for i, row in enumerate(shown) if status in row)
        header = shown[header_index]
        body = [row for row in shown[header_index + 1 :] if any(row)]
        statuses = {row[header.index(status)] for row in body}
        assert statuses & {"Overdue", "Vencido"} and statuses & {"Open", "Em aberto"}
        balance_col = header.index("Balance" if folder == "acme" else "Saldo")
        assert all(row[balance_col] for row in body), "formula results must show in LibreOffice"


@pytest.mark.libreoffice
def test_libreoffice_opens_a_written_workbook_with_every_feature(workbook: Path, tmp_path: Path) -> None:
    """LibreOffice opens what we wrote (charts, images, comments, validation...) and reads our values."""
    require_soffice()
    run(workbook)
    shown = read_sheet_via_libreoffice(workbook, "Invoices", tmp_path)
    header = shown[HEADER_ROW - 1]
    assert header[14:18] == ["Status", "Days Overdue", "Aging", "Problems"]
    by_invoice = {row[0]: row for row in shown[HEADER_ROW:] if row and row[0]}
    assert by_invoice["INV-2005"][14:17] == ["Overdue", "120", "90+"]
    assert by_invoice["INV-2006"][14] == "Paid"
    assert by_invoice["INV-2001"][7] == "1,200.00"  # the Balance formula's value
    customers = read_sheet_via_libreoffice(workbook, "Customers", tmp_path / "c")
    assert customers[0][:3] == ["Customer", "Email", "Credit Limit"]


def test_run_on_rows_spread_over_many_cells_keeps_each_row_whole(build: Callable[..., Path]) -> None:
    """Long Problems text and many rows still give one cell per column per row (no cells lost or doubled)."""
    many = []
    for i in range(300):
        many.append(
            {
                "Invoice": f"INV-{i:04d}",
                "Customer": f"Customer {i % 17}",
                "Email": "not-an-email" if i % 5 == 0 else f"c{i}@example.com",
                "Issue Date": date(2026, 9, 1) + timedelta(days=i % 90),
                "Due Date": date(2026, 10, 1) + timedelta(days=i % 90),
                "Amount": 100.0 + i,
                "Paid": 0,
                "Payment Method": "Card",
            }
        )
    path = build(many)
    run(path)
    ws = openpyxl.load_workbook(path)["Invoices"]
    assert ws.max_row == HEADER_ROW + 300
    assert sum(1 for r in range(FIRST_DATA_ROW, ws.max_row + 1) if ws.cell(r, 15).value) == 300
    assert sum(1 for r in range(FIRST_DATA_ROW, ws.max_row + 1) if ws.cell(r, 18).value) == 60


def test_a_workbook_saved_by_libreoffice_runs_too(tmp_path: Path) -> None:
    """A workbook written by another program (LibreOffice: shared strings, its own XML dialect) runs and reopens."""
    require_soffice()
    from tests.libreoffice import convert

    shutil.copytree(SAMPLES / "acme", tmp_path / "acme")
    saved = convert(tmp_path / "acme" / "receivables.xlsx", "xlsx", tmp_path / "lo")
    path = tmp_path / "acme" / "by-libreoffice.xlsx"
    shutil.move(saved, path)
    assert "xl/sharedStrings.xml" in read_parts(path)
    before = read_parts(path)
    run(path)
    after = read_parts(path)
    part = sheet_part(path, "Invoices")
    assert [n for n in before if before[n] != after[n]] == [part]
    shown = read_sheet_via_libreoffice(path, "Invoices", tmp_path)
    header = shown[HEADER_ROW - 1]
    assert header[-4:] == ["Status", "Days Overdue", "Aging", "Problems"]
    assert {row[header.index("Status")] for row in shown[HEADER_ROW:] if row[0]} >= {
        "Paid",
        "Overdue",
        "Open",
        "Invalid",
    }


def test_a_cleared_invoice_loses_its_stale_status(workbook: Path) -> None:
    """When the accountant clears an invoice row, the next run clears our cells on it too."""
    run(workbook)
    wb = openpyxl.load_workbook(workbook)
    ws = wb["Invoices"]
    row = FIRST_DATA_ROW + 2
    assert ws.cell(row, 15).value == "Overdue"
    parts = read_parts(workbook)
    part = sheet_part(workbook, "Invoices")
    import re
    import zipfile

    xml = parts[part]
    for col in "ABCDEFGHIJKLMN":
        xml = re.sub(rb'<c r="' + f"{col}{row}".encode() + rb'"[^>]*?(?:/>|>.*?</c>)', b"", xml)
    with zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, xml if name == part else data)
    run(workbook)
    ws = openpyxl.load_workbook(workbook)["Invoices"]
    assert [ws.cell(row, c).value for c in range(15, 19)] == [None, None, None, None]
    assert ws.cell(row + 1, 15).value == "Overdue"


def test_output_file_gets_the_usual_permissions(workbook: Path, tmp_path: Path) -> None:
    """A new --output file is readable like any file the user creates, not private to the tool."""
    umask = os.umask(0o022)
    try:
        target = tmp_path / "copy.xlsx"
        run(workbook, "--output", target)
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644
