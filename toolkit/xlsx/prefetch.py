"""A large sheet read from the first moment of a command, while the command is still starting.

Starting Python and importing the toolkit take a fifth of a second, on one core, before
the sheet's reading process is started (``read._rows_read_alongside``). The console
script (``toolkit.entry``) calls ``start`` first: given one workbook file to ``run``,
``check`` or ``report``, it forks a process at once, while this one is still small. That
process imports what reading needs, opens the workbook, fingerprints it (size, time of
change, SHA-256), guesses the sheet a run reads (the first visible one), and, when that
sheet is large enough to be read alongside, reads its rows into a pipe, a bounded number
of them ahead.

When the command comes to read its sheet, ``claim`` hands that process over as the
reading process, if it read the very file the command fingerprinted (same size, time and
SHA-256) and the very sheet it chose; else it ends it, and the sheet is read as ever.
A wrong guess costs the idle core some work, never a wrong row: nothing that process
sends is used unless it was claimed.

Linux only (``fork``; macOS forks unsafely), and with a second core to read on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

# The commands that read one workbook's invoice sheet, and their options that take no value.
COMMANDS = frozenset({"run", "check", "report"})
_FLAGS = frozenset({"--json", "--send", "--help"})
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
# How long ``claim`` waits for the process to say what it read: it has had the whole start-up.
HEADER_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class Prefetched:
    """What the prefetching process read: the file as fingerprinted, and the sheet part it reads."""

    size: int
    mtime_ns: int
    sha256: str
    part: str


class _Pending:
    """A prefetching process not claimed yet."""

    def __init__(self, path: Path, receiver: Connection, process: BaseProcess) -> None:
        self.path, self.receiver, self.process = path, receiver, process

    def header(self) -> Prefetched | None:
        """What the process read, once it says (None: it reads nothing of use, or did not say in time)."""
        try:
            if not self.receiver.poll(HEADER_WAIT_SECONDS):
                return None
            header = self.receiver.recv()
        except (OSError, EOFError):
            return None
        return header if isinstance(header, Prefetched) else None

    def discard(self) -> None:
        """End the process; nothing it read is used."""
        self.receiver.close()
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
            self.process.join(timeout=5)


_pending: _Pending | None = None


def start(argv: Sequence[str]) -> None:
    """Start reading the workbook ``argv`` names (the console script's arguments), if it names one to read."""
    global _pending
    path = single_workbook(argv)
    if path is None or not _can_fork_a_reader():
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    _widen(sender)
    process = context.Process(target=_prefetch, args=(str(path), sender, receiver), name="sheet-prefetch", daemon=True)
    try:
        process.start()
    except OSError:  # no second process allowed here: the command reads as ever
        receiver.close()
        sender.close()
        return
    sender.close()
    _pending = _Pending(path, receiver, process)


def claim(path: Path, part: str, size: int, mtime_ns: int, sha256: str) -> tuple[Connection, BaseProcess] | None:
    """The prefetching process, as the reading process of ``part`` of ``path`` fingerprinted so; else None.

    Whatever the answer, no prefetching process is left pending: one that read anything
    else (another file, another version of it, another sheet) is ended.
    """
    pending = take()
    if pending is None:
        return None
    header = pending.header() if _same_file(pending.path, path) else None
    if header != Prefetched(size, mtime_ns, sha256, part):
        pending.discard()
        return None
    return pending.receiver, pending.process


def take() -> _Pending | None:
    """The prefetching process pending, if any, no longer pending."""
    global _pending
    pending, _pending = _pending, None
    return pending


def discard() -> None:
    """End the prefetching process pending, if any (the command reads no sheet it could have read)."""
    pending = take()
    if pending is not None:
        pending.discard()


def single_workbook(argv: Sequence[str]) -> Path | None:
    """The one workbook file ``argv`` gives to ``run``, ``check`` or ``report``; None for anything else.

    Options are skipped with their values (each option but ``_FLAGS`` takes one). A guess
    that is wrong costs time, not correctness: ``claim`` compares what was read.
    """
    if not argv or argv[0] not in COMMANDS:
        return None
    given: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--clients":
            return None  # many workbooks
        if arg.startswith("-"):
            if "=" not in arg and arg not in _FLAGS:
                next(args, None)
            continue
        given.append(arg)
    if len(given) != 1 or not given[0].lower().endswith(WORKBOOK_SUFFIXES):
        return None
    path = Path(given[0])
    return path if path.is_file() else None


def _can_fork_a_reader() -> bool:
    from toolkit.batch.workers import default_jobs  # stdlib only: light enough to import here

    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return default_jobs() >= 2


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _widen(connection: Connection) -> None:
    """A pipe of a megabyte where Linux allows (``check.widen_pipe``, without importing it here)."""
    import fcntl

    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(connection.fileno(), set_size, 1 << 20)


def _prefetch(path: str, sender: Connection, receiver: Connection) -> None:
    """In the forked process: the toolkit's reading imported here, then the sheet read (``read.prefetch_rows``)."""
    receiver.close()  # the reading end, inherited: closed, so that a send fails once the command closes its own
    try:
        from toolkit.xlsx.read import prefetch_rows

        prefetch_rows(Path(path), sender)
    except BaseException:  # whatever it is, the command reads the sheet itself
        pass
    finally:
        with contextlib.suppress(OSError):
            sender.close()
