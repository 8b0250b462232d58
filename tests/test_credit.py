"""receivables credit: every rule of [credit_policy] and every decision, with exit statuses and --json."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.factory import DEFAULT_HEADERS, make_workbook
from tests.sheets_emulator import SheetsEmulator
from tests.test_gsheet import KEY, add_sheet, emulator, fake_time, google, home  # noqa: F401
from toolkit.manual import load_manual

HEADERS = (*DEFAULT_HEADERS, "Payment Date")


def inv(number: str, customer: str, due_in: int, amount: float, paid: float = 0, **extra: Any) -> dict[str, Any]:
    """One invoice row, due ``due_in`` days after AS_OF (negative: overdue)."""
    due = AS_OF + timedelta(days=due_in)
    row = {
        "Invoice": number,
        "Customer": customer,
        "Email": "ap@example.com",
        "Issue Date": due - timedelta(days=30),
        "Due Date": due,
        "Amount": amount,
        "Paid": paid,
        "Payment Method": "Card",
    }
    row.update(extra)
    return row


def paid_on(number: str, customer: str, due_in: int, amount: float, days_late: int) -> dict[str, Any]:
    """A paid invoice with its payment date ``days_late`` days after the due date."""
    return inv(number, customer, due_in, amount, amount, **{"Payment Date": AS_OF + timedelta(days=due_in + days_late)})


def book(tmp_path: Path) -> Path:
    """Hand-built records: a good payer, one over the limit, one 90+ overdue, a bad payer, a promise breaker, a dispute."""
    rows = [
        # Good payer: three invoices paid on time, 500 open, limit 10,000.
        paid_on("G-1", "Good Payer Ltd", -90, 1000, 0),
        paid_on("G-2", "Good Payer Ltd", -60, 1000, 0),
        paid_on("G-3", "Good Payer Ltd", -30, 1000, 0),
        inv("G-4", "Good Payer Ltd", 10, 500),
        # Near the limit: 9,000 open of 10,000, pays on time.
        paid_on("L-1", "Limit Corp", -90, 100, 0),
        paid_on("L-2", "Limit Corp", -60, 100, 0),
        paid_on("L-3", "Limit Corp", -30, 100, 0),
        inv("L-4", "Limit Corp", 5, 9000),
        # 90+ overdue: 700 owed 120 days.
        paid_on("O-1", "Old Debts SA", -200, 100, 0),
        paid_on("O-2", "Old Debts SA", -180, 100, 0),
        paid_on("O-3", "Old Debts SA", -160, 100, 0),
        inv("O-4", "Old Debts SA", -120, 700),
        # Grade C: pays 20 days late on average.
        paid_on("C-1", "Slow Payer Co", -90, 100, 20),
        paid_on("C-2", "Slow Payer Co", -60, 100, 20),
        paid_on("C-3", "Slow Payer Co", -40, 100, 20),
        # Grade D: pays 60 days late.
        paid_on("D-1", "Bad Payer Inc", -200, 100, 60),
        paid_on("D-2", "Bad Payer Inc", -160, 100, 60),
        paid_on("D-3", "Bad Payer Inc", -120, 100, 60),
        # A broken promise: promised 10 days ago, still unpaid (20 days overdue).
        inv("P-1", "Promise Breaker", -20, 300, **{"Promised Date": AS_OF - timedelta(days=10)}),
        # A dispute.
        inv("H-1", "Disputes Ltd", -5, 400, Hold="Disputed"),
        # Known from the customers sheet only: no invoices yet.
    ]
    customers = [
        {"Customer": "Good Payer Ltd", "Credit Limit": 10000},
        {"Customer": "Limit Corp", "Credit Limit": 10000},
        {"Customer": "Old Debts SA", "Credit Limit": 10000},
        {"Customer": "Slow Payer Co", "Credit Limit": 10000},
        {"Customer": "Bad Payer Inc", "Credit Limit": 10000},
        {"Customer": "Promise Breaker", "Credit Limit": 10000},
        {"Customer": "Disputes Ltd", "Credit Limit": 10000},
        {"Customer": "Fresh Start Bakery", "Credit Limit": 5000},
    ]
    return make_workbook(tmp_path / "receivables.xlsx", rows, headers=HEADERS, customers=customers)


def credit(workbook: Path | str, customer: str, amount: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """Run ``receivables credit --json``; the exit status and the parsed JSON."""
    result = invoke(
        "credit", workbook, "--customer", customer, "--amount", amount, "--as-of", AS_OF_TEXT, "--json", *extra
    )
    assert result.exit_code in (0, 1, 2, 3), result.output
    answer = json.loads(result.stdout)
    assert answer["exit_status"] == result.exit_code
    return result.exit_code, answer


def reason(answer: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(r for r in answer["reasons"] if r["rule"] == rule)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return book(tmp_path)


def test_good_payer_small_order_is_approved(workbook: Path) -> None:
    """A grade-A customer well within the limit: approve, exit 0, headroom = limit - open - order."""
    code, answer = credit(workbook, "good payer ltd", "1000")
    assert (code, answer["decision"]) == (0, "approve")
    assert answer["figures"]["headroom"] == "8500"
    assert answer["figures"]["grade"] == "A"
    assert "headroom $8,500.00" in reason(answer, "over_limit")["figure"]
    assert reason(answer, "grade_a")["figure"].startswith("grade A (good payer): 3 paid invoice(s)")


def test_order_past_the_limit_is_declined(workbook: Path) -> None:
    """9,000 open of a 10,000 limit: an order of 1,500 leaves -500 headroom and is declined (exit 3)."""
    code, answer = credit(workbook, "Limit Corp", "1500")
    assert (code, answer["decision"]) == (3, "decline")
    assert answer["figures"]["headroom"] == "-500"
    assert reason(answer, "over_limit")["decision"] == "decline"
    code, answer = credit(workbook, "Limit Corp", "1000")  # exactly to the limit: allowed
    assert (code, answer["figures"]["headroom"]) == (0, "0")


def test_balance_ninety_days_overdue_declines(workbook: Path) -> None:
    """700 owed for 120 days is in the 90+ bucket: declined, with the figure."""
    code, answer = credit(workbook, "Old Debts SA", "100")
    assert (code, answer["decision"]) == (3, "decline")
    assert reason(answer, "oldest_bucket")["figure"] == "$700.00 overdue 90+ days"
    assert answer["figures"]["oldest_bucket_balance"] == "700"


def test_grades_c_and_d(workbook: Path) -> None:
    """Grade C gets conditions (exit 1, the conditions stated); grade D is referred (exit 2)."""
    code, answer = credit(workbook, "Slow Payer Co", "100")
    assert (code, answer["decision"], answer["figures"]["grade"]) == (1, "approve with conditions", "C")
    assert answer["conditions"] == "payment in advance, or payment terms of at most 15 days"
    code, answer = credit(workbook, "Bad Payer Inc", "100")
    assert (code, answer["decision"], answer["figures"]["grade"]) == (2, "refer", "D")


def test_broken_promise_and_dispute_refer(workbook: Path) -> None:
    """A promise broken in the last 90 days refers; so does an invoice in dispute; each names its invoice."""
    code, answer = credit(workbook, "Promise Breaker", "100")
    assert (code, answer["figures"]["broken_promises"]) == (2, ["P-1"])
    assert reason(answer, "broken_promises")["figure"] == "1 broken promise(s) in the last 90 days (P-1)"
    code, answer = credit(workbook, "Disputes Ltd", "100")
    assert (code, answer["figures"]["on_hold"]) == (2, ["H-1"])


def test_large_order_is_always_referred(workbook: Path) -> None:
    """Above review_above (10,000) even the best payer is referred, however much headroom they have."""
    manual = workbook.parent / "billing-manual.toml"
    manual.write_text('[credit_limits]\n"Good Payer Ltd" = 100000\n', encoding="utf-8")
    code, answer = credit(workbook, "Good Payer Ltd", "12000")
    assert (code, answer["decision"]) == (2, "refer")
    assert reason(answer, "review_above")["figure"] == "order $12,000.00 is above $10,000.00"


def test_new_customer_gets_the_first_order_limit(workbook: Path) -> None:
    """No invoices yet: up to first_order_limit (1,000) approved, above it referred."""
    code, answer = credit(workbook, "fresh start", "800")
    assert (code, answer["new_customer"], answer["customer"]) == (0, True, "Fresh Start Bakery")
    assert reason(answer, "first_order_limit")["figure"] == "first purchase of $800.00; first-order limit $1,000.00"
    code, answer = credit(workbook, "Fresh Start Bakery", "1500")
    assert (code, reason(answer, "first_order_above_limit")["decision"]) == (2, "refer")


def test_unknown_name_lists_the_closest_customers(workbook: Path) -> None:
    """A name nobody has: exit 4 (not a decision), the closest known names listed; --new-customer makes it a first order."""
    result = invoke("credit", workbook, "--customer", "Good Payer Limited", "--amount", "10", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 4
    assert "no customer named 'Good Payer Limited' (closest: Good Payer Ltd" in result.output
    code, answer = credit(workbook, "Brand New Ltd", "500", "--new-customer")
    assert (code, answer["customer"], answer["new_customer"]) == (0, "Brand New Ltd", True)


def test_terminal_shows_the_decision_first(workbook: Path) -> None:
    """Without --json: the decision in plain words on the first line, then the reasons with their figures."""
    result = invoke("credit", workbook, "--customer", "Limit Corp", "--amount", "1500", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 3
    lines = result.output.splitlines()
    assert lines[0].startswith("DECLINE: do not sell on credit. Order of $1,500.00 for Limit Corp")
    assert "Because: the order goes past the credit limit" in result.output
    assert "over_limit" in result.output and "oldest_bucket" in result.output


def test_errors_exit_four_never_a_decision_status(workbook: Path) -> None:
    """Usage errors and bad amounts exit 4, so a script never takes an error for approve/conditions/refer."""
    assert invoke("credit", workbook, "--amount", "10").exit_code == 4
    assert invoke("credit", workbook, "--customer", "Limit Corp", "--amount", "ten").exit_code == 4
    assert invoke("credit", workbook, "--customer", "Limit Corp", "--amount", "-5").exit_code == 4
    assert invoke("credit", workbook.parent / "missing.xlsx", "--customer", "x", "--amount", "1").exit_code == 4


def test_reads_a_workbook_open_in_excel(workbook: Path) -> None:
    """Read-only: a workbook with Excel's lock file beside it is decided on, and left byte for byte as it was."""
    (workbook.parent / f"~${workbook.name}").write_bytes(b"\x05alice" + b" " * 50)
    before = workbook.read_bytes()
    code, _ = credit(workbook, "Good Payer Ltd", "100")
    assert code == 0
    assert workbook.read_bytes() == before


