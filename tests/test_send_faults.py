"""Sending under faults the tool cannot see through: a reply that never comes, one recipient deferred, a full disk.

Every fault is real: aiosmtpd on 127.0.0.1 that stores a message and then cuts the line
or answers too late, or answers 451 for one address (tests/smtp_server.py), and a small
tmpfs that fills up under the send journal. The promises pinned: no recipient gets a
reminder twice, nothing is lost without a word, and every printed message is true.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF_TEXT, invoke
from tests.reminder_kit import (
    ACCOUNTANT,
    clear_environment,
    invoice,
    journal_events,
    make_book,
    never_prompt,
    point_at,
    recipients_of,
    server_env,
    sheet_rows,
    write_manual,
)
from tests.smtp_server import smtp_server

NORTHWIND = "ap@northwindtraders.example"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)
    never_prompt(monkeypatch)


def customers(count: int) -> list[dict[str, Any]]:
    """``count`` customers, one overdue invoice each (the first reminder is due for all)."""
    return [invoice(f"INV-{n}", f"Customer {n:02d}", 5) for n in range(1, count + 1)]


def run(path: Path, *extra: str | Path, code: int = 0) -> str:
    result = invoke("run", path, "--as-of", AS_OF_TEXT, *extra)
    assert result.exit_code == code, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    return result.output


def duplicates(messages: list[Any]) -> dict[str, int]:
    """Addresses that received more than one message (every test customer gets one reminder a day)."""
    return {address: n for address, n in Counter(recipients_of(messages)).items() if n > 1}


# --------------------------------------------------------------------------------------------
# An outcome nobody can know counts as sent


@pytest.mark.parametrize("fault", ["drop", "late"])
def test_a_message_without_its_final_reply_is_unconfirmed_not_resent(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored, then the line cut (or the 250 later than the timeout): flagged unconfirmed, never sent again."""
    book = make_book(tmp_path, customers(4))
    faults: dict[str, Any] = {"drop_before_reply": [2]} if fault == "drop" else {"delay_reply": {2: 2.0}}
    with smtp_server("none", **faults) as server:
        point_at(monkeypatch, server)
        monkeypatch.setenv("RECEIVABLES_SMTP_TIMEOUT", "0.5")
        out = run(book, "--send", code=1)
        assert len(server.messages) == 2
        assert "before the server confirmed it" in out and "may have arrived" in out
        assert "counts as sent and is flagged unconfirmed" in out
        assert "2 messages not sent" in out  # the 3rd and 4th; the 2nd is not among them
        events = journal_events(tmp_path)
        assert [e["event"] for e in events if e["event"] != "sending"] == ["sent", "unconfirmed"]

        out = run(book, "--send")
        assert "Unconfirmed: the message to Customer 02" in out
        assert len(server.messages) == 4 and duplicates(server.messages) == {}
        assert "may not have arrived" in sheet_rows(book)["INV-2"]["Problems"]

        run(book, "--send", "--unconfirmed", "sent")
        assert len(server.messages) == 4
    assert sheet_rows(book)["INV-2"]["Reminder Stage"] == "first"


