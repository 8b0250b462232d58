"""`receivables reconcile`: bank statements read, payments matched to invoices, applied once with --apply."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.factory import FIRST_DATA_ROW, read_parts, sheet_part
from tests.reminder_kit import BRAZILIAN_COMPANY
from toolkit.manual import load_manual
from toolkit.payments.matching import NAME_AMOUNT, NAME_SUM, OVERPAYMENT, PARTIAL, REFERENCE, match_lines, open_invoices
from toolkit.payments.statements import CAMT, CSV, OFX, read_statement
from toolkit.pipeline import analyse
from toolkit.xlsx.source import XlsxSource

STATEMENTS = Path(__file__).parent / "statements"
CSV_MANUAL = """
[payments.csv]
date = "Data"
amount = "Valor"
description = "Histórico"
reference = "Documento"
payer = "Pagador"
decimal = ","
delimiter = ";"
encoding = "cp1252"
"""
# The same eight bank lines (seven credits, one fee) in each format.
EVERY_FORMAT = ["itau-november.ofx", "firstbank-november.qfx", "sepa-november.camt053.xml", "banco-novembro.csv"]


def payment_rows() -> list[dict[str, Any]]:
    """Open invoices the test statements pay: by number, by name and amount, by a sum, ambiguously."""
    spec = [
        ("INV-1003", "Hollis & Reed Builders", 8750.00, 2000.00),
        ("INV-1004", "Maple Street Bakery", 640.00, 0),
        ("INV-1008", "Oakridge Veterinary Clinic", 1185.75, 0),
        ("INV-1011", "Northwind Traders", 5610.00, 0),
        ("INV-1020", "Northwind Traders", 3145.00, 0),
        ("INV-1021", "Summit Office Interiors", 4720.00, 0),
        ("INV-1022", "Harbour View Hotel", 1365.00, 0),
        ("INV-1033", "Harbour View Hotel", 1365.00, 0),
        ("INV-1017", "Maple Street Bakery", 415.50, 0),
        ("INV-1040", "Contoso Retail", 5980.00, 0),
    ]
    rows = []
    for number, (invoice, customer, amount, paid) in enumerate(spec):
        due = AS_OF - timedelta(days=10 + number)
        rows.append(
            {
                "Invoice": invoice,
                "Customer": customer,
                "Email": f"ap{number}@example.com",
                "Issue Date": due - timedelta(days=30),
                "Due Date": due,
                "Amount": amount,
                "Paid": paid,
                "Payment Method": "Bank transfer",
                "Terms": "Net 30",
            }
        )
    return rows


@pytest.fixture
def book(build: Callable[..., Path]) -> Path:
    path = build(payment_rows())
    (path.parent / "billing-manual.toml").write_text(CSV_MANUAL, encoding="utf-8")
    return path


def matched(book: Path, *statements: str) -> Any:
    manual = load_manual(book.parent / "billing-manual.toml")
    source = XlsxSource(book, writes=False)
    analysis = analyse(source.read(manual), manual, AS_OF)
    lines = [line for name in statements for line in read_statement(STATEMENTS / name, manual).lines]
    return match_lines(lines, open_invoices(analysis.invoices, analysis.results), manual)


def by_invoice(result: Any) -> dict[str, tuple[str, str, str]]:
    """Invoice -> (rule, kind, amount applied) of every matched payment."""
    return {a.invoice.number: (m.rule, m.kind, f"{a.amount:.2f}") for m in result.matches for a in m.allocations}


@pytest.mark.parametrize("name", EVERY_FORMAT)
def test_every_format_gives_the_same_matches(book: Path, name: str) -> None:
    """OFX 1.x (cp1252, decimal commas), OFX 2.x, CAMT.053 and a bank CSV give the same matches by every rule."""
    result = matched(book, name)
    assert by_invoice(result) == {
        "INV-1003": (REFERENCE, "full", "6750.00"),  # "NF 1003" in the memo
        "INV-1004": (REFERENCE, PARTIAL, "300.00"),  # "inv 1004", less than the balance
        "INV-1008": (NAME_AMOUNT, "full", "1185.75"),
        "INV-1011": (NAME_SUM, "full", "5610.00"),  # 8755 = 5610 + 3145
        "INV-1020": (NAME_SUM, "full", "3145.00"),
        "INV-1021": (REFERENCE, OVERPAYMENT, "4720.00"),  # 5000 paid on 4720
    }
    over = next(m for m in result.matches if m.kind == OVERPAYMENT)
    assert over.excess == 280
    reviews = {str(r.line.amount): r for r in result.reviews}
    assert set(reviews) == {"1365.00", "999.99"}
    assert reviews["1365.00"].ambiguous  # two Harbour View invoices of 1365: never applied
    assert sorted(i.number for i in reviews["1365.00"].candidates) == ["INV-1022", "INV-1033"]
    assert not reviews["999.99"].ambiguous and reviews["999.99"].candidates == []


@pytest.mark.parametrize(
    ("name", "kind", "debits", "currency"),
    [
        ("itau-november.ofx", OFX, 1, "BRL"),
        ("firstbank-november.qfx", OFX, 1, "USD"),
        ("sepa-november.camt053.xml", CAMT, 2, "EUR"),
        ("banco-novembro.csv", CSV, 1, ""),
    ],
)
def test_only_money_coming_in_counts(book: Path, name: str, kind: str, debits: int, currency: str) -> None:
    """Fees (debits) and a reversed CAMT credit are left out; accents survive cp1252; the currency is read."""
    statement = read_statement(STATEMENTS / name, load_manual(book.parent / "billing-manual.toml"))
    assert statement.kind == kind and statement.currency == currency
    assert statement.debits_skipped == debits
    assert len(statement.lines) == 7 and all(line.amount > 0 for line in statement.lines)
    assert "CONSTRUÇÕES" in statement.lines[0].description


def test_invoice_numbers_are_found_however_written(book: Path) -> None:
    """INV-1003, inv 1003, NF 1003, NF-e 1003, fatura nº 1003 and #1003 name INV-1003; a bare 1003 does not."""
    from toolkit.payments.matching import _number_index, invoices_named_in

    manual = load_manual(book.parent / "billing-manual.toml")
    analysis = analyse(XlsxSource(book, writes=False).read(manual), manual, AS_OF)
    index = _number_index(open_invoices(analysis.invoices, analysis.results))
    for text in ("INV-1003", "pgto inv 1003", "NF 1003", "NF-e 1003", "fatura nº 1003", "ref #1003", "INV1003"):
        assert [i.number for i in invoices_named_in(text, index)] == ["INV-1003"], text
    for text in ("TRANSFER 1003", "R$ 1003,00", "INV-10030", "CONTA 21003"):
        assert invoices_named_in(text, index) == [], text


