"""A very large sheet's invoices paid in full are kept packed: and nothing the tool says or writes changes.

Packing is on from ``reader.PACK_PAID_BYTES`` of sheet XML (some 160,000 rows); these tests
set that to 0, so that the workbooks here are packed, and compare every invoice, result,
finding, file written and line printed with the same run unpacked.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import AS_OF, AS_OF_TEXT, SAMPLES, invoke
from tests.conftest import analysed as analysed_as_a_command_does
from tests.factory import make_workbook
from tests.realworld import REALWORLD_MANUALS, realworld_copy
from tests.reminder_kit import invoice
from toolkit.pipeline import Analysis
from toolkit.reminders.schedule import credits_covering_debts
from toolkit.rows.aging import OPEN, OVERDUE, PAID, RowResult
from toolkit.rows.invoices import NO_OUTPUTS, ZERO, ZERO_FROM_FLOAT, Invoice
from toolkit.rows.packed import PackedInvoices, _coefficient
from toolkit.xlsx import read as reader
from toolkit.xlsx import source as xlsx_source


def ledger() -> list[dict[str, Any]]:
    """Paid, part-paid, unpaid and overdue invoices; a paid number used twice; a paid invoice with a mistake."""
    rows = []
    for n in range(1, 41):
        amount = [100.0, 1234.5, 99.99, 2500.0][n % 4] + n
        rows.append(invoice(f"INV-{n}", f"Customer {n % 5}", 40 - 3 * n, amount, paid=amount if n % 3 else 0.0))
    rows.append(invoice("INV-3", "Customer 9", 50, 700.0, paid=700.0))  # a duplicate of an unpaid one
    rows.append(invoice("INV-4", "Customer 9", 50, 800.0, paid=800.0))  # a duplicate of a paid one
    rows.append(invoice("INV-50", "Customer 9", 20, 600.0, paid=600.0, **{"Payment Method": "Barter"}))
    rows.append(invoice("INV-51", "Customer 9", 20, 400.0, paid=250.0))
    rows.append(invoice("INV-52", "Customer 8", -5, 300.0, paid=300.0, Email=""))
    return rows


def analysed(workbook: Path, manual_path: Path | None, *, packed: bool, monkeypatch: pytest.MonkeyPatch) -> Analysis:
    monkeypatch.setattr(reader, "PACK_PAID_BYTES", 0 if packed else 1 << 60)
    return analysed_as_a_command_does(workbook, manual_path)


def assert_same_analysis(packed: Analysis, plain: Analysis) -> None:
    assert packed.invoices.packed is not None
    # Something is packed wherever a plain invoice has no finding (a sheet of text dates has one on every row).
    finding_rows = {f.row for f in plain.findings}
    plain_rows = {row for row, result in plain.results.items() if result.status in (PAID, OPEN, OVERDUE)}
    assert (len(packed.invoices.packed) > 0) == bool(plain_rows - finding_rows)
    assert plain.invoices.packed is None
    assert len(packed.invoices) == len(plain.invoices)
    assert list(packed.invoices) == list(plain.invoices)  # every field of every invoice, in sheet order
    assert [i.row for i in packed.invoices] == [i.row for i in plain.invoices]
    assert dict(packed.results) == dict(plain.results) and len(packed.results) == len(plain.results)
    assert list(packed.results.values()) == [plain.results[row] for row in packed.results]
    assert packed.findings == plain.findings
    assert packed.totals() == plain.totals()
    for inv in plain.invoices:
        assert packed.invoices.by_row(inv.row) == inv and inv.row in packed.results


def test_a_ledger_packed_is_the_ledger_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workbook = make_workbook(tmp_path / "book.xlsx", ledger())
    packed = analysed(workbook, None, packed=True, monkeypatch=monkeypatch)
    plain = analysed(workbook, None, packed=False, monkeypatch=monkeypatch)
    assert_same_analysis(packed, plain)
    # A duplicate number makes a packed row invalid: its result is overridden, the invoice stays packed.
    duplicates = {f.row for f in plain.findings if f.code == "duplicate-invoice"}
    assert packed.invoices.packed is not None
    assert duplicates and any(packed.invoices.packed.position(row) is not None for row in duplicates)
    assert all(packed.results[row].status == "invalid" for row in duplicates)
    # Rows with findings of their own are kept as objects; paid, open and overdue ones without are packed.
    packed_rows = set(packed.invoices.packed.rows)
    finding_rows = {f.row for f in plain.findings}
    plain_rows = {row for row, result in plain.results.items() if result.status in (PAID, OPEN, OVERDUE)}
    assert packed_rows & finding_rows <= duplicates and packed_rows <= plain_rows | duplicates
    assert plain_rows - finding_rows <= packed_rows
    assert {inv.row for inv in packed.invoices.unpacked()} == {inv.row for inv in plain.invoices} - packed_rows
    part_paid = next(inv for inv in plain.invoices if inv.number == "INV-51")
    assert part_paid.row in packed_rows and packed.invoices.by_row(part_paid.row) == part_paid


@pytest.mark.parametrize("name", sorted(REALWORLD_MANUALS))
def test_real_workbooks_packed_are_the_same(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workbook, manual = realworld_copy(name, tmp_path)
    packed = analysed(workbook, manual, packed=True, monkeypatch=monkeypatch)
    plain = analysed(workbook, manual, packed=False, monkeypatch=monkeypatch)
    assert_same_analysis(packed, plain)


def cli_outputs(folder: Path, monkeypatch: pytest.MonkeyPatch, *, packed: bool) -> dict[str, bytes]:
    """Everything the daily run, check and report print and write, on a copy of the sample workbook."""
    monkeypatch.setattr(reader, "PACK_PAID_BYTES", 0 if packed else 1 << 60)
    # Packed, as a large sheet is: read and checked by spawned processes (``check.helper_context``).
    for module in (reader, xlsx_source):
        monkeypatch.setattr(module, "READ_ALONGSIDE_BYTES", 0 if packed else 1 << 60)
    folder.mkdir()
    for name in ("receivables.xlsx", "billing-manual.toml"):
        shutil.copyfile(SAMPLES / "acme" / name, folder / name)
    book = folder / "receivables.xlsx"
    seen: dict[str, bytes] = {}
    commands = {
        "run": ("run", book, "--as-of", AS_OF_TEXT, "--output", folder / "out.xlsx", "--outbox", folder / "outbox"),
        "check": ("check", book, "--as-of", AS_OF_TEXT),
        "report": ("report", book, "--as-of", AS_OF_TEXT, "--html", folder / "r.html", "--csv", folder / "r.csv"),
        "reconcile": ("reconcile", book, SAMPLES / "acme" / "bank-statement.ofx", "--as-of", AS_OF_TEXT),
    }
    for key, command in commands.items():
        result = invoke(*command)
        seen[key] = f"{result.exit_code}\n{result.output}".replace(str(folder), "FOLDER").encode()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "billing-manual.toml":
            seen[path.relative_to(folder).as_posix()] = path.read_bytes().replace(str(folder).encode(), b"FOLDER")
    return seen


def test_commands_say_and_write_the_same_packed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = cli_outputs(tmp_path / "normal", monkeypatch, packed=False)  # names of one length: lines wrap alike
    packed = cli_outputs(tmp_path / "packed", monkeypatch, packed=True)
    assert any(name.endswith(".eml") for name in plain) and "out.xlsx" in plain and "r.html" in plain
    assert packed.keys() == plain.keys()
    for name, content in plain.items():
        if name.endswith(".eml"):  # a Message-ID and a Date are made per message
            content, other = (_without_ids(c) for c in (content, packed[name]))
        elif name.endswith(".html"):  # the footer says when it was made, to the minute: the runs may straddle one
            content, other = (_without_made_at(c) for c in (content, packed[name]))
        else:
            other = packed[name]
        assert other == content, name


def _without_ids(message: bytes) -> bytes:
    message = re.sub(rb"^Date: .*$", b"Date:", message, flags=re.M)
    message = re.sub(rb"<\d+\.\d+\.\d+\.reminder@", b"<ID@", message)
    return re.sub(rb"={15}\d+==", b"BOUNDARY", message)


def _without_made_at(page: bytes) -> bytes:
    made_at, count = re.subn(rb"(receivables-toolkit \S+ on )\d{4}-\d\d-\d\d \d\d:\d\d", rb"\1WHEN", page)
    assert count == 1, "the report's footer no longer says when it was made: update this test"
    return made_at


def paid_invoice(**fields: Any) -> Invoice:
    amount = fields.pop("amount", Decimal("120.50"))
    base: dict[str, Any] = {
        "row": 7,
        "number": "A-1",
        "customer": "Acme",
        "email": "ap@acme.example",
        "email_ok": True,
        "issue_date": AS_OF - timedelta(days=40),
        "due_date": AS_OF - timedelta(days=10),
        "amount": amount,
        "paid": amount,
        "balance_cell": None,
        "payment_method": "Pix",
        "terms_days": 30,
        "payment_date": AS_OF - timedelta(days=2),
        "outputs": NO_OUTPUTS,
    }
    base.update(fields)
    return Invoice(**base)


@pytest.mark.parametrize(
    "amount", ["120.50", "0.10", "1E+3", "1000", "7", "12345678901234.5678", "0.000001", "9999999999999999.99"]
)
@pytest.mark.parametrize("balance", [None, ZERO, ZERO_FROM_FLOAT])
def test_an_invoice_packed_comes_back_equal(amount: str, balance: Decimal | None) -> None:
    """Amounts keep their exponent (``1E+3`` is not ``1000``), balances their zero, outputs their values."""
    value = Decimal(amount)
    original = paid_invoice(amount=value, balance_cell=balance, outputs={"status": "Paid", "days_overdue": 0})
    result = RowResult(PAID, 0, None, original.balance)
    packed = PackedInvoices()
    assert packed.add(original, result)
    back = packed.invoice(0)
    assert back == original and str(back.amount) == str(value) and back.paid is back.amount
    assert back.balance_cell is balance
    back_result = packed.result(0, lambda inv, invalid: RowResult(PAID, 0, None, inv.balance))
    assert back_result == result and str(back_result.balance) == str(result.balance)


@pytest.mark.parametrize(
    "fields",
    [
        {"on_hold": True},
        {"promised_date": AS_OF},
        {"installment_of": "A-0"},
        {"boleto": "23790.12345"},
        {"hold_text": "no"},
        {"do_not_contact": True},
        {"number": None},
        {"outputs": {"status": ["not", "hashable"]}},
        {"amount": Decimal("1E+200")},
        {"amount": Decimal("99999999999999999.99")},  # more than a 64-bit coefficient
    ],
)
def test_what_packing_does_not_know_stays_an_object(fields: dict[str, Any]) -> None:
    original = paid_invoice(**fields)
    packed = PackedInvoices()
    assert not packed.add(original, RowResult(PAID, 0, None, Decimal(0)))
    assert len(packed) == 0


@pytest.mark.parametrize("status", ["on_hold", "invalid", "credit"])
def test_results_the_schedule_treats_apart_stay_objects(status: str) -> None:
    packed = PackedInvoices()
    assert not packed.add(paid_invoice(), RowResult(status, None, None, None))


@pytest.mark.parametrize(
    ("paid", "balance"),
    [
        (Decimal("120.50"), None),  # equal to the amount, not the same object: kept as its own
        (Decimal("20.5"), Decimal("100.00")),  # a part payment, and its balance cell
        (ZERO, "amount"),  # unpaid: the balance cell is the amount's own object, as the reader shares them
        (ZERO_FROM_FLOAT, Decimal("0.00")),
    ],
)
def test_paid_and_balance_of_any_kind_come_back_equal(paid: Decimal, balance: Any) -> None:
    amount = Decimal("120.50")
    original = paid_invoice(amount=amount, paid=paid, balance_cell=amount if balance == "amount" else balance)
    status = PAID if original.balance is not None and original.balance <= 0 else OVERDUE
    packed = PackedInvoices()
    assert packed.add(original, RowResult(status, 10, None, original.balance))
    back = packed.invoice(0)
    assert back == original and str(back.paid) == str(original.paid) and str(back.balance) == str(original.balance)
    assert (back.paid is back.amount) == (original.paid is original.amount)
    assert (back.balance_cell is back.amount) == (original.balance_cell is original.amount)
    assert back.paid is not ZERO or paid is ZERO


def test_rows_out_of_order_are_not_packed() -> None:
    packed = PackedInvoices()
    assert packed.add(paid_invoice(row=9), RowResult(PAID, 0, None, Decimal("0.00")))
    assert not packed.add(paid_invoice(row=8), RowResult(PAID, 0, None, Decimal("0.00")))
    assert not packed.add(paid_invoice(row=9), RowResult(PAID, 0, None, Decimal("0.00")))
    assert packed.position(9) == 0 and packed.position(8) is None


@settings(max_examples=500, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=0, places=None))
def test_any_amount_comes_back_with_its_digits_and_exponent_or_stays_an_object(amount: Decimal) -> None:
    packed = _coefficient(amount)
    if packed is not None:
        back = Decimal(packed[0]).scaleb(packed[1])
        assert str(back) == str(amount) and back.as_tuple() == amount.as_tuple()


def test_credit_notes_covering_debts_are_found_packed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner looks for credit notes among the results kept as objects only: none is ever packed."""
    rows = [
        *ledger(),
        invoice("CN-1", "Customer 1", 10, -100000.0),  # a credit note covering all Customer 1 owes
    ]
    workbook = make_workbook(tmp_path / "book.xlsx", rows)
    covered = {}
    for packed in (True, False):
        analysis = analysed(workbook, None, packed=packed, monkeypatch=monkeypatch)
        covered[packed] = credits_covering_debts(analysis.invoices.unsettled(), analysis.results, analysis.manual)
    assert covered[True] == covered[False] and "customer1" in covered[True]
