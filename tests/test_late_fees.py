"""Late charges ([late_fees]): a pure function of balance, due date and as-of date, against hand-computed tables."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, SAMPLES, invoke
from tests.reminder_kit import (
    BRAZILIAN_COMPANY,
    MANUAL,
    clear_environment,
    invoice,
    make_book,
    point_at,
    sheet_rows,
    text_body,
    write_manual,
)
from tests.smtp_server import smtp_server
from toolkit.manual import load_manual
from toolkit.policy.late_fees import LateFeePolicy, amount_due, invoice_charges, late_charges
from toolkit.reminders.compose import percent
from toolkit.rows.invoices import Invoice
from toolkit.text import normalize_header

D = Decimal
DUE = date(2026, 10, 1)
BRAZIL = LateFeePolicy(enabled=True, fine_percent=D("2"), interest_percent_per_month=D("1"), max_fine_percent=D("2"))

# balance, days late, fine, interest, amount due: worked out by hand (a month = 30 days, half-up to the cent).


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)


BRAZIL_TABLE = [
    ("1000.00", 0, "0", "0", "1000.00"),  # due today: nothing yet
    ("1000.00", -5, "0", "0", "1000.00"),  # not due yet
    ("1000.00", 1, "20.00", "0.33", "1020.33"),  # 1000 x 1 % / 30 = 0.3333
    ("1000.00", 45, "20.00", "15.00", "1035.00"),  # the example: 2 % R$ 20,00 + 1 % for 45 days R$ 15,00
    ("333.33", 10, "6.67", "1.11", "341.11"),  # 6.6666 -> 6.67; 1.1111 -> 1.11
    ("6400.00", 88, "128.00", "187.73", "6715.73"),  # 187.7333
    ("0.25", 1, "0.01", "0.00", "0.26"),  # 0.005 rounds half-UP to 0.01 (banker's rounding would give 0.00)
    ("150.00", 3, "3.00", "0.15", "153.15"),  # 0.15 exactly: 150 x 0.01 x 3 / 30
]


@pytest.mark.parametrize(("balance", "days", "fine", "interest", "due"), BRAZIL_TABLE)
def test_brazilian_fine_and_interest_match_the_hand_computed_table(
    balance: str, days: int, fine: str, interest: str, due: str
) -> None:
    """2 % fine once, 1 % a month pro rata per day, each rounded half-up to the cent."""
    charges = late_charges(D(balance), DUE, DUE + timedelta(days=days), BRAZIL)
    assert (charges.fine, charges.interest, charges.amount_due) == (D(fine), D(interest), D(due))


def test_us_interest_and_flat_fee_match_the_hand_computed_table() -> None:
    """1.5 % a month and a $25.50 flat fee, no fine: 1200 for 20 days is 12.00 + 25.50."""
    policy = LateFeePolicy(enabled=True, interest_percent_per_month=D("1.5"), flat_fee=D("25.50"))
    charges = late_charges(D("1200.00"), DUE, DUE + timedelta(days=20), policy)
    assert (charges.fine, charges.interest, charges.flat_fee, charges.amount_due) == (
        D("0.00"),
        D("12.00"),
        D("25.50"),
        D("1237.50"),
    )


def test_grace_days_hold_every_charge_back_then_interest_counts_from_the_due_date() -> None:
    """With 5 grace days: nothing on day 5; on day 6 the fine and 6 days of interest (2.00 on 1000)."""
    policy = LateFeePolicy(enabled=True, fine_percent=D("2"), interest_percent_per_month=D("1"), grace_days=5)
    assert late_charges(D("1000"), DUE, DUE + timedelta(days=5), policy).charges == 0
    day6 = late_charges(D("1000"), DUE, DUE + timedelta(days=6), policy)
    assert (day6.fine, day6.interest, day6.amount_due) == (D("20.00"), D("2.00"), D("1022.00"))


def test_caps_limit_the_fine_and_the_interest() -> None:
    """A 10 % fine under a 2 % cap charges 2 %; 300 days at 1 % a month (100.00) stops at a 5 % cap (50.00)."""
    policy = LateFeePolicy(
        enabled=True,
        fine_percent=D("10"),
        max_fine_percent=D("2"),
        interest_percent_per_month=D("1"),
        max_interest_percent=D("5"),
    )
    charges = late_charges(D("1000"), DUE, DUE + timedelta(days=300), policy)
    assert (charges.fine, charges.interest) == (D("20.00"), D("50.00"))


def test_a_currency_without_cents_rounds_to_whole_units(tmp_path: Path) -> None:
    """JPY has no minor unit: a 2 % fine on 1,000 is 20 and 0.33 of interest rounds to 0."""
    path = write_manual(tmp_path, FEES, text=MANUAL.replace('currency = "USD"', 'currency = "JPY"'))
    policy = LateFeePolicy.of(load_manual(path))
    assert policy.minor_unit == D("1")
    charges = late_charges(D("1000"), DUE, DUE + timedelta(days=1), policy)
    assert (charges.fine, charges.interest, charges.amount_due) == (D("20"), D("0"), D("1020"))


def test_charges_are_computed_not_accumulated() -> None:
    """The same inputs give the same figure however often they are computed: nothing adds up between runs."""
    first = late_charges(D("1000"), DUE, DUE + timedelta(days=45), BRAZIL)
    assert all(late_charges(D("1000"), DUE, DUE + timedelta(days=45), BRAZIL) == first for _ in range(10))


def test_off_by_default() -> None:
    """The starter manual charges nothing, however late the invoice."""
    policy = LateFeePolicy.of(load_manual())
    assert not policy.enabled
    assert late_charges(D("1000"), DUE, DUE + timedelta(days=400), policy).amount_due == D("1000")


@pytest.mark.parametrize(
    ("invoice_fields", "on_hold", "why"),
    [
        ({}, True, "on hold"),
        ({"installment_of": "INV-9"}, False, "an installment"),
        ({"customer": "Padaria  São João"}, False, "customer exempt in [late_fees] exempt_customers"),
    ],
)
def test_exempt_invoices_owe_only_their_balance(invoice_fields: dict[str, str], on_hold: bool, why: str) -> None:
    """On hold, an installment, or a customer on the exempt list: no charges, and the reason is kept."""
    policy = LateFeePolicy(
        enabled=True,
        fine_percent=D("2"),
        interest_percent_per_month=D("1"),
        exempt_installments=True,
        exempt_customers=frozenset({normalize_header("Padaria São João")}),
    )
    inv = Invoice(row=5, number="INV-1", customer="Someone", due_date=DUE)
    for name, value in invoice_fields.items():
        setattr(inv, name, value)
    charges = invoice_charges(inv, D("1000"), DUE + timedelta(days=45), policy, on_hold=on_hold)
    assert (charges.amount_due, charges.exempt) == (D("1000"), why)


# --------------------------------------------------------------------------------------------
# Through a run: the Amount Due column and the messages

FEES = """
[late_fees]
enabled = true
fine_percent = 2.0
max_fine_percent = 2.0
interest_percent_per_month = 1.0
"""


def brazilian_book(tmp_path: Path) -> Path:
    write_manual(tmp_path, FEES, text=MANUAL.replace('locale = "en_US"', BRAZILIAN_COMPANY).replace("USD", "BRL"))
    return make_book(
        tmp_path,
        [
            invoice("NF-1", "Padaria São João", 45, 1000.0),
            invoice("NF-2", "Padaria São João", 10, 333.33),
            invoice("NF-3", "Colégio Santa Inês", 88, 12400.0, paid=6000.0),
            invoice("NF-4", "Colégio Santa Inês", 30, 500.0, Hold="em disputa"),
            invoice("NF-5", "Açougue Conceição", -2, 700.0),
            invoice("NF-6", "Açougue Conceição", 60, 700.0, paid=700.0),
        ],
    )


def test_the_amount_due_column_holds_balance_plus_charges(tmp_path: Path) -> None:
    """Amount Due = balance + fine + interest for late rows; the balance for others; blank for paid ones."""
    book = brazilian_book(tmp_path)
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    got = {number: row.get("Amount Due") for number, row in sheet_rows(book).items()}
    assert got == {"NF-1": 1035, "NF-2": 341.11, "NF-3": 6715.73, "NF-4": 500, "NF-5": 700, "NF-6": None}


def test_ten_runs_a_day_give_the_same_amount_due(tmp_path: Path) -> None:
    """Run again and again: the column is computed afresh, never added to, and the workbook is left as it was."""
    book = brazilian_book(tmp_path)
    assert invoke("run", book, "--as-of", AS_OF_TEXT).exit_code == 0
    first = sheet_rows(book)
    for _ in range(3):
        result = invoke("run", book, "--as-of", AS_OF_TEXT)
        assert "already up to date" in result.output
    assert sheet_rows(book) == first


def test_the_message_shows_amount_due_total_and_the_calculation_in_portuguese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pt_BR: a Valor atualizado column, the total with charges, and 'multa de 2 % R$ 20,00 + juros de 1 % ...'."""
    book = brazilian_book(tmp_path)
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        result = invoke("run", book, "--as-of", AS_OF_TEXT, "--send")
        assert result.exit_code == 0, result.output
        texts = {m.message["To"].addresses[0].display_name: text_body(m.message) for m in server.messages}
    padaria = texts["Padaria São João"]
    assert "Valor atualizado" in padaria and "R$ 1.035,00" in padaria  # the table writes plain spaces
    assert "Total em aberto: R$\xa01.376,11" in padaria  # 1035.00 + 341.11
    assert "- NF-1: multa de 2 % R$\xa020,00 + juros de 1 % ao mês por 45 dias R$\xa015,00" in padaria
    assert "- NF-2: multa de 2 % R$\xa06,67 + juros de 1 % ao mês por 10 dias R$\xa01,11" in padaria
    assert padaria.count("multa de 2 %") == 2  # written out once per invoice, in one place


