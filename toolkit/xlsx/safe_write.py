"""Replacing a workbook safely: refuse while it is open, notice changes, keep backups.

The new workbook is written to a temporary file in the same folder and moved over
the old one in one step, so a crash leaves either the old file or the new one,
never half of one. The previous version is kept in a backups folder next to it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from toolkit.errors import WriteRefused

BACKUP_FOLDER = "receivables-backups"
KEEP_BACKUPS = 5


@dataclass(frozen=True)
class Fingerprint:
    """What the file looked like when it was read."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        stat = path.stat()
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return cls(stat.st_size, stat.st_mtime_ns, digest.hexdigest())


def lock_owner(path: Path) -> str | None:
    """Who has the workbook open, from Excel's ``~$name`` or LibreOffice's ``.~lock.name#`` file."""
    excel = path.with_name("~$" + path.name)
    # Excel shortens long names: ~$ replaces the first two characters.
    excel_short = path.with_name("~$" + path.name[2:]) if len(path.name) > 2 else excel
    for lock in (excel, excel_short):
        if lock.is_file():
            return f"{_excel_lock_user(lock) or 'another user'} in Excel (lock file {lock.name})"
    office = path.with_name(f".~lock.{path.name}#")
    if office.is_file():
        try:
            fields = office.read_text(encoding="utf-8", errors="replace").split(",")
        except OSError:
            fields = []
        return f"{_office_lock_user(fields)} in LibreOffice (lock file {office.name})"
    return None


def _office_lock_user(fields: list[str]) -> str:
    """Who a LibreOffice lock names: ``LockUser,SysUserName,LockHost,LockDate,UserUrl;``.

    The first field (the name set in LibreOffice's options) is often empty; the system
    user and the computer then say who it is.
    """
    name, system_user, host = (([f.strip() for f in fields]) + ["", "", ""])[:3]
    if name:
        return name
    if system_user and host:
        return f"user {system_user} on {host}"
    if system_user or host:
        return f"user {system_user}" if system_user else f"another user on {host}"
    return "another user"


def _excel_lock_user(lock: Path) -> str | None:
    try:
        data = lock.read_bytes()[:165]
    except OSError:
        return None
    if not data:
        return None
    # The first byte is the length of the user name that follows in the local code page.
    length = data[0]
    name = data[1 : 1 + length].decode("latin-1", errors="replace").strip()
    return name or None


def check_not_open(path: Path) -> None:
    owner = lock_owner(path)
    if owner:
        raise WriteRefused(f"{path}: the workbook is open by {owner}; close it and run again (nothing was written)")


def replace_atomically(
    target: Path,
    write: Callable[[BinaryIO], None],
    *,
    original: Path | None = None,
    expected: Fingerprint | None = None,
    backup: bool = True,
    unchanged: Callable[[], bool] | None = None,
    verify: Callable[[Path], None] | None = None,
) -> Path | None:
    """Write ``target`` through ``write`` into a temporary file, then move it into place.

    ``original`` is the workbook that was read and ``expected`` its fingerprint then:
    if it changed since, nothing is written. When ``unchanged()`` says the new content
    is the same as the old, the file in place is left alone (no new date, no backup).
    ``verify(temporary file)`` may raise to stop the new content from replacing the old.
    Returns the backup made, if any.
    """
    folder = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(tmp)
        if original is not None and expected is not None:
            if not original.exists() or Fingerprint.of(original) != expected:
                raise WriteRefused(
                    f"{original}: the workbook changed on disk while the tool was working "
                    "(someone saved it); nothing was written. Run again to work on the new version"
                )
            check_not_open(original)
        made = None
        if unchanged is not None and unchanged() and target.exists() and target == original:
            return None
        if target.exists():
            shutil.copymode(target, tmp)
            if backup:
                made = make_backup(target)
        else:
            # mkstemp makes the file private (0600); a new workbook gets the usual mode instead.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        fsync_dir(folder)
        return made
    finally:
        if tmp.exists():
            tmp.unlink()


def make_backup(path: Path, keep: int = KEEP_BACKUPS) -> Path:
    """Copy the workbook into the backups folder next to it, keeping the ``keep`` newest copies."""
    folder = path.parent / BACKUP_FOLDER
    folder.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    backup = folder / f"{path.stem}.{stamp}{path.suffix}"
    shutil.copy2(path, backup)
    old = sorted(folder.glob(f"{path.stem}.*{path.suffix}"))
    for stale in old[:-keep]:
        stale.unlink()
    return backup


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (where the platform allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
