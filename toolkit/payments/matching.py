"""Each payment received matched to open invoices, the most certain rule first.

1. ``reference``: an invoice number stands in the reference, memo or description
   (``INV-1003``, ``inv 1003``, ``NF 1003``, ``#1003`` all name invoice INV-1003);
2. ``name+amount``: the payer's name matches a customer's (rapidfuzz, at least
   ``[payments] name_match_threshold``) and the amount equals the open balance of
   exactly one of that customer's invoices;
3. ``name+sum``: the amount equals the sum of exactly one set of that customer's
   open invoices.

A payment with two equally good answers, or none, is never applied: it is listed
for a person with its candidates. Lines are matched in the order the bank booked
them, each against the balances left by those before it.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from toolkit.manual import BillingManual
from toolkit.payments.statements import BankLine
from toolkit.rows.aging import INVALID, PAID, RowResult
from toolkit.rows.invoices import Invoice
from toolkit.text import normalize_header

REFERENCE, NAME_AMOUNT, NAME_SUM = "reference", "name+amount", "name+sum"
FULL, PARTIAL, OVERPAYMENT = "full", "partial", "overpayment"
CENT = Decimal("0.01")
# Words that put an invoice number in a bank text (upper case, without accents).
INVOICE_WORDS = frozenset(
    {"INV", "INVOICE", "NF", "NFE", "NFS", "NFSE", "NOTA", "FATURA", "FAT", "FT", "DOC", "REF", "BILL", "N", "NO", "NR"}
)
_NUMBER_IN_TEXT = re.compile(r"(?<![A-Z0-9])(?:([A-Z]+)[ \-#:./°º]{0,3}|#\s*)?0*(\d{1,12})(?![0-9])")
_NUMBER_OF_INVOICE = re.compile(r"^([A-Z]*)[^A-Z0-9]*0*(\d{1,12})$")
# Most open invoices of one customer tried in sums (2**14 sets at most).
MAX_SUM_INVOICES = 14


@dataclass
class OpenInvoice:
    """An invoice that can take a payment, with what is left of its balance in this reconciliation."""

    invoice: Invoice
    balance: Decimal

    @property
    def number(self) -> str:
        return self.invoice.number or ""

    @property
    def customer(self) -> str:
        return self.invoice.customer or ""


@dataclass
class Allocation:
    """Part of a payment put on one invoice."""

    invoice: Invoice
    amount: Decimal
    balance_before: Decimal


@dataclass
class Match:
    """A payment matched with certainty: applied by ``--apply``."""

    line: BankLine
    rule: str
    allocations: list[Allocation]
    kind: str = FULL  # FULL, PARTIAL or OVERPAYMENT
    excess: Decimal = Decimal(0)  # the part of an overpayment no invoice took


@dataclass
class Review:
    """A payment left for a person: ambiguous (several candidates) or unmatched (none)."""

    line: BankLine
    reason: str
    candidates: list[Invoice] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1 or self.reason.startswith("ambiguous")


@dataclass
class Matching:
    """What matching found for every line."""

    matches: list[Match] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)


def open_invoices(invoices: Iterable[Invoice], results: Mapping[int, RowResult]) -> list[OpenInvoice]:
    """Invoices with a balance left, that a payment may go to (on hold ones too: they may be paid)."""
    found = []
    for invoice in invoices:
        result = results.get(invoice.row)
        if result is None or result.status in (PAID, INVALID) or result.balance is None or result.balance <= 0:
            continue
        if invoice.number is None or invoice.customer is None:
            continue
        # Cents: a Balance formula's cached result may carry float noise (1185.7500000000002).
        found.append(OpenInvoice(invoice, result.balance.quantize(CENT)))
    return found


@dataclass
class OpenBook:
    """The open invoices, indexed once for all the lines: by number, and by customer with the customer's name."""

    numbers: NumberIndex
    by_customer: dict[str, list[OpenInvoice]]  # folded name -> the customer's open invoices
    names: dict[str, str]  # folded name -> the words compared with a payer's (see _company_words)
    by_row: dict[int, OpenInvoice]
    _processed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, invoices: list[OpenInvoice]) -> OpenBook:
        by_customer: dict[str, list[OpenInvoice]] = {}
        names: dict[str, str] = {}
        for item in invoices:
            key = normalize_header(item.customer)
            if key not in by_customer:
                by_customer[key], names[key] = [], _company_words(item.customer)
            by_customer[key].append(item)
        return cls(_number_index(invoices), by_customer, names, {item.invoice.row: item for item in invoices})

    def processed_names(self) -> dict[str, str]:
        """The names as rapidfuzz's default processor makes them, worked out once."""
        if not self._processed:
            from rapidfuzz import utils

            self._processed.update({key: utils.default_process(name) for key, name in self.names.items()})
        return self._processed


