"""Writing the workbook under faults: a save during the swap, backups, leftovers, full and read-only disks."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.factory import make_workbook, sample_rows
from tests.mounts import fill, remount_read_only, small_disk
from toolkit.xlsx import safe_write, swap
from toolkit.xlsx.safe_write import BACKUP_FOLDER, own_backups

ROOT = Path(__file__).resolve().parent.parent


def no_reminders(folder: Path) -> Path:
    """A billing manual, outside the disk under test, that sends no reminders (so writes no previews)."""
    manual = folder / "no-reminders.toml"
    manual.write_text("[reminders]\nenabled = false\n", encoding="utf-8")
    return manual


def leftovers(folder: Path, name: str = "receivables.xlsx") -> list[Path]:
    """The tool's temporary files of workbook ``name`` in ``folder`` and its backups folder."""
    found = list(folder.glob(f".{name}.*.tmp"))
    return found + list((folder / BACKUP_FOLDER).glob(f".{name}.*.tmp"))


def backups_of(workbook: Path) -> list[Path]:
    folder = workbook.parent / BACKUP_FOLDER
    return sorted(folder.iterdir()) if folder.is_dir() else []


def accountants_save(workbook: Path) -> bytes:
    """What the accountant saves: the same workbook with one more invoice."""
    rows = sample_rows(AS_OF)
    rows.append({**rows[0], "Invoice": "INV-9999"})
    other = make_workbook(workbook.parent / "elsewhere" / "save.xlsx", rows)
    data = other.read_bytes()
    shutil.rmtree(other.parent)
    return data


def save_by_rename(workbook: Path, data: bytes) -> None:
    """Save as Excel and LibreOffice do: a new file moved over the old one."""
    side = workbook.with_name("~saving.tmp")
    side.write_bytes(data)
    os.replace(side, workbook)


def save_in_place(workbook: Path, data: bytes) -> None:
    """Save by rewriting the same file (the same inode), as some programs do."""
    with workbook.open("r+b") as fh:
        fh.truncate(0)
        fh.write(data)


@pytest.fixture(params=["atomic swap", "no atomic swap"])
def swap_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of putting the new file in place: the system's swap, and the fallback where there is none."""
    if request.param == "no atomic swap":
        monkeypatch.setattr(swap, "exchange", lambda first, second: False)
    else:
        assert swap.can_exchange(), "this Linux has renameat2, so the atomic swap must be found"
    return str(request.param)