def test_the_message_shows_the_calculation_in_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """en_US: an Amount due column, the total with charges, and '2 % fine $20.00 + interest 1 % a month ...'."""
    write_manual(tmp_path, FEES)
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 45, 1000.0)])
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        result = invoke("run", book, "--as-of", AS_OF_TEXT, "--send")
        assert result.exit_code == 0, result.output
        text = text_body(server.messages[0].message)
    assert "Amount due" in text and "Total due: $1,035.00" in text
    assert "- INV-1: 2 % fine $20.00 + interest 1 % a month for 45 days $15.00" in text


def test_amount_due_is_one_call_for_other_features(tmp_path: Path) -> None:
    """``amount_due(manual, invoice, balance, as_of)``: what a Pix code or a statement charges today."""
    path = write_manual(tmp_path, FEES)
    inv = Invoice(row=5, number="INV-1", customer="Northwind", due_date=AS_OF - timedelta(days=45))
    assert amount_due(load_manual(path), inv, D("1000"), AS_OF) == D("1035.00")
    assert amount_due(load_manual(path), inv, D("1000"), AS_OF, on_hold=True) == D("1000")


def test_the_report_shows_charges_receivable_beside_the_balances(tmp_path: Path) -> None:
    """report --json: balances of the unpaid invoices, the charges on them, the sum due today, who is collecting."""
    book = brazilian_book(tmp_path)
    result = invoke("report", book, "--as-of", AS_OF_TEXT, "--json")
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)["collection_policy"]
    # NF-1 35.00 + NF-2 7.78 + NF-3 315.73 charged; NF-4 (on hold) and NF-5 (not due) not.
    assert policy["charges"] == "358.51" and policy["charged_invoices"] == 3
    assert policy["balances"] == "8933.33" and policy["amount_due"] == "9291.84"
    assert policy["tax_id"] == "11.222.333/0001-81"
    shown = invoke("report", book, "--as-of", AS_OF_TEXT).output
    assert "Late charges" in shown and "R$ 358,51" in shown.replace("\xa0", " ")


