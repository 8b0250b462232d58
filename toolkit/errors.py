"""The errors that stop a whole run.

Bad *rows* never raise: they become findings (see ``toolkit.findings``). These
exceptions are for what makes the run itself impossible: a missing file, a
workbook that is open in Excel, a billing manual with a typo. Every message
starts with *where* (a file, a setting, a host) and says what to do, because it
is shown to the user as is, without a traceback.
"""

from __future__ import annotations


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


class BatchError(ToolkitError):
    """A command over many clients cannot start: no workbooks found, a clients file that cannot be read."""
