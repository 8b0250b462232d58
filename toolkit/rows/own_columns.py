"""Which columns of the invoice sheet are the tool's own, and which only look like them.

The tool writes into a column only when it is sure the column is its own, because
writing into the accountant's column destroys their data. A column is the tool's when

- its header is *exactly* the name in ``[output_columns]`` (``Status``, not ``Status ``
  nor ``STATUS``), and
- every value below the header is one the tool writes in that column: a status label
  in Status, a whole number in Days Overdue, an aging label in Aging, a date in Last
  Reminder, text in Problems and Reminder Stage (and Problems only beside the tool's
  own Status column).

No marker is stored in the workbook: a defined name or a comment would change parts
other than the sheet, and the values themselves are what a later run can always find
again, whoever saved the file in between (Excel turns the tool's inline strings into
shared strings, which changes nothing here). Columns written by earlier versions of
the tool hold only such values, so they are found as the tool's too.

A column that fails either test is *foreign*: the tool never writes into it, and a
run that would have to add its own column of that name (which would then be two
columns of one name, and in an Excel table an invalid one) is refused instead,
naming the cell and the ``[output_columns]`` setting to change (``toolkit.pipeline``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from toolkit.manual import BillingManual, load_manual
from toolkit.text import column_letter


@dataclass(frozen=True)
class ForeignColumn:
    """A column named like one of the tool's that is not the tool's: why, and where to look."""

    key: str  # the tool's column it looks like (``status``)
    col: int
    header: str
    row: int | None = None  # a row holding a value the tool never writes there; None: the header differs
    value: Any = None

    def reason(self, sheet: str, header_row: int, wanted: str) -> str:
        """Where the column is and why it is not the tool's, starting with its cell."""
        if self.row is None:
            return (
                f"{sheet}!{column_letter(self.col)}{header_row}: the column {self.header!r} is yours, "
                f"not the tool's (its header is not exactly {wanted!r})"
            )
        return (
            f"{sheet}!{column_letter(self.col)}{self.row}: the column {self.header!r} is yours, not the tool's "
            f"(it holds {str(self.value)!r}, which the tool never writes there)"
        )


@functools.lru_cache(maxsize=1)
def _default_manual() -> BillingManual:
    return load_manual(None)


class OwnColumnRules:
    """What the tool may have written in each of its columns, by the manual (and the built-in labels)."""

    def __init__(self, manual: BillingManual) -> None:
        labels = set()
        aging = set()
        for each in (manual, _default_manual()):
            labels |= set(each.statuses.values())
            aging |= {*each.aging.labels, each.statuses["current"], each.statuses["on_hold"]}
        self.statuses = frozenset(labels)
        self.aging = frozenset(aging)

    def foreign_value(self, key: str, values: Iterable[Any], status_is_ours: bool) -> tuple[bool, Any]:
        """``(True, value)`` for the first value the tool never writes in column ``key``; else ``(False, None)``."""
        for value in values:
            if value is None or value == "":
                continue
            if not self._could_write(key, value, status_is_ours):
                return True, value
        return False, None

    def _could_write(self, key: str, value: Any, status_is_ours: bool) -> bool:
        if key == "status":
            return isinstance(value, str) and value in self.statuses
        if key == "aging":
            return isinstance(value, str) and value in self.aging
        if key == "days_overdue":
            if isinstance(value, bool):
                return False
            if isinstance(value, int):
                return True
            if isinstance(value, float):
                return value.is_integer()
            return isinstance(value, str) and value.strip().lstrip("-").isdigit()
        if key == "last_reminder":
            if isinstance(value, date):
                return True
            if isinstance(value, int | float) and not isinstance(value, bool):
                return 18_264 <= value <= 73_051  # a date serial (1950-2100) in a cell shown as a number
            if isinstance(value, str):
                try:
                    date.fromisoformat(value.strip()[:10])
                except ValueError:
                    return False
                return True
            return False
        if key == "problems":
            return isinstance(value, str) and status_is_ours
        if key == "reminder_stage":
            return isinstance(value, str)
        return True  # a column the tool has no rule for: its exact header decides
