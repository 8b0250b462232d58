"""Workbooks as accountants keep them (issue 12, the reading side): 1904 dates, totals rows, locale numbers,
ERP ledgers with credit notes, and the messages that tell the owner what to do."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.handmade_xlsx import Dated, Formula, assert_only_new_cells, write_xlsx
from tests.reminder_kit import BRAZILIAN_COMPANY
from toolkit.manual import load_manual
from toolkit.pipeline import analyse
from toolkit.source import OutputColumn
from toolkit.xlsx.source import XlsxSource

EPOCH_1904 = date(1904, 1, 1)
EPOCH_1900 = date(1899, 12, 30)
HEADERS = ["Invoice", "Customer", "Issue Date", "Due Date", "Amount", "Paid"]


def serial(day: date, date1904: bool = False) -> int:
    return (day - (EPOCH_1904 if date1904 else EPOCH_1900)).days


def manual_beside(folder: Path, text: str = "") -> Path:
    """A billing manual next to the workbook: no emails required, plus ``text``."""
    path = folder / "billing-manual.toml"
    path.write_text("[policy]\nrequire_email = false\n" + text, encoding="utf-8")
    return path


def run_ok(path: Path, *extra: str | Path) -> str:
    result = invoke("run", path, "--as-of", AS_OF_TEXT, *extra)
    assert result.exit_code == 0, result.output
    return result.output


def columns_by_header(path: Path) -> dict[str, dict[int, Any]]:
    """Header text -> {row: value} for every column of the first sheet, as openpyxl reads it."""
    ws = openpyxl.load_workbook(path).active
    assert ws is not None
    out: dict[str, dict[int, Any]] = {}
    for col in range(1, ws.max_column + 1):
        header = ws.cell(1, col).value
        if header:
            out[str(header)] = {r: ws.cell(r, col).value for r in range(2, ws.max_row + 1)}
    return out


# --------------------------------------------------------------------------------------------
# 1904 date system


@pytest.mark.parametrize("parsed", [False, True], ids=["bytes-scanned", "parsed-by-lxml"])
def test_1904_serials_count_from_1904_plain_numbers_and_date_cells_alike(tmp_path: Path, parsed: bool) -> None:
    """In a 1904 workbook a due date 3 days ago is 3 days overdue, whether its cell has a date format or not."""
    due, issued = date(2026, 11, 17), date(2026, 10, 18)
    rows = [
        HEADERS,
        ["INV-1", "Acme", serial(issued, True), serial(due, True), 500, 0],
        ["INV-2", "Beta", Dated(serial(issued, True)), Dated(serial(due, True)), 700, 0],
    ]
    path = write_xlsx(tmp_path / "mac.xlsx", rows, date1904=True, odd_cells=parsed)
    manual = load_manual(manual_beside(tmp_path))
    assert bool(XlsxSource(path, writes=False).read(manual).scan.odd_rows) == parsed
    before = path.read_bytes()
    output = run_ok(path)
    out = columns_by_header(path)
    assert out["Status"] == {2: "Overdue", 3: "Overdue"}
    assert out["Days Overdue"] == {2: 3, 3: 3}
    assert out["Aging"] == {2: "1-30", 3: "1-30"}
    assert "before issue date" not in output
    assert_only_new_cells(before, path)


def test_the_same_serials_in_a_1900_workbook_are_read_with_the_1900_epoch(tmp_path: Path) -> None:
    """Without date1904 the same plain serials are 1900-system dates (the usual workbook is unchanged)."""
    due = date(2026, 11, 17)
    rows = [HEADERS, ["INV-1", "Acme", serial(date(2026, 10, 18)), serial(due), 500, 0]]
    path = write_xlsx(tmp_path / "pc.xlsx", rows)
    manual_beside(tmp_path)
    run_ok(path)
    assert columns_by_header(path)["Days Overdue"] == {2: 3}


def test_dates_written_back_into_a_1904_workbook_use_the_1904_epoch(tmp_path: Path) -> None:
    """A date the tool writes (Last Reminder) reads back as the same day in a 1904 workbook."""
    rows = [
        HEADERS,
        ["INV-1", "Acme", Dated(serial(date(2026, 10, 18), True)), Dated(serial(date(2026, 11, 17), True)), 500, 0],
    ]
    path = write_xlsx(tmp_path / "mac.xlsx", rows, date1904=True)
    manual = load_manual(manual_beside(tmp_path))
    source = XlsxSource(path, backup=False)
    data = source.read(manual)
    assert data.layout.date1904
    sent_on = date(2026, 11, 19)
    source.write(data, [OutputColumn("last_reminder", "Last Reminder", 7)], {2: {"last_reminder": sent_on}})
    ws = openpyxl.load_workbook(path).active
    assert ws is not None
    assert ws.cell(2, 7).value.date() == sent_on
    assert ws.cell(2, 4).value.date() == date(2026, 11, 17)
    again = analyse(XlsxSource(path, writes=False).read(manual), manual, AS_OF)
    assert again.invoices[0].due_date == date(2026, 11, 17)


# --------------------------------------------------------------------------------------------
# Totals rows outside tables


def _totals_workbook(tmp_path: Path, label_row: list[Any], parsed: bool = False) -> Path:
    rows = [
        HEADERS,
        ["INV-1", "Acme", Dated(serial(date(2026, 10, 1))), Dated(serial(date(2026, 11, 1))), 100, 0],
        ["INV-2", "Beta", Dated(serial(date(2026, 10, 15))), Dated(serial(date(2026, 12, 1))), 200, 50],
        label_row,
    ]
    manual_beside(tmp_path)
    return write_xlsx(tmp_path / "totals.xlsx", rows, odd_cells=parsed)


@pytest.mark.parametrize(
    "label_row",
    [
        ["TOTAL", None, None, None, Formula("SUM(E2:E3)", 300), Formula("SUM(F2:F3)", 50)],
        [None, "Total geral", None, None, 300, 50],
        ["Subtotal:", None, None, None, 300, None],
        [None, None, None, None, Formula("SUBTOTAL(9,E2:E3)", 300), None],
        [None, "Grand Total", None, None, Formula("SUM(E2:E3)", 300), Formula("SUM(F2:F3)", 50)],
    ],
    ids=["TOTAL-with-SUM", "total-geral", "subtotal-label", "SUBTOTAL-formula-only", "grand-total"],
)
@pytest.mark.parametrize("parsed", [False, True], ids=["bytes-scanned", "parsed-by-lxml"])
def test_a_totals_row_is_not_an_invoice_gets_no_status_and_is_named_once(
    tmp_path: Path, label_row: list[Any], parsed: bool
) -> None:
    """A totals row (EN/PT label or SUM/SUBTOTAL formula, no invoice number) is left untouched and named once."""
    path = _totals_workbook(tmp_path, label_row, parsed)
    before = path.read_bytes()
    output = run_ok(path)
    out = columns_by_header(path)
    assert out["Status"] == {2: "Overdue", 3: "Open", 4: None}
    assert out["Problems"][4] is None
    assert "2 invoices" in output
    assert output.count("totals row") == 1 and "row 4" in output
    assert "No problems found." in output
    assert_only_new_cells(before, path)


def test_a_row_without_an_invoice_number_and_no_totals_mark_is_still_reported(tmp_path: Path) -> None:
    """A row missing its invoice number that is not labelled or summed as totals stays an Invalid invoice."""
    path = _totals_workbook(tmp_path, [None, "Total Gas Ltd", None, Dated(serial(date(2026, 12, 1))), 80, 0])
    path.unlink()
    rows = [HEADERS, [None, "Gamma", None, Dated(serial(date(2026, 12, 1))), 80, 0]]
    write_xlsx(path, rows)
    output = run_ok(path)
    assert columns_by_header(path)["Status"] == {2: "Invalid"}
    assert "invoice number is missing" in output and "totals row" not in output


def test_an_invoice_of_a_customer_named_total_is_an_invoice(tmp_path: Path) -> None:
    """An invoice with a number is never a totals row, whatever its customer is called."""
    rows = [HEADERS, ["INV-9", "Total Gas Ltd", None, Dated(serial(date(2026, 12, 1))), Formula("SUM(1,2)", 3), 0]]
    manual_beside(tmp_path)
    path = write_xlsx(tmp_path / "named.xlsx", rows)
    run_ok(path)
    assert columns_by_header(path)["Status"] == {2: "Open"}


def test_a_totals_row_libreoffice_saved_is_recognised_too(tmp_path: Path) -> None:
    """A totals row with SUM formulas in a workbook saved by LibreOffice (its own formula markup) gets no status."""
    from tests.libreoffice import convert, require_soffice

    require_soffice()
    source = _totals_workbook(tmp_path, ["TOTAL", None, None, None, Formula("SUM(E2:E3)", 300), None])
    (tmp_path / "lo").mkdir()
    saved = convert(source, "xlsx", tmp_path / "lo")
    manual_beside(saved.parent)
    assert b"SUM(" in _sheet_bytes(saved)
    run_ok(saved)
    assert columns_by_header(saved)["Status"] == {2: "Overdue", 3: "Open", 4: None}


def _sheet_bytes(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read("xl/worksheets/sheet1.xml")


# --------------------------------------------------------------------------------------------
# Amounts typed as text, read by the manual's locale


@pytest.mark.parametrize(
    ("locale", "text", "amount"),
    [
        ("pt_BR", "1.234,56", "1234.56"),
        ("pt_BR", "R$ 500,00", "500.00"),
        ("pt_BR", "-R$ 1.234,56", "-1234.56"),
        ("pt_BR", "500,00 BRL", "500.00"),
        ("en_US", "1,234.56", "1234.56"),
        ("en_US", "$1,234.50", "1234.50"),
        ("en_US", "(1,234.50)", "-1234.50"),
        ("en_US", "1234", "1234"),
        ("en_IN", "₹ 1,23,456.50", "123456.50"),
        ("fr_FR", "1 234,56 €", "1234.56"),
        ("de_CH", "CHF 1'234.50", "1234.50"),
    ],
)
def test_text_amounts_are_read_as_the_locale_writes_numbers(locale: str, text: str, amount: str) -> None:
    """Group and decimal symbols, currency symbols or codes and signs are read the way the locale writes them."""
    from toolkit.rows.text_numbers import LocaleNumbers

    assert LocaleNumbers.of(locale).parse(text) == Decimal(amount)


@pytest.mark.parametrize(
    ("locale", "text"),
    [("en_US", "1.234,5"), ("en_US", "R$ 500,00"), ("en_US", "1,5"), ("pt_BR", "1234.56"), ("pt_BR", "1,234.56")],
)
def test_a_text_amount_the_locale_cannot_read_for_sure_is_refused_not_guessed(locale: str, text: str) -> None:
    """A text number that does not fit the locale's grouping is refused with the locale and what to do."""
    from toolkit.rows.text_numbers import LocaleNumbers, NotANumber

    with pytest.raises(NotANumber) as caught:
        LocaleNumbers.of(locale).parse(text)
    assert str(caught.value) == f"'{text}' is not a number in {locale}; type it as a number or set [company] locale"


