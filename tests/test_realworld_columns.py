"""The tool's columns on workbooks from the real world: Excel-made files, tables, the user's own columns."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.realworld import (
    assert_members_unchanged,
    assert_original_cells_kept,
    assert_written_safely,
    column_by_header,
    excel_workbook,
    realworld_copy,
    sheet_cells,
    split_ref,
)

# name -> (sheet, header row, as-of date, the due-date header, the invoice header)
REAL = {
    "excel-tables-bad-debts.xlsx": ("Sales", 5, date(2019, 9, 20), "Transaction Date", "Invoice #"),
    "excel-invoices-text-dates.xlsx": ("Sheet1", 1, date(2025, 6, 1), "DueDate", "InvoiceID"),
    "excel-receivables-datetimes.xlsx": ("Sheet1", 1, date(2025, 8, 1), "InvoiceDate", "InvoiceID"),
}
AS_OF = date(2026, 11, 20)


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


# --------------------------------------------------------------------------------------------
# The accountant's own columns named like the tool's

MANUAL = "[policy]\nrequire_email = false\n"
HEADERS = ["Invoice", "Customer", "Due Date", "Amount", "Paid"]


def invoice_rows(first: int = 2, count: int = 4) -> dict[int, list[Any]]:
    """Invoices due 10 days apart around AS_OF, the odd ones paid."""
    return {
        first + n: [
            f"INV-{n + 1}",
            f"Customer {n % 2}",
            AS_OF - timedelta(days=15 - 10 * n),
            100 + n,
            100 + n if n % 2 else 0,
        ]
        for n in range(count)
    }


def expected_status(row: list[Any]) -> str:
    if row[4] >= row[3]:
        return "Paid"
    return "Overdue" if row[2] < AS_OF else "Open"


def manual_file(tmp_path: Path, text: str = MANUAL) -> Path:
    path = tmp_path / "billing-manual.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("Status ", ["Complete", "In Progress", "New", "Complete"]),
        ("STATUS", ["Sent", "Paid by check", "Sent", None]),
        ("Status", ["Complete", "In Progress", "New", "Complete"]),
    ],
)
def test_users_own_status_column_is_never_written(header: str, values: list[str | None], tmp_path: Path) -> None:
    """A column of the user's named like Status refuses the run in one line naming its cell and the setting."""
    rows = {1: [*HEADERS, header], **{r: [*v, values[r - 2]] for r, v in invoice_rows().items()}}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    result = invoke(
        "run", workbook, "--manual", manual_file(tmp_path), "--as-of", AS_OF.isoformat(), "--output", output,
        "--outbox", tmp_path / "outbox",
    )  # fmt: skip
    assert result.exit_code != 0
    message = result.output.strip().splitlines()[-1]
    cell = "Invoices!F1" if header != "Status" else "Invoices!F2"
    assert cell in message and "[output_columns] status" in message and "nothing was written" in message
    assert not output.exists()
    assert not (tmp_path / "outbox").exists()


def test_another_name_for_the_tools_column_leaves_the_users_column_alone(tmp_path: Path) -> None:
    """With [output_columns] status renamed, the tool adds its own column and the user's keeps every value."""
    rows = {1: [*HEADERS, "STATUS"], **{r: [*v, "Complete"] for r, v in invoice_rows().items()}}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    manual = manual_file(tmp_path, MANUAL + '[output_columns]\nstatus = "AR Status"\n')
    run_to(workbook, manual, AS_OF, output)
    assert_written_safely(workbook, output, "Invoices", tmp_path)
    assert column_by_header(output, "Invoices", 1, "STATUS") == dict.fromkeys(range(2, 6), "Complete")
    status = column_by_header(output, "Invoices", 1, "AR Status")
    assert status == {r: expected_status(v) for r, v in invoice_rows().items()}


def test_columns_written_by_an_earlier_version_are_found_as_the_tools(tmp_path: Path) -> None:
    """Status, Days Overdue, Aging and Problems holding only the tool's values are updated in place, none added."""
    old = ["Status", "Days Overdue", "Aging", "Problems"]
    rows = {
        1: [*HEADERS, *old],
        **{r: [*v, "Invalid", 3, "1-30", "C9: customer is missing"] for r, v in invoice_rows().items()},
    }
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    out = run_to(workbook, manual_file(tmp_path), AS_OF, output)
    assert "added columns" not in out
    assert_members_unchanged(workbook, output, "Invoices")
    assert_original_cells_kept(workbook, output, "Invoices", ours={6, 7, 8, 9})
    assert column_by_header(output, "Invoices", 1, "Status") == {
        r: expected_status(v) for r, v in invoice_rows().items()
    }
    assert max(split_ref(ref)[0] for ref in sheet_cells(output, "Invoices")) == 9
