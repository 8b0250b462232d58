"""The send journal: what was sent to whom, written down before the next send starts.

The journal is an append-only file of JSON lines next to the workbook
(``receivables-journal.jsonl``; ``[reminders] journal`` in the manual names another).
Every message is one *attempt*, made of events that share the attempt's id:

* ``sending``: written (and flushed to disk with fsync) just before the message is
  handed to the mail server. It names the customer, the address, the subject and
  every (invoice, stage) the message covers.
* ``sent`` or ``failed``: written (and fsynced) as soon as the server has answered,
  before the next message is started.
* ``unconfirmed``: the whole message was handed over, then the connection dropped or
  timed out before the server answered; the outcome stays unknown (see below).
* ``resolved``: the owner settled an attempt whose outcome is unknown (see below).

Each attempt also says who it went to, address by address: ``envelope`` on
``sending`` (the addresses the message was handed over for: a retry leaves out
those that already have it) and ``accepted`` on the outcome (the addresses the
server took). Journals written before these fields existed are read as "every
recipient of the message, less those refused".

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

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from toolkit.errors import JournalBusy, JournalError
from toolkit.reminders.locks import lock_exclusive
from toolkit.xlsx.safe_write import fsync_dir

JOURNAL_FILENAME = "receivables-journal.jsonl"
FORMAT_VERSION = 1

# Outcomes of an attempt.
SENDING, SENT, FAILED = "sending", "sent", "failed"
# How the owner settled an unconfirmed attempt.
RESOLVE_SENT, RESOLVE_RESEND = "sent", "resend"


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
    deferred: tuple[str, ...] = ()  # addresses refused for now (4xx) while the customer got it: owed a copy
    resolved: str | None = None  # RESOLVE_SENT / RESOLVE_RESEND for an unconfirmed attempt
    eml: str | None = None  # the .eml file of the message as sent
    line: int = 0  # the line of its ``sending`` event, for messages
    envelope: tuple[str, ...] | None = None  # the addresses it was handed over for (None: every recipient)
    accepted: tuple[str, ...] | None = None  # the addresses the server took (None: not recorded)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message was handed over for."""
        return self.envelope if self.envelope is not None else (self.to, *self.cc, *self.bcc)

    @property
    def received_by(self) -> tuple[str, ...]:
        """The addresses that have (or may have) this message: a retry leaves them out."""
        if self.outcome == SENDING:
            if self.resolved == RESOLVE_RESEND:
                return ()
            return self.accepted if self.accepted is not None else self.recipients
        if self.accepted is not None:
            return self.accepted
        if self.outcome == SENT:
            refused = {a.casefold() for a in self.refused}
            return tuple(a for a in self.recipients if a.casefold() not in refused)
        return ()

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
            # O_NONBLOCK: a FIFO put in its place must not hang the run; fstat then refuses it.
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return contents
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot read the send journal ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as handle:
            self._check_regular(handle)
            try:
                raw = handle.read()
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
            # O_NONBLOCK: a FIFO in its place fails at once instead of waiting for a reader (then
            # refused below). Unbuffered: a write the disk refuses is not kept to fail again at close.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
            handle = os.fdopen(os.open(self.path, flags, 0o666), "ab", buffering=0)
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the send journal ({exc.strerror or exc}), so nothing was sent; "
                "free space or allow writing there, or name another file with [reminders] journal"
            ) from None
        try:
            self._check_regular(handle)
            try:
                lock_exclusive(handle)
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
            # Also releases the lock. Nothing is buffered; an error here must not hide the one being raised.
            with contextlib.suppress(OSError):
                handle.close()

    def _check_regular(self, handle: IO[bytes]) -> None:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise JournalError(
                f"{self.path}: the send journal must be a regular file, and this is not one (a device, a folder "
                "or a pipe); choose a file with [reminders] journal in the billing manual"
            )


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
        envelope: Sequence[str] | None = None,
    ) -> str:
        """Record that a message is about to be handed to the server; returns the attempt id.

        ``envelope``: the addresses it goes to when not every recipient (a retry).
        """
        attempt_id = uuid.uuid4().hex
        extra = {} if envelope is None else {"envelope": list(envelope)}
        self._write(
            {
                **extra,
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

    def sent(
        self,
        attempt_id: str,
        *,
        eml: str | None = None,
        note: str = "",
        refused: Sequence[str] = (),
        accepted: Sequence[str] | None = None,
        deferred: Sequence[str] = (),
    ) -> None:
        """Record that the server accepted the message (``refused``: a cc it did not take; ``accepted``: who got it).

        ``deferred``: refused addresses that may take it later (4xx): a later run sends them the copy.
        """
        extra: dict[str, Any] = {} if accepted is None else {"accepted": list(accepted)}
        if deferred:
            extra["deferred"] = list(deferred)
        self._write({"event": SENT, "id": attempt_id, "eml": eml, "reason": note, "refused": list(refused), **extra})

    def failed(
        self,
        attempt_id: str,
        *,
        reason: str,
        permanent: bool,
        refused: Sequence[str] = (),
        accepted: Sequence[str] = (),
    ) -> None:
        """Record that the message did not reach the customer (``permanent``: refused for good).

        ``accepted``: the copies that did go (the server took the cc, deferred the customer).
        """
        self._write(
            {
                "event": FAILED,
                "id": attempt_id,
                "reason": reason,
                "permanent": permanent,
                "refused": list(refused),
                "accepted": list(accepted),
            }
        )

    def unconfirmed(
        self,
        attempt_id: str,
        *,
        reason: str,
        accepted: Sequence[str],
        eml: str | None = None,
        deferred: Sequence[str] = (),
    ) -> None:
        """Record that the message was handed over for ``accepted`` and the server's answer never came.

        ``deferred``: addresses refused for now (4xx) at RCPT: certainly without it, owed a copy.
        """
        self._write(
            {
                "event": "unconfirmed",
                "id": attempt_id,
                "reason": reason,
                "accepted": list(accepted),
                "eml": eml,
                "deferred": list(deferred),
            }
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
            # The caller says what was sent before this (see daily._journal_full).
            raise JournalError(f"{self.path}: cannot write the send journal ({exc.strerror or exc})") from None


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
            envelope=_addresses(event.get("envelope")),
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
            accepted=_addresses(event.get("accepted")),
            deferred=_addresses(event.get("deferred")) or (),
        )
    elif kind == FAILED:
        attempts[attempt_id] = replace(
            attempt,
            outcome=FAILED,
            reason=str(event.get("reason", "")),
            permanent=bool(event.get("permanent", False)),
            refused=tuple(event.get("refused", ())),
            accepted=_addresses(event.get("accepted")),
        )
    elif kind == "unconfirmed":
        attempts[attempt_id] = replace(
            attempt,
            reason=str(event.get("reason", "")),
            accepted=_addresses(event.get("accepted")),
            eml=event.get("eml"),
            deferred=_addresses(event.get("deferred")) or (),
        )
    elif kind == "resolved":
        resolution = str(event["as"])
        if resolution in (RESOLVE_SENT, RESOLVE_RESEND):
            attempts[attempt_id] = replace(attempt, resolved=resolution)
    else:
        raise ValueError(f"unknown event {kind!r}")


def _addresses(value: Any) -> tuple[str, ...] | None:
    """A list of addresses from an event; None when the event has none (an older journal)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("not a list of addresses")
    return tuple(str(a) for a in value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _append(handle: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = handle.write(view)  # unbuffered: may write less than asked
        view = view[written or 0 :]
    os.fsync(handle.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
