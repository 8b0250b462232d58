"""Memory flat in rows: what a run keeps per invoice, and that keeping less changes nothing it writes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF
from tests.factory import make_workbook
from tests.reminder_kit import invoice
from toolkit.manual import load_manual
from toolkit.pipeline import analyse, run_source
from toolkit.xlsx import read as reader
from toolkit.xlsx.source import XlsxSource


def ledger(count: int = 60) -> list[dict[str, Any]]:
    """Invoices of three customers, every other one paid in full."""
    rows = []
    for n in range(1, count + 1):
        amount = 100.0 + n + (0.25 if n % 4 == 1 else 0)
        rows.append(invoice(f"INV-{n}", f"Customer {n % 3}", 10 - n % 20, amount, paid=amount if n % 2 else 0.0))
    return rows


def test_a_sheet_read_alongside_is_not_kept_once_checked_and_writes_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows read by the second process are checked once and dropped; the workbook written is the same bytes."""
    book = make_workbook(tmp_path / "book.xlsx", ledger())
    manual = load_manual(None)
    kept_out, streamed_out = tmp_path / "kept.xlsx", tmp_path / "streamed.xlsx"
    kept, _ = run_source(XlsxSource(book, output=kept_out), manual, AS_OF)  # a small sheet: read in process
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    source = XlsxSource(book, output=streamed_out)
    streamed, _ = run_source(source, manual, AS_OF)
    assert streamed.data.rows == [] and len(kept.data.rows) == 60
    assert [i.number for i in streamed.invoices] == [i.number for i in kept.invoices]
    assert streamed.results == kept.results
    assert streamed_out.read_bytes() == kept_out.read_bytes()


def test_repeated_names_amounts_and_results_are_held_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A customer's name and address, a paid-in-full amount and a paid invoice's result are one object each."""
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)  # rows come through a pipe, as new objects
    book = make_workbook(tmp_path / "book.xlsx", ledger())
    source = XlsxSource(book, writes=False)
    try:
        analysis = analyse(source.read(load_manual(None)), load_manual(None), AS_OF)
    finally:
        source.close()
    first, seventh = analysis.invoices[0], analysis.invoices[6]  # both of "Customer 1", both paid in full
    assert first.customer == "Customer 1" and first.customer is seventh.customer and first.email is seventh.email
    assert first.paid == first.amount and first.paid is first.amount
    assert analysis.results[first.row].status == "paid"
    assert analysis.results[first.row] is analysis.results[seventh.row]
    unpaid = analysis.invoices[1]
    assert unpaid.paid == 0 and unpaid.paid is analysis.invoices[5].paid


def test_a_date_on_many_invoices_is_held_once(tmp_path: Path) -> None:
    """Invoices due on the same day hold one date object between them, equal to the day in the sheet."""
    rows = [invoice(f"INV-{n}", f"Customer {n}", 5) for n in range(1, 5)]
    source = XlsxSource(make_workbook(tmp_path / "book.xlsx", rows), writes=False)
    analysis, _ = run_source(source, load_manual(None), AS_OF, write=False)
    due = [i.due_date for i in analysis.invoices]
    assert due[0] is not None and due[0] == AS_OF - timedelta(days=5)
    assert all(d is due[0] for d in due)