@pytest.mark.parametrize("save", [save_by_rename, save_in_place], ids=["by rename", "in place"])
def test_a_save_at_the_moment_of_the_swap_is_kept(
    workbook: Path, swap_kind: str, save: Callable[[Path, bytes], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that lands just before the swap survives: the run refuses, writes nothing, leaves no backup or leftover."""
    data = accountants_save(workbook)
    inode = workbook.stat().st_ino
    monkeypatch.setattr(safe_write, "before_swap", lambda path: save(path, data))
    result = invoke("run", workbook, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1, result.output
    assert "saved by someone while the tool wrote it; their save is kept" in result.output
    assert "internal error" not in result.output
    assert workbook.read_bytes() == data
    if save is save_in_place:
        assert workbook.stat().st_ino == inode
    assert leftovers(workbook.parent) == [] and backups_of(workbook) == []


def test_without_a_save_the_swap_writes_and_keeps_a_complete_backup(workbook: Path, swap_kind: str) -> None:
    """With no save meanwhile, both ways write the new workbook and keep the old one, byte for byte, as the backup."""
    before = workbook.read_bytes()
    assert invoke("run", workbook, "--as-of", AS_OF_TEXT).exit_code == 0
    assert workbook.read_bytes() != before
    assert [b.read_bytes() for b in backups_of(workbook)] == [before]
    assert leftovers(workbook.parent) == []


@pytest.mark.parametrize("use_wrapper", [True, False], ids=["libc renameat2", "raw system call"])
def test_exchange_swaps_two_files_in_one_step(tmp_path: Path, use_wrapper: bool) -> None:
    """renameat2(RENAME_EXCHANGE), through libc or by its system call number, swaps two files' names."""
    import ctypes

    function = swap._linux_swap(ctypes.CDLL(None, use_errno=True), use_wrapper=use_wrapper)
    assert function is not None
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    assert function(os.fsencode(first), os.fsencode(second)) == 0
    assert (first.read_bytes(), second.read_bytes()) == (b"second", b"first")
    assert swap.exchange(first, second) and first.read_bytes() == b"first"
    with pytest.raises(FileNotFoundError):
        swap.exchange(first, tmp_path / "missing")


# -- backups ---------------------------------------------------------------------------------


def test_trimming_backups_spares_another_workbooks_backups(tmp_path: Path) -> None:
    """Seven runs on receivables.xlsx keep five of its backups and leave receivables.2025.xlsx's five alone."""
    rows = sample_rows(AS_OF)
    book = make_workbook(tmp_path / "receivables.xlsx", rows)
    year = make_workbook(tmp_path / "receivables.2025.xlsx", rows)
    for days in range(5):
        assert invoke("run", year, "--as-of", (AS_OF + timedelta(days=days)).isoformat()).exit_code == 0
    kept = own_backups(year)
    assert len(kept) == 5
    for days in range(7):
        assert invoke("run", book, "--as-of", (AS_OF + timedelta(days=days)).isoformat()).exit_code == 0
    assert own_backups(year) == kept
    assert len(own_backups(book)) == 5
    assert not set(own_backups(book)) & set(kept)


def test_a_full_backup_disk_refuses_and_leaves_no_truncated_backup(workbook: Path) -> None:
    """When the backup cannot be written whole, the run refuses in one line and nothing counts as a backup."""
    before = workbook.read_bytes()
    with small_disk(workbook.parent / BACKUP_FOLDER, "64k") as disk:
        fill(disk, leave=4096)
        (disk / "filler.bin").rename(disk / "not-a-backup.bin")
        result = invoke("run", workbook, "--as-of", AS_OF_TEXT)
        assert result.exit_code == 1, result.output
        assert f"{disk}: the disk is full (ENOSPC) while keeping a backup" in result.output
        assert "Free some space" in result.output and "internal error" not in result.output
        assert sorted(p.name for p in disk.iterdir()) == ["not-a-backup.bin"]
    assert workbook.read_bytes() == before
    assert leftovers(workbook.parent) == []


# -- leftovers of killed runs ----------------------------------------------------------------


def run_killed_at_the_swap(workbook: Path) -> None:
    """A real run, in its own process, killed (SIGKILL) just before the swap: its temporary file stays behind."""
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from toolkit.xlsx import safe_write
        safe_write.before_swap = lambda path: os.kill(os.getpid(), signal.SIGKILL)
        from toolkit.cli import cli
        cli(["run", sys.argv[1], "--as-of", "{AS_OF_TEXT}"])
        """
    )
    done = subprocess.run([sys.executable, "-c", code, str(workbook)], cwd=ROOT, capture_output=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_the_next_run_removes_what_a_killed_run_left(workbook: Path) -> None:
    """A run killed mid-write leaves its temporary files; the next run removes them, and no other workbook's."""
    before = workbook.read_bytes()
    run_killed_at_the_swap(workbook)
    left = leftovers(workbook.parent)
    assert len(left) == 1 and left[0].stat().st_size > 0
    assert workbook.read_bytes() == before
    backups = workbook.parent / BACKUP_FOLDER
    backups.mkdir(exist_ok=True)  # the killed run had kept its backup, whole, before the swap
    half_backup = backups / ".receivables.xlsx.k3j9x2ab.tmp"  # what a run killed while copying its backup leaves
    half_backup.write_bytes(workbook.read_bytes()[:1000])
    assert half_backup not in own_backups(workbook)
    others = [workbook.parent / ".receivables.2025.xlsx.abcd1234.tmp", workbook.parent / "notes.abcd1234.tmp"]
    for other in others:
        other.write_bytes(b"someone else's")
    assert invoke("run", workbook, "--as-of", AS_OF_TEXT).exit_code == 0
    assert leftovers(workbook.parent) == [] and not half_backup.exists()
    assert {b.read_bytes() for b in own_backups(workbook)} == {before}
    assert all(other.read_bytes() == b"someone else's" for other in others)


@pytest.fixture
def run_in_progress(workbook: Path) -> Iterator[Path]:
    """Another process writing in the workbook's folder, holding its temporary file open, until the test ends."""
    code = textwrap.dedent(
        """
        import sys, tempfile
        from pathlib import Path
        from toolkit.xlsx.safe_write import folder_in_use
        target = Path(sys.argv[1])
        with folder_in_use(target.parent, clean=lambda: None):
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            print(name, flush=True)
            sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(workbook)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    name = process.stdout.readline().strip()
    try:
        yield Path(name)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def test_a_run_in_progress_keeps_its_temporary_file(workbook: Path, run_in_progress: Path) -> None:
    """The temporary file of a run still writing is not a leftover: another run leaves it alone."""
    assert run_in_progress.is_file()
    assert invoke("run", workbook, "--as-of", AS_OF_TEXT).exit_code == 0
    assert run_in_progress.is_file()


# -- what the system refuses -----------------------------------------------------------------


def test_a_full_disk_while_writing_is_one_line_and_loses_nothing(workbook: Path, tmp_path: Path) -> None:
    """ENOSPC while writing the new workbook: one line naming it, saying to free space or use --output."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        book = disk / "receivables.xlsx"
        shutil.copy2(workbook, book)
        before = book.read_bytes()
        fill(disk, leave=4096)
        result = invoke("run", book, "--as-of", AS_OF_TEXT, "--manual", no_reminders(tmp_path))
        assert result.exit_code == 1, result.output
        assert f"{book}: the disk is full (ENOSPC) while writing the new workbook" in result.output
        assert "nothing was written" in result.output and "--output" in result.output
        assert "internal error" not in result.output and len(result.output.strip().splitlines()) == 1
        assert book.read_bytes() == before
        assert leftovers(disk) == [] and not (disk / BACKUP_FOLDER).exists()


def test_output_to_a_full_disk_is_one_line(workbook: Path, tmp_path: Path) -> None:
    """ENOSPC while writing --output elsewhere: one line naming the output; the workbook is untouched."""
    before = workbook.read_bytes()
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk, leave=4096)
        target = disk / "copy.xlsx"
        result = invoke("run", workbook, "--as-of", AS_OF_TEXT, "--output", target)
        assert result.exit_code == 1, result.output
        assert f"{target}: the disk is full (ENOSPC)" in result.output
        assert not target.exists() and leftovers(disk, "copy.xlsx") == []
    assert workbook.read_bytes() == before


def test_a_read_only_file_system_is_one_line(workbook: Path, tmp_path: Path) -> None:
    """EROFS: one line naming the folder, saying to make it writable or use --output."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        book = disk / "receivables.xlsx"
        shutil.copy2(workbook, book)
        before = book.read_bytes()
        remount_read_only(disk)
        result = invoke("run", book, "--as-of", AS_OF_TEXT, "--manual", no_reminders(tmp_path))
        assert result.exit_code == 1, result.output
        assert f"{disk}: the file system is read-only (EROFS)" in result.output
        assert "--output" in result.output and "internal error" not in result.output
        assert book.read_bytes() == before


@pytest.fixture
def immutable_folder(workbook: Path) -> Iterator[Path]:
    """The workbook's folder made immutable (chattr +i): not even root may create a file in it (EPERM)."""
    folder = workbook.parent
    no_reminders(folder).rename(folder / "billing-manual.toml")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"chattr +i is not available here ({done.stderr.strip()})"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set: it is required there", pytrace=False)
        pytest.skip(message)
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def test_a_folder_the_user_may_not_write_is_one_line(workbook: Path, immutable_folder: Path) -> None:
    """EPERM on the folder: one line naming it and saying to fix the permissions or use --output."""
    before = workbook.read_bytes()
    result = invoke("run", workbook, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1, result.output
    assert f"{immutable_folder}: the operation is not permitted (EPERM)" in result.output
    assert "Fix the permissions" in result.output and "internal error" not in result.output
    assert workbook.read_bytes() == before


def test_permission_denied_for_another_user_is_one_line(workbook: Path, tmp_path: Path) -> None:
    """EACCES: a user who may read the workbook but not write its folder gets one line, and nothing changes."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        message = "setpriv as root is needed to run the tool as another user"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set", pytrace=False)
        pytest.skip(message)
    folder = Path(tmp_path.parent.parent.parent / f"fw-eacces-{os.getpid()}")
    folder.mkdir(mode=0o755)
    try:
        folder.chmod(0o755)
        book = folder / "receivables.xlsx"
        shutil.copy2(workbook, book)
        book.chmod(0o666)
        no_reminders(folder).rename(folder / "billing-manual.toml")
        (folder / "billing-manual.toml").chmod(0o644)
        before = book.read_bytes()
        code = f"from toolkit.cli import cli; cli(['run', {str(book)!r}, '--as-of', {AS_OF_TEXT!r}])"
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", code]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 1, done.stderr
        assert f"{folder}: permission denied (EACCES)" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        assert book.read_bytes() == before
    finally:
        shutil.rmtree(folder)


def test_a_read_only_workbook_file_is_refused_like_a_locked_one(workbook: Path) -> None:
    """A workbook with mode 0444 is not replaced: the run says it is read-only and how to proceed."""
    workbook.chmod(0o444)
    before = workbook.read_bytes()
    result = invoke("run", workbook, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1, result.output
    assert f"{workbook}: the workbook file is read-only (mode 0444)" in result.output
    assert "--output" in result.output
    assert workbook.read_bytes() == before and stat.S_IMODE(workbook.stat().st_mode) == 0o444
    assert not (workbook.parent / BACKUP_FOLDER).exists()


def test_a_system_refusal_anywhere_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """An OSError the library did not translate still reaches the user as one line with the file, never 'internal error'."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        remount_read_only(disk)
        result = invoke("init", disk)
        assert result.exit_code == 1, result.output
        assert f"{disk / 'billing-manual.toml'}: the file system is read-only (EROFS)" in result.output
        assert "internal error" not in result.output and len(result.output.strip().splitlines()) == 1
