"""Reminders on a Google Sheet: sent once, written back into the sheet, never twice (Sheets API emulator + aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.reminder_kit import clear_environment, invoice, point_at, recipients_of, write_manual
from tests.sheets_emulator import SheetsEmulator, date_to_serial
from tests.smtp_server import SmtpTestServer, smtp_server
from tests.test_gsheet import KEY, add_sheet, emulator, fake_time, google, home, sheet_table  # noqa: F401


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpTestServer]:
    clear_environment(monkeypatch)
    with smtp_server("none") as running:
        point_at(monkeypatch, running)
        yield running


def send(*extra: str) -> str:
    result = invoke("run", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT, "--send", *extra)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_google_sheet_gets_its_reminders_once(
    emulator: SheetsEmulator,  # noqa: F811
    google: list,  # noqa: F811
    home: Path,  # noqa: F811
    server: SmtpTestServer,
) -> None:
    """Sent over SMTP, Last Reminder and Reminder Stage written to the sheet; the sheet alone prevents a resend."""
    write_manual(Path.cwd())  # the manual (and so the journal and outbox) in the current folder
    add_sheet(emulator, [invoice("INV-1", "Northwind", 20), invoice("INV-2", "Contoso", 2)])
    send()
    assert sorted(recipients_of(server.messages)) == ["ap@contoso.example", "ap@northwind.example"]
    table = sheet_table(emulator)
    assert table["INV-1"]["Reminder Stage"] == "second" and table["INV-2"]["Reminder Stage"] == "first"
    assert table["INV-1"]["Last Reminder"] == date_to_serial(AS_OF)
    assert (Path.cwd() / "receivables-journal.jsonl").is_file()
    assert (Path.cwd() / "outbox" / AS_OF_TEXT / "sent").is_dir()

    emulator.clear_log()
    send()  # the same day again: nothing to send, and the sheet already says so
    assert len(server.messages) == 2
    assert [r.kind for r in emulator.requests] == ["spreadsheets.get", "values.batchGet"]

    (Path.cwd() / "receivables-journal.jsonl").unlink()  # only the sheet remembers now
    send()
    assert len(server.messages) == 2
    later = (AS_OF + timedelta(days=13)).isoformat()
    result = invoke("run", f"gsheet:{KEY}", "--as-of", later, "--send")
    assert result.exit_code == 0, result.output
    # INV-1 reached 'final' (the accountant in copy), INV-2 'second'.
    assert sorted(recipients_of(server.messages[2:])) == [
        "accountant@acme.example",
        "ap@contoso.example",
        "ap@northwind.example",
    ]
    assert sheet_table(emulator)["INV-2"]["Last Reminder"] == date_to_serial(AS_OF + timedelta(days=13))
