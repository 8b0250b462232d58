"""Thanks to payers: a reminded customer who has paid gets one thank-you, previewed first, sent once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.reminder_kit import (
    by_recipient,
    clear_environment,
    invoice,
    journal_events,
    make_book,
    never_prompt,
    sheet_rows,
    text_body,
    write_manual,
)
from tests.smtp_server import SmtpTestServer

NORTHWIND, CONTOSO = "ap@northwindtraders.example", "ap@contosoretail.example"
NEXT_DAY = (AS_OF + timedelta(days=1)).isoformat()
DAY_AFTER = (AS_OF + timedelta(days=2)).isoformat()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)
    never_prompt(monkeypatch)


def run(path: Path, as_of: str, *extra: str) -> str:
    result = invoke("run", path, "--as-of", as_of, *extra)
    assert result.exit_code == 0, result.output
    return result.output


def reminded_then_paid(tmp_path: Path, manual_extra: str = "") -> Path:
    """Northwind and Contoso reminded on AS_OF; Northwind's payment applied from a bank CSV the next day."""
    write_manual(tmp_path, manual_extra)
    book = make_book(
        tmp_path, [invoice("INV-1", "Northwind Traders", 3, 1200.0), invoice("INV-2", "Contoso Retail", 3, 500.0)]
    )
    run(book, AS_OF_TEXT, "--send")
    statement = tmp_path / "bank.csv"
    statement.write_text(
        f"Date,Amount,Description\n{AS_OF.strftime('%d/%m/%Y')},1200.00,Payment INV-1 thanks\n", encoding="utf-8"
    )
    applied = invoke("reconcile", book, statement, "--as-of", NEXT_DAY, "--apply")
    assert applied.exit_code == 0, applied.output
    return book


def test_a_payer_gets_one_thank_you_previewed_then_sent_once(server: SmtpTestServer, tmp_path: Path) -> None:
    """Previewed as an .eml, sent with --send to the real SMTP server, journaled, and never sent again."""
    book = reminded_then_paid(tmp_path)
    assert len(server.messages) == 2  # the two reminders
    shown = invoke("preview", book, "--as-of", NEXT_DAY, "--customer", "Northwind")
    assert shown.exit_code == 0, shown.output
    assert "Thank you for your payment" in shown.output and "INV-1" in shown.output
    out = run(book, NEXT_DAY)  # a preview: the thank-you is written to the outbox, nothing is sent
    previews = list((tmp_path / "outbox" / NEXT_DAY).glob("*.eml"))
    assert len(previews) == 1 and "thanks" in previews[0].name
    assert len(server.messages) == 2
    # Said as what it is: a thank-you, not a reminder.
    assert "No reminders are due today." in out and "1 thank-you ready for customers who paid" in out
    assert "reminder ready" not in out
    out = run(book, NEXT_DAY, "--send")
    assert "Sent 1 message to 1 customer (1 thank-you)" in out
    thanks = by_recipient(server.messages[2:])
    assert list(thanks) == [NORTHWIND]  # Contoso has not paid: no thanks, and no new reminder is due
    message = thanks[NORTHWIND]
    assert str(message["Subject"]).startswith("Thank you for your payment")
    assert "INV-1" in text_body(message) and "INV-2" not in text_body(message)
    events = [e for e in journal_events(tmp_path) if e["event"] == "sending"]
    assert [e["stage"] for e in events] == ["first", "first", "thanks"]
    run(book, DAY_AFTER, "--send")
    assert len(server.messages) == 3  # never twice
    # The thank-you is no reminder: Reminder Stage still says the last reminder sent.
    assert sheet_rows(book)["INV-1"]["Reminder Stage"] == "first"


def test_thanks_can_be_turned_off(server: SmtpTestServer, tmp_path: Path) -> None:
    """[reminders] thank_payers = false: a payer gets nothing."""
    book = reminded_then_paid(tmp_path, "")
    manual = tmp_path / "billing-manual.toml"
    manual.write_text(
        manual.read_text(encoding="utf-8").replace("[reminders]\n", "[reminders]\nthank_payers = false\n"),
        encoding="utf-8",
    )
    run(book, NEXT_DAY, "--send")
    assert len(server.messages) == 2