def test_policy_settings_change_the_decision(workbook: Path) -> None:
    """[credit_policy] maps each rule to its decision: over the limit can refer instead of decline."""
    manual = workbook.parent / "billing-manual.toml"
    manual.write_text('[credit_policy]\nover_limit = "refer"\n', encoding="utf-8")
    assert credit(workbook, "Limit Corp", "1500")[0] == 2
    manual.write_text('[credit_policy]\nover_limit = "maybe"\n', encoding="utf-8")
    result = invoke("credit", workbook, "--customer", "Limit Corp", "--amount", "1", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 4 and "[credit_policy] over_limit = 'maybe' is not a decision" in result.output
    assert load_manual().section("credit_policy")["review_above"] == 10000.0


def test_a_google_sheet(emulator: SheetsEmulator, google: list) -> None:  # noqa: F811
    """The same decision from a Google Sheet (emulator, real gspread client), which is only read."""
    add_sheet(emulator, [inv("INV-1", "Contoso Retail", -120, 500), inv("INV-2", "Northwind", 5, 100)])
    code, answer = credit(f"gsheet:{KEY}", "contoso retail", "100")
    assert (code, answer["figures"]["oldest_bucket_balance"]) == (3, "500")
    assert credit(f"gsheet:{KEY}", "Northwind", "100")[0] == 0
    assert not [r for r in emulator.requests if "update" in r.kind.lower()]
