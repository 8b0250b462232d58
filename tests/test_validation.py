"""Validation against the billing manual: every rule, with the cell it points at."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF_TEXT, invoke
from tests.factory import FIRST_DATA_ROW


def check_json(path: Path, *extra: str | Path) -> tuple[int, dict[str, Any]]:
    result = invoke("check", path, "--as-of", AS_OF_TEXT, "--json", *extra)
    return result.exit_code, json.loads(result.output)


def findings_at(report: dict[str, Any], location: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["location"] == location]


def one_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Invoice": "INV-1",
        "Customer": "Northwind Traders",
        "Email": "billing@northwind.com",
        "Issue Date": date(2026, 10, 1),
        "Due Date": date(2026, 10, 31),
        "Amount": 1000.0,
        "Paid": 0,
        "Payment Method": "Card",
        "Terms": "Net 30",
    }
    row.update(fields)
    return row


def test_clean_workbook_has_no_findings_and_exit_0(workbook: Path) -> None:
    """A workbook without mistakes checks clean: no findings, exit code 0."""
    code, report = check_json(workbook)
    assert code == 0
    assert report["findings"] == []
    assert report["invoices"] == 20


def test_check_prints_every_finding_with_its_cell_and_exits_1(build: Callable[..., Path]) -> None:
    """`receivables check` lists findings as Sheet!Cell: message and exits 1 when there is an error."""
    path = build([one_row(), one_row(Invoice="INV-2", **{"Due Date": date(2026, 9, 1)})])
    result = invoke("check", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    row = FIRST_DATA_ROW + 1
    assert f"Invoices!E{row}: due date 2026-09-01 is before issue date 2026-10-01" in result.output


def test_warnings_alone_exit_0(build: Callable[..., Path]) -> None:
    """Only warnings (a policy breach, not bad data) still exit 0."""
    code, report = check_json(build([one_row(**{"Payment Method": "Bitcoin"})]))
    assert code == 0
    assert [f["severity"] for f in report["findings"]] == ["warning"]


@pytest.mark.parametrize(
    ("fields", "column", "severity", "text"),
    [
        ({"Invoice": None}, "A", "error", "invoice number is missing"),
        ({"Customer": None}, "B", "error", "customer is missing"),
        ({"Due Date": None}, "E", "error", "due date is missing"),
        ({"Amount": None, "Balance": None}, "F", "error", "amount is missing"),
        ({"Due Date": "31/02/2026"}, "E", "error", "'31/02/2026' is not a real date"),
        ({"Due Date": "next week"}, "E", "error", "'next week' is not a date in the format DD/MM/YYYY"),
        ({"Issue Date": "2026-13-01"}, "D", "error", "'2026-13-01' is not a real date"),
        ({"Due Date": date(2026, 9, 1)}, "E", "error", "due date 2026-09-01 is before issue date 2026-10-01"),
        ({"Amount": "lots", "Balance": 0}, "F", "error", "amount 'lots' is not a number"),
        ({"Amount": 0}, "F", "error", "must be more than zero"),
        ({"Paid": -5.0}, "G", "error", "paid -5.00 is negative"),
        ({"Paid": 1200.0}, "G", "error", "paid 1,200.00 is more than the amount 1,000.00"),
        ({"Balance": 900.0}, "H", "error", "balance 900.00 is not amount - paid (1,000.00 - 0.00 = 1,000.00)"),
        ({"Email": None}, "C", "warning", "email is missing"),
        ({"Email": "billing@northwind,com"}, "C", "warning", "email 'billing@northwind,com' is not a valid address"),
        ({"Email": "a@x.com; b@y.com"}, "C", "warning", "more than one address"),
        ({"Payment Method": "Bitcoin"}, "I", "warning", "payment method 'Bitcoin' is not one the company accepts"),
        ({"Terms": "Net 90"}, "J", "warning", "terms of 90 days are longer than the 60 allowed"),
        ({"Terms": None, "Due Date": date(2027, 1, 15)}, "E", "warning", "due 106 days after issue"),
        ({"Amount": "1,234.50", "Balance": 1234.5}, "F", "warning", "typed as text"),
        ({"Due Date": 46300}, "E", "warning", "a number shown without a date format"),
    ],
)
def test_each_rule_reports_its_cell(
    build: Callable[..., Path], fields: dict[str, Any], column: str, severity: str, text: str
) -> None:
    """Each validation rule produces one finding of the right severity at the right cell."""
    path = build([one_row(**fields)])
    code, report = check_json(path)
    found = findings_at(report, f"Invoices!{column}{FIRST_DATA_ROW}")
    assert [f["severity"] for f in found] == [severity], report["findings"]
    assert text in found[0]["message"]
    assert code == (1 if severity == "error" else 0)


def test_duplicate_invoice_numbers_mark_every_copy(build: Callable[..., Path]) -> None:
    """An invoice number on two rows is an error on both, naming both rows."""
    path = build([one_row(), one_row(Customer="Contoso Retail"), one_row(Invoice="INV-3")])
    _, report = check_json(path)
    dupes = [f for f in report["findings"] if f["code"] == "duplicate-invoice"]
    assert [f["location"] for f in dupes] == [f"Invoices!A{FIRST_DATA_ROW}", f"Invoices!A{FIRST_DATA_ROW + 1}"]
    assert f"rows {FIRST_DATA_ROW}, {FIRST_DATA_ROW + 1}" in dupes[0]["message"]


def test_duplicate_numbers_are_told_folded_and_installments_by_due_date(build: Callable[..., Path]) -> None:
    """Numbers are compared without case or surrounding spaces; installments may share one, a due date each."""
    installment = {"Installment Of": ""}
    path = build(
        [
            one_row(**installment),
            one_row(Invoice=" inv-1 ", **installment),
            one_row(Invoice="INV-7", **{"Installment Of": "INV-7"}),
            one_row(Invoice="INV-7", **{"Installment Of": "INV-7", "Due Date": date(2026, 11, 30)}),
            one_row(Invoice="INV-8", **{"Installment Of": "INV-8"}),
            one_row(Invoice="inv-8", **{"Installment Of": "INV-8"}),
            one_row(Invoice="INV-9", **installment),
        ]
    )
    _, report = check_json(path)
    dupes = [f["location"] for f in report["findings"] if f["code"] == "duplicate-invoice"]
    assert dupes == [f"Invoices!A{FIRST_DATA_ROW + i}" for i in (0, 1, 4, 5)], report["findings"]


def test_credit_limit_from_the_customers_sheet(build: Callable[..., Path]) -> None:
    """A customer whose open balance passes the Customers sheet's limit gets a warning on the crossing row."""
    customers = [{"Customer": "Northwind Traders", "Email": "billing@northwind.com", "Credit Limit": 1500}]
    path = build([one_row(), one_row(Invoice="INV-2"), one_row(Invoice="INV-3")], customers=customers)
    _, report = check_json(path)
    over = [f for f in report["findings"] if f["code"] == "over-credit-limit"]
    assert len(over) == 1
    assert over[0]["location"] == f"Invoices!B{FIRST_DATA_ROW + 1}"
    assert "owes 2,000.00" in over[0]["message"] and "1,500.00 (Customers sheet)" in over[0]["message"]


