"""The tool's columns on workbooks from the real world: Excel-made files, tables, the user's own columns."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.realworld import (
    assert_written_safely,
    column_by_header,
    realworld_copy,
)

# name -> (sheet, header row, as-of date, the due-date header, the invoice header)
REAL = {
    "excel-tables-bad-debts.xlsx": ("Sales", 5, date(2019, 9, 20), "Transaction Date", "Invoice #"),
    "excel-invoices-text-dates.xlsx": ("Sheet1", 1, date(2025, 6, 1), "DueDate", "InvoiceID"),
    "excel-receivables-datetimes.xlsx": ("Sheet1", 1, date(2025, 8, 1), "InvoiceDate", "InvoiceID"),
}


def run_to(workbook: Path, manual: Path, as_of: date, output: Path) -> str:
    result = invoke(
        "run", workbook, "--manual", manual, "--as-of", as_of.isoformat(), "--output", output,
        "--outbox", output.parent / "outbox",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def as_date(text: str | None) -> date:
    assert text is not None
    if text[:4].isdigit() and text[4:5] == "-":
        return date.fromisoformat(text[:10])
    return (datetime(1899, 12, 30) + timedelta(days=float(text))).date()


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_excel_workbook_gets_right_statuses_and_nothing_else_changes(name: str, tmp_path: Path) -> None:
    """On each Excel-made file: every other member and cell as it was, LibreOffice opens it, every status right."""
    sheet, header_row, as_of, due_header, invoice_header = REAL[name]
    workbook, manual = realworld_copy(name, tmp_path)
    output = tmp_path / "out.xlsx"
    run_to(workbook, manual, as_of, output)
    assert_written_safely(workbook, output, sheet, tmp_path)
    due = column_by_header(output, sheet, header_row, due_header)
    invoices = column_by_header(output, sheet, header_row, invoice_header)
    status = column_by_header(output, sheet, header_row, "Status")
    days = column_by_header(output, sheet, header_row, "Days Overdue")
    assert invoices and set(status) == set(invoices)
    for row in invoices:
        late = (as_of - as_date(due[row])).days
        assert status[row] == ("Overdue" if late > 0 else "Open"), row
        assert int(days[row] or 0) == max(late, 0), row
