"""Sending a run's reminders: each message between its journal records, address by address.

``send_all`` sends the messages of a run in order over one connection. Before each
message the journal gets a ``sending`` record and after it the outcome, per address
(``toolkit.reminders.journal``). What the tool cannot know counts as sent: a message
handed over whole whose reply never came is journaled *unconfirmed* and the batch
stops. A retry leaves out the addresses that already have the reminder
(``received_by_address``), and a copy a server deferred while the customer got it is
sent later to that address alone (``owed_copies``, ``send_copies``). A journal that
cannot be written stops sending at once (``journal_full`` says what went).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import (
    DeliveryUnknown,
    JournalError,
    MailConnectionError,
    OutcomeNotRecorded,
    RecipientRefused,
    SenderRefused,
    SendInterrupted,
)
from toolkit.reminders.compose import PreparedMessage, move_to_sent
from toolkit.reminders.journal import Attempt, JournalContents, JournalItem, JournalWriter
from toolkit.reminders.smtp import Mailer

if TYPE_CHECKING:
    from toolkit.reminders.daily import ReminderRun

# Outcomes of one message in a send run.
DELIVERED, PARTIAL, REFUSED, NOT_SENT = "sent", "partial", "refused", "not sent"
UNCONFIRMED = "unconfirmed"  # handed over whole, no answer: counts as sent, flagged until settled


@dataclass
class Delivery:
    """What happened to one message in a send run."""

    prepared: PreparedMessage
    outcome: str  # DELIVERED, PARTIAL (the customer got it, a cc was refused), REFUSED, NOT_SENT, UNCONFIRMED
    detail: str = ""


def send_all(
    mailer: Mailer, writer: JournalWriter, run: ReminderRun, received: dict[tuple[str, str], set[str]], as_of: date
) -> None:
    """Send the run's messages in order; stop at once on a lost connection or a journal that cannot be written."""
    messages = run.messages
    for position, prepared in enumerate(messages):
        try:
            delivery = _send_one(mailer, writer, prepared, as_of, run.outbox, received)
        except DeliveryUnknown as exc:
            run.deliveries.append(Delivery(prepared, UNCONFIRMED, str(exc)))
            run.stopped = (
                f"{exc}. It counts as sent and is flagged unconfirmed (not sent again) until you settle it "
                "with --unconfirmed sent or --unconfirmed resend"
            )
        except (MailConnectionError, SenderRefused) as exc:
            run.deliveries.append(Delivery(prepared, NOT_SENT, str(exc)))
            run.stopped = str(exc)
        except JournalError as exc:
            raise journal_full(exc, run, prepared) from None
        except KeyboardInterrupt:
            raise SendInterrupted(
                f"Interrupted while sending: {len(run.delivered())} of {len(messages)} reminder message(s) were "
                f"sent and are recorded in {run.journal}. The workbook was not updated; run the same command "
                "again to send the rest (nothing is sent twice)"
            ) from None
        else:
            run.deliveries.append(delivery)
            continue
        run.deliveries += [Delivery(p, NOT_SENT, "not tried") for p in messages[position + 1 :]]
        break


COPY_RETRY_DAYS = 7  # a copy deferred longer ago than this is not sent any more


def owed_copies(contents: JournalContents, as_of: date) -> list[tuple[Attempt, list[str], EmailMessage]]:
    """The copies a server deferred (4xx for a cc or bcc while the customer got it), still owed.

    Each is the attempt, the addresses that still lack it, and the message as sent, read
    back from its ``.eml`` copy in ``sent/`` (a copy whose file is gone cannot be sent).
    """
    received = received_by_address(contents.attempts)
    owed = []
    for attempt in contents.attempts:
        if not attempt.deferred or attempt.eml is None or (as_of - attempt.on).days > COPY_RETRY_DAYS:
            continue
        if not attempt.counts_as_sent:
            continue  # the customer did not get it either (or the owner asked to resend): the retry covers both
        had: set[str] = set().union(*(received.get((i.invoice, i.stage), set()) for i in attempt.items))
        addresses = [a for a in attempt.deferred if a.casefold() not in had]
        if not addresses:
            continue
        try:
            message = BytesParser(policy=email_policy.default).parsebytes(Path(attempt.eml).read_bytes())
        except OSError:
            continue
        if isinstance(message, EmailMessage):
            owed.append((attempt, addresses, message))
    return owed