def test_a_drop_before_the_message_is_complete_is_not_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection lost before the end of DATA: "not sent" (true), and the rerun sends it once."""
    book = make_book(tmp_path, customers(3))
    with smtp_server("none", drop_after=1) as server:  # the line is cut after the 1st 250: the 2nd never starts
        point_at(monkeypatch, server)
        out = run(book, "--send", code=1)
        assert "connection lost while sending" in out and "2 messages not sent" in out
        assert "may have arrived" not in out
        run(book, "--send")
        assert len(server.messages) == 3 and duplicates(server.messages) == {}


# --------------------------------------------------------------------------------------------
# Per recipient


def test_a_deferred_customer_gets_the_retry_and_the_cc_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """451 for the customer, 250 for the accountant in cc: the rerun goes to the customer alone."""
    book = make_book(tmp_path, [invoice("INV-1", "Northwind Traders", 40, 1200.0)])  # final notice: cc accountant
    with smtp_server("none", defer=[NORTHWIND]) as server:
        point_at(monkeypatch, server)
        out = run(book, "--send")
        assert [m.rcpt_tos for m in server.messages] == [(ACCOUNTANT,)]
        assert "451" in out and f"{ACCOUNTANT} got it and will not get it again" in out
        [failed] = [e for e in journal_events(tmp_path) if e["event"] == "failed"]
        assert failed["accepted"] == [ACCOUNTANT] and failed["permanent"] is False
    with smtp_server("none") as server:  # the customer's mailbox is back
        point_at(monkeypatch, server)
        run(book, "--send")
        [retry] = server.messages
        assert retry.rcpt_tos == (NORTHWIND,)
        assert ACCOUNTANT in str(retry.message["Cc"])  # the same message: its headers still show the cc
        run(book, "--send")
        assert len(server.messages) == 1
        [sending] = [e for e in journal_events(tmp_path) if e["event"] == "sending" and "envelope" in e]
        assert sending["envelope"] == [NORTHWIND]
    assert sheet_rows(book)["INV-1"]["Reminder Stage"] == "final"


def test_a_deferred_cc_gets_its_copy_later_and_the_customer_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """250 for the customer, 451 for the accountant in cc: the next run sends the same message to the cc alone."""
    book = make_book(tmp_path, [invoice("INV-1", "Northwind Traders", 40, 1200.0)])
    with smtp_server("none", defer=[ACCOUNTANT]) as server:
        point_at(monkeypatch, server)
        out = run(book, "--send")
        assert [m.rcpt_tos for m in server.messages] == [(NORTHWIND,)]
        assert f"{ACCOUNTANT}: the next run sends the copy" in " ".join(out.split())
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        out = run(book, "--send")
        [copy] = server.messages
        assert copy.rcpt_tos == (ACCOUNTANT,)
        assert f"Northwind Traders: the copy deferred on {AS_OF_TEXT} went to {ACCOUNTANT}" in " ".join(out.split())
        run(book, "--send")
        assert len(server.messages) == 1
    first = next(e for e in journal_events(tmp_path) if e["event"] == "sending")
    assert copy.message["Message-ID"] == first["message_id"]  # the very message the customer got


@pytest.mark.parametrize("deferred", [NORTHWIND, ACCOUNTANT])
def test_a_deferred_address_then_a_lost_reply_still_reaches_each_address_once(
    deferred: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """451 for one address, the line cut before the reply: the deferred address gets it next run, the other never again."""
    book = make_book(tmp_path, [invoice("INV-1", "Northwind Traders", 40, 1200.0)])
    with smtp_server("none", defer=[deferred], drop_before_reply=[1]) as server:
        point_at(monkeypatch, server)
        out = " ".join(run(book, "--send", code=1).split())
        [first] = server.messages
        assert deferred not in first.rcpt_tos
        if deferred == NORTHWIND:
            assert f"the customer's address {NORTHWIND} was refused (451" in out
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        run(book, "--send", "--unconfirmed", "sent")
        run(book, "--send")
        assert [m.rcpt_tos for m in server.messages] == [(deferred,)]


def test_an_old_journal_without_addresses_is_still_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal written before per-address outcomes: a sent message counts for every recipient."""
    book = make_book(tmp_path, customers(2))
    (tmp_path / "receivables-journal.jsonl").write_text(
        '{"v":1,"at":"2026-11-20T09:00:00+00:00","event":"sending","id":"a1","on":"' + AS_OF_TEXT + '",'
        '"customer":"Customer 01","to":"ap@customer01.example","cc":[],"bcc":[],"subject":"s","message_id":"<m@x>",'
        '"stage":"first","items":[{"invoice":"INV-1","stage":"first","offset_days":1}]}\n'
        '{"v":1,"at":"2026-11-20T09:00:01+00:00","event":"sent","id":"a1","eml":null,"reason":"","refused":[]}\n',
        encoding="utf-8",
    )
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        run(book, "--send")
        assert recipients_of(server.messages) == ["ap@customer02.example"]


