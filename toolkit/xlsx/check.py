"""Checking that XML is well formed on a second core, where there is one: what the tool writes, and what it reads.

The write-back patches a sheet as bytes; before the result may replace the
workbook, every byte of the patched sheet goes through expat (no handlers, so
C speed: about a quarter of a second for 50 MB). Expat keeps the GIL while it
parses, so on a thread it would hold up the patching; a second process checks
the bytes as they are written instead, and this one only hands them over.
Where no second process can be started, the check runs here.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.context import DefaultContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from xml.parsers import expat

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from toolkit.errors import ToolkitError
from toolkit.xlsx.package import XlsxPackage, expat_parser, expat_problem, well_formed


def helper_context(large: bool = False) -> SpawnContext | DefaultContext:
    """How the helper processes of a read or a write start: forked, or for a ``large`` sheet, spawned.

    A forked process starts at once, but keeps its own copy of every page this process
    had when it forked as soon as this one writes to it: some 50-100 MB each by then
    (the imports, the manual, the locale data). A spawned one is a fresh interpreter of
    some 30 MB, and takes a few tenths of a second to start: worth it only for a sheet
    of ``reader.PACK_PAID_BYTES`` or more, where a run lasts tens of seconds.
    """
    return multiprocessing.get_context("spawn") if large else multiprocessing.get_context()


def widen_pipe(connection: Connection) -> None:
    """Let a pipe hold a megabyte (where Linux allows), so the writing side can run a few chunks ahead.

    With the usual 64 KB the writer waits at every chunk for the reader to take
    the last one, and each side waits for the other in turn.
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(connection.fileno(), set_size, 1 << 20)


class XmlCheck:
    """Takes XML a chunk at a time (``feed``); ``result()`` is None when it was well formed, else what is wrong.

    ``alongside``: check in a second process (else in this one), spawned for a ``large``
    sheet (``helper_context``). ``close()`` ends the checking process early (a write that
    failed for another reason).
    """

    def __init__(self, alongside: bool = True, *, large: bool = False) -> None:
        self._local: expat.XMLParserType | None = None
        self._problem: str | None = None
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        if not alongside:  # a small part: starting a process would cost more than it saves
            self._local = expat_parser()
            return
        context = helper_context(large)
        ours, theirs = context.Pipe(duplex=True)
        widen_pipe(ours)
        process = context.Process(target=_check_in_process, args=(theirs, ours), name="xml-check", daemon=True)
        try:
            process.start()
        except OSError:  # no second process allowed here: check in this one
            ours.close()
            theirs.close()
            self._local = expat_parser()
            return
        theirs.close()
        self._conn, self._process = ours, process

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._conn is not None:
            try:
                self._conn.send_bytes(chunk)
            except OSError:  # the checking process is gone; result() says so
                self._conn.close()
                self._conn = None
                self._problem = self._problem or "the process checking the XML stopped"
        elif self._local is not None and self._problem is None:
            self._problem = expat_problem(self._local, chunk, False)

    def result(self) -> str | None:
        """Wait for the check of everything fed; None when the XML is well formed."""
        if self._local is not None:
            if self._problem is None:
                self._problem = expat_problem(self._local, b"", True)
            self._local = None
            return self._problem
        if self._conn is not None:
            try:
                self._conn.send_bytes(b"")  # the end
                answer = self._conn.recv() if self._conn.poll(60) else "the XML check took too long"
            except (OSError, EOFError):
                answer = "the process checking the XML stopped"
            self._problem = answer if isinstance(answer, str) else None
            self.close()
        return self._problem

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
            self._process = None


def _check_in_process(conn: Connection, other_end: Connection) -> None:
    """In the second process: parse every chunk until the empty one, then send None or the problem."""
    other_end.close()  # inherited: closed so that a receive fails once the writer closes its end
    parser = expat_parser()
    problem: str | None = None
    try:
        while True:
            chunk = conn.recv_bytes()
            if problem is None:
                problem = expat_problem(parser, chunk, not chunk)
            if not chunk:
                break
        conn.send(problem)
    except (EOFError, OSError):
        pass  # the writer stopped
    finally:
        conn.close()


class PartCheck:
    """Checks that a part of a package is well-formed XML without a DTD, in a process of its own.

    The process is started at once (while this one is still small, so starting it
    costs little) and checks the part when ``begin()`` is called, or never, when
    ``settle()`` says another check made it needless.
    ``result()`` begins the check if it has not begun and waits for it: None, or the
    message saying what is wrong. Where no second process can be started,
    ``result()`` does the check itself.
    """

    def __init__(self, path: Path, part: str, where: str, *, large: bool = False) -> None:
        self.path, self.part, self.where = path, part, where
        self._receiver: Connection | None = None
        self._process: BaseProcess | None = None
        self._begun = False
        self._answer: str | None = None
        self._done = False
        context = helper_context(large)
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(target=_check_part_for, args=(str(path), part, where, theirs, ours), name="xml-check")
        process.daemon = True
        try:
            process.start()
        except OSError:
            ours.close()
            theirs.close()
            return
        theirs.close()
        self._receiver, self._process = ours, process

    def begin(self) -> None:
        """Start checking (at once if it has begun already or has no process)."""
        if self._begun or self._receiver is None:
            return
        self._begun = True
        with contextlib.suppress(OSError):  # the process is gone: result() says so
            self._receiver.send(True)

    def result(self) -> str | None:
        if self._done:
            return self._answer
        self._done = True
        if self._receiver is None:
            self._answer = _part_problem(self.path, self.part, self.where)
            return self._answer
        self.begin()
        try:
            answer = self._receiver.recv()
        except (EOFError, OSError):
            answer = f"{self.where}: the process checking the XML stopped; run again"
        if self._process is not None:
            self._process.join(timeout=10)  # it has answered: it is ending
        self.close()
        self._answer = answer if isinstance(answer, str) else None
        return self._answer

    def settle(self) -> None:
        """No need to check after all (something else proved the part well formed): end the process unused."""
        if not self._done:
            self._done, self._answer = True, None
        self.close()

    def close(self) -> None:
        """Stop the check (if it still runs) and release the process."""
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        if self._process is not None:
            process, self._process = self._process, None
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)


def _part_problem(path: Path, part: str, where: str) -> str | None:
    try:
        with XlsxPackage(path) as pkg, pkg.open(part) as raw:
            stream = well_formed(raw, where)
            while stream.read(1 << 20):
                pass
    except ToolkitError as exc:
        return str(exc)
    return None


def _check_part_for(path: str, part: str, where: str, sender: Connection, other_end: Connection) -> None:
    """In the second process: wait for the word to begin, check the part, send None or the problem."""
    other_end.close()  # inherited: closed so that a receive fails once the caller closes its end
    try:
        if not sender.recv():
            return
        try:
            problem = _part_problem(Path(path), part, where)
        except Exception as exc:  # a bug: say so as the internal error it is
            problem = f"{where}: the XML check failed ({type(exc).__name__}: {exc})"
        sender.send(problem)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the caller stopped
    finally:
        sender.close()
