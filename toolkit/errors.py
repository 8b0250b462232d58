"""The errors that stop a whole run.

Bad *rows* never raise: they become findings (see ``toolkit.findings``). These
exceptions are for what makes the run itself impossible: a missing file, a
workbook that is open in Excel, a billing manual with a typo. Every message
starts with *where* (a file, a setting, a host) and says what to do, because it
is shown to the user as is, without a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence


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


class MailError(ToolkitError):
    """Mail cannot be sent: bad SMTP settings, or the server said no."""


class MailConnectionError(MailError):
    """The server cannot be reached, TLS failed, or the connection was lost mid-batch."""


class MailAuthError(MailError):
    """The server did not accept the login."""


class DeliveryUnknown(MailConnectionError):
    """The whole message was handed over, then the connection dropped or timed out before the server's reply.

    The server may have taken it or not; nobody can tell from here. ``accepted``
    lists the recipients the server had accepted at RCPT (the ones it may have
    delivered to). The connection is gone: the batch must stop.
    """

    def __init__(
        self, message: str, accepted: Sequence[str], refused: Mapping[str, tuple[int, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.accepted: tuple[str, ...] = tuple(accepted)
        # Refused at RCPT before the data went: these certainly did not get it.
        self.refused: dict[str, tuple[int, str]] = dict(refused or {})


class SenderRefused(MailError):
    """The server refused the envelope sender; every message would fail the same way."""


class RecipientRefused(MailError):
    """One message was refused for some recipients; the connection stays usable.

    ``refused`` maps each refused address to ``(code, reply)``; ``code`` is None
    when the address was refused here, before the server saw it. ``accepted``
    lists the recipients the message *was* delivered to (a partial delivery:
    e.g. the customer got it but a cc address was refused).
    """

    def __init__(
        self,
        message: str,
        refused: Mapping[str, tuple[int | None, str]],
        accepted: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.refused: dict[str, tuple[int | None, str]] = dict(refused)
        self.accepted: tuple[str, ...] = tuple(accepted)
        first = next(iter(self.refused))
        self.address: str = first
        self.code: int | None = self.refused[first][0]
        self.reply: str = self.refused[first][1]


class JournalError(ToolkitError):
    """The send journal cannot be read or written."""


class OutcomeNotRecorded(JournalError):
    """A message went out, and the journal could not record how it ended (it reads as unconfirmed)."""


class JournalBusy(JournalError):
    """Another run is sending reminders with this journal right now."""


class TemplateError(ToolkitError):
    """A reminder template is missing, malformed, or uses a variable that does not exist."""


class SendInterrupted(ToolkitError):
    """The owner pressed Ctrl-C while reminders were being sent."""


class OutboxBusy(ToolkitError):
    """A send is using this outbox folder right now."""


class CustomerNotFound(ToolkitError):
    """``--customer`` names nobody with a reminder due."""


class ReportWriteError(ToolkitError):
    """A report file cannot be written (missing folder, no permission, or it would replace a workbook)."""


class LedgerError(ToolkitError):
    """The payments ledger cannot be read or written."""


class UnknownCustomer(ToolkitError):
    """``--customer`` names nobody in the workbook or its customers sheet."""


class BatchError(ToolkitError):
    """A command over many clients cannot start: no workbooks found, a clients file that cannot be read."""


class StatementWriteError(ToolkitError):
    """A statement file cannot be written where asked."""
