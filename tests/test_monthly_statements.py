"""[statements] monthly: every customer with a balance gets their statement once a month, preview first, via the journal."""

from __future__ import annotations

import getpass
import io
import json
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.reminder_kit import clear_environment, invoice, make_book, write_manual
from tests.smtp_server import SmtpTestServer

MONTHLY = '[statements]\nmonthly = true\nday_of_month = 15\nsubject = "{company}: statement, {month}"\n'


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(getpass, "getpass", lambda *a, **k: (_ for _ in ()).throw(AssertionError("prompted")))


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """Northwind owes (one invoice not yet due), Contoso owes (overdue), Kestrel is paid up."""
    write_manual(tmp_path, MONTHLY)
    rows = [
        invoice("INV-1", "Northwind Traders", -10, 1200.0),
        invoice("INV-2", "Contoso Retail", 3, 400.0),
        invoice("INV-3", "Kestrel Logistics", 20, 500.0, paid=500.0),
    ]
    return make_book(tmp_path, rows)


def run(book: Path, day: str, *extra: str) -> str:
    result = invoke("run", book, "--as-of", day, *extra)
    assert result.exit_code == 0, result.output
    return result.output


def statements_of(server: SmtpTestServer) -> list[EmailMessage]:
    out = []
    for received in server.messages:
        msg = BytesParser(policy=policy.default).parsebytes(received.raw)
        assert isinstance(msg, EmailMessage)
        if "statement" in str(msg["Subject"]):
            out.append(msg)
    return out


def test_monthly_statements_preview_then_send_once(server: SmtpTestServer, book: Path) -> None:
    """Preview writes statement .eml files and sends nothing; --send sends one per customer with a balance; never twice."""
    day = AS_OF_TEXT  # the 20th: on or after day_of_month 15
    folder = book.parent / "outbox" / day
    folder.mkdir(parents=True)
    (folder / "statement-1000-gone-away-ltd.eml").write_text("an earlier preview's 1,000th statement")
    output = run(book, day)
    previews = sorted(p.name for p in folder.iterdir() if p.name.startswith("statement-"))
    assert previews == ["statement-001-contoso-retail.eml", "statement-002-northwind-traders.eml"]
    assert "2 statement(s) of account for 2026-11 ready" in output
    assert server.messages == []

    output = run(book, day, "--send")
    assert "2 statement(s) of account for 2026-11 sent" in output
    sent = statements_of(server)
    assert sorted(m["To"].addresses[0].addr_spec for m in sent) == [
        "ap@contosoretail.example",
        "ap@northwindtraders.example",
    ]
    contoso = next(m for m in sent if "contoso" in str(m["To"]))
    assert str(contoso["Subject"]) == "Acme Supplies Ltd: statement, November 2026"
    files = {p.get_filename(): p.get_payload(decode=True) for p in contoso.iter_attachments()}
    assert sorted(files) == [f"statement-contoso-retail-{day}.csv", f"statement-contoso-retail-{day}.pdf"]
    pdf = files[f"statement-contoso-retail-{day}.pdf"]
    assert isinstance(pdf, bytes)
    assert "Total due: $400.00" in " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    events = [json.loads(line) for line in (book.parent / "receivables-journal.jsonl").read_text().splitlines()]
    assert sum(1 for e in events if e.get("stage") == "statement") == 2

    count = len(server.messages)
    run(book, day, "--send")  # the same day again
    later = (AS_OF + timedelta(days=5)).isoformat()
    output = run(book, later, "--send")  # later in the same month
    assert len(statements_of(server)) == 2 and len(server.messages) >= count
    assert "2 customer(s) already have their statement for 2026-11" in output


def test_not_before_the_day_and_again_next_month(server: SmtpTestServer, book: Path) -> None:
    """Before day_of_month nothing is prepared; the next month each customer gets the new month's statement."""
    before = (AS_OF - timedelta(days=10)).isoformat()  # the 10th
    run(book, before, "--send")
    assert statements_of(server) == []
    run(book, AS_OF_TEXT, "--send")
    assert len(statements_of(server)) == 2
    next_month = (AS_OF + timedelta(days=30)).isoformat()  # 2026-12-20
    run(book, next_month, "--send")
    assert len(statements_of(server)) == 4
    subjects = sorted(str(m["Subject"]) for m in statements_of(server))
    assert subjects.count("Acme Supplies Ltd: statement, December 2026") == 2


def test_statements_are_not_reminders_in_the_report(server: SmtpTestServer, book: Path) -> None:
    """The statements in the journal are not counted as reminders by the report's reminder figures."""
    run(book, AS_OF_TEXT, "--send")
    result = invoke("report", book, "--as-of", AS_OF_TEXT, "--json")
    assert result.exit_code == 0, result.output
    effect = json.loads(result.stdout)["reminders"]
    assert (effect["reminded_invoices"], effect["unmatched"]) == (1, 0)  # Contoso's first reminder only
