"""Advisory locks of a sending run: on the journal, and on the day's outbox folder.

A send holds both from start to end; a preview takes the outbox lock while it
writes its ``.eml`` files, so it never replaces the files a send is about to move
to ``sent/``. The OS drops a lock when its process dies, so a killed run never
leaves anything locked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toolkit.errors import OutboxBusy, ToolkitError

OUTBOX_LOCK = ".receivables.lock"  # on Windows only


@contextmanager
def hold_outbox(folder: Path) -> Iterator[None]:
    """Hold the lock of the outbox ``folder`` (created if missing); :class:`OutboxBusy` when a send holds it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if sys.platform == "win32":  # pragma: no cover - a folder cannot be locked there: a file in it is
            handle: Any = (folder / OUTBOX_LOCK).open("ab", buffering=0)
        else:  # the folder itself: no file of ours among the previews
            handle = _FolderHandle(os.open(folder, os.O_RDONLY))
    except OSError as exc:
        raise ToolkitError(
            f"{folder}: cannot write the reminder previews ({exc.strerror or exc}); "
            "choose another folder with --outbox DIR"
        ) from None
    try:
        try:
            lock_exclusive(handle)
        except OSError:
            raise OutboxBusy(
                f"{folder}: another run is sending (or previewing) reminders in this folder right now; wait for it "
                "to finish, then run again (this run wrote and sent nothing)"
            ) from None
        yield
    finally:
        handle.close()


class _FolderHandle:
    """An open folder, enough of a file handle for :func:`lock_exclusive` (``open()`` refuses folders)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        os.close(self._fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _LOCK_OFFSET = 0x7FFFFFF0  # a byte far past the end: readers of the real data are not blocked

    def lock_exclusive(handle: Any) -> None:
        """Lock ``handle``'s file for this process, or raise OSError at once when another holds it."""
        position = handle.tell()
        handle.seek(_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        finally:
            handle.seek(position)

else:
    import fcntl

    def lock_exclusive(handle: Any) -> None:
        """Lock ``handle``'s file for this process, or raise OSError at once when another holds it."""
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
