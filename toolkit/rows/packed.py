"""The invoices of a very large sheet, kept as columns of plain numbers where they can be.

At Excel's last row (1,048,576) an ``Invoice`` object per row, its amount as a
``Decimal`` and its entry in the results come to some 480 bytes a row: half a
gigabyte before anything else. Most rows of a ledger are plain invoices (paid in full,
or open, or overdue) with nothing to report, and nothing downstream changes them or
needs more than their values. ``InvoiceBook`` keeps those rows *packed* (about 110 bytes
a row: machine integers in ``array`` columns, names and addresses as indexes into one
table) and every other row as its ``Invoice``; iterating the book gives every invoice in
sheet order, a packed one rebuilt as an ``Invoice`` equal in every field to the one
parsed. ``ResultBook`` answers a packed row's ``RowResult`` without storing one: it is
what ``classify`` gives the rebuilt invoice, a row with nothing to report being valid.

What is packed: an invoice with a number, a customer, a due date and an amount, no
finding of its own, and nothing the schedule treats apart (a hold, a promise, an
installment, a boleto, a do-not-contact mark, a credit note). Anything else, or a value
the columns cannot hold exactly, keeps its object.

Packing is for sheets too large for an object per row (``SheetData.pack_paid``): a
rebuilt ``Invoice`` costs about a microsecond each time the rows are gone through, so
ordinary sheets keep their objects.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, overload

from toolkit.findings import Finding
from toolkit.rows.aging import OPEN, OVERDUE, PAID, RowResult, paid_in_full
from toolkit.rows.invoices import NO_OUTPUTS, ZERO, ZERO_FROM_FLOAT, Invoice

Classify = Callable[[Invoice, bool], RowResult]  # (invoice, has an error) -> its result, as of the run

_NONE_INT = -(2**31)  # "no value" in an int column (terms, dates)
# The bits of a packed row's flags.
_EMAIL_OK = 1
_PAID_STATUS = 2  # paid in full: its result needs no invoice rebuilt
_PAID_SHIFT, _BALANCE_SHIFT = 2, 5  # where the kinds of the paid and the balance cell are (3 bits each)
# How a packed row's paid and balance cell are kept: the same object as its amount, one of the
# shared zeros, None (the balance cell only), or a Decimal of its own in a side table.
_SAME_AS_AMOUNT, _ZERO, _ZERO_FLOAT, _NONE, _OWN = 0, 1, 2, 3, 4
_KIND_MASK = 7
_MAX_COEFFICIENT = 2**63 - 1  # the largest coefficient an 'q' column holds


def _kind(value: Decimal | None, amount: Decimal) -> int:
    if value is amount:
        return _SAME_AS_AMOUNT
    if value is ZERO:
        return _ZERO
    if value is ZERO_FROM_FLOAT:
        return _ZERO_FLOAT
    return _NONE if value is None else _OWN


def _coefficient(amount: Decimal) -> tuple[int, int] | None:
    """(coefficient, exponent) giving back exactly ``amount`` (``1E+3`` stays ``1E+3``), or None."""
    whole, _, fraction = str(amount).partition(".")
    digits = whole + fraction
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        # The common case, read from the digits (``as_tuple`` costs three times as much).
        return int(digits), -len(fraction)
    sign, _, exponent = amount.as_tuple()
    if sign or not isinstance(exponent, int) or not -128 <= exponent <= 127:
        return None
    coefficient = int(amount.scaleb(-exponent))
    if coefficient > _MAX_COEFFICIENT or Decimal(coefficient).scaleb(exponent) != amount:
        return None
    return coefficient, exponent


class PackedInvoices:
    """Invoices with nothing to report, one column per field."""

    __slots__ = (
        "amount_coefficients",
        "amount_exponents",
        "customers",
        "days",
        "due_dates",
        "emails",
        "flags",
        "issue_dates",
        "methods",
        "numbers",
        "outputs",
        "outputs_index",
        "outputs_table",
        "own_values",
        "payment_dates",
        "rows",
        "terms",
        "texts",
        "texts_index",
    )

    def __init__(self) -> None:
        self.rows = array("i")
        self.numbers: list[str] = []
        self.customers, self.emails, self.methods = array("I"), array("I"), array("I")
        self.issue_dates, self.due_dates, self.payment_dates = array("i"), array("i"), array("i")
        self.amount_coefficients, self.amount_exponents = array("q"), array("b")
        self.terms = array("i")
        self.flags = array("B")
        self.outputs = array("I")
        # A paid or a balance cell that is not the amount nor a shared zero (a part payment): (i, field) -> it.
        self.own_values: dict[tuple[int, str], Decimal] = {}
        # Index 0 of the tables is None: no name, no address, no outputs.
        self.texts: list[str | None] = [None]
        self.texts_index: dict[str, int] = {}
        self.outputs_index: dict[tuple[tuple[str, Any], ...], int] = {}
        self.outputs_table: list[dict[str, Any]] = [NO_OUTPUTS]  # a row's dict is only ever read: one per set of values
        self.days: dict[int, date] = {}  # ordinal -> one date object, as the reader shares them

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, inv: Invoice, result: RowResult) -> bool:
        """Keep ``inv`` packed if it is an invoice as packing knows them (see the module); False if not."""
        amount = inv.amount
        if (
            result.status not in (PAID, OPEN, OVERDUE)
            or (self.rows and inv.row <= self.rows[-1])  # rows out of order (a damaged sheet): kept as objects
            or amount is None
            or inv.paid is None
            or inv.number is None
            or inv.customer is None
            or inv.due_date is None
            or inv.on_hold
            or inv.is_credit
            or inv.do_not_contact
            or inv.hold_text is not None
            or inv.promised_date is not None
            or inv.installment_of is not None
            or inv.boleto is not None
            or (inv.terms_days is not None and not -(2**31) < inv.terms_days < 2**31)
        ):
            return False
        packed_amount = _coefficient(amount)
        outputs = self._outputs_index(inv.outputs)
        if packed_amount is None or outputs is None:
            return False
        paid_kind, balance_kind = _kind(inv.paid, amount), _kind(inv.balance_cell, amount)
        flags = (
            (_EMAIL_OK if inv.email_ok else 0)
            | (_PAID_STATUS if result.status == PAID else 0)
            | paid_kind << _PAID_SHIFT
            | balance_kind << _BALANCE_SHIFT
        )
        i = len(self.rows)
        if paid_kind == _OWN:
            self.own_values[i, "paid"] = inv.paid
        if balance_kind == _OWN:
            assert inv.balance_cell is not None
            self.own_values[i, "balance"] = inv.balance_cell
        self.rows.append(inv.row)
        self.numbers.append(inv.number)
        self.customers.append(self._text_index(inv.customer))
        self.emails.append(self._text_index(inv.email))
        self.methods.append(self._text_index(inv.payment_method))
        self.issue_dates.append(self._ordinal(inv.issue_date))
        self.due_dates.append(self._ordinal(inv.due_date))
        self.payment_dates.append(self._ordinal(inv.payment_date))
        self.amount_coefficients.append(packed_amount[0])
        self.amount_exponents.append(packed_amount[1])
        self.terms.append(_NONE_INT if inv.terms_days is None else inv.terms_days)
        self.flags.append(flags)
        self.outputs.append(outputs)
        return True

    def _text_index(self, text: str | None) -> int:
        if text is None:
            return 0
        index = self.texts_index.get(text)
        if index is None:
            index = self.texts_index[text] = len(self.texts)
            self.texts.append(text)
        return index

    def _ordinal(self, day: date | None) -> int:
        if day is None:
            return _NONE_INT
        ordinal = day.toordinal()
        self.days.setdefault(ordinal, day)
        return ordinal

    def _outputs_index(self, outputs: dict[str, Any]) -> int | None:
        if outputs is NO_OUTPUTS:
            return 0
        try:
            key = tuple(outputs.items())
            index = self.outputs_index.get(key)
        except TypeError:  # a value that cannot be a key: not packed
            return None
        if index is None:
            index = self.outputs_index[key] = len(self.outputs_table)
            self.outputs_table.append(outputs)
        return index

    def _day(self, ordinal: int) -> date | None:
        if ordinal == _NONE_INT:
            return None
        day = self.days.get(ordinal)
        return day if day is not None else date.fromordinal(ordinal)

    def _value(self, kind: int, amount: Decimal, i: int, field: str) -> Decimal | None:
        if kind == _SAME_AS_AMOUNT:
            return amount
        if kind == _ZERO:
            return ZERO
        if kind == _ZERO_FLOAT:
            return ZERO_FROM_FLOAT
        return None if kind == _NONE else self.own_values[i, field]

    def invoice(self, i: int) -> Invoice:
        """The ``i``-th packed invoice, rebuilt."""
        texts, day, flags = self.texts, self._day, self.flags[i]
        amount = Decimal(self.amount_coefficients[i]).scaleb(self.amount_exponents[i])
        terms = self.terms[i]
        return Invoice(
            row=self.rows[i],
            number=self.numbers[i],
            customer=texts[self.customers[i]],
            email=texts[self.emails[i]],
            email_ok=bool(flags & _EMAIL_OK),
            issue_date=day(self.issue_dates[i]),
            due_date=day(self.due_dates[i]),
            amount=amount,
            paid=self._value(flags >> _PAID_SHIFT & _KIND_MASK, amount, i, "paid"),
            balance_cell=self._value(flags >> _BALANCE_SHIFT & _KIND_MASK, amount, i, "balance"),
            payment_method=texts[self.methods[i]],
            terms_days=None if terms == _NONE_INT else terms,
            payment_date=day(self.payment_dates[i]),
            outputs=self.outputs_table[self.outputs[i]],
        )

    def position(self, row: int) -> int | None:
        """Where row ``row`` is in the columns, or None when it is not packed."""
        i = bisect_left(self.rows, row)
        return i if i < len(self.rows) and self.rows[i] == row else None

    def result(self, i: int, classify: Classify) -> RowResult:
        """The result of the ``i``-th packed invoice, as ``classify`` gives it (a paid one without rebuilding it)."""
        paid = self._paid_result(i)
        return paid if paid is not None else classify(self.invoice(i), False)

    def result_of(self, i: int, invoice: Invoice, classify: Classify) -> RowResult:
        """``result(i)`` when the caller has rebuilt the invoice already."""
        paid = self._paid_result(i)
        return paid if paid is not None else classify(invoice, False)

    def _paid_result(self, i: int) -> RowResult | None:
        """The shared result of an invoice paid in full whose balance cell is a shared zero; else None."""
        flags = self.flags[i]
        if flags & _PAID_STATUS:
            balance_kind = flags >> _BALANCE_SHIFT & _KIND_MASK
            if balance_kind == _ZERO:
                return paid_in_full(ZERO)
            if balance_kind == _ZERO_FLOAT:
                return paid_in_full(ZERO_FROM_FLOAT)
        return None


class ResultBook(MutableMapping[int, RowResult]):
    """Row -> ``RowResult``: those of the rows kept as objects, and those of the packed rows, made when asked.

    A result set for a packed row (a rule across rows made it invalid) overrides it.
    """

    def __init__(self, packed: PackedInvoices, classify: Classify) -> None:
        self.own: dict[int, RowResult] = {}
        self.packed = packed
        self.classify = classify
        # (row, position, invoice) of the packed invoice the book gave last: the loops that go
        # through the invoices look each one's result up next, which then needs no rebuilding.
        self.last: tuple[int, int, Invoice] | None = None
        self.overridden = 0  # packed rows with a result in ``own``

    def __getitem__(self, row: int) -> RowResult:
        result: RowResult | None = self.get(row)
        if result is None:
            raise KeyError(row)
        return result

    def get(self, row: int, default: Any = None) -> Any:
        result = self.own.get(row)
        if result is not None:
            return result
        last = self.last
        if last is not None and last[0] == row:
            return self.packed.result_of(last[1], last[2], self.classify)
        i = self.packed.position(row)
        return default if i is None else self.packed.result(i, self.classify)

    def __contains__(self, row: object) -> bool:
        return row in self.own or (isinstance(row, int) and self.packed.position(row) is not None)

    def __setitem__(self, row: int, result: RowResult) -> None:
        if row not in self.own and self.packed.position(row) is not None:
            self.overridden += 1
        self.own[row] = result

    def __delitem__(self, row: int) -> None:
        if self.packed.position(row) is not None:
            raise TypeError(f"row {row} is packed: its result cannot be removed")
        del self.own[row]

    def __iter__(self) -> Iterator[int]:
        yield from self.own
        own = self.own
        for row in self.packed.rows:
            if row not in own:
                yield row

    def __len__(self) -> int:
        return len(self.own) + len(self.packed) - self.overridden

    def values(self) -> Iterator[RowResult]:  # type: ignore[override]
        yield from self.own.values()
        own, packed, classify = self.own, self.packed, self.classify
        for i, row in enumerate(packed.rows):
            if row not in own:
                yield packed.result(i, classify)


class InvoiceBook(Sequence[Invoice]):
    """Every invoice of a sheet, in sheet order, with its result (``results``).

    With ``pack`` (a very large sheet), plain invoices with nothing to report are kept
    packed (see the module); otherwise, and for every other row, the ``Invoice`` itself.
    """

    def __init__(self, classify: Classify, pack: bool = False) -> None:
        self.classify = classify
        self.full: list[Invoice] = []  # the invoices kept as objects, in sheet order
        self.packed: PackedInvoices | None = PackedInvoices() if pack else None
        self.results: MutableMapping[int, RowResult] = {} if self.packed is None else ResultBook(self.packed, classify)
        self._own = self.results.own if isinstance(self.results, ResultBook) else self.results

    def add(self, invoice: Invoice, findings: list[Finding]) -> RowResult:
        """Keep one invoice, aged with its own findings; rows must come in sheet order."""
        invalid = bool(findings) and any(f.is_error for f in findings)
        result = self.classify(invoice, invalid)
        if self.packed is None or findings or not self.packed.add(invoice, result):
            self.full.append(invoice)
            self._own[invoice.row] = result
        return result

    def unpacked(self) -> list[Invoice]:
        """The invoices kept as objects. Every credit note, installment, invoice on hold or with a
        promise, boleto or do-not-contact mark, and every row with a finding is among them."""
        return self.full

    def by_row(self, row: int) -> Invoice | None:
        """The invoice on sheet row ``row``, or None."""
        i = bisect_left(self.full, row, key=_row_of)
        if i < len(self.full) and self.full[i].row == row:
            return self.full[i]
        if self.packed is not None:
            j = self.packed.position(row)
            if j is not None:
                return self.packed.invoice(j)
        # Rows out of sheet order (a damaged sheet): looked for one by one.
        return next((inv for inv in self.full if inv.row == row), None)

    def __len__(self) -> int:
        return len(self.full) + (len(self.packed) if self.packed is not None else 0)

    def __iter__(self) -> Iterator[Invoice]:
        if not self.packed:
            return iter(self.full)
        return self._merged()

    def _merged(self) -> Iterator[Invoice]:
        packed, results = self.packed, self.results
        assert packed is not None and isinstance(results, ResultBook)
        rows, rebuild = packed.rows, packed.invoice
        j, count = 0, len(rows)
        for inv in self.full:
            row = inv.row
            while j < count and rows[j] < row:
                packed_inv = rebuild(j)
                results.last = (rows[j], j, packed_inv)
                yield packed_inv
                j += 1
            yield inv
        while j < count:
            packed_inv = rebuild(j)
            results.last = (rows[j], j, packed_inv)
            yield packed_inv
            j += 1
        results.last = None

    def with_results(self, unsettled: bool = False) -> Iterator[tuple[Invoice, RowResult | None]]:
        """Every invoice with its result, in sheet order, without looking each packed row's result up.

        ``unsettled``: leave out the packed invoices paid in full (without rebuilding them), for
        what looks only at what is owed (late fees, credit limits, payments to match).
        """
        results = self.results
        if not self.packed:
            get = results.get
            for inv in self.full:
                yield inv, get(inv.row)
            return
        own, packed, classify = self._own, self.packed, self.classify
        rows, flags, rebuild, result_of = packed.rows, packed.flags, packed.invoice, packed.result_of
        j, count = 0, len(rows)
        for inv in self.full:
            row = inv.row
            while j < count and rows[j] < row:
                if not (unsettled and flags[j] & _PAID_STATUS):
                    packed_inv, override = rebuild(j), own.get(rows[j])
                    yield packed_inv, override if override is not None else result_of(j, packed_inv, classify)
                j += 1
            yield inv, own.get(row)
        while j < count:
            if not (unsettled and flags[j] & _PAID_STATUS):
                packed_inv, override = rebuild(j), own.get(rows[j])
                yield packed_inv, override if override is not None else result_of(j, packed_inv, classify)
            j += 1

    def unsettled(self) -> Iterator[Invoice]:
        """Every invoice but the packed ones paid in full, in sheet order (see ``with_results``)."""
        if not self.packed:
            return iter(self.full)  # nothing packed: every invoice is kept as itself
        return (invoice for invoice, _ in self.with_results(unsettled=True))

    @overload
    def __getitem__(self, index: int) -> Invoice: ...

    @overload
    def __getitem__(self, index: slice) -> list[Invoice]: ...

    def __getitem__(self, index: int | slice) -> Invoice | list[Invoice]:
        if not self.packed:
            return self.full[index]
        return list(self)[index]  # not used on the paths that run over a large sheet


def _row_of(invoice: Invoice) -> int:
    return invoice.row
