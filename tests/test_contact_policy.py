"""Who may be contacted, how often and when: do-not-contact, min_days_between, the send window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.factory import CUSTOMER_KEYS, DEFAULT_HEADERS
from tests.reminder_kit import (
    MANUAL,
    clear_environment,
    invoice,
    journal_events,
    make_book,
    server_env,
    write_manual,
)
from tests.smtp_server import SmtpTestServer
from tests.test_mail import FakeTime
from toolkit.manual import load_manual
from toolkit.policy.contact import last_contacts
from toolkit.reminders.daily import ReminderOptions, ReminderRun, run_daily
from toolkit.reminders.journal import Attempt, JournalItem
from toolkit.rows.invoices import Invoice
from toolkit.summary import print_reminders
from toolkit.xlsx.source import XlsxSource


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)


def run(path: Path, *extra: str, as_of: date = AS_OF) -> str:
    result = invoke("run", path, "--as-of", as_of.isoformat(), *extra)
    assert result.exit_code == 0, result.output
    return result.output


def sent_to(server: SmtpTestServer) -> list[str]:
    return [m.message["To"].addresses[0].display_name for m in server.messages]


# --------------------------------------------------------------------------------------------
# Do not contact


def test_a_marked_row_gets_no_message_and_is_listed_with_the_reason(server: SmtpTestServer, tmp_path: Path) -> None:
    """An 'x' in the No Reminders column: no message to that customer, listed under Not reminded with why."""
    book = make_book(
        tmp_path,
        [
            invoice("INV-1", "Northwind", 20, **{"No Reminders": "x"}),
            invoice("INV-2", "Northwind", 5),  # the same customer: the mark is the customer's
            invoice("INV-3", "Contoso", 20, **{"No Reminders": "no"}),  # "no" is no mark
        ],
        headers=(*DEFAULT_HEADERS, "No Reminders"),
    )
    out = run(book, "--send")
    assert sent_to(server) == ["Contoso"]
    assert "Not reminded (2):" in out
    assert "Northwind (INV-1, row 5): do not contact (marked in the no-reminders column)" in out
    assert "Northwind (INV-2, row 6): do not contact" in out


def test_a_customer_on_the_manual_list_gets_no_message(server: SmtpTestServer, tmp_path: Path) -> None:
    """[reminders] do_not_contact lists a name or an address: either keeps the customer's messages back."""
    write_manual(
        tmp_path,
        text=MANUAL.replace(
            "messages_per_minute = 0", 'messages_per_minute = 0\ndo_not_contact = ["northwind", "AP@contoso.example"]'
        ),
    )
    book = make_book(
        tmp_path,
        [invoice("INV-1", "Northwind", 20), invoice("INV-2", "Contoso", 20), invoice("INV-3", "Fabrikam", 20)],
    )
    out = run(book, "--send")
    assert sent_to(server) == ["Fabrikam"]
    assert out.count("do not contact (listed in [reminders] do_not_contact)") == 2


# --------------------------------------------------------------------------------------------
# min_days_between, across runs, with the journal


def test_a_customer_contacted_3_days_ago_waits_under_a_7_day_limit(server: SmtpTestServer, tmp_path: Path) -> None:
    """Sent on day 0; on day 3 another invoice falls due: held ("last contacted 3 days ago; next on ..."); sent on day 7."""
    write_manual(
        tmp_path, text=MANUAL.replace("messages_per_minute = 0", "messages_per_minute = 0\nmin_days_between = 7")
    )
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 1), invoice("INV-2", "Northwind", -2)])
    run(book, "--send")
    assert len(server.messages) == 1
    later = AS_OF + timedelta(days=3)
    out = run(book, "--send", as_of=later)
    assert len(server.messages) == 1  # nothing more went
    next_on = (AS_OF + timedelta(days=7)).isoformat()
    assert f"Northwind (INV-2, row 6): last contacted 3 days ago; next on {next_on}" in out
    run(book, "--send", as_of=AS_OF + timedelta(days=7))
    assert len(server.messages) == 2
    assert [e["on"] for e in journal_events(tmp_path) if e["event"] == "sending"] == [AS_OF_TEXT, next_on]


