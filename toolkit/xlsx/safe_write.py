"""Replacing a workbook safely: refuse while it is open, notice changes, keep backups.

The new workbook is written to a temporary file in the same folder and moved over
the old one in one step, so a crash leaves either the old file or the new one,
never half of one. The previous version is kept in a backups folder next to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from toolkit.errors import FileSystemError, WriteRefused
from toolkit.xlsx import swap

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

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


# Test hook: called with the workbook's path just before the new file is swapped in. Only tests set it,
# to save the workbook at that moment (by rename or in place) and check that the save survives.
before_swap: Callable[[Path], None] | None = None

_BACKUP_STAMP = r"\d{8}-\d{6}-\d{6}"


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
    """Write ``target`` through ``write`` into a temporary file, then swap it into place.

    ``original`` is the workbook that was read and ``expected`` its fingerprint then:
    if it changed since, nothing is written, also when the change lands during the swap
    (see ``install``). When ``unchanged()`` says the new content is the same as the old,
    the file in place is left alone (no new date, no backup). ``verify(temporary file)``
    may raise to stop the new content from replacing the old. Returns the backup made, if any.
    A refusal of the system (full disk, read-only, no permission) is a ``FileSystemError``.
    """
    folder = target.parent
    with folder_in_use(folder, clean=lambda: remove_stale_temporaries(target)):
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise FileSystemError.of(
                exc, folder, "making a temporary file for the new workbook", NOTHING_WRITTEN
            ) from None
        tmp = Path(tmp_name)
        try:
            try:
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise FileSystemError.of(exc, target, "writing the new workbook", NOTHING_WRITTEN) from None
            if verify is not None:
                verify(tmp)
            if original is not None and expected is not None:
                refuse_if_changed(original, expected)
                check_not_open(original)
            if unchanged is not None and unchanged() and target.exists() and target == original:
                return None
            return install(tmp, target, expected if target == original else None, backup=backup)
        finally:
            tmp.unlink(missing_ok=True)


NOTHING_WRITTEN = "nothing was written and the workbook is as it was"


def refuse_if_changed(original: Path, expected: Fingerprint) -> None:
    """Refuse when the workbook is no longer what was read (someone saved it meanwhile)."""
    if not original.exists() or Fingerprint.of(original) != expected:
        raise WriteRefused(
            f"{original}: the workbook changed on disk while the tool was working "
            "(someone saved it); nothing was written. Run again to work on the new version"
        )


def install(tmp: Path, target: Path, expected: Fingerprint | None, *, backup: bool) -> Path | None:
    """Move the finished ``tmp`` into ``target``'s place, after a backup of ``target``; the backup made, if any.

    With ``expected`` (writing over the workbook read), a save that lands before the
    swap is handed back by it and put back in place (see ``swap_in``).
    """
    made = None
    try:
        if target.exists():
            check_not_read_only(target)
            shutil.copymode(target, tmp)
            if backup:
                made = make_backup(target, expected)
        else:
            # mkstemp makes the file private (0600); a new workbook gets the usual mode instead.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        swap_in(tmp, target, expected)
    except OSError as exc:
        if made is not None:
            made.unlink(missing_ok=True)
        raise FileSystemError.of(exc, target, "putting the new workbook in place", NOTHING_WRITTEN) from None
    except BaseException:
        if made is not None:
            made.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    if made is not None:
        trim_backups(target)
    return made


def swap_in(tmp: Path, target: Path, expected: Fingerprint | None) -> None:
    """Put ``tmp`` at ``target``; if the file it displaces is not ``expected``, put that file back and refuse.

    With an atomic swap the displaced file lands at ``tmp``'s name. Without one, a second
    name (a hard link) kept for the file in place shows afterwards what was replaced.
    """
    if expected is None:
        os.replace(tmp, target)
        return
    if before_swap is not None:
        before_swap(target)
    try:
        swapped = swap.exchange(tmp, target)
    except FileNotFoundError:
        raise _saved_meanwhile(target, "moved or deleted") from None
    if swapped:
        try:
            kept = _holds(tmp, expected)
        except BaseException:
            swap.exchange(tmp, target)  # not known to be ours to replace: as it was
            raise
        if not kept:
            swap.exchange(tmp, target)  # the accountant's save back in place; ours is removed with tmp
            raise _saved_meanwhile(target)
        return
    keep = _second_name(target)
    if keep is None:
        refuse_if_changed(target, expected)
        os.replace(tmp, target)
        return
    try:
        os.replace(tmp, target)
        try:
            kept = _holds(keep, expected)
        except BaseException:
            os.replace(keep, target)
            raise
        if not kept:
            os.replace(keep, target)
            raise _saved_meanwhile(target)
    finally:
        keep.unlink(missing_ok=True)


def _holds(path: Path, expected: Fingerprint) -> bool:
    try:
        return Fingerprint.of(path) == expected
    except FileNotFoundError:
        return False


def _second_name(target: Path) -> Path | None:
    """A hard link to ``target`` under a temporary name, or None where the file system has none."""
    keep = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.link(target, keep)
    except OSError:
        return None
    return keep


def _saved_meanwhile(target: Path, how: str = "saved") -> WriteRefused:
    return WriteRefused(
        f"{target}: the workbook was {how} by someone while the tool wrote it; their save is kept and "
        "nothing was written. Run again to work on the new version"
    )


def check_not_read_only(path: Path) -> None:
    """Refuse a workbook whose file is read-only (mode 0444, or read-only in Windows): someone meant it to stay."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WriteRefused(
            f"{path}: the workbook file is read-only (mode {stat.S_IMODE(mode):04o}), so someone meant it to stay "
            "as it is; nothing was written. Make it writable (chmod u+w, or untick Read-only in its properties), "
            "or write elsewhere with --output"
        )


