"""The interface both backends implement: a source of invoice rows that can write the tool's columns back.

A workbook file (``toolkit.xlsx.source.XlsxSource``) and a Google Sheet
(``toolkit.sheets.source.GoogleSheetSource``) are sources; ``toolkit.pipeline`` is the one
place that knows both, and everything else sees only this interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from toolkit.manual import BillingManual
from toolkit.rows.layout import SheetData


@dataclass(frozen=True)
class OutputColumn:
    """One of the tool's columns: its key (``status``), header text and column index."""

    key: str
    header: str
    col: int


Progress = Callable[[int], None]


@dataclass
class WriteReport:
    """What a write did."""

    target: str
    changed: bool
    rows: int = 0
    backup: Path | None = None
    added_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the owner should know about the write


class Source(Protocol):
    """Where the invoices live. Implemented by ``XlsxSource`` and ``toolkit.sheets.source.GoogleSheetSource``."""

    name: str

    @property
    def path(self) -> Path | None:
        """The workbook file; None for a Google Sheet."""
        ...

    def read(self, manual: BillingManual, progress: Progress | None = None) -> SheetData: ...

    def check_writable(self) -> None:
        """Refuse before any work when the source cannot be written (a workbook open in Excel, read-only)."""
        ...

    def write_cells(
        self, data: SheetData, cells: dict[tuple[int, int], Any], cached: set[tuple[int, int]]
    ) -> Path | None:
        """Write given cells anywhere in the sheet (payments applied); the backup kept, if any."""
        ...

    def write(
        self, data: SheetData, columns: list[OutputColumn], values: Mapping[int, dict[str, Any]]
    ) -> WriteReport: ...

    def close(self) -> None:
        """Release what reading started for a write that did not come (a process waiting to check XML)."""
        ...