def match_lines(lines: list[BankLine], invoices: list[OpenInvoice], manual: BillingManual) -> Matching:
    """Match every line, in booking order, against the open invoices (whose balances it uses up)."""
    threshold = float(manual.section("payments").get("name_match_threshold", 85))
    book = OpenBook.of(invoices)
    result = Matching()
    for line in sorted(lines, key=lambda item: (item.booked, item.where)):
        outcome = _match_one(replace(line, amount=line.amount.quantize(CENT)), book, threshold)
        if isinstance(outcome, Match):
            for allocation in outcome.allocations:
                book.by_row[allocation.invoice.row].balance -= allocation.amount
            result.matches.append(outcome)
        else:
            result.reviews.append(outcome)
    return result


def _match_one(line: BankLine, book: OpenBook, threshold: float) -> Match | Review:
    named = invoices_named_in(line.text, book.numbers)
    if named:
        still_open = [item for item in named if item.balance > 0]
        if not still_open:
            listed = ", ".join(item.number for item in named)
            return Review(line, f"names {listed}, already paid", [item.invoice for item in named])
        return _by_reference(line, still_open)
    customers = _payer_customers(line, book, threshold)
    if not customers:
        return Review(line, "no invoice number in the text and no customer's name like the payer's")
    theirs = [item for key in customers for item in book.by_customer[key] if item.balance > 0]
    exact = [item for item in theirs if item.balance == line.amount]
    if len(exact) == 1:
        return Match(line, NAME_AMOUNT, [Allocation(exact[0].invoice, line.amount, exact[0].balance)])
    if len(exact) > 1:
        return Review(line, "ambiguous: several open invoices of this amount", [item.invoice for item in exact])
    sums = _sums_to(line.amount, theirs)
    if len(sums) == 1:
        allocations = [Allocation(item.invoice, item.balance, item.balance) for item in sums[0]]
        return Match(line, NAME_SUM, allocations)
    if len(sums) > 1:
        candidates = list({id(item): item.invoice for group in sums for item in group}.values())
        return Review(line, "ambiguous: several sets of open invoices add up to this amount", candidates)
    return Review(line, "the amount is no open invoice's balance nor a sum of them", [item.invoice for item in theirs])


def _by_reference(line: BankLine, named: list[OpenInvoice]) -> Match | Review:
    """A payment naming its invoices: full, partial (one invoice) or overpayment."""
    total = sum((item.balance for item in named), Decimal(0))
    if line.amount == total:
        return Match(line, REFERENCE, [Allocation(item.invoice, item.balance, item.balance) for item in named])
    if line.amount > total:
        allocations = [Allocation(item.invoice, item.balance, item.balance) for item in named]
        return Match(line, REFERENCE, allocations, OVERPAYMENT, line.amount - total)
    if len(named) == 1:
        item = named[0]
        return Match(line, REFERENCE, [Allocation(item.invoice, line.amount, item.balance)], PARTIAL)
    return Review(
        line,
        "ambiguous: names several invoices but pays less than their balances (which to pay first?)",
        [item.invoice for item in named],
    )


# -- invoice numbers in text ------------------------------------------------------------------


@dataclass
class NumberIndex:
    """The open invoices by number: ``by_digits`` for numbers like INV-1003 or 1003 (the digits, with the
    invoice's own letters), ``patterns`` for the others (2026-0042, INV-1040-1), found as written."""

    by_digits: dict[str, list[tuple[str, OpenInvoice]]] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], OpenInvoice]] = field(default_factory=list)


def _number_index(invoices: list[OpenInvoice]) -> NumberIndex:
    index = NumberIndex()
    for item in invoices:
        folded = _fold_upper(item.number)
        match = _NUMBER_OF_INVOICE.match(folded)
        if match is not None:
            index.by_digits.setdefault(match.group(2), []).append((match.group(1), item))
            continue
        chunks = re.findall(r"[A-Z]+|\d+", folded)
        if len(chunks) >= 2 and any(chunk.isdigit() for chunk in chunks):
            # Separators may differ ("2026/0042" for "2026-0042"), never the letters and digits.
            body = r"[\s\-/.#:_]*".join(re.escape(chunk) for chunk in chunks)
            index.patterns.append((re.compile(rf"(?<![A-Z0-9]){body}(?![A-Z0-9])"), item))
    return index