def test_misread_text_amounts_become_findings_on_their_cells_in_en_us(tmp_path: Path) -> None:
    """In en_US, '1.234,5' and 'R$ 500,00' are findings on their own cells, and '$1,234.50' is read right."""
    due = Dated(serial(date(2026, 12, 1)))
    rows = [
        [*HEADERS, "Balance"],
        ["INV-1", "Acme", None, due, "1.234,5", 0, 1234.5],
        ["INV-2", "Beta", None, due, "R$ 500,00", 0, 500],
        ["INV-3", "Gamma", None, due, "$1,234.50", "$234.50", 1000],
    ]
    manual_beside(tmp_path)
    path = write_xlsx(tmp_path / "text.xlsx", rows)
    before = path.read_bytes()
    result = invoke("check", path, "--as-of", AS_OF_TEXT)
    assert "Invoices!E2: amount '1.234,5' is not a number in en_US; type it as a number or set [company] locale" in (
        result.output
    )
    assert "Invoices!E3: amount 'R$ 500,00' is not a number in en_US" in result.output
    assert "balance" not in result.output.replace("Balance", "")  # no false 'balance is not amount - paid'
    run_ok(path)
    assert columns_by_header(path)["Status"] == {2: "Invalid", 3: "Invalid", 4: "Open"}
    assert_only_new_cells(before, path)


