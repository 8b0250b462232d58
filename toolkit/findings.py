"""Findings: what is wrong with a row, as data, with the cell it is about.

Validators never raise on bad data; they return findings. One function renders
a finding the way editors and people read locations: ``Invoices!E17: message``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from toolkit.text import clip

Severity = Literal["error", "warning"]
MAX_MESSAGE = 1000  # characters of one finding's message


@dataclass(frozen=True)
class Finding:
    """One problem in the workbook. ``cell`` is an A1 address like ``E17`` (or None for the sheet)."""

    severity: Severity
    code: str
    message: str
    sheet: str
    cell: str | None = None
    row: int | None = None

    def __post_init__(self) -> None:
        # A message quotes cells, which may be long: it stays a line, in the terminal and in the Problems column.
        if len(self.message) > MAX_MESSAGE:
            object.__setattr__(self, "message", clip(self.message, MAX_MESSAGE))

    @property
    def location(self) -> str:
        """``Invoices!E17`` (quoted like Excel when the sheet name has spaces)."""
        sheet = f"'{self.sheet}'" if any(ch in self.sheet for ch in " !'-") else self.sheet
        return f"{sheet}!{self.cell}" if self.cell else sheet

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = self.location
        return data


def render(finding: Finding) -> str:
    """``Invoices!E17: due date ...`` for errors, ``Invoices!E17: warning: ...`` for warnings."""
    marker = "" if finding.is_error else "warning: "
    return f"{finding.location}: {marker}{finding.message}"


def sort_key(finding: Finding) -> tuple[int, str, int]:
    return (finding.row or 0, finding.cell or "", 0 if finding.is_error else 1)