def test_the_preview_shows_the_hold_too(server: SmtpTestServer, tmp_path: Path) -> None:
    """A preview on day 3 prepares no message for the held customer and says why."""
    write_manual(
        tmp_path, text=MANUAL.replace("messages_per_minute = 0", "messages_per_minute = 0\nmin_days_between = 7")
    )
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 1), invoice("INV-2", "Northwind", -2)])
    run(book, "--send")
    out = run(book, as_of=AS_OF + timedelta(days=3))
    assert "No reminders are due today." in out and "last contacted 3 days ago" in out


def _attempt(stage: str, on: date) -> Attempt:
    return Attempt(
        id=stage,
        on=on,
        at="",
        customer="Northwind",
        to="ap@northwind.example",
        cc=(),
        bcc=(),
        subject="",
        message_id="",
        stage=stage,
        items=(JournalItem("INV-1", stage, 1),),
        outcome="sent",
    )


def test_only_collection_messages_count_as_contact() -> None:
    """A journal entry of a stage the schedule does not have (a thank-you) does not start the wait."""
    manual = load_manual()
    attempts = [_attempt("first", AS_OF - timedelta(days=10)), _attempt("thank_you", AS_OF - timedelta(days=1))]
    latest = last_contacts(attempts, [Invoice(row=5, customer="Northwind")], manual)
    assert latest == {"northwind": AS_OF - timedelta(days=10)}


# --------------------------------------------------------------------------------------------
# The send window, on a frozen clock

WINDOW = """
[reminders]
messages_per_minute = 0
send_window = "Mon-Fri 08:00-20:00"
holidays = ["2026-11-27"]
""".strip()


def window_manual(tmp_path: Path) -> Path:
    text = MANUAL.replace('currency = "USD"', 'currency = "USD"\ncountry = "US"\ntimezone = "America/New_York"')
    return write_manual(tmp_path, text=text.replace("[reminders]\nmessages_per_minute = 0", WINDOW))


def send_at(book: Path, server: SmtpTestServer, moment: datetime) -> tuple[ReminderRun, str]:
    """Run with --send on a clock frozen at ``moment``; the run and its summary."""
    fake = FakeTime()
    fake.now = moment.timestamp()
    options = ReminderOptions(send=True, now=lambda: datetime.fromtimestamp(fake.clock(), UTC))
    manual = load_manual(book.parent / "billing-manual.toml")
    result = run_daily(XlsxSource(book), manual, AS_OF, options, workbook=book, env=server_env(server))
    console = Console(record=True, width=200)
    assert result.reminders is not None
    print_reminders(console, result.reminders, str, "receivables run --send")
    return result.reminders, console.export_text()


def test_send_on_a_saturday_sends_nothing_and_says_when_the_window_opens(
    server: SmtpTestServer, tmp_path: Path
) -> None:
    """Saturday 10:00 in New York: nothing sent, nothing journaled, and the next window is Monday 08:00."""
    window_manual(tmp_path)
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 20)])
    _, out = send_at(book, server, datetime(2026, 11, 21, 15, 0, tzinfo=UTC))
    assert server.messages == [] and journal_events(tmp_path) == []
    assert "Nothing was sent: it is now outside the send window Mon-Fri 08:00-20:00 (America/New_York)" in out
    assert "the next window opens Mon 2026-11-23 08:00 (America/New_York)" in out


def test_a_national_holiday_and_a_listed_holiday_close_the_window(server: SmtpTestServer, tmp_path: Path) -> None:
    """Thanksgiving (US, from the holidays library) and 27 Nov (the manual's list): the window opens Monday the 30th."""
    window_manual(tmp_path)
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 20)])
    _, out = send_at(book, server, datetime(2026, 11, 26, 15, 0, tzinfo=UTC))  # Thursday 10:00 in New York
    assert server.messages == []
    assert "the next window opens Mon 2026-11-30 08:00 (America/New_York)" in out