def test_credit_limit_from_the_manual_wins_over_the_sheet(build: Callable[..., Path], tmp_path: Path) -> None:
    """[credit_limits] in the manual takes precedence over the customers sheet."""
    path = build([one_row(), one_row(Invoice="INV-2")])
    manual = tmp_path / "billing-manual.toml"
    manual.write_text('[credit_limits]\n"Northwind Traders" = 1200\n', encoding="utf-8")
    _, report = check_json(path)
    over = [f for f in report["findings"] if f["code"] == "over-credit-limit"]
    assert len(over) == 1 and "1,200.00" in over[0]["message"] and "[credit_limits]" in over[0]["message"]


def test_paid_invoices_do_not_count_against_the_credit_limit(build: Callable[..., Path]) -> None:
    """Only open balances count towards a credit limit."""
    customers = [{"Customer": "Northwind Traders", "Email": "billing@northwind.com", "Credit Limit": 1500}]
    path = build([one_row(Paid=1000.0), one_row(Invoice="INV-2")], customers=customers)
    _, report = check_json(path)
    assert not [f for f in report["findings"] if f["code"] == "over-credit-limit"]


def test_email_from_the_customers_sheet_fills_a_blank_email(build: Callable[..., Path]) -> None:
    """An invoice without an email uses the customer's email from the customers sheet, with no warning."""
    customers = [{"Customer": "Northwind Traders", "Email": "billing@northwind.com", "Credit Limit": 50000}]
    path = build([one_row(Email=None)], customers=customers)
    _, report = check_json(path)
    assert report["findings"] == []


def test_terms_and_methods_follow_the_manual(build: Callable[..., Path], tmp_path: Path) -> None:
    """The allowed methods and the longest terms are the manual's, not fixed in code."""
    path = build([one_row(Terms="Net 90", **{"Payment Method": "Bitcoin"})])
    (tmp_path / "billing-manual.toml").write_text(
        "[policy]\nmax_terms_days = 120\npayment_methods = ['Bitcoin']\n", encoding="utf-8"
    )
    code, report = check_json(path)
    assert code == 0 and report["findings"] == []


def test_text_dates_in_the_manual_format(build: Callable[..., Path], tmp_path: Path) -> None:
    """Dates typed as text are read in the manual's format (MM/DD/YYYY here), and ISO always."""
    path = build([one_row(**{"Issue Date": "10/01/2026", "Due Date": "2026-10-31"})])
    (tmp_path / "billing-manual.toml").write_text('[workbook]\ndate_format = "MM/DD/YYYY"\n', encoding="utf-8")
    code, report = check_json(path)
    assert code == 0, report["findings"]


def test_json_output_has_every_field(build: Callable[..., Path]) -> None:
    """`check --json` gives each finding's severity, code, message, sheet, cell, row and location."""
    _, report = check_json(build([one_row(**{"Due Date": "31/02/2026"})]))
    (finding,) = report["findings"]
    assert finding == {
        "severity": "error",
        "code": "bad-date",
        "message": "due date '31/02/2026' is not a real date (no such day in the calendar)",
        "sheet": "Invoices",
        "cell": f"E{FIRST_DATA_ROW}",
        "row": FIRST_DATA_ROW,
        "location": f"Invoices!E{FIRST_DATA_ROW}",
    }
    assert report["by_status"]["invalid"]["invoices"] == 1