def make_backup(path: Path, expected: Fingerprint | None = None) -> Path:
    """Copy the workbook into the backups folder next to it, complete and on disk before it counts.

    The copy is written under a temporary name, synced, and only then given its
    backup name, so a full disk or a kill never leaves a truncated backup among those
    kept. With ``expected``, a copy that is not what was read (a save under way) is refused.
    """
    folder = path.parent / BACKUP_FOLDER
    try:
        folder.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise FileSystemError.of(exc, folder, "keeping a backup of the workbook", NOTHING_WRITTEN) from None
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            shutil.copystat(path, tmp)
        except OSError as exc:
            raise FileSystemError.of(exc, folder, "keeping a backup of the workbook", NOTHING_WRITTEN) from None
        if expected is not None and digest.hexdigest() != expected.sha256:
            raise _saved_meanwhile(path)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        backup = folder / f"{path.stem}.{stamp}{path.suffix}"
        try:
            os.replace(tmp, backup)
        except OSError as exc:
            raise FileSystemError.of(exc, folder, "keeping a backup of the workbook", NOTHING_WRITTEN) from None
        fsync_dir(folder)
        return backup
    finally:
        tmp.unlink(missing_ok=True)


def own_backups(path: Path) -> list[Path]:
    """This workbook's backups, oldest first; never another workbook's (``receivables.2025.xlsx`` for ``receivables.xlsx``)."""
    pattern = re.compile(re.escape(path.stem) + r"\." + _BACKUP_STAMP + re.escape(path.suffix))
    folder = path.parent / BACKUP_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def trim_backups(path: Path, keep: int = KEEP_BACKUPS) -> None:
    """Keep the ``keep`` newest backups of this workbook; a backup that cannot be removed stays."""
    for stale in own_backups(path)[:-keep]:
        with contextlib.suppress(OSError):
            stale.unlink()


@contextmanager
def folder_in_use(folder: Path, clean: Callable[[], object]) -> Iterator[None]:
    """Mark ``folder`` as written in by this run, for as long as it writes; ``clean()`` first if no other run is.

    Every writing run holds a shared lock on the folder. One that gets it exclusively
    knows that no other run is writing there, so any temporary file of its workbook is
    a leftover of a run that was killed: it calls ``clean``, then shares the lock. Where
    locks are not available (Windows, some network drives), nothing is cleaned.
    """
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:
            alone = False
        if alone:
            clean()
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove what killed runs left of this workbook: its temporary files, beside it and in its backups folder.

    Only call it with the folder to yourself (``folder_in_use``). Another workbook's files are never touched.
    """
    pattern = re.compile(r"\." + re.escape(target.name) + r"\.[A-Za-z0-9_]{8}\.tmp")
    removed = []
    for folder in (target.parent, target.parent / BACKUP_FOLDER):
        try:
            names = [p for p in folder.iterdir() if pattern.fullmatch(p.name)]
        except OSError:
            continue
        for leftover in names:
            with contextlib.suppress(OSError):
                if leftover.is_file() and not leftover.is_symlink():
                    leftover.unlink()
                    removed.append(leftover)
    return removed


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
