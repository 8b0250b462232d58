"""Bank statements read into bank lines: OFX (1.x SGML and 2.x XML), ISO 20022 CAMT.053 and CSV.

Only money coming in counts: debits, reversals and zero lines are left out.
Each line carries an identity that stays the same however often the bank sends it
again (OFX FITID, the CAMT entry reference, or a hash of date, amount and text for
CSV), which is what the payments ledger records to apply each payment once.

OFX is read by ``ofx-br`` (MIT): it copes with what Brazilian banks export (SGML
without closing tags, cp1252 declared as USASCII, amounts with a decimal comma).
CAMT.053 and CSV are small enough to read here (see docs/payments.md for why).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from toolkit.errors import StatementError
from toolkit.manual import BillingManual, to_strptime

OFX, CAMT, CSV = "OFX", "CAMT.053", "CSV"
MAX_STATEMENT_BYTES = 64 * 1024 * 1024  # far more than a year of any company's bank lines


@dataclass(frozen=True)
class BankLine:
    """One payment received, as the bank reported it."""

    identity: str  # stable across statements: the ledger's key
    booked: date
    amount: Decimal  # always positive: money in
    description: str = ""  # memo, remittance text, transaction description
    reference: str = ""  # the payer's reference, end-to-end id, check number
    payer: str = ""  # the payer's name, when the bank gives one
    where: str = ""  # for messages: "march.ofx: FITID 2026031501"

    @property
    def text(self) -> str:
        """Everything the payer wrote, where an invoice number may stand."""
        return " ".join(part for part in (self.reference, self.description, self.payer) if part)


@dataclass
class Statement:
    """The credits of one statement file, and what was left out."""

    path: Path
    kind: str
    lines: list[BankLine]
    debits_skipped: int = 0
    currency: str = ""  # as the statement declares it (OFX CURDEF, CAMT Ccy); "" when it does not


def read_statement(path: Path, manual: BillingManual) -> Statement:
    """Read one statement file, whatever its format (told by its content, not its name)."""
    try:
        size = path.stat().st_size
        if size > MAX_STATEMENT_BYTES:
            raise StatementError(f"{path}: {size // 1024**2} MiB is far larger than a bank statement; refused")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StatementError(f"{path}: statement not found") from None
    except IsADirectoryError:
        raise StatementError(f"{path}: is a folder; give the statement file") from None
    except OSError as exc:
        raise StatementError(f"{path}: cannot read the statement ({exc.strerror})") from None
    kind = sniff_statement(raw)
    if kind == OFX:
        return _read_ofx(path, raw)
    if kind == CAMT:
        return _read_camt(path, raw)
    return _read_csv(path, raw, manual)


def sniff_statement(raw: bytes) -> str:
    """OFX, CAMT.053 or CSV, from the first bytes of the file."""
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    upper = head.upper()
    if upper.startswith(b"OFXHEADER") or b"<OFX>" in upper or b"<?OFX" in upper:
        return OFX
    if head.startswith(b"<") and (b"camt.05" in head or b"BkToCstmr" in head):
        return CAMT
    return CSV


# -- OFX -------------------------------------------------------------------------------------


def _read_ofx(path: Path, raw: bytes) -> Statement:
    import ofxbr

    try:
        document = ofxbr.parse_bytes(raw)
    except ofxbr.OfxError as exc:
        raise StatementError(f"{path}: not a readable OFX statement ({exc})") from None
    lines: list[BankLine] = []
    debits = 0
    for statement in document.statements:
        account = statement.account
        scope = ":".join(part for part in (account.bank_id, account.account_id) if part)
        for number, trn in enumerate(statement.transactions, start=1):
            if trn.amount <= 0:
                debits += 1
                continue
            booked = trn.posted_at.date() if trn.posted_at else None
            if booked is None:
                raise StatementError(f"{path}: transaction {trn.fitid or number} has no date (DTPOSTED)")
            fitid = trn.fitid or _hash_identity(booked, trn.amount, trn.memo + trn.payee)
            lines.append(
                BankLine(
                    identity=f"ofx:{scope}:{fitid}",
                    booked=booked,
                    amount=trn.amount,
                    description=trn.memo,
                    reference=trn.ref_num or trn.checknum,
                    payer=trn.payee,
                    where=f"{path.name}: FITID {trn.fitid}" if trn.fitid else f"{path.name}: transaction {number}",
                )
            )
    currencies = {s.currency.upper() for s in document.statements if s.currency}
    return Statement(path, OFX, lines, debits, currencies.pop() if len(currencies) == 1 else "")


# -- CAMT.053 --------------------------------------------------------------------------------


def _read_camt(path: Path, raw: bytes) -> Statement:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"{path}: not well-formed XML ({exc})") from None
    lines: list[BankLine] = []
    debits = 0
    for number, entry in enumerate(_children(root, "Ntry", deep=True), start=1):
        amount_text = _text(entry, "Amt")
        amount = _decimal(amount_text)
        if amount is None:
            raise StatementError(f"{path}: entry {number} has no amount it can read ({amount_text!r})")
        credit = _text(entry, "CdtDbtInd") == "CRDT" and _text(entry, "RvslInd").lower() != "true"
        status = _text(entry, "Sts") or _text(entry, "Sts/Cd")
        if not credit or amount <= 0 or status in ("PDNG", "INFO"):
            debits += 1
            continue
        booked = _camt_date(_text(entry, "BookgDt/Dt") or _text(entry, "BookgDt/DtTm") or _text(entry, "ValDt/Dt"))
        if booked is None:
            raise StatementError(f"{path}: entry {number} has no booking date (BookgDt)")
        lines += _camt_transactions(path, entry, number, booked, amount)
    amounts = [n for n in root.iter() if _local(n.tag) == "Amt" and n.get("Ccy")]
    currencies = {str(n.get("Ccy")).upper() for n in amounts}
    return Statement(path, CAMT, lines, debits, currencies.pop() if len(currencies) == 1 else "")


def _camt_transactions(path: Path, entry: Any, number: int, booked: date, amount: Decimal) -> list[BankLine]:
    """The payments of one credit entry: itself, or each of its transactions when it books a batch."""
    ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    details = list(_children(entry, "TxDtls", deep=True)) or [entry]
    batch = len(details) > 1
    lines = []
    for index, tx in enumerate(details, start=1):
        tx_amount = _decimal(_text(tx, "AmtDtls/TxAmt/Amt") or _text(tx, "Amt")) if batch else amount
        if tx_amount is None or tx_amount <= 0:
            raise StatementError(f"{path}: entry {ref or number}, transaction {index} has no amount it can read")
        remittance = " ".join(t for t in (*_texts(tx, "Ustrd"), *_texts(tx, "Ref"), _text(entry, "AddtlNtryInf")) if t)
        payer = _text(tx, "RltdPties/Dbtr/Nm") or _text(tx, "RltdPties/Dbtr/Pty/Nm")
        end_to_end = _text(tx, "Refs/EndToEndId")
        identity = f"camt:{ref}" if ref else _hash_identity(booked, amount, remittance + payer)
        where = f"{path.name}: entry {ref}" if ref else f"{path.name}: entry {number}"
        lines.append(
            BankLine(
                identity=f"{identity}:{index}" if batch else identity,
                booked=booked,
                amount=tx_amount,
                description=remittance,
                reference="" if end_to_end in ("", "NOTPROVIDED") else end_to_end,
                payer=payer,
                where=f"{where}, transaction {index}" if batch else where,
            )
        )
    return lines


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(node: Any, name: str, deep: bool = False) -> Any:
    candidates = node.iter() if deep else node
    return (child for child in candidates if _local(child.tag) == name)


def _find(node: Any, path: str) -> Any:
    for name in path.split("/"):
        node = next(_children(node, name), None)
        if node is None:
            return None
    return node


def _text(node: Any, path: str) -> str:
    found = _find(node, path)
    return " ".join((found.text or "").split()) if found is not None else ""


def _texts(node: Any, name: str) -> list[str]:
    return [" ".join((n.text or "").split()) for n in _children(node, name, deep=True) if (n.text or "").strip()]


def _camt_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


# -- CSV -------------------------------------------------------------------------------------


def _read_csv(path: Path, raw: bytes, manual: BillingManual) -> Statement:
    settings = manual.section("payments").get("csv", {})
    where = f"{manual.source}: [payments.csv]"
    encoding = str(settings.get("encoding") or "utf-8-sig")
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise StatementError(
            f'{path}: not OFX, CAMT.053 or CSV text in {encoding}; set encoding under {where} (e.g. "cp1252")'
        ) from None
    delimiter = str(settings.get("delimiter") or ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise StatementError(f"{path}: the statement is empty")
    columns = _csv_columns(path, rows[0], settings, where)
    date_format = to_strptime(str(settings.get("date_format") or "DD/MM/YYYY"))
    decimal_comma = str(settings.get("decimal") or ".") == ","
    lines: list[BankLine] = []
    debits = 0
    seen: dict[str, int] = {}  # two equal lines on one day are two payments: the second gets "#2"
    for number, row in enumerate(rows[1:], start=2):

        def cell(key: str, row: list[str] = row) -> str:
            col = columns.get(key)
            return " ".join(row[col].split()) if col is not None and col < len(row) else ""

        amount = _decimal(cell("amount"), decimal_comma)
        if amount is None:
            raise StatementError(f"{path}:{number}: amount {cell('amount')!r} is not a number ({where} decimal)")
        if amount <= 0:
            debits += 1
            continue
        try:
            booked = datetime.strptime(cell("date"), date_format).date()
        except ValueError:
            raise StatementError(
                f"{path}:{number}: date {cell('date')!r} does not match the date_format under {where}"
            ) from None
        description, reference, payer = cell("description"), cell("reference"), cell("payer")
        identity = _hash_identity(booked, amount, f"{description}|{reference}|{payer}")
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] > 1:
            identity += f"#{seen[identity]}"
        lines.append(
            BankLine(
                identity=identity,
                booked=booked,
                amount=amount,
                description=description,
                reference=reference,
                payer=payer,
                where=f"{path.name}:{number}",
            )
        )
    return Statement(path, CSV, lines, debits)


def _csv_columns(path: Path, header_row: list[str], settings: dict[str, Any], where: str) -> dict[str, int]:
    """Field -> column of the CSV, by the names the manual gives; date and amount are required."""
    wanted = {key: str(settings.get(key, "")) for key in ("date", "amount", "description", "reference", "payer")}
    header = [cell.strip().casefold() for cell in header_row]
    columns: dict[str, int] = {}
    for key, name in wanted.items():
        if name and name.casefold() in header:
            columns[key] = header.index(name.casefold())
    for key in ("date", "amount"):
        if key not in columns:
            found = ", ".join(repr(c) for c in header_row[:12])
            raise StatementError(
                f"{path}: no column {wanted[key]!r} for the {key} (columns: {found}); "
                f"set {key} under {where} to the statement's column name"
            )
    return columns


# -- values ----------------------------------------------------------------------------------

_AMOUNT_JUNK = re.compile(r"[\s\u00a0]|[A-Za-z$€£R]+\$?")


def _decimal(text: str, decimal_comma: bool | None = None) -> Decimal | None:
    """``1.234,56``, ``1,234.56``, ``-50``, ``(50.00)`` as Decimals; None when not a number.

    ``decimal_comma`` None guesses from the text: the last of ``.`` and ``,`` is the decimal mark.
    """
    value = _AMOUNT_JUNK.sub("", text or "")
    if not value:
        return None
    negative = value.startswith("-") or (value.startswith("(") and value.endswith(")")) or value.endswith("-")
    value = value.strip("()+-")
    if decimal_comma is None:
        decimal_comma = value.rfind(",") > value.rfind(".")
    value = value.replace(".", "").replace(",", ".") if decimal_comma else value.replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return -number if negative else number


def _hash_identity(booked: date, amount: Decimal, text: str) -> str:
    """A line's identity when the bank gives none: the same date, amount and text give the same hash."""
    key = f"{booked.isoformat()}|{amount.quantize(Decimal('0.01'))}|{' '.join(text.split()).casefold()}"
    return "hash:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
