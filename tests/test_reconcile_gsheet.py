"""`receivables reconcile gsheet:KEY --apply`: payments written into a Google Sheet in one batch, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import AS_OF_TEXT, invoke
from tests.sheets_emulator import SheetsEmulator, serial_to_datetime
from tests.test_gsheet import KEY, add_sheet, emulator, fake_time, google, home, sheet_table  # noqa: F401
from tests.test_reconcile import STATEMENTS, payment_rows

TARGET = f"gsheet:{KEY}"


def apply(*statements: str) -> str:
    paths = [str(STATEMENTS / name) for name in statements]
    result = invoke("reconcile", TARGET, *paths, "--as-of", AS_OF_TEXT, "--apply")
    assert result.exit_code == 0, result.output
    return result.output


def test_apply_writes_paid_and_payment_date_in_one_batch(
    emulator: SheetsEmulator,  # noqa: F811
    google: Any,  # noqa: F811
) -> None:
    """Paid and a new Payment Date column are written in one values batch; the Balance formula is left to recalculate."""
    add_sheet(emulator, payment_rows())
    emulator.requests.clear()
    output = apply("itau-november.ofx")
    assert emulator.count("values.batchUpdate") == 1
    table = sheet_table(emulator)
    assert table["INV-1003"]["Paid"] == 8750
    assert table["INV-1004"]["Paid"] == 300
    assert table["INV-1011"]["Paid"] == 5610 and table["INV-1020"]["Paid"] == 3145
    assert table["INV-1022"]["Paid"] in (0, "")  # ambiguous: never applied
    assert serial_to_datetime(table["INV-1003"]["Payment Date"]).date().isoformat() == "2026-11-16"
    balance = emulator.get_cell(KEY, "Invoices", "H5")
    assert balance is not None and balance.formula == "=F5-G5"  # the formula kept, not overwritten
    assert "Payment Date" in output


def test_a_second_apply_writes_nothing(
    emulator: SheetsEmulator,  # noqa: F811
    google: Any,  # noqa: F811
    home: Path,  # noqa: F811
) -> None:
    """The payments ledger (next to the send journal) stops a statement applied twice from writing again."""
    add_sheet(emulator, payment_rows())
    apply("itau-november.ofx")
    emulator.requests.clear()
    output = apply("itau-november.ofx", "itau-overlap.ofx")
    writes = [r for r in emulator.requests if r.kind == "values.batchUpdate"]
    assert len(writes) == 1 and len(writes[0].body["data"]) == 2  # INV-1017's Paid and Payment Date only
    assert sheet_table(emulator)["INV-1017"]["Paid"] == 415.5
    assert "5 line(s) applied already" in " ".join(output.split())


def test_a_plain_balance_is_kept_equal_to_amount_minus_paid(
    emulator: SheetsEmulator,  # noqa: F811
    google: Any,  # noqa: F811
) -> None:
    """A Balance typed as a number (no formula) is rewritten with the new balance, so the next run reads it right."""
    add_sheet(emulator, payment_rows())
    emulator.set_cell(KEY, "Invoices", "H5", 6750)
    plain = emulator.get_cell(KEY, "Invoices", "H5")
    assert plain is not None and plain.formula is None
    apply("itau-november.ofx")
    assert sheet_table(emulator)["INV-1003"]["Balance"] == 0
    formula = emulator.get_cell(KEY, "Invoices", "H6")  # INV-1004's Balance: a formula, left to Google
    assert formula is not None and formula.formula == "=F6-G6"
