"""The payments ledger: which bank lines were applied to the sheet, so that none is applied twice.

An append-only file of JSON lines next to the send journal
(``receivables-payments.jsonl``; ``[payments] ledger`` names another), keyed by
each bank line's identity (OFX FITID, CAMT entry reference, or a hash for CSV).
Applying writes, for each line:

* ``applying``: before the sheet is written (fsynced), with the invoices and amounts;
* ``applied``: once the sheet has been replaced;
* ``abandoned``: when the write was refused (the workbook is then as it was).

A line with ``applying`` and no ``applied`` belongs to a run that stopped between
the two: the sheet may or may not hold it. It counts as applied (a payment recorded
twice would hide money owed) and every reconcile lists it until a person checks it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from toolkit.errors import LedgerError
from toolkit.manual import BillingManual
from toolkit.payments.matching import Match
from toolkit.xlsx.safe_write import fsync_dir

LEDGER_FILENAME = "receivables-payments.jsonl"
APPLYING, APPLIED, ABANDONED = "applying", "applied", "abandoned"


@dataclass
class LedgerContents:
    """The bank lines recorded: identity -> its last record."""

    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    unconfirmed: dict[str, dict[str, Any]] = field(default_factory=dict)  # applying, never confirmed
    damaged_lines: list[int] = field(default_factory=list)

    def knows(self, identity: str) -> bool:
        return identity in self.applied or identity in self.unconfirmed


def ledger_path(manual: BillingManual, journal: Path) -> Path:
    """``[payments] ledger`` (relative to the manual's folder), else next to the send journal."""
    configured = str(manual.section("payments").get("ledger", "")).strip()
    if not configured:
        return journal.parent / LEDGER_FILENAME
    path = Path(configured).expanduser()
    if path.is_absolute():
        return path
    return (manual.path.parent if manual.path is not None else journal.parent) / path


class PaymentsLedger:
    """The ledger file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> LedgerContents:
        """Every line recorded; a missing file is an empty ledger."""
        contents = LedgerContents()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return contents
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot read the payments ledger ({exc.strerror})") from None
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                identity, event = str(record["line"]), str(record["event"])
            except (ValueError, KeyError, TypeError):
                contents.damaged_lines.append(number)
                continue
            if event == APPLYING:
                contents.unconfirmed[identity] = record
            elif event == ABANDONED:  # the write was refused: the sheet is as before
                contents.unconfirmed.pop(identity, None)
            elif event == APPLIED:
                contents.unconfirmed.pop(identity, None)
                contents.applied[identity] = record
        return contents

    @contextmanager
    def writer(self) -> Iterator[LedgerWriter]:
        """Hold the ledger (one applying run at a time) and append to it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("ab")
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot write the payments ledger ({exc.strerror})") from None
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise LedgerError(
                    f"{self.path}: another run is applying payments right now; wait for it, then run again"
                ) from None
            fsync_dir(self.path.parent)
            if handle.tell() > 0 and not _ends_with_newline(self.path):
                handle.write(b"\n")  # a line torn by a crash must not swallow the next record
            yield LedgerWriter(handle, self.path)
        finally:
            handle.close()


class LedgerWriter:
    """Appends records, each on disk before the call returns."""

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self.handle, self.path = handle, path

    def record(self, event: str, matches: Iterable[Match], target: str, as_of: date) -> None:
        """One ``event`` record per matched line."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lines = []
        for match in matches:
            record = {
                "event": event,
                "line": match.line.identity,
                "at": now,
                "as_of": as_of.isoformat(),
                "sheet": target,
                "where": match.line.where,
                "booked": match.line.booked.isoformat(),
                "amount": str(match.line.amount),
                "invoices": {a.invoice.number: str(a.amount) for a in match.allocations},
            }
            lines.append(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        if not lines:
            return
        try:
            self.handle.write(b"".join(lines))
            self.handle.flush()
            os.fsync(self.handle.fileno())
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot write the payments ledger ({exc.strerror})") from None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