def test_the_brazilian_sample_shows_fees_against_an_independent_computation(tmp_path: Path) -> None:
    """The sample's Valor Atualizado: balance + 2 % + 1 % a month x days / 30, each rounded half-up, for every late row."""
    for name in ("recebiveis.xlsx", "billing-manual.toml"):
        (tmp_path / name).write_bytes((SAMPLES / "brasil" / name).read_bytes())
    book = tmp_path / "recebiveis.xlsx"
    result = invoke("run", book, "--as-of", "2026-11-20")
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(book)["Faturas"]
    header = [cell.value for cell in sheet[4]]
    checked = 0
    for row in sheet.iter_rows(min_row=5, values_only=True):
        values = dict(zip(header, row, strict=False))
        if values["Situação"] != "Vencido":
            continue
        balance = D(str(values["Valor"])) - D(str(values["Pago"] or 0))
        due = values["Vencimento"]  # a date cell, or a date typed as text DD/MM/YYYY
        due = datetime.strptime(due, "%d/%m/%Y") if isinstance(due, str) else due
        days = (date(2026, 11, 20) - due.date()).days
        cent = D("0.01")
        fine = (balance * D("0.02")).quantize(cent, rounding="ROUND_HALF_UP")
        interest = (balance * D("0.01") * days / 30).quantize(cent, rounding="ROUND_HALF_UP")
        assert D(str(values["Valor Atualizado"])) == balance + fine + interest, values["Fatura"]
        checked += 1
    assert checked >= 10


def test_the_report_page_shows_the_charges_and_who_is_collecting(tmp_path: Path) -> None:
    """report --html: a Late charges card beside the balances, and the legal name, CNPJ and address at the top."""
    book = brazilian_book(tmp_path)
    page = tmp_path / "report.html"
    result = invoke("report", book, "--as-of", AS_OF_TEXT, "--html", page)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8").replace("\xa0", " ")
    assert "Late charges" in html and "R$ 358,51" in html and "R$ 9.291,84 due today" in html
    assert "11.222.333/0001-81" in html and "Rua das Flores, 10, São Paulo - SP" in html


def test_percentages_are_written_the_locale_way() -> None:
    """The rates in the calculation: '1,5 %' in Portuguese, '1.5 %' in English, never more than the cap."""
    assert percent(D("1.50"), "pt_BR") == "1,5 %" and percent(D("1.5"), "en_US") == "1.5 %"
    assert percent(D("10"), "pt_BR", cap=D("2.0")) == "2 %"
