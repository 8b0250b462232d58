"""A reminder never lists more than [reminders] max_invoices_in_message invoices; the statement goes with it."""

from __future__ import annotations

import csv
import getpass
import io
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import AS_OF_TEXT, invoke
from tests.reminder_kit import clear_environment, html_body, invoice, make_book, text_body
from tests.smtp_server import SmtpTestServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(getpass, "getpass", lambda *a, **k: (_ for _ in ()).throw(AssertionError("prompted")))


def long_book(folder: Path, count: int = 60) -> Path:
    """Northwind with ``count`` overdue invoices (1 to ``count`` days overdue, 100 + n each); Contoso with two."""
    rows = [invoice(f"INV-{n:04d}", "Northwind Traders", n, 100.0 + n) for n in range(1, count + 1)]
    rows += [invoice("C-1", "Contoso Retail", 5, 250.0), invoice("C-2", "Contoso Retail", 3, 80.0)]
    return make_book(folder, rows)


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename() or "": part.get_payload(decode=True) for part in msg.iter_attachments()}


def test_message_cut_at_the_limit_carries_the_statement(server: SmtpTestServer, tmp_path: Path) -> None:
    """60 invoices, limit 25: the 25 most overdue listed, the other 35 counted and summed, statement PDF and CSV attached."""
    book = long_book(tmp_path)
    result = invoke("run", book, "--as-of", AS_OF_TEXT, "--send")
    assert result.exit_code == 0, result.output
    received = {m.rcpt_tos[0]: m for m in server.messages}
    # Parsed back from the raw bytes the server got.
    msg = BytesParser(policy=policy.default).parsebytes(received["ap@northwindtraders.example"].raw)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/mixed"
    text = text_body(msg)
    listed = [n for n in range(1, 61) if f"INV-{n:04d}" in text]
    assert listed == list(range(36, 61))  # the 25 most overdue
    rest = sum(Decimal(100 + n) for n in range(1, 36))
    assert rest == Decimal(4130)
    assert "The other 35 invoices, totalling $4,130.00, are in the attached statement" in text
    assert "the 25 most overdue of your 60 open invoices" in text
    assert html_body(msg).count("INV-") == 25
    files = attachments(msg)
    assert sorted(files) == [
        f"statement-northwind-traders-{AS_OF_TEXT}.csv",
        f"statement-northwind-traders-{AS_OF_TEXT}.pdf",
    ]
    pdf_name, csv_name = sorted(files)[1], sorted(files)[0]
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(files[pdf_name])).pages)
    assert all(f"INV-{n:04d}" in pdf_text for n in range(1, 61))
    lines = list(csv.DictReader(io.StringIO(files[csv_name].decode("utf-8-sig"))))
    assert len([line for line in lines if line["section"] == "open"]) == 60
    total = sum(Decimal(100 + n) for n in range(1, 61))
    assert Decimal(next(line["balance"] for line in lines if line["section"] == "total_due")) == total
    # A short list is not cut and carries nothing.
    contoso = received["ap@contosoretail.example"].message
    assert contoso.get_content_type() == "multipart/alternative" and not attachments(contoso)


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    """max_invoices_in_message = 5 in the manual: the preview lists 5 and says 55 more are attached."""
    book = long_book(tmp_path)
    manual = tmp_path / "billing-manual.toml"
    text = manual.read_text(encoding="utf-8")
    manual.write_text(text.replace("[reminders]\n", "[reminders]\nmax_invoices_in_message = 5\n", 1), encoding="utf-8")
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    eml = next(p for p in (tmp_path / "outbox" / AS_OF_TEXT).iterdir() if "northwind" in p.name)
    msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert isinstance(msg, EmailMessage)
    text_part = text_body(msg)
    assert [n for n in range(1, 61) if f"INV-{n:04d}" in text_part] == [56, 57, 58, 59, 60]
    assert "The other 55 invoices" in text_part
    assert len(attachments(msg)) == 2


def test_preview_shows_the_cut_message(tmp_path: Path) -> None:
    """receivables preview --customer shows the short list and the sentence about the attached statement."""
    book = long_book(tmp_path)
    result = invoke("preview", book, "--as-of", AS_OF_TEXT, "--customer", "Northwind")
    assert result.exit_code == 0, result.output
    assert "The other 35 invoices, totalling $4,130.00, are in the attached statement" in result.output
    assert "INV-0060" in result.output and "INV-0001" not in result.output
