"""Reminder emails through `receivables run` and `receivables preview`, with a real SMTP server.

The server is aiosmtpd on 127.0.0.1 (tests/smtp_server.py), plain, with STARTTLS and
AUTH, or with implicit TLS; the tool is pointed at it through the environment
variables a user would set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, ROOT, SAMPLES, invoke, run
from tests.mounts import fill, small_disk
from tests.reminder_kit import (
    ACCOUNTANT,
    BRAZILIAN_COMPANY,
    MANUAL,
    PASSWORD,
    USER,
    by_recipient,
    clear_environment,
    html_body,
    invoice,
    journal_events,
    make_book,
    never_prompt,
    point_at,
    recipients_of,
    server_env,
    sheet_rows,
    text_body,
    write_manual,
)
from tests.smtp_server import SmtpTestServer, smtp_server
from toolkit.reminders.compose import eml_file_name

CUSTOMERS = ("Northwind Traders", "Contoso Retail", "Fabrikam Hardware", "Brightwater Dental")
NORTHWIND, CONTOSO, FABRIKAM, BRIGHTWATER = (
    "ap@northwindtraders.example",
    "ap@contosoretail.example",
    "ap@fabrikamhardware.example",
    "ap@brightwaterdental.example",
)


def rows() -> list[dict[str, Any]]:
    """Four customers with a reminder due (Northwind with two invoices), one paid, one not yet due."""
    return [
        invoice("INV-1", "Northwind Traders", 40, 1200.0),  # final
        invoice("INV-2", "Northwind Traders", 2, 300.5),  # first; the message is Northwind's final notice
        invoice("INV-3", "Contoso Retail", 16, 4100.0, paid=100.0),  # second
        invoice("INV-4", "Fabrikam Hardware", -3, 750.0),  # courtesy
        invoice("INV-5", "Brightwater Dental", 1, 99.99),  # first
        invoice("INV-6", "Kestrel Logistics", 40, 500.0, paid=500.0),  # paid
        invoice("INV-7", "Kestrel Logistics", -10, 500.0),  # not due yet
    ]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)
    never_prompt(monkeypatch)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return make_book(tmp_path, rows())


def day_folder(path: Path, day: str = AS_OF_TEXT) -> Path:
    return path.parent / "outbox" / day


# --------------------------------------------------------------------------------------------
# Preview by default


def test_preview_writes_eml_files_and_sends_nothing(server: SmtpTestServer, book: Path) -> None:
    """Without --send: one .eml per customer in outbox/DAY/, nothing sent, nothing journaled, and how to send."""
    out = run(book)
    assert server.messages == []
    assert journal_events(book.parent) == []
    files = sorted(p.name for p in day_folder(book).iterdir())
    assert files == [
        "001-final-northwind-traders.eml",
        "002-second-contoso-retail.eml",
        "003-first-brightwater-dental.eml",
        "004-courtesy-fabrikam-hardware.eml",
    ]
    assert "5 reminders ready for 4 customers (" in out
    assert f"outbox{os.sep}{AS_OF_TEXT}{os.sep})" in out
    assert out.rstrip().endswith(f"--as-of {AS_OF_TEXT} --send")
    assert "Nothing has been sent" in out
    # Nothing was sent, so nothing claims it was: no reminder columns yet.
    assert "Last Reminder" not in sheet_rows(book)["INV-1"]


def test_a_second_preview_replaces_the_first(server: SmtpTestServer, book: Path, tmp_path: Path) -> None:
    """Previews of the same day replace each other; files the tool did not write are left alone."""
    run(book)
    keep = day_folder(book) / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    # The 1,000th message of an earlier, longer preview is numbered with four digits: replaced too.
    thousandth = day_folder(book) / eml_file_name(1000, "final", "Gone Away Ltd")
    thousandth.write_bytes((day_folder(book) / "001-final-northwind-traders.eml").read_bytes())
    make_book(tmp_path, rows()[:1])  # only Northwind left
    run(book)
    assert sorted(p.name for p in day_folder(book).iterdir()) == ["001-final-northwind-traders.eml", "notes.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="links need privileges on Windows")
def test_a_second_preview_writes_through_no_link(server: SmtpTestServer, book: Path, tmp_path: Path) -> None:
    """A preview file that is a link, has another name, or is read-only is replaced; what it pointed at is unchanged.

    A preview written again is written over, in place: never through a symbolic link into
    another file, into a file a backup holds under another name, or over a read-only one.
    """
    run(book)
    folder = day_folder(book)
    first, second = sorted(p for p in folder.iterdir() if p.suffix == ".eml")[:2]
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not the tool's", encoding="utf-8")
    first.unlink()
    first.symlink_to(elsewhere)
    backup = tmp_path / "backup.eml"
    os.link(second, backup)
    kept = backup.read_bytes()
    run(book)
    assert elsewhere.read_text(encoding="utf-8") == "not the tool's" and not first.is_symlink()
    assert backup.read_bytes() == kept and os.stat(second).st_nlink == 1
    assert second.read_bytes() != kept  # a new preview: its Message-ID and date are new
    for path in (first, second):
        assert BytesParser(policy=policy.default).parsebytes(path.read_bytes())["Subject"]
    second.chmod(0o444)
    run(book)
    assert second.read_bytes() != kept and os.access(second, os.R_OK)


def test_a_preview_on_a_full_disk_leaves_no_file_half_written(server: SmtpTestServer, tmp_path: Path) -> None:
    """Previews written over longer ones until the disk is full: said in the summary; every file left is whole.

    A file written over is cut to its new length only once written: one the disk could not
    take is removed, not left with the new bytes at its start and the old at its end.
    """
    book = make_book(tmp_path, rows())
    with small_disk(tmp_path / "disk", "1m") as disk:
        run(book, "--outbox", disk)
        more = [
            invoice(f"INV-{n}-{c}", customer, 30 + n, 10.0 + n)
            for n in range(8, 28)
            for c, customer in enumerate(CUSTOMERS)
        ]
        make_book(tmp_path, rows() + more)  # every message now lists 20 more invoices: longer
        fill(disk, leave=4096)
        out = run(book, "--outbox", disk)
        assert "cannot write the reminder previews" in out and "--outbox" in out
        assert sheet_rows(book)["INV-8-0"]["Status"] == "Overdue"  # the sheet was written all the same
        left = sorted((disk / AS_OF_TEXT).glob("*.eml"))
        assert len(left) < 4  # the one the disk could not take is gone
        for path in left:
            raw = path.read_bytes()
            boundary = BytesParser(policy=policy.default).parsebytes(raw).get_boundary()
            assert raw.endswith(f"\n--{boundary}--\n".encode()) and raw.count(b"Subject: ") == 1


def test_a_long_preview_lists_the_first_messages_and_says_where_the_rest_are(
    server: SmtpTestServer, tmp_path: Path
) -> None:
    """Twenty messages: the summary shows the 15 most severe and counts the other 5; all 20 are in the outbox."""
    book = make_book(tmp_path, [invoice(f"INV-{i}", f"Customer {i:02d}", 40 - i, 100.0 + i) for i in range(20)])
    out = run(book)
    listed = [f"Customer {i:02d}" for i in range(20) if f"Customer {i:02d}" in out]
    assert listed == [f"Customer {i:02d}" for i in range(15)]
    more = next(line for line in out.splitlines() if line.startswith("... and"))
    assert more.startswith("... and 5 more, all in ") and more.endswith(f"outbox{os.sep}{AS_OF_TEXT}{os.sep}")
    assert len(list(day_folder(book).glob("*.eml"))) == 20


def test_preview_eml_opens_in_a_mail_parser(server: SmtpTestServer, book: Path) -> None:
    """The .eml is a multipart/alternative message with a text and an HTML part, and the final notice's cc."""
    run(book)
    raw = (day_folder(book) / "001-final-northwind-traders.eml").read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["From"] == "Acme Supplies Ltd <billing@acme.example>"
    assert msg["To"] == "Northwind Traders <ap@northwindtraders.example>"
    assert msg["Cc"] == ACCOUNTANT
    assert msg["Subject"] == "Final notice: 2 invoices overdue – Acme Supplies Ltd"