def test_the_same_text_amounts_in_pt_br_are_read(tmp_path: Path) -> None:
    """Under [company] locale = "pt_BR" the Brazilian text amounts are read, with only the typed-as-text warning."""
    due = Dated(serial(date(2026, 12, 1)))
    rows = [
        [*HEADERS, "Balance"],
        ["INV-1", "Acme", None, due, "1.234,50", 0, 1234.5],
        ["INV-2", "Beta", None, due, "R$ 500,00", "R$ 100,00", 400],
    ]
    manual_beside(tmp_path, f'[company]\n{BRAZILIAN_COMPANY}\ncurrency = "BRL"\n')
    path = write_xlsx(tmp_path / "texto.xlsx", rows)
    output = run_ok(path)
    assert columns_by_header(path)["Status"] == {2: "Open", 3: "Open"}
    assert "0 errors" in output and "is typed as text" in output


# --------------------------------------------------------------------------------------------
# Open-items ledgers from accounting systems: Balance without Paid, credit notes

LEDGER_HEADERS = ["Invoice No", "Customer", "Email", "Doc Type", "Due Date", "Amount", "Balance"]


def _ledger(tmp_path: Path, manual_text: str = "") -> Path:
    past, later = Dated(serial(date(2026, 10, 1))), Dated(serial(date(2026, 12, 20)))
    rows = [
        LEDGER_HEADERS,
        ["INV-1", "Acme", "ap@acme.example", "Invoice", past, 1000, 400],  # 600 paid, 400 owed
        ["INV-2", "Acme", "ap@acme.example", "Invoice", past, 500, 0],  # paid in full
        ["NC-1", "Acme", "ap@acme.example", "NC", None, -400, -400],  # covers what Acme owes
        ["INV-3", "Beta", "ap@beta.example", "Invoice", past, 300, 300],
        ["CM-1", "Beta", "ap@beta.example", "Credit Memo", later, 100, 100],  # a credit by its type
        ["NC-2", "Gamma", "ap@gamma.example", None, later, -50, -50],  # a credit by its sign
    ]
    manual_beside(tmp_path, manual_text)
    return write_xlsx(tmp_path / "ledger.xlsx", rows)