def invoices_named_in(text: str, index: NumberIndex) -> list[OpenInvoice]:
    """The invoices whose number stands in ``text``, each once, in the order they appear.

    A number counts with its invoice's own prefix (``INV-1003``), a word that means
    an invoice (``NF 1003``, ``fatura 1003``) or a ``#``; a bare number does not (it
    may be an amount, an account or a date). Numbers of another shape count as written.
    """
    found: dict[int, tuple[int, OpenInvoice]] = {}
    folded = _fold_upper(text).replace("NF-E", "NFE").replace("NFS-E", "NFSE")
    for match in _NUMBER_IN_TEXT.finditer(folded):
        word, digits = match.group(1), match.group(2)
        marked = word is None and match.group(0).startswith("#")
        for prefix, item in index.by_digits.get(digits, ()):
            if marked or (word is not None and (word == prefix or word in INVOICE_WORDS)):
                found.setdefault(id(item), (match.start(), item))
    for pattern, item in index.patterns:
        at = pattern.search(folded)
        if at is not None:
            found.setdefault(id(item), (at.start(), item))
    return [item for _, item in sorted(found.values(), key=lambda pair: pair[0])]


def _fold_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


# -- names and sums ---------------------------------------------------------------------------


def _payer_customers(line: BankLine, book: OpenBook, threshold: float) -> set[str]:
    """The customers (folded names) whose name is most like the payer's, if at least ``threshold`` alike.

    The payer is the name the bank gives, or the line's text (Brazilian banks put
    "PIX RECEBIDO ACME LTDA" in the memo). Customers tied at the best score are all kept.
    """
    from rapidfuzz import fuzz, process, utils

    # The payer field, and the line's text: a bank may name the payer only in the memo, or put a
    # generic word ("PIX RECEBIDO") in the payer field.
    texts = {_company_words(text) for text in (line.payer, f"{line.description} {line.reference}")}
    scores: dict[str, float] = {}
    for text in texts - {""}:
        found = process.extract(
            utils.default_process(text),
            book.processed_names(),
            scorer=fuzz.token_set_ratio,
            processor=None,
            limit=None,
            score_cutoff=threshold,
        )
        for _, score, key in found:
            if key and score > scores.get(key, -1) and any(i.balance > 0 for i in book.by_customer[key]):
                scores[key] = score
    best = max(scores.values(), default=0.0)
    if best < threshold:
        return set()
    return {key for key, score in scores.items() if score == best}


# Words that say what kind of company it is, not which: "ACME LTDA" is "Acme Ltd." is "Acme Corporation".
_COMPANY_FORMS = frozenset(
    [
        "LTDA",
        "LTD",
        "LIMITED",
        "ME",
        "EPP",
        "EIRELI",
        "SA",
        "S",
        "A",
        "INC",
        "INCORPORATED",
        "LLC",
        "CORP",
        "CORPORATION",
        "CO",
        "COMPANY",
        "PLC",
        "GMBH",
        "AG",
        "SRL",
        "SAS",
        "BV",
        "NV",
        "CIA",
        "THE",
    ]
)


def _company_words(name: str) -> str:
    """A name without accents, punctuation and legal forms, for comparing a payer with a customer."""
    words = re.sub(r"[^A-Z0-9]+", " ", _fold_upper(name)).split()
    kept = [word for word in words if word not in _COMPANY_FORMS]
    return " ".join(kept or words)


def _sums_to(amount: Decimal, invoices: list[OpenInvoice]) -> list[tuple[OpenInvoice, ...]]:
    """Every set of two or more invoices of one customer whose balances add up to ``amount``."""
    by_customer: dict[str, list[OpenInvoice]] = {}
    for item in invoices:
        by_customer.setdefault(normalize_header(item.customer), []).append(item)
    found: list[tuple[OpenInvoice, ...]] = []
    target = int(amount * 100)
    for items in by_customer.values():
        items = sorted(items, key=lambda item: (item.invoice.due_date or date.min, item.number))
        if len(items) > MAX_SUM_INVOICES:
            items = items[:MAX_SUM_INVOICES]  # the oldest: what a customer pays off first
        cents = [int(item.balance * 100) for item in items]  # whole cents: sums in C, no Decimal per set
        if sum(cents) < target:
            continue
        for size in range(2, len(items) + 1):
            for group in itertools.combinations(range(len(items)), size):
                if sum([cents[i] for i in group]) == target:
                    found.append(tuple(items[i] for i in group))
                    if len(found) > 1:
                        return found
    return found