# --------------------------------------------------------------------------------------------
# A full disk under the journal


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (mounted as root); fails under CI=true when mounting is not allowed."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs for the full-disk test ({done.stderr.strip() or done.returncode}); run as root"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` bytes free, with one file (removed to free the space again)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        chunk = b"\0" * 4096
        try:
            while handle.write(chunk):
                pass
        except OSError:
            pass  # full
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_under_the_journal_stops_sending_and_says_what_went(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's disk fills mid-batch: sending stops at once, the message counts what went; no duplicate later."""
    folder = tmp_path / "books"
    folder.mkdir()
    write_manual(folder)
    manual = (folder / "billing-manual.toml").read_text(encoding="utf-8")
    (folder / "billing-manual.toml").write_text(
        manual.replace("[reminders]\n", f'[reminders]\njournal = "{small_disk / "journal.jsonl"}"\n', 1),
        encoding="utf-8",
    )
    book = make_book(folder, customers(30))
    filler = fill(small_disk, leave=4096)  # one page: about six messages' records
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        result = invoke("run", book, "--as-of", AS_OF_TEXT, "--send")
        out = " ".join(result.output.split())
        assert result.exit_code == 1 and "internal error" not in out
        went = len(server.messages)
        assert 0 < went < 30
        assert "No space left on device" in out and "sending stopped at once" in out
        assert f"{went} of 30 reminder message(s) went out" in out
        assert "free space" in out and str(small_disk) in out

        filler.unlink()  # the owner frees space and runs again
        run(book, "--send")
        assert len(server.messages) == 30 and duplicates(server.messages) == {}


def test_a_read_only_disk_under_the_journal_sends_nothing(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's file system is read-only: one line naming it and what to do; nothing is sent."""
    folder = tmp_path / "books"
    folder.mkdir()
    write_manual(folder)
    manual = (folder / "billing-manual.toml").read_text(encoding="utf-8")
    journal = small_disk / "journal.jsonl"
    (folder / "billing-manual.toml").write_text(
        manual.replace("[reminders]\n", f'[reminders]\njournal = "{journal}"\n', 1), encoding="utf-8"
    )
    book = make_book(folder, customers(3))
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True)
    assert remounted.returncode == 0, remounted.stderr
    with smtp_server("none") as server:
        point_at(monkeypatch, server)
        out = " ".join(run(book, "--send", code=1).split())
        assert server.messages == []
        assert f"{journal}: cannot write the send journal (Read-only file system), so nothing was sent" in out
        assert "[reminders] journal" in out


def test_a_device_as_the_journal_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[reminders] journal = "/dev/full" (or a folder) is refused naming the setting, before anything is read."""
    book = make_book(tmp_path, customers(1))
    manual = (tmp_path / "billing-manual.toml").read_text(encoding="utf-8")
    for target in ("/dev/full", str(tmp_path)):
        (tmp_path / "billing-manual.toml").write_text(
            manual.replace("[reminders]\n", f'[reminders]\njournal = "{target}"\n', 1), encoding="utf-8"
        )
        for extra in ((), ("--send",)):
            out = run(book, *extra, code=1)
            assert f"[reminders] journal '{target}' is not a regular file" in out
            assert len(out.strip().splitlines()) == 1


def test_a_file_as_the_outbox_is_refused_in_one_line(tmp_path: Path) -> None:
    """[reminders] outbox naming a file is refused naming the setting."""
    book = make_book(tmp_path, customers(1))
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    manual = (tmp_path / "billing-manual.toml").read_text(encoding="utf-8")
    (tmp_path / "billing-manual.toml").write_text(
        manual.replace("[reminders]\n", '[reminders]\noutbox = "notes.txt"\n', 1), encoding="utf-8"
    )
    out = run(book, code=1)
    assert "[reminders] outbox 'notes.txt' is not a folder" in out
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


# --------------------------------------------------------------------------------------------
# A preview while a send runs


def test_a_preview_during_a_send_leaves_the_senders_files_alone(tmp_path: Path) -> None:
    """A preview started while --send is running is refused; every sent message keeps its .eml copy."""
    book = make_book(tmp_path, customers(6))
    slow = {n: 0.4 for n in range(1, 7)}
    with smtp_server("none", delay_reply=slow) as server:
        env = server_env(server)
        sender = subprocess.Popen(
            [sys.executable, "-m", "toolkit.cli", "run", str(book), "--as-of", AS_OF_TEXT, "--send"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not server.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            preview = subprocess.run(
                [sys.executable, "-m", "toolkit.cli", "run", str(book), "--as-of", AS_OF_TEXT],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            out, err = sender.communicate(timeout=60)
        assert sender.returncode == 0, out + err
        assert preview.returncode == 1
        assert "another run is sending (or previewing) reminders in this folder right now" in preview.stderr
        assert len(server.messages) == 6
    sent = [e for e in journal_events(tmp_path) if e["event"] == "sent"]
    assert len(sent) == 6 and all(e["eml"] and Path(e["eml"]).is_file() for e in sent)


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs or /dev/full on Windows")
def test_a_pipe_or_device_in_place_of_the_journal_is_refused_at_once(tmp_path: Path) -> None:
    """A FIFO or /dev/full where the journal should be: refused in one line, never read or waited on."""
    from toolkit.reminders.journal import Journal, JournalError

    fifo = tmp_path / "receivables-journal.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/full")):
        with pytest.raises(JournalError, match="must be a regular file"):
            Journal(path).read()
        with pytest.raises(JournalError), Journal(path).writer():
            pass