def test_preview_changes_nothing_and_says_how_to_apply(book: Path) -> None:
    """Without --apply the workbook is untouched; the table, the reviews and the totals are shown."""
    before = book.read_bytes()
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    assert book.read_bytes() == before
    assert "INV-1003" in result.output and "name+sum" in result.output
    assert "Ambiguous" in result.output and "Unmatched" in result.output
    assert "5 payment(s) matched to 6 invoice(s)" in " ".join(result.output.split())
    assert "--apply" in result.output


def test_csv_lists_matches_and_reviews_with_candidates(book: Path, tmp_path: Path) -> None:
    """--csv writes one row per invoice matched and one per candidate of a payment left for review."""
    out = tmp_path / "reconcile.csv"
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--csv", out)
    assert result.exit_code == 0, result.output
    import csv

    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    outcomes = [(r["outcome"], r["invoice"]) for r in rows]
    assert ("matched", "INV-1011") in outcomes and ("ambiguous", "INV-1033") in outcomes
    assert ("unmatched", "") in outcomes


def _cells(path: Path) -> dict[str, Any]:
    ws = openpyxl.load_workbook(path)["Invoices"]
    return {f"{c.coordinate}": c.value for row in ws.iter_rows() for c in row if c.value is not None}


def test_apply_writes_paid_and_payment_date_and_nothing_else(book: Path) -> None:
    """--apply adds each amount to Paid, writes Payment Date, keeps the Balance formula with a true cached value."""
    before_parts = read_parts(book)
    before = _cells(book)
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert result.exit_code == 0, result.output
    after = _cells(book)
    paid_col, payment_date_col = "G", "O"  # the factory's 14 columns, then the tool's new Payment Date
    rows = {r["Invoice"]: FIRST_DATA_ROW + n for n, r in enumerate(payment_rows())}
    expected_paid = {
        "INV-1003": 8750,
        "INV-1004": 300,
        "INV-1008": 1185.75,
        "INV-1011": 5610,
        "INV-1020": 3145,
        "INV-1021": 4720,
    }
    changed = {ref for ref in set(before) | set(after) if before.get(ref) != after.get(ref)}
    assert changed == {f"{paid_col}{rows[i]}" for i in expected_paid} | {
        f"{payment_date_col}{rows[i]}" for i in expected_paid
    } | {f"{payment_date_col}4"}
    for invoice, paid in expected_paid.items():
        assert after[f"{paid_col}{rows[invoice]}"] == pytest.approx(paid)
    assert after["O4"] == "Payment Date"
    assert after[f"O{rows['INV-1003']}"].date() == date(2026, 11, 16)
    # Every cell listed, and every other part of the package byte for byte the same but the sheet and workbook.
    assert "G5" in result.output and "Payment Date" in result.output
    after_parts = read_parts(book)
    part = sheet_part(book, "Invoices")
    changed_parts = {n for n in before_parts if before_parts[n] != after_parts.get(n)}
    assert part in changed_parts and changed_parts <= {part, "xl/workbook.xml"}
    assert set(after_parts) == set(before_parts)
    assert b'fullCalcOnLoad="1"' in after_parts["xl/workbook.xml"]
    # The Balance formula stays, with its cached value now Amount - Paid: the next run reads it right.
    sheet = after_parts[part].decode()
    row = rows["INV-1003"]
    assert f"<f>F{row}-G{row}</f><v>0</v>" in sheet.replace(".00", "")
    check = invoke("check", book, "--as-of", AS_OF_TEXT)
    assert "balance" not in check.output.lower()