# --------------------------------------------------------------------------------------------
# Sending


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_send_delivers_one_message_per_customer(security: str, book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each customer gets one message with its invoices and total, at its most severe stage (plain, STARTTLS, TLS)."""
    users = {USER: PASSWORD} if security != "none" else None
    with smtp_server(security, users=users) as server:
        point_at(monkeypatch, server, user=USER if users else None, password=PASSWORD if users else None)
        out = run(book, "--send")
    got = by_recipient(server.messages)
    assert sorted(got) == sorted([NORTHWIND, CONTOSO, FABRIKAM, BRIGHTWATER])
    assert len(server.messages) == 4
    if users:
        assert all(m.login == USER and m.tls for m in server.messages)

    northwind = got[NORTHWIND]
    text = text_body(northwind)
    assert "INV-1" in text and "INV-2" in text and "Total due: $1,500.50" in text
    assert "$1,200.00" in text and "$300.50" in text
    assert northwind["Cc"] == ACCOUNTANT
    northwind_envelope = next(m for m in server.messages if NORTHWIND in m.rcpt_tos)
    assert sorted(northwind_envelope.rcpt_tos) == sorted([NORTHWIND, ACCOUNTANT])

    contoso = text_body(got[CONTOSO])
    assert "INV-3" in contoso and "$4,000.00" in contoso and "INV-1" not in contoso  # balance after $100 paid
    assert got[CONTOSO]["Subject"] == "Second reminder: invoice INV-3 is 16 days overdue – Acme Supplies Ltd"
    assert got[FABRIKAM]["Subject"].startswith("Friendly reminder: invoice INV-4 is due on ")
    assert got[BRIGHTWATER]["Cc"] is None
    assert "Sent 4 messages to 4 customers (5 reminders)" in out


def test_replies_go_to_the_company_when_the_sender_is_another_address(
    server: SmtpTestServer, book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RECEIVABLES_FROM overrides the sender; Reply-To then points at the company email; envelope from matches."""
    monkeypatch.setenv("RECEIVABLES_FROM", "Acme Robot <noreply@acme.example>")
    run(book, "--send")
    received = server.messages[0]
    assert received.message["From"] == "Acme Robot <noreply@acme.example>"
    assert received.message["Reply-To"] == "billing@acme.example"
    assert received.mail_from == "noreply@acme.example"


def test_send_writes_last_reminder_and_stage_into_the_sheet(server: SmtpTestServer, book: Path) -> None:
    """Last Reminder is a real date cell and Reminder Stage the stage each invoice was at."""
    run(book, "--send")
    sheet = sheet_rows(book)
    expect = {"INV-1": "final", "INV-2": "first", "INV-3": "second", "INV-4": "courtesy", "INV-5": "first"}
    for number, stage in expect.items():
        assert sheet[number]["Reminder Stage"] == stage, number
        assert sheet[number]["Last Reminder"] == datetime(AS_OF.year, AS_OF.month, AS_OF.day), number
        assert sheet[number]["_number_format"]["Last Reminder"] == "yyyy-mm-dd"  # the due date's style
    assert sheet["INV-6"]["Last Reminder"] is None and sheet["INV-7"]["Reminder Stage"] is None


def test_send_journals_each_message_and_files_a_copy(server: SmtpTestServer, book: Path) -> None:
    """Each message is journaled as 'sending' then 'sent', and its .eml moves to outbox/DAY/sent/."""
    run(book, "--send")
    events = journal_events(book.parent)
    assert [e["event"] for e in events] == ["sending", "sent"] * 4
    first = events[0]
    assert first["customer"] == "Northwind Traders" and first["to"] == NORTHWIND and first["cc"] == [ACCOUNTANT]
    assert [(i["invoice"], i["stage"]) for i in first["items"]] == [("INV-1", "final"), ("INV-2", "first")]
    assert sorted(p.name for p in (day_folder(book) / "sent").iterdir()) == [
        "001-final-northwind-traders.eml",
        "002-second-contoso-retail.eml",
        "003-first-brightwater-dental.eml",
        "004-courtesy-fabrikam-hardware.eml",
    ]
    assert not list(day_folder(book).glob("*.eml"))


def test_a_second_send_sends_nothing_that_day_or_the_next(server: SmtpTestServer, book: Path) -> None:
    """Rerunning --send the same day, or the next, sends nothing already sent."""
    run(book, "--send")
    assert len(server.messages) == 4
    again = run(book, "--send")
    assert len(server.messages) == 4 and "No reminders are due today." in again
    tomorrow = (AS_OF + timedelta(days=1)).isoformat()
    run(book, "--send", as_of=tomorrow)
    assert len(server.messages) == 4


def test_the_next_stage_goes_when_it_is_due(server: SmtpTestServer, book: Path) -> None:
    """Two weeks later the invoices that reached a new stage get it, in one message per customer."""
    run(book, "--send")
    later = (AS_OF + timedelta(days=13)).isoformat()
    run(book, "--send", as_of=later)
    new = by_recipient(server.messages[4:])
    # INV-2 is now 15 days overdue (second), INV-4 10 (first), INV-7 3 (first), INV-5 14 (first: already sent).
    assert sorted(new) == sorted([NORTHWIND, FABRIKAM, "ap@kestrellogistics.example"])
    assert "INV-2" in text_body(new[NORTHWIND]) and "INV-1" not in text_body(new[NORTHWIND])
    assert sheet_rows(book)["INV-2"]["Reminder Stage"] == "second"


def test_the_sheet_columns_alone_prevent_a_resend(server: SmtpTestServer, book: Path) -> None:
    """With the journal gone, the sheet's Reminder Stage column still keeps what was sent from going again."""
    run(book, "--send")
    (book.parent / "receivables-journal.jsonl").unlink()
    run(book, "--send")
    assert len(server.messages) == 4


def test_limit_sends_at_most_n_and_the_rest_next_run(server: SmtpTestServer, book: Path) -> None:
    """--limit 2 sends the two most severe messages; the next run sends the other two."""
    out = run(book, "--send", "--limit", "2")
    assert [m.rcpt_tos[0] for m in server.messages] == [NORTHWIND, CONTOSO]
    assert "2 more messages due, left for a later run by --limit" in out
    run(book, "--send")
    assert sorted(recipients_of(server.messages)) == sorted([NORTHWIND, ACCOUNTANT, CONTOSO, FABRIKAM, BRIGHTWATER])


def send_in_subprocess_and_stop_at(server: SmtpTestServer, book: Path, k: int, how: signal.Signals) -> str:
    """Run `receivables run --send` in a child process and signal it while the k-th message is being accepted.

    The signal goes before the server answers "250" for that message: the worst moment,
    when the message has arrived but the client cannot know. Returns the child's stderr.
    """
    victim: list[subprocess.Popen[bytes]] = []
    accept = server.handler.handle_DATA

    async def stop_at_k(srv: Any, session: Any, envelope: Any) -> str:
        reply = await accept(srv, session, envelope)
        if len(server.messages) == k:
            os.kill(victim[0].pid, how)
        return reply

    server.handler.handle_DATA = stop_at_k  # type: ignore[method-assign]
    try:
        command = [sys.executable, "-m", "toolkit.cli", "run", str(book), "--as-of", AS_OF_TEXT, "--send"]
        victim.append(
            subprocess.Popen(
                command, env=server_env(server), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        )
        _, stderr = victim[0].communicate(timeout=60)
        expected = -signal.SIGKILL if how == signal.SIGKILL else 1
        assert victim[0].returncode == expected, stderr
    finally:
        server.handler.handle_DATA = accept  # type: ignore[method-assign]
    return stderr.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX signals")
@pytest.mark.parametrize(("k", "how"), [(1, signal.SIGKILL), (3, signal.SIGKILL), (2, signal.SIGINT)])
def test_a_run_stopped_after_k_of_n_messages_resumes_without_duplicates(
    k: int, how: signal.Signals, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 (or Ctrl-C) while the k-th message is being accepted; the rerun delivers the rest: n in all, none twice."""
    customers = [f"Customer {letter}" for letter in "ABCDE"]
    book = make_book(tmp_path, [invoice(f"INV-{i}", name, 5) for i, name in enumerate(customers, start=1)])
    with smtp_server("none") as server:
        stderr = send_in_subprocess_and_stop_at(server, book, k, how)
        assert len(server.messages) == k
        if how == signal.SIGINT:
            assert f"Interrupted while sending: {k - 1} of 5 reminder message(s) were sent" in stderr
            assert "run the same command again to send the rest" in stderr and "Traceback" not in stderr

        point_at(monkeypatch, server)
        out = run(book, "--send")
        assert "Unconfirmed: the message to" in out  # the k-th: delivered, but the dead run never heard so
        delivered = recipients_of(server.messages)
        assert len(server.messages) == 5 and sorted(delivered) == sorted(set(delivered))
        assert len(set(delivered)) == 5

        assert "may not have arrived" in sheet_rows(book)[f"INV-{k}"]["Problems"]
        run(book, "--send")  # and again: still nothing twice
        assert len(server.messages) == 5

        settled = run(book, "--send", "--unconfirmed", "sent")
        assert "1 unconfirmed message from an earlier run: recorded as sent" in settled
        assert len(server.messages) == 5
        assert "Unconfirmed" not in run(book, "--send")
    sheet = sheet_rows(book)
    assert all(sheet[f"INV-{i}"]["Reminder Stage"] == "first" for i in range(1, 6))


def test_an_unconfirmed_message_can_be_sent_again_on_request(server: SmtpTestServer, book: Path) -> None:
    """--unconfirmed resend sends the message whose fate is unknown once more (the owner's call)."""
    from toolkit.reminders.journal import Journal, JournalItem

    with Journal(book.parent / "receivables-journal.jsonl").writer() as writer:
        writer.sending(
            on=AS_OF,
            customer="Contoso Retail",
            to=CONTOSO,
            cc=[],
            bcc=[],
            subject="s",
            message_id="<x@y>",
            stage="second",
            items=[JournalItem("INV-3", "second", 15)],
        )
    out = run(book, "--send")
    assert "Unconfirmed" in out and CONTOSO not in recipients_of(server.messages)
    preview = run(book, "--unconfirmed", "resend")
    assert "1 unconfirmed message from an earlier run: to be sent again (when you send)" in preview
    assert CONTOSO not in recipients_of(server.messages)
    run(book, "--send", "--unconfirmed", "resend")
    assert recipients_of(server.messages).count(CONTOSO) == 1


def test_a_refused_recipient_is_recorded_shown_and_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 550 for one customer: the others are sent; the summary, the journal and Problems say so; no retry."""
    book = make_book(tmp_path, rows())
    with smtp_server("none", refuse=[CONTOSO]) as server:
        point_at(monkeypatch, server)
        out = run(book, "--send")
        assert sorted(by_recipient(server.messages)) == sorted([NORTHWIND, FABRIKAM, BRIGHTWATER])
        assert "Refused by the mail server (1):" in out and "550 5.1.1" in out
        failed = [e for e in journal_events(tmp_path) if e["event"] == "failed"]
        assert len(failed) == 1 and failed[0]["permanent"] is True and failed[0]["refused"] == [CONTOSO]
        sheet = sheet_rows(book)
        assert "the mail server refused ap@contosoretail.example (550 5.1.1" in sheet["INV-3"]["Problems"]
        assert sheet["INV-3"]["Reminder Stage"] is None

        again = run(book, "--send")
        assert len(server.messages) == 3
        assert "Contoso Retail (INV-3, row 7): the mail server refused ap@contosoretail.example" in again

        fixed = rows()
        fixed[2]["Email"] = "payables@contosoretail.example"
        make_book(tmp_path, fixed)  # the accountant corrects the address
        run(book, "--send")
        assert recipients_of(server.messages[3:]) == ["payables@contosoretail.example"]


def test_a_refused_copy_does_not_undo_the_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The customer got the final notice, only the accountant's cc was refused: sent, with a note."""
    book = make_book(tmp_path, rows())
    with smtp_server("none", refuse=[ACCOUNTANT]) as server:
        point_at(monkeypatch, server)
        out = run(book, "--send")
        assert NORTHWIND in recipients_of(server.messages)
        assert "Northwind Traders: delivered, but a copy was refused: accountant@acme.example (550" in out
        run(book, "--send")
        assert recipients_of(server.messages).count(NORTHWIND) == 1
    assert sheet_rows(book)["INV-1"]["Reminder Stage"] == "final"


def test_a_dropped_connection_stops_cleanly_and_the_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server hangs up after 2: the run stops with exit 1 saying a rerun resumes; the rerun sends the other 2."""
    book = make_book(tmp_path, rows())
    with smtp_server("none", drop_after=2) as server:
        point_at(monkeypatch, server)
        out = run(book, "--send", code=1)
        assert len(server.messages) == 2
        assert "Sending stopped:" in out and "connection lost" in out
        assert "2 messages not sent" in out and "run the same command again" in out
        sheet = sheet_rows(book)
        assert sheet["INV-1"]["Reminder Stage"] == "final" and sheet["INV-5"]["Reminder Stage"] is None
        run(book, "--send")
        assert len(server.messages) == 4
        assert sorted(by_recipient(server.messages)) == sorted([NORTHWIND, CONTOSO, FABRIKAM, BRIGHTWATER])


def test_nothing_is_sent_when_the_server_cannot_be_reached(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No server: a one-line error naming host:port; the previews stay in the outbox; the journal has no record."""
    from tests.smtp_server import free_port

    port = free_port()
    monkeypatch.setenv("RECEIVABLES_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RECEIVABLES_SMTP_PORT", str(port))
    monkeypatch.setenv("RECEIVABLES_SMTP_SECURITY", "none")
    out = run(book, "--send", code=1)
    assert f"127.0.0.1:{port}: could not connect" in out and "Traceback" not in out
    assert "Nothing was sent; the messages are in" in out
    assert len(list(day_folder(book).glob("*.eml"))) == 4
    assert journal_events(book.parent) == []


def test_a_missing_password_stops_before_anything_and_never_prompts(
    book: Path, server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user with no password (env or keyring) is an error at once: an unattended run never waits for input."""
    monkeypatch.setenv("RECEIVABLES_SMTP_USER", USER)
    out = run(book, "--send", code=1)
    assert f"no password for user '{USER}'" in out and "RECEIVABLES_SMTP_PASSWORD" in out
    assert server.messages == [] and journal_events(book.parent) == []


def test_the_password_never_appears_in_output_files_or_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMTP password is in no output, .eml file, journal line or workbook part, even after a failed login."""
    book = make_book(tmp_path, rows())
    with smtp_server("starttls", users={USER: PASSWORD}) as server:
        point_at(monkeypatch, server, user=USER, password=PASSWORD)
        out = run(book, "--send")
        monkeypatch.setenv("RECEIVABLES_SMTP_PASSWORD", PASSWORD + "-wrong")
        make_book(tmp_path, [*rows(), invoice("INV-8", "Newcomer", 3)])
        failed = run(book, "--send", code=1)
    assert "failed to authenticate user 'billing'" in failed
    assert PASSWORD not in out and PASSWORD not in failed
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(p.suffix == ".eml" for p in files) and any(p.parent.name == "receivables-backups" for p in files)
    for path in files:  # every output: .eml files, the journal, the workbook and each of its backups
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as package:
                assert all(PASSWORD.encode() not in package.read(name) for name in package.namelist()), path
        else:
            assert PASSWORD.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------------------------
# What a cell may hold


def test_markup_in_a_customer_name_is_escaped_in_html(server: SmtpTestServer, tmp_path: Path) -> None:
    """A customer called <script>...</script> shows as text in the HTML part, never as markup."""
    book = make_book(tmp_path, [invoice("INV-1", "<script>alert('x')</script> & Co", 5, email="ap@x.example")])
    run(book, "--send")
    html = html_body(server.messages[0].message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in html
    assert "<script>alert('x')</script> & Co" in text_body(server.messages[0].message)  # plain text is plain


def test_a_line_break_in_a_name_cannot_add_a_header_or_recipient(server: SmtpTestServer, tmp_path: Path) -> None:
    """'Evil\\r\\nBcc: attacker' as a customer name stays one display name; the message goes to one address."""
    name = "Evil Corp\r\nBcc: attacker@evil.example\r\nX-Injected: yes"
    book = make_book(tmp_path, [invoice("INV-1", name, 5, email="ap@evilcorp.example")])
    run(book, "--send")
    received = server.messages[0]
    assert received.rcpt_tos == ("ap@evilcorp.example",)
    assert received.message["Bcc"] is None and received.message["X-Injected"] is None
    header_block = received.raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.startswith((b"Bcc:", b"X-Injected:")) for line in header_block.split(b"\r\n"))
    to = received.message["To"].addresses
    assert len(to) == 1 and to[0].addr_spec == "ap@evilcorp.example"
    assert "\n" not in to[0].display_name and "\r" not in to[0].display_name


def test_quotes_and_angle_brackets_in_a_name_stay_in_the_display_name(server: SmtpTestServer, tmp_path: Path) -> None:
    """'Acme "Boss", <boss@evil.example>' cannot turn into a second address."""
    name = 'Acme "Boss", Inc <boss@evil.example>'
    book = make_book(tmp_path, [invoice("INV-1", name, 5, email="ap@acme-inc.example")])
    run(book, "--send")
    received = server.messages[0]
    assert received.rcpt_tos == ("ap@acme-inc.example",)
    to = received.message["To"].addresses
    assert [a.addr_spec for a in to] == ["ap@acme-inc.example"] and to[0].display_name == name


@pytest.mark.parametrize(
    "email",
    [
        "victim@a.example\r\nBcc: attacker@evil.example",
        "victim@a.example, attacker@evil.example",
        "victim@a.example; attacker@evil.example",
    ],
)
def test_an_email_cell_holding_more_than_one_address_gets_no_reminder(
    email: str, server: SmtpTestServer, tmp_path: Path
) -> None:
    """An email cell with a line break or several addresses is skipped (and said so), never split into recipients."""
    book = make_book(tmp_path, [invoice("INV-1", "Victim", 5, email=email), invoice("INV-2", "Other", 5)])
    out = run(book, "--send")
    assert recipients_of(server.messages) == ["ap@other.example"]
    assert "Victim (INV-1, row 5): no valid email" in out


def test_an_accented_domain_is_sent_in_its_ascii_form(server: SmtpTestServer, tmp_path: Path) -> None:
    """ap@padaria-são-joão.example goes out as ap@xn--...; an accented name before the @ is skipped, said why."""
    book = make_book(
        tmp_path,
        [
            invoice("INV-1", "Padaria", 5, email="ap@padaria-são-joão.example"),
            invoice("INV-2", "José", 5, email="josé@exemplo.example"),
        ],
    )
    out = run(book, "--send")
    assert recipients_of(server.messages) == ["ap@xn--padaria-so-joo-yhbe.example"]
    assert "José (INV-2, row 6): the address 'josé@exemplo.example' has accented letters before the @" in out


def test_cell_text_is_data_never_a_template(server: SmtpTestServer, tmp_path: Path) -> None:
    """Jinja syntax typed into a customer name is shown as typed, not run."""
    name = "{{ company.name }} {% for i in range(3) %}X{% endfor %}"
    book = make_book(tmp_path, [invoice("INV-1", name, 5, email="ap@t.example")])
    run(book, "--send")
    text = text_body(server.messages[0].message)
    assert f"Dear {name}," in text and "XXX" not in text


def test_a_customer_name_cannot_put_a_file_outside_the_outbox(server: SmtpTestServer, tmp_path: Path) -> None:
    """'../../x' or 'C:\\evil' as a customer name gives a plain file name inside the day's folder."""
    names = ["../../../etc/passwd", "..\\..\\evil", "/absolute/path", "Café Ünïcode ☕"]
    book = make_book(tmp_path, [invoice(f"INV-{i}", name, 5, email=f"ap{i}@x.example") for i, name in enumerate(names)])
    run(book)
    files = sorted(p.name for p in day_folder(book).iterdir())
    assert files == [
        "001-first-absolute-path.eml",
        "002-first-cafe-unicode.eml",
        "003-first-etc-passwd.eml",
        "004-first-evil.eml",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["billing-manual.toml", "outbox", "receivables-backups", "receivables.xlsx"]
    )


# --------------------------------------------------------------------------------------------
# Templates and formatting


def own_templates(folder: Path, files: dict[str, str]) -> Path:
    """A company templates folder named in the manual, holding ``files``."""
    own = folder / "my-templates"
    own.mkdir()
    for name, text in files.items():
        (own / name).write_text(text, encoding="utf-8")
    write_manual(
        folder, text=MANUAL.replace("messages_per_minute = 0", 'messages_per_minute = 0\ntemplates = "my-templates"')
    )
    return own


def test_the_company_can_override_one_template(server: SmtpTestServer, tmp_path: Path) -> None:
    """A file in the manual's templates folder replaces the built-in one; the others stay built-in."""
    own_templates(tmp_path, {"first_reminder.subject.txt": "Invoices for {{ customer }}: {{ total }}"})
    book = make_book(tmp_path, [invoice("INV-1", "Brightwater Dental", 1, 99.99)])
    run(book, "--send")
    msg = server.messages[0].message
    assert msg["Subject"] == "Invoices for Brightwater Dental: $99.99"
    assert "We have not yet received payment" in text_body(msg)


def test_a_missing_variable_is_an_error_naming_the_template(server: SmtpTestServer, tmp_path: Path) -> None:
    """StrictUndefined: a misspelt variable stops the run before anything is sent, naming file and line."""
    own = own_templates(tmp_path, {"first_reminder.txt": "Hello\n{{ customer_nmae }}\n"})
    book = make_book(tmp_path, [invoice("INV-1", "Brightwater Dental", 1)])
    out = run(book, "--send", code=1)
    assert f"{own / 'first_reminder.txt'}:2: 'customer_nmae' is undefined" in out
    assert server.messages == [] and journal_events(tmp_path) == []


def test_a_template_syntax_error_names_file_and_line(server: SmtpTestServer, tmp_path: Path) -> None:
    """A broken template is reported with its file and line before anything is prepared."""
    own = own_templates(tmp_path, {"final_notice.html": "<p>\n{% if %}\n"})
    book = make_book(tmp_path, [invoice("INV-1", "Brightwater Dental", 1)])
    out = run(book, code=1)
    assert f"{own / 'final_notice.html'}:2: " in out
    assert not (tmp_path / "outbox").exists()


@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_every_stage_renders_in_both_languages(language: str, server: SmtpTestServer, tmp_path: Path) -> None:
    """Courtesy, first, second and final, with an installment and a broken promise: all render, text and HTML."""
    write_manual(
        tmp_path, text=MANUAL.replace("messages_per_minute = 0", f'messages_per_minute = 0\nlanguage = "{language}"')
    )
    promised = AS_OF - timedelta(days=1)
    book = make_book(
        tmp_path,
        [
            invoice("C-1", "Courtesy Co", -2),
            invoice("F-1", "First Co", 3, **{"Promised Date": promised}),
            invoice("S-1", "Second Co", 20),
            invoice("X-0", "Final Co", 90),
            invoice("X-0", "Final Co", 45, **{"Installment Of": "X-0"}),
            invoice("X-0", "Final Co", -30, **{"Installment Of": "X-0"}),
        ],
    )
    run(book, "--send")
    got = {m.message["To"].addresses[0].display_name: m.message for m in server.messages}
    assert sorted(got) == ["Courtesy Co", "Final Co", "First Co", "Second Co"]
    for name, msg in got.items():
        text, html = text_body(msg), html_body(msg)
        assert msg["Subject"] and name in text and "<table" in html and "</html>" in html, name
        assert "Bank transfer to Acme Supplies Ltd" in text and "accounts@acme.example" in html, name
    installment = "(installment 1 of 2)" if language == "en" else "(parcela 1 de 2)"
    assert installment in text_body(got["Final Co"])
    promise = "We had noted that payment" if language == "en" else "Havíamos registrado a previsão"
    assert promise in text_body(got["First Co"]) and promise in html_body(got["First Co"])
    first = "Payment reminder" if language == "en" else "Lembrete de pagamento"
    assert got["First Co"]["Subject"].startswith(first)


def test_money_and_dates_in_brazilian_portuguese(server: SmtpTestServer, tmp_path: Path) -> None:
    """pt_BR and BRL: R$ 1.234,56 and 22/11/2026, in the Portuguese templates."""
    write_manual(tmp_path, text=MANUAL.replace('locale = "en_US"', BRAZILIAN_COMPANY).replace("USD", "BRL"))
    book = make_book(tmp_path, [invoice("NF-1", "Padaria São João", 5, 1234.56)])
    run(book, "--send")
    msg = server.messages[0].message
    text = text_body(msg)
    due = (AS_OF - timedelta(days=5)).strftime("%d/%m/%Y")
    assert "Prezado(a) Padaria São João," in text
    assert "Total em aberto: R$\xa01.234,56" in text and due in text
    assert msg["Subject"] == "Lembrete de pagamento: fatura NF-1 em aberto – Acme Supplies Ltd"
    assert msg["Content-Language"] == "pt-BR"


def test_money_and_dates_in_us_english(server: SmtpTestServer, tmp_path: Path) -> None:
    """en_US and USD: $1,234.56 and Nov 15, 2026."""
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 5, 1234.56)])
    run(book, "--send")
    text = text_body(server.messages[0].message)
    assert "Total due: $1,234.56" in text
    assert (AS_OF - timedelta(days=5)).strftime("%b %-d, %Y") in text


def test_an_installment_says_which_one_it_is(server: SmtpTestServer, tmp_path: Path) -> None:
    """A renegotiated invoice is chased per installment, and the message names the installment."""
    rows_ = [
        invoice("INV-9", "Northwind", 60, 3000.0, paid=0.0),
        invoice("INV-9-1", "Northwind", 20, 1000.0, **{"Installment Of": "INV-9"}),
        invoice("INV-9-2", "Northwind", -20, 1000.0, **{"Installment Of": "INV-9"}),
    ]
    book = make_book(tmp_path, rows_)
    run(book, "--send")
    msg = server.messages[0].message
    assert msg["Subject"] == (
        "Second reminder: invoice INV-9-1 (installment 1 of 2 of invoice INV-9) is 20 days overdue – Acme Supplies Ltd"
    )
    assert "INV-9-2" not in text_body(msg) and "$3,000.00" not in text_body(msg)


def test_a_broken_promise_is_flagged_and_followed_up(server: SmtpTestServer, tmp_path: Path) -> None:
    """Promised yesterday and unpaid: the summary flags it, the message mentions it, Problems says so."""
    promised = AS_OF - timedelta(days=1)
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 5, **{"Promised Date": promised})])
    out = run(book, "--send")
    assert "Broken promises (1):" in out and f"promised {promised.isoformat()}, not paid" in out
    text = text_body(server.messages[0].message)
    assert "We had noted that payment would be made by" in text
    assert "promised to pay by" in sheet_rows(book)["INV-1"]["Problems"]


