"""Swapping two files in one step, where the system can.

``os.replace`` moves the new workbook over the old one but throws away whatever
was there at that instant, even a save that landed a millisecond earlier. A swap
moves the new file in *and* hands back the file it displaced, so the caller can
look at it and, if it is not what the tool read, swap it back.

Linux has ``renameat2(RENAME_EXCHANGE)`` (3.15+, on ext4, xfs, btrfs, tmpfs and
most local file systems), macOS ``renamex_np(RENAME_SWAP)`` (10.12+, APFS and HFS+).
Elsewhere, or on a file system that cannot swap, ``exchange`` says so and the
caller falls back to noticing a lost save after the fact.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

RENAME_EXCHANGE = 2  # linux/fs.h
RENAME_SWAP = 0x2  # macOS sys/stdio.h
AT_FDCWD = -100
# renameat2's system call number where the C library has no wrapper (glibc < 2.28, some musl builds).
_RENAMEAT2_SYSCALL = {
    "x86_64": 316,
    "amd64": 316,
    "aarch64": 276,
    "arm64": 276,
    "riscv64": 276,
    "i386": 353,
    "i686": 353,
    "armv7l": 382,
    "ppc64le": 357,
    "ppc64": 357,
    "s390x": 347,
}
# What the system answers when it cannot swap (rather than a real failure to report).
_CANNOT_SWAP = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV}


def exchange(first: Path, second: Path) -> bool:
    """Swap the files at ``first`` and ``second`` in one step; False when the system or file system cannot.

    Raises OSError for a real failure (a file missing, no permission).
    """
    swap = _swap_function()
    if swap is None:
        return False
    result = swap(os.fsencode(first), os.fsencode(second))
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in _CANNOT_SWAP:
        return False
    raise OSError(code, os.strerror(code), str(second))


def can_exchange() -> bool:
    """Whether this system has an atomic swap at all (a file system may still refuse it)."""
    return _swap_function() is not None


_cached: list[Callable[[bytes, bytes], int] | None] = []


def _swap_function() -> Callable[[bytes, bytes], int] | None:
    if not _cached:
        _cached.append(_find_swap())
    return _cached[0]


def _find_swap() -> Callable[[bytes, bytes], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if sys.platform.startswith("linux"):
        return _linux_swap(libc)
    if sys.platform == "darwin":
        renamex = getattr(libc, "renamex_np", None)
        if renamex is None:
            return None
        renamex.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        renamex.restype = ctypes.c_int
        return lambda a, b: int(renamex(a, b, RENAME_SWAP))
    return None


def _linux_swap(libc: ctypes.CDLL, use_wrapper: bool = True) -> Callable[[bytes, bytes], int] | None:
    """renameat2 through the C library's wrapper, else as a raw system call by its number."""
    wrapper = getattr(libc, "renameat2", None) if use_wrapper else None
    if wrapper is not None:
        wrapper.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        wrapper.restype = ctypes.c_int
        return lambda a, b: int(wrapper(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE))
    number = _RENAMEAT2_SYSCALL.get(platform.machine().lower())
    syscall = getattr(libc, "syscall", None)
    if number is None or syscall is None:
        return None
    syscall.restype = ctypes.c_long
    return lambda a, b: int(
        syscall(
            ctypes.c_long(number),
            ctypes.c_int(AT_FDCWD),
            ctypes.c_char_p(a),
            ctypes.c_int(AT_FDCWD),
            ctypes.c_char_p(b),
            ctypes.c_uint(RENAME_EXCHANGE),
        )
    )