def test_apply_twice_and_overlapping_statements_apply_each_payment_once(book: Path) -> None:
    """A second --apply changes nothing; an overlapping statement applies only its new line."""
    first = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert first.exit_code == 0, first.output
    after_first = book.read_bytes()
    again = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert again.exit_code == 0, again.output
    assert book.read_bytes() == after_first
    assert "7 line(s) applied already" not in again.output  # the ambiguous and unmatched are not applied
    assert "5 line(s) applied already" in again.output
    overlap = invoke(
        "reconcile",
        book,
        STATEMENTS / "itau-overlap.ofx",
        STATEMENTS / "itau-november.ofx",
        "--as-of",
        AS_OF_TEXT,
        "--apply",
        "--json",
    )
    assert overlap.exit_code == 0, overlap.output
    report = json.loads(overlap.output)
    assert [r["invoice"] for r in report["rows"] if r["outcome"] == "matched"] == ["INV-1017"]
    assert report["repeated_lines"] == 2
    ledger = (book.parent / "receivables-payments.jsonl").read_text(encoding="utf-8").splitlines()
    applied = [json.loads(line) for line in ledger if json.loads(line)["event"] == "applied"]
    assert len(applied) == 6 and len({a["line"] for a in applied}) == 6


def test_apply_refuses_a_workbook_open_in_excel(book: Path) -> None:
    """A lock file next to the workbook stops --apply before anything is written; the ledger records nothing."""
    lock = book.parent / f"~${book.name}"
    lock.write_bytes(b"\x0cAccountant".ljust(165, b" "))
    before = book.read_bytes()
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert result.exit_code == 1
    assert "open" in result.output and book.read_bytes() == before
    assert not (book.parent / "receivables-payments.jsonl").exists()