# --------------------------------------------------------------------------------------------
# receivables preview


def test_preview_shows_one_customers_message_and_changes_nothing(server: SmtpTestServer, book: Path) -> None:
    """`receivables preview --customer` prints that customer's message; no file, no mail, workbook untouched."""
    before = book.read_bytes()
    result = invoke("preview", book, "--as-of", AS_OF_TEXT, "--customer", "contoso")
    assert result.exit_code == 0, result.output
    assert "To: Contoso Retail <ap@contosoretail.example>" in result.output
    assert "Subject: Second reminder: invoice INV-3 is 16 days overdue" in result.output
    assert "INV-3" in result.output and "$4,000.00" in result.output
    assert book.read_bytes() == before and not (book.parent / "outbox").exists() and server.messages == []


def test_preview_without_a_customer_shows_the_first_and_lists_the_rest(server: SmtpTestServer, book: Path) -> None:
    """Without --customer: the most severe message, then who else has one due."""
    result = invoke("preview", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    assert "To: Northwind Traders" in result.output
    assert "Also due today: Contoso Retail, Brightwater Dental, Fabrikam Hardware." in result.output


def test_preview_html_part(server: SmtpTestServer, book: Path) -> None:
    """--html shows the HTML part."""
    result = invoke("preview", book, "--as-of", AS_OF_TEXT, "--customer", "Brightwater Dental", "--html")
    assert result.exit_code == 0, result.output
    assert "<table" in result.output and "Brightwater Dental" in result.output


def test_preview_of_a_customer_with_nothing_due_says_why(server: SmtpTestServer, tmp_path: Path) -> None:
    """A customer whose invoice is on hold: the message says so instead of showing nothing."""
    book = make_book(tmp_path, [invoice("INV-1", "Fabrikam", 5, Hold="Disputed"), invoice("INV-2", "Other", 5)])
    result = invoke("preview", book, "--as-of", AS_OF_TEXT, "--customer", "fabrikam")
    assert result.exit_code == 1
    assert "no reminder is due today for 'fabrikam': INV-1 on hold ('Disputed')" in result.output


# --------------------------------------------------------------------------------------------
# The committed samples


def test_the_brazilian_sample_messages_open_in_a_mail_parser(tmp_path: Path) -> None:
    """Every .eml of the Papelaria Ipê sample parses, with text and HTML parts in UTF-8 and the accents intact."""
    for name in ("recebiveis.xlsx", "billing-manual.toml"):
        (tmp_path / name).write_bytes((SAMPLES / "brasil" / name).read_bytes())
    run(tmp_path / "recebiveis.xlsx")
    files = sorted(day_folder(tmp_path / "recebiveis.xlsx").glob("*.eml"))
    assert files
    for path in files:
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert msg.get_content_type() == "multipart/alternative", path.name
        text, html = list(msg.iter_parts())
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        for part in (text, html):
            assert part.get_content_charset() == "utf-8"
            assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert str(msg["From"]) == "Papelaria Ipê — Cobrança <cobranca@papelariaipe.example>"
        body = text.get_content()
        assert body.startswith("Prezado(a) ") and "Atenciosamente,\nPapelaria Ipê Ltda" in body
        assert "R$\xa0" in html.get_content() and "Dúvida" not in body  # accents decoded, not mangled
        assert "dúvida ou discordância" in body and "Como pagar:" in body
        assert "Ipê" in str(msg["Subject"])
        path.read_bytes().decode("ascii")  # on disk: 7-bit clean (encoded words, quoted-printable)
    final = next(p for p in files if "-final-" in p.name)
    assert (
        BytesParser(policy=policy.default).parsebytes(final.read_bytes())["Cc"] == "contabilidade@papelariaipe.example"
    )
    body = BytesParser(policy=policy.default).parsebytes(final.read_bytes()).get_body(("plain",)).get_content()
    assert "regularização" in body and "Dias em atraso" in body


# --------------------------------------------------------------------------------------------
# Settings


def with_reminders(extra: str) -> str:
    """The test manual with more settings in its [reminders] table."""
    return MANUAL.replace("messages_per_minute = 0", "messages_per_minute = 0\n" + extra)


def test_outbox_option_and_journal_setting_move_the_files(server: SmtpTestServer, tmp_path: Path) -> None:
    """--outbox DIR holds the day's folder; [reminders] journal names the journal (relative to the manual)."""
    write_manual(tmp_path, text=with_reminders('journal = "records/sent.jsonl"'))
    book = make_book(tmp_path, rows())
    run(book, "--send", "--outbox", tmp_path / "mail")
    assert len(list((tmp_path / "mail" / AS_OF_TEXT / "sent").glob("*.eml"))) == 4
    assert (tmp_path / "records" / "sent.jsonl").is_file() and not (tmp_path / "receivables-journal.jsonl").exists()
    run(book, "--send", "--outbox", tmp_path / "mail")
    assert len(server.messages) == 4


def test_reminders_can_be_turned_off(server: SmtpTestServer, tmp_path: Path) -> None:
    """[reminders] enabled = false: the run writes the status columns and prepares no reminder."""
    write_manual(tmp_path, text=with_reminders("enabled = false"))
    book = make_book(tmp_path, rows())
    out = run(book, "--send")
    assert "Reminders are turned off" in out and server.messages == [] and not (tmp_path / "outbox").exists()


def test_a_bad_cc_address_in_the_manual_is_an_error(server: SmtpTestServer, tmp_path: Path) -> None:
    """A stage's cc that is not an address stops the run, naming the manual, the stage and the address."""
    write_manual(tmp_path, text=MANUAL.replace('cc = ["accountant@acme.example"]', 'cc = ["accountant at acme"]'))
    book = make_book(tmp_path, rows())
    out = run(book, code=1)
    assert "billing-manual.toml: [[reminders.stages]] 'final' cc 'accountant at acme' is not an email address" in out


def test_a_language_without_templates_is_an_error(server: SmtpTestServer, tmp_path: Path) -> None:
    """[reminders] language = "fr" with no templates folder: say which languages are built in."""
    write_manual(tmp_path, text=with_reminders('language = "fr"'))
    book = make_book(tmp_path, rows())
    out = run(book, code=1)
    assert "[reminders] language 'fr' has no built-in templates (built in: en, pt_BR)" in out


def test_the_report_reads_the_journal(server: SmtpTestServer, tmp_path: Path) -> None:
    """`receivables report` counts the invoices reminded (from the send journal) and which were paid since."""
    book = make_book(tmp_path, rows())
    run(book, "--send")
    paid = rows()
    paid[2]["Paid"] = paid[2]["Amount"]  # Contoso paid after its reminder
    make_book(tmp_path, paid)
    result = invoke("report", book, "--as-of", (AS_OF + timedelta(days=5)).isoformat(), "--json")
    assert result.exit_code == 0, result.output
    reminders = json.loads(result.output)["reminders"]
    assert reminders["reminded_invoices"] == 5 and reminders["paid_after"] == 1


def test_preview_shows_terminal_escapes_in_a_name_as_text(tmp_path: Path) -> None:
    """`receivables preview` writes a customer name's escape sequences and bidi overrides out, never to the terminal."""
    book = make_book(tmp_path, [invoice("INV-1", "Evil\x9b2J\u202eCo", 5, email="ap@x.example")])
    result = invoke("preview", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    assert "\x9b" not in result.output and "\u202e" not in result.output
    assert "\\u202eCo" in result.output  # written out for the reader to see
