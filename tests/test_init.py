"""`receivables init`: a commented manual, the templates, and a starter workbook on which `run` works at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import invoke
from tests.libreoffice import read_sheet_via_libreoffice
from toolkit.manual import load_manual
from toolkit.starter_workbook import header_names


def test_init_workbook_writes_a_workbook_that_run_checks_clean(tmp_path: Path) -> None:
    """init --workbook writes a manual and a workbook; run on it finds no problem and ages both examples."""
    result = invoke("init", tmp_path, "--workbook")
    assert result.exit_code == 0, result.output
    book = tmp_path / "receivables.xlsx"
    assert (tmp_path / "billing-manual.toml").is_file() and book.is_file()
    run = invoke("run", book, "--as-of", date.today().isoformat())
    assert run.exit_code == 0, run.output
    assert "No problems found." in run.output and "2 invoices" in run.output
    statuses = [row[-4] for row in openpyxl.load_workbook(book).active.iter_rows(min_row=2, values_only=True)]
    assert statuses == ["Overdue", "Open"]


def test_starter_workbook_has_formats_dropdown_frozen_header_and_customers(tmp_path: Path) -> None:
    """The Invoices sheet has date and money formats, a payment-method drop-down and a frozen header; Customers has limits."""
    invoke("init", tmp_path, "--workbook")
    book = openpyxl.load_workbook(tmp_path / "receivables.xlsx")
    invoices, customers = book["Invoices"], book["Customers"]
    headers = [cell.value for cell in invoices[1]]
    assert headers[:6] == ["Invoice", "Customer", "Email", "Issue Date", "Due Date", "Amount"]
    assert invoices.freeze_panes == "A2"
    assert invoices["D2"].number_format == "yyyy-mm-dd" and invoices["F2"].number_format == "#,##0.00"
    (validation,) = invoices.data_validations.dataValidation
    assert validation.type == "list" and "Bank transfer" in validation.formula1
    assert str(validation.sqref).startswith("H2")
    assert next(iter(customers.iter_rows(min_row=1, values_only=True))) == ("Customer", "Credit Limit", "Email")
    assert customers["B2"].value == 5000


def test_starter_workbook_follows_a_portuguese_manual(tmp_path: Path) -> None:
    """Under a pt_BR manual the headers are Portuguese names the manual matches, and dates are day-first."""
    (tmp_path / "billing-manual.toml").write_text(
        '[company]\nlocale = "pt_BR"\ncurrency = "BRL"\naddress = "Rua das Palmeiras, 120, São Paulo - SP"\n'
        'tax_id = "12.345.678/0001-95"\n',
        encoding="utf-8",
    )
    result = invoke("init", tmp_path, "--workbook")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "billing-manual.toml" not in result.output.split("Wrote", 1)[1].split(":")[0]
    sheet = openpyxl.load_workbook(tmp_path / "receivables.xlsx")["Invoices"]
    assert [cell.value for cell in sheet[1]][:5] == ["Fatura", "Cliente", "E-mail", "Data de Emissão", "Vencimento"]
    assert sheet["E2"].number_format == "dd/mm/yyyy"
    assert [h for _, h, _ in header_names(load_manual(tmp_path / "billing-manual.toml"))][5] == "Valor"
    run = invoke("run", tmp_path / "receivables.xlsx")
    assert run.exit_code == 0 and "No problems found." in run.output, run.output


def test_init_never_overwrites(tmp_path: Path) -> None:
    """A second init refuses to overwrite the manual, and init --workbook refuses to overwrite a workbook."""
    assert invoke("init", tmp_path).exit_code == 0
    again = invoke("init", tmp_path)
    assert again.exit_code == 1 and "already exists; not overwritten" in again.output
    (tmp_path / "receivables.xlsx").write_bytes(b"the accountant's own file")
    refused = invoke("init", tmp_path, "--workbook")
    assert refused.exit_code == 1 and "receivables.xlsx: already exists" in refused.output
    assert (tmp_path / "receivables.xlsx").read_bytes() == b"the accountant's own file"


@pytest.mark.libreoffice
def test_libreoffice_opens_the_starter_workbook_after_a_run(tmp_path: Path) -> None:
    """LibreOffice opens the starter workbook after a run and shows the examples with their statuses."""
    invoke("init", tmp_path, "--workbook")
    assert invoke("run", tmp_path / "receivables.xlsx").exit_code == 0
    shown = read_sheet_via_libreoffice(tmp_path / "receivables.xlsx", "Invoices", tmp_path)
    assert shown[0][:2] == ["Invoice", "Customer"] and "Status" in shown[0]
    status = shown[0].index("Status")
    assert [row[status] for row in shown[1:3]] == ["Overdue", "Open"]