def test_a_ledger_reads_paid_from_the_balance_and_credit_notes_as_credits(tmp_path: Path) -> None:
    """Balance without Paid: paid = amount - balance; negative or credit-typed lines are Credit, never Invalid."""
    path = _ledger(tmp_path)
    before = path.read_bytes()
    output = run_ok(path)
    out = columns_by_header(path)
    assert out["Status"] == {2: "Overdue", 3: "Paid", 4: "Credit", 5: "Overdue", 6: "Credit", 7: "Credit"}
    assert set(out["Problems"].values()) == {None}
    assert "No problems found." in output
    assert "Open balance net of credit notes: $150.00 ($700.00 owed, $550.00 in credit notes)." in output
    assert_only_new_cells(before, path)


def test_a_customer_whose_credits_cover_their_debts_gets_no_reminder(tmp_path: Path) -> None:
    """Acme's credit note covers its 400 owed: no reminder to Acme; Beta, still owing 200 net, gets one."""
    path = _ledger(tmp_path)
    output = run_ok(path)
    previews = sorted((tmp_path / "outbox").glob("*/*.eml"))
    recipients = {
        line for eml in previews for line in eml.read_text(encoding="utf-8").splitlines() if line.startswith("To:")
    }
    assert recipients == {"To: Beta <ap@beta.example>"}
    assert "credit notes of $400.00 cover the $400.00 owed" in output


def test_the_credit_status_word_comes_from_the_manual(tmp_path: Path) -> None:
    """[statuses] credit names the status written on credit notes; [policy] credit_note_types names their types."""
    path = _ledger(tmp_path, '[statuses]\ncredit = "Crédito"\n')
    run_ok(path)
    assert columns_by_header(path)["Status"][4] == "Crédito"
    (tmp_path / "other").mkdir()
    other = _ledger(tmp_path / "other", 'credit_note_types = ["NC"]\n')
    run_ok(other)
    status = columns_by_header(other)["Status"]
    assert (status[4], status[6]) == ("Credit", "Open")  # CM-1's type is no longer a credit type: an invoice


