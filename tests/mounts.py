"""Real file systems with real faults: a small tmpfs that fills up, one mounted read-only.

Mounting needs root (or CAP_SYS_ADMIN). Without it a test skips, or fails when CI is
set, where these faults must be tried for real.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    message = f"cannot mount a file system for this test ({reason})"
    if os.environ.get("CI"):
        pytest.fail(message + " and CI is set: it is required there", pytrace=False)
    pytest.skip(message)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@contextmanager
def small_disk(where: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (created), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(where))
    if done.returncode != 0:
        _unavailable(done.stderr.strip() or f"mount exited with {done.returncode}")
    try:
        yield where
    finally:
        _run("umount", "-l", str(where))


def remount_read_only(where: Path) -> None:
    """Make the tmpfs at ``where`` read-only from now on."""
    done = _run("mount", "-o", "remount,ro", str(where))
    if done.returncode != 0:
        _unavailable(done.stderr.strip() or f"remount exited with {done.returncode}")


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk at ``disk`` until at most ``leave`` bytes are free; the filler file."""
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            info = os.statvfs(disk)
            free = info.f_bavail * info.f_frsize
            if free <= leave:
                break
            try:
                os.write(fd, b"\0" * min(65536, max(1, free - leave)))
            except OSError:
                break
    finally:
        os.close(fd)
    return filler
