"""The errors that stop a whole run.

Bad *rows* never raise: they become findings (see ``toolkit.findings``). These
exceptions are for what makes the run itself impossible: a missing file, a
workbook that is open in Excel, a billing manual with a typo. Every message
starts with *where* (a file, a setting, a host) and says what to do, because it
is shown to the user as is, without a traceback.
"""

from __future__ import annotations

import errno


class ToolkitError(Exception):
    """Base of every error that stops a run; its message is shown to the user as is."""


class ManualError(ToolkitError):
    """The billing manual cannot be read or holds a setting that is not allowed."""


class WorkbookError(ToolkitError):
    """The workbook cannot be read: missing, not a workbook, encrypted, damaged."""


class SheetLayoutError(WorkbookError):
    """No sheet holds the columns the billing manual asks for."""


class WriteRefused(ToolkitError):
    """The workbook was not written, to protect it (open in Excel, changed on disk)."""


class GoogleSheetError(ToolkitError):
    """A Google Sheet cannot be reached, opened or written: credentials, sharing, key, quota."""


class FileSystemError(ToolkitError):
    """The system refused a file: a full disk, a read-only file system, no permission."""

    @classmethod
    def of(cls, exc: OSError, path: object, doing: str, outcome: str, *, output_hint: bool = True) -> FileSystemError:
        """The one-line message for ``exc``, raised while ``doing`` something to ``path``; ``outcome`` says what is safe."""
        return cls(f"{path}: {system_reason(exc)} while {doing}; {outcome}. {system_advice(exc, output_hint)}")


def system_reason(exc: OSError) -> str:
    """What the system said, in plain words, with its errno name for those who search for it."""
    code = errno.errorcode.get(exc.errno or 0, "")
    plain = _PLAIN_REASONS.get(exc.errno or 0) or (exc.strerror or str(exc) or type(exc).__name__).lower()
    return f"{plain} ({code})" if code else plain


def system_advice(exc: OSError, output_hint: bool = True) -> str:
    """What to do about ``exc``: free space, fix permissions, write elsewhere."""
    elsewhere = " or write elsewhere with --output" if output_hint else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"Free some space on that disk{elsewhere}, then run again"
    if exc.errno == errno.EROFS:
        return f"Make that file system writable{elsewhere}, then run again"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Fix the permissions of the file and its folder{elsewhere}, then run again"
    return "Fix that, then run again"


_PLAIN_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
}


class StatementError(ToolkitError):
    """A bank statement cannot be read: missing, not OFX, CAMT.053 or the CSV the manual describes."""
