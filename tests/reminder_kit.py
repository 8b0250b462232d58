"""Helpers for the reminder tests: invoice rows, a billing manual, SMTP settings for the test server.

Workbooks are built with ``tests.factory.make_workbook``; the mail goes to the real
aiosmtpd server of ``tests.smtp_server``, pointed at through the same environment
variables a user sets (``RECEIVABLES_SMTP_HOST`` and friends).
"""

from __future__ import annotations

import builtins
import getpass
import json
import os
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import AS_OF
from tests.factory import FIRST_DATA_ROW, make_workbook
from tests.smtp_server import SmtpTestServer

USER, PASSWORD = "billing", "p4ss-W0rd-that-must-never-leak"
COMPANY_EMAIL = "billing@acme.example"
ACCOUNTANT = "accountant@acme.example"

# The tool's columns after the factory's 14: Status, Days Overdue, Aging, Problems, Last Reminder, Reminder Stage.
OUR_COLUMNS = {"Status": 15, "Days Overdue": 16, "Aging": 17, "Problems": 18, "Last Reminder": 19, "Reminder Stage": 20}

MANUAL = """
[company]
name = "Acme Supplies Ltd"
email = "billing@acme.example"
phone = "+1 555 0100"
payment_instructions = "Bank transfer to Acme Supplies Ltd, account 123456789."
dispute_contact = "accounts@acme.example"
locale = "en_US"
currency = "USD"

[reminders]
messages_per_minute = 0

[[reminders.stages]]
name = "courtesy"
offset_days = -3
template = "courtesy"

[[reminders.stages]]
name = "first"
offset_days = 1
template = "first_reminder"

[[reminders.stages]]
name = "second"
offset_days = 15
template = "second_reminder"

[[reminders.stages]]
name = "final"
offset_days = 30
template = "final_notice"
cc = ["accountant@acme.example"]
"""

# What replaces 'locale = "en_US"' in MANUAL for a Brazilian company: the law wants its address and CNPJ shown.
BRAZILIAN_COMPANY = 'locale = "pt_BR"\naddress = "Rua das Flores, 10, São Paulo - SP"\ntax_id = "11.222.333/0001-81"'


def invoice(
    number: str,
    customer: str,
    days_overdue: int,
    amount: float = 1000.0,
    *,
    email: str | None = None,
    paid: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """One invoice row, ``days_overdue`` days past its due date (negative: not yet due) on AS_OF."""
    due = AS_OF - timedelta(days=days_overdue)
    row: dict[str, Any] = {
        "Invoice": number,
        "Customer": customer,
        "Email": email if email is not None else _address(customer),
        "Issue Date": due - timedelta(days=30),
        "Due Date": due,
        "Amount": amount,
        "Paid": paid,
        "Payment Method": "Bank transfer",
        "Terms": "Net 30",
    }
    row.update(extra)
    return row


def _address(customer: str) -> str:
    local = "".join(ch for ch in customer.lower() if ch.isalnum()) or "customer"
    return f"ap@{local}.example"


def write_manual(folder: Path, extra: str = "", *, text: str = MANUAL) -> Path:
    """The test billing manual (no rate limit, the accountant in cc of the final notice) next to the workbook."""
    path = folder / "billing-manual.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def make_book(folder: Path, rows: list[dict[str, Any]], name: str = "receivables.xlsx", **kwargs: Any) -> Path:
    """A workbook with these rows and the test manual next to it (unless one is there already)."""
    if not (folder / "billing-manual.toml").exists():
        write_manual(folder)
    return make_workbook(folder / name, rows, **kwargs)


def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RECEIVABLES_* setting of the machine running the tests leaks in (call from an autouse fixture)."""
    for name in list(os.environ):
        if name.startswith("RECEIVABLES_"):
            monkeypatch.delenv(name)


def never_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keyring of the test machine answers, and any attempt to ask on the terminal fails the test."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("something tried to prompt on the terminal")

    monkeypatch.setattr(getpass, "getpass", refuse)
    monkeypatch.setattr(builtins, "input", refuse)


def point_at(
    monkeypatch: pytest.MonkeyPatch, server: SmtpTestServer, *, user: str | None = None, password: str | None = None
) -> None:
    """Set the environment variables a user would set to send through ``server``."""
    monkeypatch.setenv("RECEIVABLES_SMTP_HOST", server.host)
    monkeypatch.setenv("RECEIVABLES_SMTP_PORT", str(server.port))
    monkeypatch.setenv("RECEIVABLES_SMTP_SECURITY", server.security)
    if server.ca_file is not None:
        monkeypatch.setenv("RECEIVABLES_SMTP_CA_FILE", str(server.ca_file))
    if user is not None:
        monkeypatch.setenv("RECEIVABLES_SMTP_USER", user)
    if password is not None:
        monkeypatch.setenv("RECEIVABLES_SMTP_PASSWORD", password)


def server_env(server: SmtpTestServer, *, user: str | None = None, password: str | None = None) -> dict[str, str]:
    """The environment for a subprocess sending through ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVABLES_")}
    env.update(
        {
            "RECEIVABLES_SMTP_HOST": server.host,
            "RECEIVABLES_SMTP_PORT": str(server.port),
            "RECEIVABLES_SMTP_SECURITY": server.security,
        }
    )
    if server.ca_file is not None:
        env["RECEIVABLES_SMTP_CA_FILE"] = str(server.ca_file)
    if user is not None:
        env["RECEIVABLES_SMTP_USER"] = user
    if password is not None:
        env["RECEIVABLES_SMTP_PASSWORD"] = password
    return env


def sheet_rows(path: Path, sheet: str = "Invoices") -> dict[str, dict[str, Any]]:
    """Invoice number -> the tool's columns as openpyxl reads them (dates as datetimes)."""
    ws = openpyxl.load_workbook(path)[sheet]
    header = {ws.cell(FIRST_DATA_ROW - 1, c).value: c for c in range(1, ws.max_column + 1)}
    out: dict[str, dict[str, Any]] = {}
    for r in range(FIRST_DATA_ROW, ws.max_row + 1):
        number = ws.cell(r, 1).value
        if number:
            out[str(number)] = {name: ws.cell(r, col).value for name, col in header.items() if name}
            out[str(number)]["_number_format"] = {
                name: ws.cell(r, col).number_format for name, col in header.items() if name
            }
    return out


def journal_events(folder: Path) -> list[dict[str, Any]]:
    """Every event of the send journal next to the workbook."""
    path = folder / "receivables-journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def recipients_of(messages: list[Any]) -> list[str]:
    """The envelope recipients of each received message, flattened."""
    return [r for m in messages for r in m.rcpt_tos]


def text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def html_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def by_recipient(messages: list[Any]) -> dict[str, EmailMessage]:
    """The received messages by their To address."""
    out = {}
    for received in messages:
        to = received.message["To"].addresses
        assert len(to) == 1
        out[to[0].addr_spec] = received.message
    return out


def days_ago(n: int) -> date:
    return AS_OF - timedelta(days=n)
