"""The send journal: what was sent to whom, written down before the next send starts.

The journal is an append-only file of JSON lines next to the workbook
(``receivables-journal.jsonl``; ``[reminders] journal`` in the manual names another).
Every message is one *attempt*, made of events that share the attempt's id:

* ``sending``: written (and flushed to disk with fsync) just before the message is
  handed to the mail server. It names the customer, the address, the subject and
  every (invoice, stage) the message covers.
* ``sent`` or ``failed``: written (and fsynced) as soon as the server has answered,
  before the next message is started.
* ``resolved``: the owner settled an attempt whose outcome is unknown (see below).

So after any crash the journal tells which messages certainly went, which certainly
did not, and at most one whose fate is unknown: the one being sent when the process
died (``sending`` with no outcome). The mail server may have taken it or not; the
journal cannot know. The tool takes the cautious side: an unconfirmed message counts
as sent, so it is *not* sent again, and every run says so until the owner settles it
with ``--unconfirmed sent`` (it arrived: stop asking) or ``--unconfirmed resend``
(it did not: send it again). A duplicate reminder annoys a customer; a missed one is
caught by the next stage anyway.

A line torn by a crash in the middle of writing it is skipped when reading (only the
last line of a file can be torn that way, and it was written before anything was
sent on its account). The file holds no password: nothing from the SMTP settings is
written here but the addresses messages went to.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from toolkit.errors import ToolkitError
from toolkit.xlsx.safe_write import fsync_dir

JOURNAL_FILENAME = "receivables-journal.jsonl"
FORMAT_VERSION = 1

# Outcomes of an attempt.
SENDING, SENT, FAILED = "sending", "sent", "failed"
# How the owner settled an unconfirmed attempt.
RESOLVE_SENT, RESOLVE_RESEND = "sent", "resend"


class JournalError(ToolkitError):
    """The send journal cannot be read or written."""


class JournalBusy(JournalError):
    """Another run is sending reminders with this journal right now."""


@dataclass(frozen=True)
class JournalItem:
    """One invoice a message covers, at the stage it was due for."""

    invoice: str  # the invoice key (see ``toolkit.reminders.schedule.invoice_key``)
    stage: str
    offset_days: int  # the stage's offset when sent: lets a renamed stage still be ranked


@dataclass(frozen=True)
class Attempt:
    """One message, as the journal knows it: what it was and how it ended."""

    id: str
    on: date  # the run's date (``--as-of``), the date written as Last Reminder
    at: str  # when the attempt started, UTC, ISO 8601
    customer: str
    to: str
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    message_id: str
    stage: str  # the message's stage (the most severe of its items)
    items: tuple[JournalItem, ...]
    outcome: str = SENDING  # SENDING (no answer recorded), SENT or FAILED
    reason: str = ""  # why it failed, or a note on a partial delivery
    permanent: bool = False  # failed for good (an address refused): not retried to the same address
    refused: tuple[str, ...] = ()  # the addresses the server refused
    resolved: str | None = None  # RESOLVE_SENT / RESOLVE_RESEND for an unconfirmed attempt
    eml: str | None = None  # the .eml file of the message as sent
    line: int = 0  # the line of its ``sending`` event, for messages

    @property
    def unconfirmed(self) -> bool:
        """Handed to the server, and no answer recorded: it may or may not have arrived."""
        return self.outcome == SENDING and self.resolved is None

    @property
    def counts_as_sent(self) -> bool:
        """Whether its invoices count as reminded: sent, unconfirmed, or settled as sent."""
        if self.outcome == SENT:
            return True
        if self.outcome == SENDING:
            return self.resolved != RESOLVE_RESEND
        return False

    @property
    def confirmed_sent(self) -> bool:
        """Sent for certain (the server said so, or the owner did)."""
        return self.outcome == SENT or (self.outcome == SENDING and self.resolved == RESOLVE_SENT)


@dataclass
class JournalContents:
    """Everything read from a journal file."""

    path: Path
    attempts: list[Attempt] = field(default_factory=list)
    damaged_lines: list[int] = field(default_factory=list)

    def unconfirmed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.unconfirmed]


class Journal:
    """The journal file at ``path``: read it any time; write through :meth:`writer`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> JournalContents:
        """Read every attempt; a missing file is an empty journal."""
        contents = JournalContents(self.path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return contents
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot read the send journal ({exc.strerror})") from None
        attempts: dict[str, Attempt] = {}
        lines = raw.split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                if not isinstance(event, dict):
                    raise ValueError("not an object")
                _apply(attempts, event, number)
            except (ValueError, KeyError, TypeError):
                contents.damaged_lines.append(number)
        contents.attempts = list(attempts.values())
        return contents

    @contextmanager
    def writer(self) -> Iterator[JournalWriter]:
        """Hold the journal for this run (no other run can send meanwhile) and append to it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            handle = self.path.open("ab")
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot write the send journal ({exc.strerror})") from None
        try:
            try:
                _lock(handle)
            except OSError:
                raise JournalBusy(
                    f"{self.path}: another run is sending reminders right now; "
                    "wait for it to finish, then run again (nothing was sent by this run)"
                ) from None
            if created:
                fsync_dir(self.path.parent)
            # A line torn by a crash must not swallow the next record: start on a new line.
            if handle.tell() > 0 and not _ends_with_newline(self.path):
                _append(handle, b"\n")
            yield JournalWriter(handle, self.path)
        finally:
            handle.close()  # also releases the lock


class JournalWriter:
    """Appends events, each flushed to disk before the call returns."""

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self._handle = handle
        self.path = path

    def sending(
        self,
        *,
        on: date,
        customer: str,
        to: str,
        cc: Sequence[str],
        bcc: Sequence[str],
        subject: str,
        message_id: str,
        stage: str,
        items: Sequence[JournalItem],
    ) -> str:
        """Record that a message is about to be handed to the server; returns the attempt id."""
        attempt_id = uuid.uuid4().hex
        self._write(
            {
                "event": SENDING,
                "id": attempt_id,
                "on": on.isoformat(),
                "customer": customer,
                "to": to,
                "cc": list(cc),
                "bcc": list(bcc),
                "subject": subject,
                "message_id": message_id,
                "stage": stage,
                "items": [{"invoice": i.invoice, "stage": i.stage, "offset_days": i.offset_days} for i in items],
            }
        )
        return attempt_id

    def sent(self, attempt_id: str, *, eml: str | None = None, note: str = "", refused: Sequence[str] = ()) -> None:
        """Record that the server accepted the message (``refused``: a cc it did not take)."""
        self._write({"event": SENT, "id": attempt_id, "eml": eml, "reason": note, "refused": list(refused)})

    def failed(self, attempt_id: str, *, reason: str, permanent: bool, refused: Sequence[str] = ()) -> None:
        """Record that the message did not go (``permanent``: the address was refused for good)."""
        self._write(
            {"event": FAILED, "id": attempt_id, "reason": reason, "permanent": permanent, "refused": list(refused)}
        )

    def resolve(self, attempt_id: str, resolution: str) -> None:
        """Settle an unconfirmed attempt: ``"sent"`` (it arrived) or ``"resend"`` (send it again)."""
        if resolution not in (RESOLVE_SENT, RESOLVE_RESEND):
            raise ValueError(f"unknown resolution {resolution!r}")
        self._write({"event": "resolved", "id": attempt_id, "as": resolution})

    def _write(self, event: dict[str, Any]) -> None:
        record = {"v": FORMAT_VERSION, "at": _now(), **event}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            _append(self._handle, line)
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the send journal ({exc.strerror}); sending stopped so that "
                "nothing is sent without a record"
            ) from None


def resolve_in_memory(contents: JournalContents, resolution: str) -> JournalContents:
    """The journal as it would read after settling every unconfirmed attempt (for a preview)."""
    attempts = [replace(a, resolved=resolution) if a.unconfirmed else a for a in contents.attempts]
    return JournalContents(contents.path, attempts, list(contents.damaged_lines))


# --------------------------------------------------------------------------------------------


def _apply(attempts: dict[str, Attempt], event: dict[str, Any], line: int) -> None:
    kind = event["event"]
    attempt_id = str(event["id"])
    if kind == SENDING:
        attempts[attempt_id] = Attempt(
            id=attempt_id,
            on=date.fromisoformat(event["on"]),
            at=str(event.get("at", "")),
            customer=str(event["customer"]),
            to=str(event["to"]),
            cc=tuple(str(a) for a in event.get("cc", ())),
            bcc=tuple(str(a) for a in event.get("bcc", ())),
            subject=str(event.get("subject", "")),
            message_id=str(event.get("message_id", "")),
            stage=str(event["stage"]),
            items=tuple(
                JournalItem(str(i["invoice"]), str(i["stage"]), int(i.get("offset_days", 0))) for i in event["items"]
            ),
            line=line,
        )
        return
    attempt = attempts.get(attempt_id)
    if attempt is None:
        return  # an outcome whose start was lost: nothing to attach it to
    if kind == SENT:
        attempts[attempt_id] = replace(
            attempt,
            outcome=SENT,
            eml=event.get("eml"),
            reason=str(event.get("reason", "")),
            refused=tuple(event.get("refused", ())),
        )
    elif kind == FAILED:
        attempts[attempt_id] = replace(
            attempt,
            outcome=FAILED,
            reason=str(event.get("reason", "")),
            permanent=bool(event.get("permanent", False)),
            refused=tuple(event.get("refused", ())),
        )
    elif kind == "resolved":
        resolution = str(event["as"])
        if resolution in (RESOLVE_SENT, RESOLVE_RESEND):
            attempts[attempt_id] = replace(attempt, resolved=resolution)
    else:
        raise ValueError(f"unknown event {kind!r}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _append(handle: IO[bytes], data: bytes) -> None:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


# An advisory lock held while a run sends; the OS drops it when the process dies,
# so a killed run never leaves the journal locked.
if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _LOCK_OFFSET = 0x7FFFFFF0  # a byte far past the end: readers of the real data are not blocked

    def _lock(handle: IO[bytes]) -> None:
        position = handle.tell()
        handle.seek(_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        finally:
            handle.seek(position)

else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
