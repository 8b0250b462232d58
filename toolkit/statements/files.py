"""Writing statements: one customer's to the files asked for, or every customer with a balance into a folder.

Files are written whole (a temporary file, then renamed), never over the workbook.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from toolkit.customers import find_customer
from toolkit.errors import StatementWriteError
from toolkit.manual import BillingManual
from toolkit.pipeline import Analysis, run_source
from toolkit.rows.validate import customer_directory
from toolkit.source import Source
from toolkit.statements.build import Statement, build_statement, lines_by_customer
from toolkit.statements.render import StatementStyle, csv_text, render_html

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


@dataclass
class StatementFiles:
    """What ``write_statements`` did: the statements made and the files written."""

    statements: list[Statement] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def statement_for(analysis: Analysis, customer: str) -> Statement:
    """The statement of the customer ``customer`` names (matched as reminders match names)."""
    key = find_customer(analysis, customer)
    assert key is not None
    lines = lines_by_customer(analysis).get(key, [])
    name = customer_directory(analysis.data, analysis.manual).names.get(key, customer)
    return build_statement(analysis, lines, "" if lines else name)


def statements_with_balance(analysis: Analysis) -> list[Statement]:
    """Every customer's statement whose total due is above zero, by name."""
    statements = [build_statement(analysis, lines) for lines in lines_by_customer(analysis).values()]
    return sorted((s for s in statements if s.total_due > 0), key=lambda s: s.customer.casefold())


def write_statements(
    source: Source,
    manual: BillingManual,
    as_of: date,
    *,
    customer: str | None = None,
    html: Path | None = None,
    pdf: Path | None = None,
    csv: Path | None = None,
    outdir: Path | None = None,
    protect: Iterable[Path] = (),
) -> StatementFiles:
    """Read the source (never writing it); write one customer's statement, or all (``outdir``)."""
    analysis, _ = run_source(source, manual, as_of, write=False)
    style = StatementStyle.of(manual)
    done = StatementFiles()
    protect = list(protect)
    if outdir is not None:
        if not outdir.is_dir():
            try:
                outdir.mkdir(parents=True)
            except OSError as exc:
                raise StatementWriteError(f"{outdir}: cannot create the folder ({exc.strerror})") from None
        for statement in statements_with_balance(analysis):
            stem = outdir / f"statement-{file_slug(statement.customer)}-{as_of.isoformat()}"
            done.statements.append(statement)
            done.written += _write_formats(statement, style, stem.with_suffix(".html"), stem.with_suffix(".pdf"),
                                           stem.with_suffix(".csv"), protect)  # fmt: skip
        return done
    assert customer is not None
    statement = statement_for(analysis, customer)
    done.statements.append(statement)
    done.written += _write_formats(statement, style, html, pdf, csv, protect)
    return done


def _write_formats(
    statement: Statement,
    style: StatementStyle,
    html: Path | None,
    pdf: Path | None,
    csv: Path | None,
    protect: list[Path],
) -> list[Path]:
    written = []
    if html is not None:
        write_file(html, render_html(statement, style).encode("utf-8"), protect)
        written.append(html)
    if pdf is not None:
        from toolkit.statements.pdf import render_pdf

        write_file(pdf, render_pdf(statement, style), protect)
        written.append(pdf)
    if csv is not None:
        write_file(csv, csv_text(statement).encode("utf-8-sig"), protect)  # a BOM: Excel then reads accents right
        written.append(csv)
    return written


def file_slug(name: str, limit: int = 60) -> str:
    """A customer name fit for a file name: letters, digits and dashes only."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:limit].strip("-") or "customer"


def write_file(path: Path, data: bytes, protect: Iterable[Path] = ()) -> None:
    """Write ``data`` to ``path`` whole, refusing the workbook itself or any workbook name."""
    where = str(path)
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        raise StatementWriteError(f"{where}: that name is for a workbook; a statement is never written over one")
    for kept in protect:
        if path.resolve() == kept.resolve():
            raise StatementWriteError(f"{where}: that is the workbook itself; choose another file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StatementWriteError(f"{where}: the folder {folder} does not exist; create it or choose another place")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise StatementWriteError(f"{where}: cannot write in {folder} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise StatementWriteError(f"{where}: cannot write the statement ({exc.strerror})") from None