def send_copies(
    mailer: Mailer, writer: JournalWriter, run: ReminderRun, owed: list[tuple[Attempt, list[str], EmailMessage]]
) -> None:
    """Send each owed copy to the addresses that lack it, journaled like any message."""
    for attempt, addresses, message in owed:
        copy = writer.sending(
            on=attempt.on,
            customer=attempt.customer,
            to=attempt.to,
            cc=attempt.cc,
            bcc=attempt.bcc,
            subject=attempt.subject,
            message_id=attempt.message_id,
            stage=attempt.stage,
            items=attempt.items,
            envelope=addresses,
        )
        try:
            mailer.send(message, addresses)
        except RecipientRefused as exc:
            writer.failed(copy, reason=str(exc), permanent=False, accepted=exc.accepted)
            continue
        except DeliveryUnknown as exc:
            _recorded_after_send(writer.unconfirmed, copy, reason=str(exc), accepted=exc.accepted, eml=attempt.eml)
            run.stopped = f"{exc}. It counts as sent and is flagged unconfirmed until you settle it with --unconfirmed"
            return
        except (MailConnectionError, SenderRefused) as exc:
            writer.failed(copy, reason=str(exc), permanent=False)
            run.stopped = str(exc)
            return
        _recorded_after_send(writer.sent, copy, eml=attempt.eml, accepted=addresses)
        run.copies.append(
            f"{attempt.customer}: the copy deferred on {attempt.on.isoformat()} went to {', '.join(addresses)}"
        )


def journal_full(exc: JournalError, run: ReminderRun, prepared: PreparedMessage | None) -> JournalError:
    """The error for a journal that could not be written mid-batch: how many went, what is recorded, what to do."""
    went = len(run.delivered()) + len([d for d in run.deliveries if d.outcome == UNCONFIRMED])
    if isinstance(exc, OutcomeNotRecorded):
        went += 1
        fate = (
            f"the last one{f' (to {prepared.reminder.email})' if prepared else ''} went out but its delivery could "
            "not be recorded: it shows "
            "as unconfirmed and is not sent again; settle it with --unconfirmed sent once you have checked"
        )
    else:
        fate = "no message went out without its record"
    return JournalError(
        f"{exc}; sending stopped at once: {went} of {len(run.messages)} reminder message(s) went out, "
        f"recorded in {run.journal} ({fate}). The workbook was not updated; free space (or fix the disk) where the "
        "journal is, then run the same command again: nothing recorded is sent twice"
    )


def received_by_address(attempts: list[Attempt]) -> dict[tuple[str, str], set[str]]:
    """``(invoice, stage) -> addresses`` (case-folded) that have that reminder, or may have it."""
    received: dict[tuple[str, str], set[str]] = {}
    for attempt in attempts:
        addresses = {a.casefold() for a in attempt.received_by}
        if addresses:
            for item in attempt.items:
                received.setdefault((item.invoice, item.stage), set()).update(addresses)
    return received


def _envelope(prepared: PreparedMessage, received: dict[tuple[str, str], set[str]]) -> list[str]:
    """The message's recipients less those that already have any reminder it carries (a retry)."""
    had: set[str] = set()
    for item in prepared.reminder.items:
        had |= received.get((item.key, item.stage.name), set())
    return [address for address in prepared.recipients if address.casefold() not in had]


def _send_one(
    mailer: Mailer,
    writer: JournalWriter,
    prepared: PreparedMessage,
    as_of: date,
    outbox: Path,
    received: dict[tuple[str, str], set[str]],
) -> Delivery:
    """Send one message between its two journal records. Raises on a lost connection (after recording it)."""
    reminder = prepared.reminder
    envelope = _envelope(prepared, received)
    attempt = writer.sending(
        on=as_of,
        customer=reminder.customer,
        to=reminder.email,
        cc=prepared.cc,
        bcc=prepared.bcc,
        subject=prepared.subject,
        message_id=prepared.message_id,
        stage=reminder.stage.name,
        items=[JournalItem(item.key, item.stage.name, item.stage.offset_days) for item in reminder.items],
        envelope=envelope if envelope != prepared.recipients else None,
    )
    if not envelope:
        # Every address already has what it carries; recorded so that it is not planned again.
        writer.sent(attempt, accepted=[], note="every recipient already had it")
        return Delivery(prepared, DELIVERED, "every recipient already had it")
    try:
        mailer.send(prepared.message, envelope)
    except RecipientRefused as exc:
        return _refused(writer, attempt, prepared, outbox, exc)
    except DeliveryUnknown as exc:
        _unknown_outcome(writer, attempt, prepared, outbox, exc)
        raise
    except (MailConnectionError, SenderRefused) as exc:
        writer.failed(attempt, reason=str(exc), permanent=False)
        raise
    _recorded_after_send(writer.sent, attempt, eml=_moved(prepared, outbox), accepted=envelope)
    return Delivery(prepared, DELIVERED)