def test_the_report_nets_credit_notes_against_what_customers_owe(tmp_path: Path) -> None:
    """The report shows the open credit notes and the receivables net of them; a covered customer is no top debtor."""
    path = _ledger(tmp_path)
    result = invoke("report", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    assert "Credit notes" in result.output and "-$550.00" in result.output
    assert "Net of credit notes" in result.output and "$150.00" in result.output
    from toolkit.report.figures import top_debtors

    manual = load_manual(tmp_path / "billing-manual.toml")
    analysis = analyse(XlsxSource(path, writes=False).read(manual), manual, AS_OF)
    assert [d.customer for d in top_debtors(analysis)] == ["Beta"]


def test_problems_write_amounts_as_the_manuals_locale_does(tmp_path: Path) -> None:
    """In a pt_BR workbook the Problems column and the summary write 1.234,50, not 1,234.50."""
    due = Dated(serial(date(2026, 12, 1)))
    rows = [[*HEADERS, "Saldo"], ["NF-1", "Acme", None, due, 1234.5, 0, 900]]
    manual_beside(tmp_path, f'[company]\n{BRAZILIAN_COMPANY}\ncurrency = "BRL"\n')
    path = write_xlsx(tmp_path / "pt.xlsx", rows)
    output = run_ok(path)
    expected = "balance 900,00 is not amount - paid (1.234,50 - 0,00 = 1.234,50)"
    assert expected in columns_by_header(path)["Problems"][2]
    assert expected in output


# --------------------------------------------------------------------------------------------
# Messages that tell the owner what to do


def test_a_header_below_the_rows_searched_says_how_many_and_which_setting(tmp_path: Path) -> None:
    """The header-not-found message names the rows searched and [workbook] header_search_rows; raising it works."""
    due = Dated(serial(date(2026, 12, 1)))
    notes: list[list[Any]] = [[f"note {n}"] for n in range(1, 35)]
    path = write_xlsx(tmp_path / "low.xlsx", [*notes, HEADERS, ["INV-1", "Acme", None, due, 100, 0]])
    manual_beside(tmp_path)
    result = invoke("run", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert "looked for in the first 30 rows of each sheet" in result.output
    assert "raise [workbook] header_search_rows in" in result.output
    manual_beside(tmp_path, "[workbook]\nheader_search_rows = 40\n")
    run_ok(path)
    ws = openpyxl.load_workbook(path).active
    assert ws is not None and ws.cell(36, 7).value == "Open"


def test_a_header_named_in_columns_wins_over_another_fields_default_alias(tmp_path: Path) -> None:
    """[columns] due_date = ["InvoiceDate"] takes the InvoiceDate column, though 'Invoice Date' is an issue_date alias."""
    rows = [["Invoice", "Customer", "InvoiceDate", "Amount"], ["INV-1", "Acme", Dated(serial(date(2026, 11, 10))), 100]]
    manual_beside(tmp_path, '[columns]\ndue_date = ["InvoiceDate"]\n')
    path = write_xlsx(tmp_path / "named.xlsx", rows)
    run_ok(path)
    out = columns_by_header(path)
    assert (out["Status"][2], out["Days Overdue"][2]) == ("Overdue", 10)


def test_a_strict_open_xml_workbook_is_refused_with_what_it_is_and_how_to_save_it(tmp_path: Path) -> None:
    """A Strict Open XML workbook is named as such, with how to save it as an ordinary .xlsx; nothing is written."""
    from tests.handmade_xlsx import STRICT_NS

    path = write_xlsx(tmp_path / "strict.xlsx", [HEADERS, ["INV-1", "Acme", None, 46300, 100, 0]], namespace=STRICT_NS)
    manual_beside(tmp_path)
    before = path.read_bytes()
    result = invoke("run", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert f"{path}: is a Strict Open XML workbook" in result.output
    assert "'Excel Workbook (*.xlsx)'" in result.output and "no worksheets" not in result.output
    assert path.read_bytes() == before
    assert not (tmp_path / "outbox").exists()


# --------------------------------------------------------------------------------------------
# Smaller things: previews of refused runs, a read-only outbox, text dates, lock files


def _reminder_rows() -> list[Any]:
    past = Dated(serial(date(2026, 10, 1)))
    return [LEDGER_HEADERS, ["INV-1", "Acme", "ap@acme.example", "Invoice", past, 1000, 400]]


def test_a_run_that_refuses_to_write_leaves_no_reminder_previews(tmp_path: Path) -> None:
    """When the write is refused (no room for the tool's columns), no preview is written into the outbox."""
    rows = [*_reminder_rows(), {16384: "far right"}]
    manual_beside(tmp_path)
    path = write_xlsx(tmp_path / "full.xlsx", rows)
    before = path.read_bytes()
    result = invoke("run", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1 and "Nothing was written" in result.output
    assert not list(tmp_path.glob("outbox/*/*.eml"))
    assert path.read_bytes() == before


@contextmanager
def _read_only_folder(where: Path) -> Iterator[Path]:
    """A tmpfs mounted read-only at ``where`` (root needed; fails in CI without it, else skips)."""
    where.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        message = f"cannot mount a read-only file system ({mounted.stderr.decode().strip()})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI needs it", pytrace=False)
        pytest.skip(message)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_read_only_outbox_does_not_block_a_run_written_elsewhere(tmp_path: Path) -> None:
    """With --output elsewhere, a read-only outbox leaves the previews unwritten, says so with --outbox, and the run ends well."""
    folder = tmp_path / "books"
    folder.mkdir()
    manual_beside(folder)
    path = write_xlsx(folder / "ledger.xlsx", _reminder_rows())
    copy = tmp_path / "copy.xlsx"
    with _read_only_folder(folder / "outbox"):
        result = invoke("run", path, "--as-of", AS_OF_TEXT, "--output", copy)
    assert result.exit_code == 0, result.output
    assert "cannot write the reminder previews" in result.output and "--outbox" in result.output
    assert columns_by_header(copy)["Status"] == {2: "Overdue"}


def test_a_date_typed_as_text_is_read_with_a_warning(tmp_path: Path) -> None:
    """A due date typed as text is read (the row is aged) and gets the warning the README promises, on its cell."""
    rows = [HEADERS, ["INV-1", "Acme", None, "2026-11-17", 100, 0]]
    manual_beside(tmp_path)
    path = write_xlsx(tmp_path / "text-dates.xlsx", rows)
    output = run_ok(path)
    assert "Invoices!D2: warning: due date is typed as text; type it as a date" in output
    out = columns_by_header(path)
    assert (out["Status"][2], out["Days Overdue"][2]) == ("Overdue", 3)


@pytest.mark.parametrize(
    ("lock_text", "named"),
    [
        (",root,buildhost,04.12.2026 15:00,file:///root/.config/libreoffice/4;", "user root on buildhost"),
        ("Maria Souza,maria,pc-12,04.12.2026 15:00,file:///home/maria/.config/libreoffice/4;", "Maria Souza"),
        (",,,04.12.2026 15:00,;", "another user"),
    ],
)
def test_a_libreoffice_lock_names_who_has_the_workbook_open(tmp_path: Path, lock_text: str, named: str) -> None:
    """A LibreOffice lock with an empty name field names the system user and computer, never 'someone'."""
    manual_beside(tmp_path)
    path = write_xlsx(tmp_path / "open.xlsx", [HEADERS, ["INV-1", "Acme", None, Dated(46300), 100, 0]])
    (tmp_path / ".~lock.open.xlsx#").write_text(lock_text, encoding="utf-8")
    before = path.read_bytes()
    result = invoke("run", path, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert f"the workbook is open by {named} in LibreOffice (lock file .~lock.open.xlsx#)" in result.output
    assert "someone" not in result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("locale", "amount", "shown"),
    [
        ("en_US", "-1234.5", "-1,234.50"),
        ("pt_BR", "1234567.891", "1.234.567,89"),
        ("en_IN", "1234567", "12,34,567.00"),
        ("pt_BR", "-1e+26", "-100.000.000.000.000.000.000.000.000,00"),
    ],
)
def test_amounts_in_messages_are_written_as_the_locale_writes_numbers(locale: str, amount: str, shown: str) -> None:
    """CurrencyFormat.number writes an amount without its currency, grouped and rounded the locale's way."""
    from toolkit.money import CurrencyFormat

    assert CurrencyFormat(locale, "USD").number(Decimal(amount)) == shown
