"""The invoices of a very large sheet, with those paid in full kept as columns of plain numbers.

At Excel's last row (1,048,576) an ``Invoice`` object per row, its amount as a
``Decimal`` and its entry in the results come to some 480 bytes a row: half a
gigabyte before anything else. Most rows of a real ledger are invoices paid in full
with nothing to report, and nothing downstream changes them or needs more than their
values. ``InvoiceBook`` keeps those rows *packed* (about 110 bytes a row: machine
integers in ``array`` columns, names and addresses as indexes into one table) and every
other row as its ``Invoice``; iterating the book gives every invoice in sheet order,
a packed one rebuilt as an ``Invoice`` equal in every field to the one parsed.
``ResultBook`` answers a packed row's ``RowResult`` without storing one.

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
from toolkit.rows.aging import PAID, RowResult, paid_in_full
from toolkit.rows.invoices import NO_OUTPUTS, ZERO, ZERO_FROM_FLOAT, Invoice

_NONE_INT = -(2**31)  # "no value" in an int column (terms, dates)
# Flags of a packed row.
_EMAIL_OK = 1
_BALANCE_ZERO = 2  # the balance cell held 0 (an integer zero)
_BALANCE_ZERO_FLOAT = 4  # the balance cell held 0.0
# The largest coefficient an 'q' column holds.
_MAX_COEFFICIENT = 2**63 - 1


class PackedPaid:
    """Invoices paid in full with nothing to report, one column per field."""

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
        # Index 0 of the tables is None: no name, no address, no outputs.
        self.texts: list[str | None] = [None]
        self.texts_index: dict[str, int] = {}
        self.outputs_index: dict[tuple[tuple[str, Any], ...], int] = {}
        self.outputs_table: list[dict[str, Any]] = [NO_OUTPUTS]  # a row's dict is only ever read: one per set of values
        self.days: dict[int, date] = {}  # ordinal -> one date object, as the reader shares them

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, inv: Invoice, result: RowResult) -> bool:
        """Keep ``inv`` packed if it is an invoice paid in full as packing knows them; False if not."""
        amount = inv.amount
        if (
            result.status != PAID
            or (self.rows and inv.row <= self.rows[-1])  # rows out of order (a damaged sheet): kept as objects
            or amount is None
            or inv.paid is not amount
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
        flags = _EMAIL_OK if inv.email_ok else 0
        if inv.balance_cell is ZERO:
            flags |= _BALANCE_ZERO
        elif inv.balance_cell is ZERO_FROM_FLOAT:
            flags |= _BALANCE_ZERO_FLOAT
        elif inv.balance_cell is not None:
            return False
        sign, _, exponent = amount.as_tuple()
        if sign or not isinstance(exponent, int) or not -128 <= exponent <= 127:
            return False
        coefficient = int(amount.scaleb(-exponent))
        if coefficient > _MAX_COEFFICIENT or Decimal(coefficient).scaleb(exponent) != amount:
            return False
        outputs = self._outputs_index(inv.outputs)
        if outputs is None:
            return False
        self.rows.append(inv.row)
        self.numbers.append(inv.number)
        self.customers.append(self._text_index(inv.customer))
        self.emails.append(self._text_index(inv.email))
        self.methods.append(self._text_index(inv.payment_method))
        self.issue_dates.append(self._ordinal(inv.issue_date))
        self.due_dates.append(self._ordinal(inv.due_date))
        self.payment_dates.append(self._ordinal(inv.payment_date))
        self.amount_coefficients.append(coefficient)
        self.amount_exponents.append(exponent)
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

    def invoice(self, i: int) -> Invoice:
        """The ``i``-th packed invoice, rebuilt."""
        texts, day, flags = self.texts, self._day, self.flags[i]
        amount = Decimal(self.amount_coefficients[i]).scaleb(self.amount_exponents[i])
        terms = self.terms[i]
        balance_cell = ZERO if flags & _BALANCE_ZERO else ZERO_FROM_FLOAT if flags & _BALANCE_ZERO_FLOAT else None
        return Invoice(
            row=self.rows[i],
            number=self.numbers[i],
            customer=texts[self.customers[i]],
            email=texts[self.emails[i]],
            email_ok=bool(flags & _EMAIL_OK),
            issue_date=day(self.issue_dates[i]),
            due_date=day(self.due_dates[i]),
            amount=amount,
            paid=amount,
            balance_cell=balance_cell,
            payment_method=texts[self.methods[i]],
            terms_days=None if terms == _NONE_INT else terms,
            payment_date=day(self.payment_dates[i]),
            outputs=self.outputs_table[self.outputs[i]],
        )

    def position(self, row: int) -> int | None:
        """Where row ``row`` is in the columns, or None when it is not packed."""
        i = bisect_left(self.rows, row)
        return i if i < len(self.rows) and self.rows[i] == row else None

    def result(self, i: int) -> RowResult:
        """The result of the ``i``-th packed invoice: paid, as ``classify`` gives it."""
        flags = self.flags[i]
        if flags & _BALANCE_ZERO:
            return paid_in_full(ZERO)
        if flags & _BALANCE_ZERO_FLOAT:
            return paid_in_full(ZERO_FROM_FLOAT)
        amount = Decimal(self.amount_coefficients[i]).scaleb(self.amount_exponents[i])
        return paid_in_full(amount - amount)


class ResultBook(MutableMapping[int, RowResult]):
    """Row -> ``RowResult``: those of the rows kept as objects, and those of the packed rows, made when asked.

    A result set for a packed row (a rule across rows made it invalid) overrides it.
    """

    def __init__(self, packed: PackedPaid) -> None:
        self.own: dict[int, RowResult] = {}
        self.packed = packed
        self.overridden = 0  # packed rows with a result in ``own``

    def __getitem__(self, row: int) -> RowResult:
        result = self.own.get(row)
        if result is not None:
            return result
        i = self.packed.position(row)
        if i is None:
            raise KeyError(row)
        return self.packed.result(i)

    def get(self, row: int, default: Any = None) -> Any:
        result = self.own.get(row)
        if result is not None:
            return result
        i = self.packed.position(row)
        return default if i is None else self.packed.result(i)

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
        own, packed = self.own, self.packed
        for i, row in enumerate(packed.rows):
            if row not in own:
                yield packed.result(i)


class InvoiceBook(Sequence[Invoice]):
    """Every invoice of a sheet, in sheet order, with its result (``results``).

    With ``pack`` (a very large sheet), invoices paid in full with nothing to report are
    kept packed; otherwise, and for every other row, the ``Invoice`` itself is kept.
    """

    def __init__(self, classify: Callable[[Invoice, bool], RowResult], pack: bool = False) -> None:
        self.classify = classify
        self.full: list[Invoice] = []  # the invoices kept as objects, in sheet order
        self.packed: PackedPaid | None = PackedPaid() if pack else None
        self.results: MutableMapping[int, RowResult] = {} if self.packed is None else ResultBook(self.packed)
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
        """The invoices kept as objects: every invoice but those paid in full with nothing to report."""
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
        packed = self.packed
        assert packed is not None
        rows, rebuild = packed.rows, packed.invoice
        j, count = 0, len(rows)
        for inv in self.full:
            row = inv.row
            while j < count and rows[j] < row:
                yield rebuild(j)
                j += 1
            yield inv
        while j < count:
            yield rebuild(j)
            j += 1

    def with_results(self) -> Iterator[tuple[Invoice, RowResult | None]]:
        """Every invoice with its result, in sheet order, without looking each packed row's result up."""
        results = self.results
        if not self.packed:
            get = results.get
            for inv in self.full:
                yield inv, get(inv.row)
            return
        own = self._own
        packed = self.packed
        rows, rebuild, result_of = packed.rows, packed.invoice, packed.result
        j, count = 0, len(rows)
        for inv in self.full:
            row = inv.row
            while j < count and rows[j] < row:
                override = own.get(rows[j])
                yield rebuild(j), override if override is not None else result_of(j)
                j += 1
            yield inv, own.get(row)
        while j < count:
            override = own.get(rows[j])
            yield rebuild(j), override if override is not None else result_of(j)
            j += 1

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
