"""Reading real, messy workbooks: titles above the header, columns by name, formulas, dates, bad files."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, SAMPLES, invoke
from tests.factory import DEFAULT_HEADERS, PT_HEADER_MAP, PT_HEADERS
from toolkit.manual import load_manual
from toolkit.xlsx.read import read_workbook


def test_header_found_below_title_rows(workbook: Path) -> None:
    """The header row is found under the title and note rows, and every invoice is read."""
    data = read_workbook(workbook, load_manual())
    assert data.layout.header_row == 4
    assert data.layout.sheet == "Invoices"
    assert len(data.rows) == 20
    assert data.rows[0].row == 5


def test_columns_are_matched_by_name_not_position(build: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    """Moving and reordering columns changes nothing: each is found by its header."""
    reordered = list(reversed(DEFAULT_HEADERS))
    path = build(rows, headers=reordered)
    data = read_workbook(path, load_manual())
    assert data.layout.columns["invoice"] == len(reordered) - DEFAULT_HEADERS.index("Invoice")
    assert data.rows[0].values["invoice"] == rows[0]["Invoice"]
    result = invoke("check", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output


def test_portuguese_headers(build: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    """Portuguese headers (Fatura, Cliente, Vencimento, Valor, ...) are understood with the default manual."""
    path = build(rows, headers=PT_HEADERS, header_map=PT_HEADER_MAP, sheet="Faturas")
    data = read_workbook(path, load_manual())
    assert {"invoice", "customer", "due_date", "amount", "paid", "balance", "email"} <= set(data.layout.columns)
    assert data.layout.sheet == "Faturas"


def test_formulas_are_read_by_their_cached_results(workbook: Path, rows: list[dict[str, Any]]) -> None:
    """The Balance formula's cached value is what the tool reads (Amount - Paid)."""
    data = read_workbook(workbook, load_manual())
    for source, row in zip(data.rows, rows, strict=True):
        assert source.values["balance"] == pytest.approx(row["Amount"] - row["Paid"])


def test_dates_real_and_text(build: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    """Real Excel dates and text dates in the manual's format both become dates; the text one gets a warning."""
    rows[0]["Due Date"] = "30/11/2026"
    path = build(rows)
    result = invoke("check", path, "--as-of", AS_OF_TEXT, "--json")
    report = json.loads(result.output)
    assert [(f["code"], f["severity"]) for f in report["findings"]] == [("date-as-text", "warning")]
    assert report["by_status"]["invalid"]["invoices"] == 0


def test_empty_rows_are_skipped(build: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    """Blank rows between invoices are not invoices and not problems."""
    path = build([*rows[:3], {}, {"Notes": None}, *rows[3:6]])
    data = read_workbook(path, load_manual())
    assert len(data.rows) == 6


def test_the_sheet_with_the_invoices_is_found_among_others(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    """With no sheet named in the manual, the first sheet that has the required columns is used."""
    wb = openpyxl.Workbook()
    wb.active.title = "Read me"
    wb.active["A1"] = "Instructions for the team"
    ws = wb.create_sheet("AR 2026")
    ws.append(["Invoice", "Customer", "Due Date", "Amount"])
    ws.append(["INV-1", "Acme", date(2026, 12, 1), 100])
    path = tmp_path / "two.xlsx"
    wb.save(path)
    data = read_workbook(path, load_manual())
    assert data.layout.sheet == "AR 2026"
    assert len(data.rows) == 1


def test_missing_columns_message_lists_found_and_expected(tmp_path: Path) -> None:
    """A sheet without the required columns is refused, saying what was found and what is expected."""
    wb = openpyxl.Workbook()
    wb.active.append(["Invoice", "Client Name", "Value"])
    wb.active.append(["INV-1", "Acme", 100])
    path = tmp_path / "odd.xlsx"
    wb.save(path)
    result = invoke("check", path)
    assert result.exit_code == 1
    out = result.output
    assert "no sheet has the columns the billing manual asks for" in out
    assert "'Client Name'" in out and "customer (one of: Customer" in out and "due_date (one of:" in out
    assert "[columns]" in out


def test_named_sheet_that_does_not_exist(workbook: Path, tmp_path: Path) -> None:
    """A manual naming a sheet the workbook lacks lists the sheets there are."""
    (tmp_path / "billing-manual.toml").write_text('[workbook]\nsheet = "AR"\n', encoding="utf-8")
    result = invoke("check", workbook)
    assert result.exit_code == 1
    assert "no sheet named 'AR' (the workbook has 'Invoices', 'Customers')" in result.output


def test_empty_workbook(tmp_path: Path) -> None:
    """A workbook with nothing in it says it has no invoices."""
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    result = invoke("run", path)
    assert result.exit_code == 1
    assert "every sheet is empty" in result.output


def _encrypted_like(path: Path) -> None:
    # An OLE compound file holding an EncryptionInfo stream is how Excel stores a password-protected .xlsx.
    path.write_bytes(
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 512
    )


def _old_xls(path: Path) -> None:
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024 + "Workbook".encode("utf-16-le"))


def _text_file(path: Path) -> None:
    path.write_text("Invoice,Customer\nINV-1,Acme\n", encoding="utf-8")


def _truncated(path: Path) -> None:
    shutil.copy(SAMPLES / "acme" / "receivables.xlsx", path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _ods(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("missing.xlsx", None, "file not found"),
        ("locked.xlsx", _encrypted_like, "protected with a password"),
        ("old.xls", _old_xls, "save it as .xlsx"),
        ("notes.xlsx", _text_file, "not an Excel workbook"),
        ("cut.xlsx", _truncated, "damaged"),
        ("calc.ods", _ods, "OpenDocument spreadsheet"),
    ],
)
def test_bad_files_get_one_line_and_stay_untouched(
    tmp_path: Path, name: str, make: Callable[[Path], None] | None, expected: str
) -> None:
    """Each kind of file that is not a usable workbook gets a one-line message, a non-zero exit, no change."""
    path = tmp_path / name
    if make is not None:
        make(path)
    before = path.read_bytes() if path.exists() else None
    result = invoke("run", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code != 0
    assert expected in result.output
    assert result.output.startswith(f"Error: {path}")
    assert len(result.output.strip().splitlines()) == 1
    assert (path.read_bytes() if path.exists() else None) == before
    assert not (tmp_path / "receivables-backups").exists()


def test_xlsm_is_read_like_xlsx(tmp_path: Path, workbook: Path) -> None:
    """A macro-enabled .xlsm workbook is read and written like an .xlsx."""
    path = tmp_path / "macros.xlsm"
    shutil.copy(workbook, path)
    result = invoke("run", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    assert "Overdue" in result.output


def test_the_committed_samples_read_cleanly() -> None:
    """Both committed samples are found with their manuals, and only their deliberate mistakes are reported."""
    for folder, name in (("acme", "receivables.xlsx"), ("brasil", "recebiveis.xlsx")):
        result = invoke("check", SAMPLES / folder / name, "--as-of", AS_OF.isoformat(), "--json")
        report = json.loads(result.output)
        assert report["invoices"] >= 20
        assert 0 < report["errors"] < 8, report["findings"]