def test_a_statement_that_is_not_one_is_a_one_line_error(book: Path, tmp_path: Path) -> None:
    """A file with none of the CSV columns the manual names gives one line naming the file and the setting."""
    junk = tmp_path / "junk.csv"
    junk.write_text("a;b\n1;2\n", encoding="utf-8")
    result = invoke("reconcile", book, junk, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert f"{junk}: no column 'Data'" in result.output and "[payments.csv]" in result.output


def test_run_with_a_statement_records_payments_before_chasing(book: Path) -> None:
    """run --statement: paid invoices are not chased, a doubtful payment's invoices wait, the rest are reminded."""
    result = invoke("run", book, "--as-of", AS_OF_TEXT, "--statement", STATEMENTS / "itau-november.ofx")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "payment under review" in output
    eml = {p.name: p.read_text(encoding="utf-8") for p in (book.parent / "outbox").rglob("*.eml")}
    text = "\n".join(eml.values())
    for paid in ("INV-1003", "INV-1008", "INV-1011", "INV-1020", "INV-1021"):
        assert paid not in text, paid
    for waiting in ("INV-1022", "INV-1033"):  # the 1365.00 that could be either
        assert waiting not in text, waiting
    assert "INV-1004" in text and "INV-1017" in text and "INV-1040" in text
    # The next run, without the statement, still chases none of the paid ones, and reads every balance right.
    again = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert again.exit_code == 0, again.output
    text = "\n".join(p.read_text(encoding="utf-8") for p in (book.parent / "outbox").rglob("*.eml"))
    assert "INV-1003" not in text and "INV-1011" not in text
    assert "is not amount - paid" not in " ".join(again.output.split())  # the Balance cached values are true
    statuses = {r: v for r, v in _cells(book).items() if r.startswith("P")}
    assert "Paid" in statuses.values()


def test_payer_names_match_without_legal_forms_accents_or_punctuation(build: Callable[..., Path]) -> None:
    """'ACME CORP' pays 'Acme Corporation', 'PADARIA SAO JOAO LTDA ME' pays 'Padaria São João Ltda.'; a stranger pays nobody."""
    from toolkit.payments.statements import BankLine

    rows = payment_rows()[:2]
    rows[0].update({"Customer": "Acme Corporation", "Amount": 1000.0, "Paid": 0})
    rows[1].update({"Customer": "Padaria São João Ltda.", "Amount": 640.0})
    path = build(rows)
    manual = load_manual(None)
    analysis = analyse(XlsxSource(path, writes=False).read(manual), manual, AS_OF)
    lines = [
        BankLine("a", AS_OF, Decimal("1000.00"), payer="ACME CORP"),
        BankLine("b", AS_OF, Decimal("640.00"), description="PIX RECEBIDO PADARIA SAO JOAO LTDA ME"),
        BankLine("c", AS_OF, Decimal("640.00"), payer="JOAO DA SILVA"),
    ]
    result = match_lines(lines, open_invoices(analysis.invoices, analysis.results), manual)
    assert {m.line.identity: (m.rule, m.allocations[0].invoice.number) for m in result.matches} == {
        "a": (NAME_AMOUNT, "INV-1003"),
        "b": (NAME_AMOUNT, "INV-1004"),
    }
    assert [r.line.identity for r in result.reviews] == ["c"]


@pytest.mark.libreoffice
def test_libreoffice_opens_an_applied_workbook_with_true_balances(book: Path, tmp_path: Path) -> None:
    """LibreOffice opens the workbook --apply wrote: Paid, Payment Date and recalculated Balances show right."""
    from tests.libreoffice import read_sheet_via_libreoffice, require_soffice

    require_soffice()
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert result.exit_code == 0, result.output
    shown = read_sheet_via_libreoffice(book, "Invoices", tmp_path / "lo")
    header = shown[FIRST_DATA_ROW - 2]
    by_invoice = {row[0]: dict(zip(header, row, strict=False)) for row in shown[FIRST_DATA_ROW - 1 :] if row and row[0]}
    assert by_invoice["INV-1003"]["Balance"] in ("0", "0.00")
    assert by_invoice["INV-1004"]["Balance"] in ("340", "340.00")
    assert by_invoice["INV-1004"]["Paid"] in ("300", "300.00")
    assert by_invoice["INV-1003"]["Payment Date"] == "2026-11-16"
    assert by_invoice["INV-1022"]["Payment Date"] == ""


def test_invoice_numbers_of_other_shapes_are_found_as_written() -> None:
    """2026-0042 and installment INV-1040-1 are found with any separator, never inside a longer number."""
    from toolkit.payments.matching import OpenInvoice, _number_index, invoices_named_in
    from toolkit.rows.invoices import Invoice

    items = [
        OpenInvoice(Invoice(row=5, number="2026-0042", customer="A"), Decimal(10)),
        OpenInvoice(Invoice(row=6, number="INV-1040-1", customer="B"), Decimal(10)),
        OpenInvoice(Invoice(row=7, number="INV-1040-2", customer="B"), Decimal(10)),
    ]
    index = _number_index(items)
    assert [i.number for i in invoices_named_in("pgto nota 2026/0042", index)] == ["2026-0042"]
    assert [i.number for i in invoices_named_in("parcela inv 1040-1", index)] == ["INV-1040-1"]
    assert [i.number for i in invoices_named_in("INV-1040-2 e INV-1040-1", index)] == ["INV-1040-2", "INV-1040-1"]
    assert invoices_named_in("12026-00421", index) == []


def test_a_camt_batch_entry_is_split_into_its_transactions(book: Path) -> None:
    """CAMT.053 v08: a batch credit is one payment per TxDtls (own amount, structured reference); pending is left out."""
    statement = read_statement(STATEMENTS / "sepa-batch.camt053.xml", load_manual(None))
    assert [(line.identity, str(line.amount), line.payer) for line in statement.lines] == [
        ("camt:BATCH-7781:1", "5610.00", "Northwind Traders"),
        ("camt:BATCH-7781:2", "3145.00", "Northwind Traders"),
    ]
    assert statement.debits_skipped == 1 and statement.lines[0].booked == date(2026, 11, 20)
    assert by_invoice(matched(book, "sepa-batch.camt053.xml")) == {
        "INV-1011": (REFERENCE, "full", "5610.00"),
        "INV-1020": (REFERENCE, "full", "3145.00"),
    }


def test_a_refused_write_applies_nothing_and_leaves_the_payments_to_apply(build: Callable[..., Path]) -> None:
    """A Paid cell holding a formula stops --apply with the cell named; the ledger marks the lines abandoned."""
    rows = payment_rows()
    rows[1]["Paid"] = "=0*1"  # INV-1004's Paid is a formula: never overwritten
    book = build(rows)
    (book.parent / "billing-manual.toml").write_text(CSV_MANUAL, encoding="utf-8")
    before = book.read_bytes()
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert result.exit_code == 1
    assert f"G{FIRST_DATA_ROW + 1} holds a formula" in " ".join(result.output.split())
    assert book.read_bytes() == before
    events = [
        json.loads(line)["event"] for line in (book.parent / "receivables-payments.jsonl").read_text().splitlines()
    ]
    assert events.count("applying") == events.count("abandoned") == 5
    again = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--json")
    assert json.loads(again.output)["already_applied"] == []


def test_an_apply_that_stopped_midway_is_never_applied_twice(book: Path) -> None:
    """A line recorded 'applying' with no outcome counts as applied, and every reconcile says to check it."""
    ledger = book.parent / "receivables-payments.jsonl"
    line = "ofx:0341:45678-9:20261116001"
    ledger.write_text(json.dumps({"event": "applying", "line": line, "invoices": {"INV-1003": "6750.00"}}) + "\n")
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    assert f"Check by hand: bank line {line}" in " ".join(result.output.split())
    report = json.loads(
        invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--json").output
    )
    assert report["already_applied"] == [line]
    assert "INV-1003" not in [row["invoice"] for row in report["rows"]]


def test_a_brazilian_workbook_gets_a_data_de_pagamento_column(build: Callable[..., Path]) -> None:
    """With a pt_BR manual the column added is 'Data de Pagamento', which the next run reads as the payment date."""
    book = build(payment_rows())
    (book.parent / "billing-manual.toml").write_text(
        f'[company]\n{BRAZILIAN_COMPANY}\ncurrency = "BRL"\n', encoding="utf-8"
    )
    result = invoke("reconcile", book, STATEMENTS / "itau-november.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert result.exit_code == 0, result.output
    assert "8.750,00" in result.output  # amounts in the listing as the locale writes money
    assert _cells(book)["O4"] == "Data de Pagamento"
    again = invoke("reconcile", book, STATEMENTS / "itau-overlap.ofx", "--as-of", AS_OF_TEXT, "--apply")
    assert again.exit_code == 0, again.output
    assert _cells(book).get("P4") is None  # the same column again, not a second one
    assert _cells(book)[f"O{FIRST_DATA_ROW + 8}"].date() == date(2026, 11, 20)  # INV-1017, paid on the 20th


def test_two_customers_as_like_the_payer_are_a_tie_left_for_a_person(build: Callable[..., Path]) -> None:
    """'ACME BRASIL' is as like 'Acme Brasil Ltda' as 'Acme Brasil Comércio': an amount both owe is never applied."""
    from toolkit.payments.statements import BankLine

    rows = payment_rows()[:3]
    rows[0].update({"Customer": "Acme Brasil Ltda", "Amount": 500.0, "Paid": 0})
    rows[1].update({"Customer": "Acme Brasil Comércio", "Amount": 500.0})
    rows[2].update({"Customer": "Acme Brasil Comércio", "Amount": 700.0})
    path = build(rows)
    manual = load_manual(None)
    analysis = analyse(XlsxSource(path, writes=False).read(manual), manual, AS_OF)
    lines = [
        BankLine("tie", AS_OF, Decimal("500.00"), payer="ACME BRASIL"),
        BankLine("only-one-owes-it", AS_OF, Decimal("700.00"), payer="ACME BRASIL"),
    ]
    result = match_lines(lines, open_invoices(analysis.invoices, analysis.results), manual)
    (review,) = result.reviews
    assert review.line.identity == "tie" and review.ambiguous
    assert sorted(i.customer for i in review.candidates) == ["Acme Brasil Comércio", "Acme Brasil Ltda"]
    assert [(m.line.identity, m.allocations[0].invoice.number) for m in result.matches] == [
        ("only-one-owes-it", "INV-1008")
    ]