def test_inside_the_window_the_messages_go(server: SmtpTestServer, tmp_path: Path) -> None:
    """Wednesday 10:00 in New York: sent."""
    window_manual(tmp_path)
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 20)])
    run_, _ = send_at(book, server, datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    assert sent_to(server) == ["Northwind"] and run_.window_closed is None


def test_a_customer_time_zone_moves_their_window(server: SmtpTestServer, tmp_path: Path) -> None:
    """18:30 in New York is 23:30 in London: the London customer waits until 08:00 their time, the other is sent."""
    window_manual(tmp_path)
    rows = [invoice("INV-1", "Northwind", 20), invoice("INV-2", "Thames Ltd", 20)]
    customers = [
        {"Customer": "Northwind", "Email": "ap@northwind.example", "Credit Limit": 50000, "Time Zone": ""},
        {
            "Customer": "Thames Ltd",
            "Email": "ap@thamesltd.example",
            "Credit Limit": 50000,
            "Time Zone": "Europe/London",
        },
    ]
    book = make_book(tmp_path, rows, customers=customers, customer_keys=(*CUSTOMER_KEYS, "Time Zone"))
    _, out = send_at(book, server, datetime(2026, 11, 18, 23, 30, tzinfo=UTC))
    assert sent_to(server) == ["Northwind"]
    assert "Thames Ltd (INV-2, row 6): outside the send window Mon-Fri 08:00-20:00 (Europe/London); " in out
    assert "it opens next on Thu 2026-11-19 08:00 (Europe/London)" in out


def test_the_preview_works_outside_the_window_and_says_so(tmp_path: Path) -> None:
    """A preview on Saturday prepares the messages and notes that --send would wait."""
    window_manual(tmp_path)
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 20)])
    manual = load_manual(book.parent / "billing-manual.toml")
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    result = run_daily(XlsxSource(book), manual, AS_OF, ReminderOptions(now=lambda: saturday), workbook=book)
    assert result.reminders is not None and len(result.reminders.messages) == 1
    assert result.reminders.window_closed is not None
    assert "Mon 2026-11-23 08:00" in result.reminders.window_closed


def test_the_report_counts_the_do_not_contact_customers(tmp_path: Path) -> None:
    """report --json counts the unpaid invoices and customers no reminder goes to."""
    write_manual(
        tmp_path,
        text=MANUAL.replace("messages_per_minute = 0", 'messages_per_minute = 0\ndo_not_contact = ["Contoso"]'),
    )
    book = make_book(
        tmp_path,
        [
            invoice("INV-1", "Northwind", 20, **{"No Reminders": "x"}),
            invoice("INV-2", "Northwind", 5),
            invoice("INV-3", "Contoso", 20),
            invoice("INV-4", "Fabrikam", 20),
        ],
        headers=(*DEFAULT_HEADERS, "No Reminders"),
    )
    result = invoke("report", book, "--as-of", AS_OF_TEXT, "--json")
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)["collection_policy"]
    assert (policy["do_not_contact_customers"], policy["do_not_contact_invoices"]) == (2, 3)
    assert "Do not contact" in invoke("report", book, "--as-of", AS_OF_TEXT).output


def test_the_last_reminder_column_counts_as_contact_too(server: SmtpTestServer, tmp_path: Path) -> None:
    """No journal, but the sheet says the first reminder went 3 days ago: the second waits under a 7-day limit."""
    write_manual(
        tmp_path, text=MANUAL.replace("messages_per_minute = 0", "messages_per_minute = 0\nmin_days_between = 7")
    )
    contacted = AS_OF - timedelta(days=3)
    book = make_book(
        tmp_path,
        [
            invoice("INV-1", "Northwind", 20, **{"Last Reminder": contacted, "Reminder Stage": "first"}),
            invoice("INV-2", "Contoso", 20),
        ],
        headers=(*DEFAULT_HEADERS, "Last Reminder", "Reminder Stage"),
    )
    out = run(book, "--send")
    assert sent_to(server) == ["Contoso"]
    next_on = (contacted + timedelta(days=7)).isoformat()
    assert f"Northwind (INV-1, row 5): last contacted 3 days ago; next on {next_on}" in out