def _unknown_outcome(
    writer: JournalWriter, attempt: str, prepared: PreparedMessage, outbox: Path, exc: DeliveryUnknown
) -> None:
    """Record a message whose answer never came; when the customer's address was refused, it is not sent to them."""
    eml = _moved(prepared, outbox)
    deferred = [a for a, (code, _) in exc.refused.items() if 400 <= code < 500]
    customer = prepared.reminder.email.casefold()
    refused = {a.casefold(): reply for a, reply in exc.refused.items()}
    if customer not in refused:
        _recorded_after_send(
            writer.unconfirmed, attempt, reason=str(exc), accepted=exc.accepted, eml=eml, deferred=deferred
        )
        return
    # The customer certainly did not get it (refused before the data): a plain failure for
    # them, retried; the copies that may have arrived are left out of the retry.
    code, text = refused[customer]
    _recorded_after_send(
        writer.failed,
        attempt,
        reason=f"{code} {text}",
        permanent=code >= 500,
        refused=[a for a, (c, _) in exc.refused.items() if c >= 500],
        accepted=exc.accepted,
    )
    raise MailConnectionError(
        f"{exc}; the customer's address {prepared.reminder.email} was refused ({code} {text}), so the next run "
        "sends it to them (and not again to the copies)"
    ) from None


def _recorded_after_send(record: Callable[..., None], attempt: str, **details: Any) -> None:
    """Write the outcome of a message that went out; a failure says so (the message counts as unconfirmed)."""
    try:
        record(attempt, **details)
    except JournalError as exc:
        raise OutcomeNotRecorded(str(exc)) from None


def _refused(
    writer: JournalWriter, attempt: str, prepared: PreparedMessage, outbox: Path, exc: RecipientRefused
) -> Delivery:
    """Record a refusal: of a copy only (the customer got it), or of the customer (the copies that went are noted)."""
    reminder = prepared.reminder
    customer = reminder.email.casefold()
    refused = {address.casefold(): reply for address, reply in exc.refused.items()}
    if customer not in refused:
        # The customer got it; a cc or bcc address did not.
        note = "; ".join(_reply_text(a, r) for a, r in exc.refused.items())
        deferred = [a for a, (c, _) in exc.refused.items() if c is not None and 400 <= c < 500]
        _recorded_after_send(
            writer.sent,
            attempt,
            eml=_moved(prepared, outbox),
            note=f"refused: {note}",
            refused=list(exc.refused),
            accepted=list(exc.accepted),
            deferred=deferred,
        )
        later = f" ({', '.join(deferred)}: the next run sends the copy)" if deferred else ""
        return Delivery(prepared, PARTIAL, f"a copy was refused: {note}{later}")
    code, text = refused[customer]
    permanent = code is None or code >= 500
    reply = f"{code} {text}" if code is not None else text
    _recorded_after_send(
        writer.failed,
        attempt,
        reason=reply,
        permanent=permanent,
        refused=[a for a, (c, _) in exc.refused.items() if c is None or c >= 500],
        accepted=list(exc.accepted),
    )
    again = "correct the email in the workbook" if permanent else "the next run tries again"
    if exc.accepted:
        again += f"; {', '.join(exc.accepted)} got it and will not get it again"
    return Delivery(prepared, REFUSED, f"{reminder.email}: {reply} ({again})")


def _moved(prepared: PreparedMessage, outbox: Path) -> str | None:
    moved = move_to_sent(prepared, outbox)
    # Absolute: a later run, from another folder, reads a deferred copy back from it.
    return str(moved.absolute()) if moved is not None else None


def _reply_text(address: str, reply: tuple[int | None, str]) -> str:
    code, text = reply
    return f"{address} ({code} {text})" if code is not None else f"{address} ({text})"
