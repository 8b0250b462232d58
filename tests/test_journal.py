"""The send journal: append-only, on disk before the next send, readable after a crash, one sender at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from toolkit.errors import JournalBusy
from toolkit.reminders.journal import FAILED, SENDING, SENT, Journal, JournalItem, JournalWriter, resolve_in_memory

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 20)


def start(writer: JournalWriter, customer: str = "Acme", invoices: tuple[str, ...] = ("INV-1",)) -> str:
    return writer.sending(
        on=DAY,
        customer=customer,
        to="ap@acme.example",
        cc=["accountant@example.com"],
        bcc=[],
        subject="Payment reminder",
        message_id="<1@example.com>",
        stage="first",
        items=[JournalItem(number, "first", 1) for number in invoices],
    )


def test_an_attempt_reads_back_with_its_outcome(tmp_path: Path) -> None:
    """sending + sent / failed / nothing read back as sent, failed and unconfirmed attempts."""
    journal = Journal(tmp_path / "j.jsonl")
    with journal.writer() as writer:
        ok = start(writer, "A", ("INV-1", "INV-2"))
        writer.sent(ok, eml="outbox/sent/001.eml")
        bad = start(writer, "B")
        writer.failed(bad, reason="550 no such user", permanent=True, refused=["ap@acme.example"])
        start(writer, "C")
    attempts = {a.customer: a for a in journal.read().attempts}
    assert attempts["A"].outcome == SENT and attempts["A"].counts_as_sent and attempts["A"].confirmed_sent
    assert [i.invoice for i in attempts["A"].items] == ["INV-1", "INV-2"]
    assert attempts["A"].eml == "outbox/sent/001.eml"
    assert attempts["B"].outcome == FAILED and attempts["B"].permanent and not attempts["B"].counts_as_sent
    assert attempts["C"].outcome == SENDING and attempts["C"].unconfirmed
    assert attempts["C"].counts_as_sent and not attempts["C"].confirmed_sent


def test_every_record_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    """Each event is a complete JSON line in the file as soon as it is written (no buffering until close)."""
    journal = Journal(tmp_path / "j.jsonl")
    with journal.writer() as writer:
        start(writer)
        lines = (tmp_path / "j.jsonl").read_bytes().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["event"] == "sending"


def test_settling_an_unconfirmed_attempt(tmp_path: Path) -> None:
    """'sent' makes an unconfirmed attempt count as delivered; 'resend' makes it not count at all."""
    journal = Journal(tmp_path / "j.jsonl")
    with journal.writer() as writer:
        first = start(writer, "A")
        second = start(writer, "B")
        writer.resolve(first, "sent")
        writer.resolve(second, "resend")
    attempts = {a.customer: a for a in journal.read().attempts}
    assert attempts["A"].confirmed_sent and not attempts["A"].unconfirmed
    assert not attempts["B"].counts_as_sent and not attempts["B"].unconfirmed


def test_settling_in_memory_writes_nothing(tmp_path: Path) -> None:
    """A preview shows what settling would do without writing to the journal."""
    journal = Journal(tmp_path / "j.jsonl")
    with journal.writer() as writer:
        start(writer)
    before = (tmp_path / "j.jsonl").read_bytes()
    settled = resolve_in_memory(journal.read(), "resend")
    assert not settled.attempts[0].counts_as_sent
    assert (tmp_path / "j.jsonl").read_bytes() == before


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_record_starts_clean(tmp_path: Path) -> None:
    """A half-written last line is ignored (and reported); the next write starts on a new line."""
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    with journal.writer() as writer:
        writer.sent(start(writer, "A"))
    with path.open("ab") as fh:
        fh.write(b'{"v":1,"event":"sending","id":"torn","cust')
    contents = journal.read()
    assert [a.customer for a in contents.attempts] == ["A"] and contents.damaged_lines == [3]
    with journal.writer() as writer:
        writer.sent(start(writer, "B"))
    contents = journal.read()
    assert sorted(a.customer for a in contents.attempts) == ["A", "B"]
    assert all(a.outcome == SENT for a in contents.attempts)
    assert contents.damaged_lines == [3]


def test_a_missing_journal_is_empty(tmp_path: Path) -> None:
    """No journal yet: nothing was ever sent."""
    contents = Journal(tmp_path / "absent.jsonl").read()
    assert contents.attempts == [] and contents.damaged_lines == []


def test_only_one_run_sends_at_a_time(tmp_path: Path) -> None:
    """While one run holds the journal, a second is refused with a message saying to wait."""
    journal = Journal(tmp_path / "j.jsonl")
    with (
        journal.writer(),
        pytest.raises(JournalBusy, match="another run is sending reminders"),
        Journal(tmp_path / "j.jsonl").writer(),
    ):
        pass
    with journal.writer():  # released again
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
def test_a_killed_run_does_not_leave_the_journal_locked(tmp_path: Path) -> None:
    """The lock dies with the process: after a kill -9 the next run can send."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from toolkit.reminders.journal import Journal
        with Journal(Path({str(tmp_path / "j.jsonl")!r})).writer():
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(JournalBusy), Journal(tmp_path / "j.jsonl").writer():
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        with Journal(tmp_path / "j.jsonl").writer():
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
