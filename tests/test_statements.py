"""receivables statement: one customer's statement of account as HTML (opened in Chromium), PDF (text read back) and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html
from PIL import Image
from pypdf import PdfReader

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.factory import DEFAULT_HEADERS, PT_HEADER_MAP, PT_HEADERS, make_workbook
from tests.reminder_kit import BRAZILIAN_COMPANY
from tests.test_gsheet import KEY, add_sheet, emulator, fake_time, google, home  # noqa: F401
from tests.test_report_page import ARTIFACTS, chromium, console_messages, run_chromium  # noqa: F401

HEADERS = (*DEFAULT_HEADERS, "Payment Date")
PT_MANUAL = f'[company]\n{BRAZILIAN_COMPANY}\ncurrency = "BRL"\ndispute_contact = "cobranca@acme.com.br"\n'


def row(number: str, customer: str, due_in: int, amount: float, paid: float = 0, **extra: Any) -> dict[str, Any]:
    due = AS_OF + timedelta(days=due_in)
    values = {
        "Invoice": number,
        "Customer": customer,
        "Email": "ap@example.com",
        "Issue Date": due - timedelta(days=30),
        "Due Date": due,
        "Amount": amount,
        "Paid": paid,
        "Payment Method": "PIX",
    }
    values.update(extra)
    return values


ROWS = [
    row("N-1", "Northwind Traders", 10, 1200.00),  # current
    row("N-2", "Northwind Traders", -15, 850.50),  # 1-30
    row("N-3", "Northwind Traders", -45, 2300.00, 1000.00),  # 31-60, part paid (a credit: no payment date)
    row("N-4", "Northwind Traders", -120, 3650.25),  # 90+
    row("N-5", "Northwind Traders", -10, 1450.00, Hold="Disputed"),  # on hold
    row("N-6", "Northwind Traders", -40, 975.25, 975.25, **{"Payment Date": AS_OF - timedelta(days=20)}),  # paid
    row("N-7", "Northwind Traders", -300, 500.00, 500.00, **{"Payment Date": AS_OF - timedelta(days=200)}),  # too old
    row("C-1", "Contoso Retail", -5, 99.99),
    row("H-1", "Harbour View Hotel", -5, 400.00, 400.00),  # paid up: no statement with --all
]
# Computed by hand: every unpaid balance of Northwind, the disputed one included.
NORTHWIND_DUE = Decimal("1200.00") + Decimal("850.50") + Decimal("1300.00") + Decimal("3650.25") + Decimal("1450.00")


def english_book(tmp_path: Path) -> Path:
    return make_workbook(tmp_path / "receivables.xlsx", ROWS, headers=HEADERS)


def portuguese_book(tmp_path: Path) -> Path:
    headers = (*PT_HEADERS, "Data de Pagamento")
    mapping = {**PT_HEADER_MAP, "Payment Date": "Data de Pagamento"}
    path = make_workbook(tmp_path / "recebiveis.xlsx", ROWS, headers=headers, header_map=mapping)
    (tmp_path / "billing-manual.toml").write_text(PT_MANUAL, encoding="utf-8")
    return path


def write(workbook: Path, customer: str, folder: Path) -> dict[str, Path]:
    files = {kind: folder / f"statement.{kind}" for kind in ("html", "pdf", "csv")}
    result = invoke(
        "statement", workbook, "--customer", customer, "--as-of", AS_OF_TEXT,
        "--html", files["html"], "--pdf", files["pdf"], "--csv", files["csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return files


def pdf_text(path: Path) -> str:
    return " ".join("\n".join(page.extract_text() for page in PdfReader(path).pages).split())


def test_totals_match_an_independent_sum(tmp_path: Path) -> None:
    """The CSV's total due is the hand-computed sum of the open balances; its lines add up to it too."""
    files = write(english_book(tmp_path), "northwind", tmp_path)
    lines = list(csv.DictReader(io.StringIO(files["csv"].read_text(encoding="utf-8-sig"))))
    open_lines = [line for line in lines if line["section"] == "open"]
    assert [line["invoice"] for line in open_lines] == ["N-4", "N-3", "N-2", "N-5", "N-1"]  # by due date
    assert sum(Decimal(line["balance"]) for line in open_lines) == NORTHWIND_DUE
    total = next(line for line in lines if line["section"] == "total_due")
    assert Decimal(total["balance"]) == NORTHWIND_DUE
    assert [(line["invoice"], line["paid"]) for line in lines if line["section"] == "payment"] == [("N-6", "975.25")]
    assert [(line["invoice"], line["paid"]) for line in lines if line["section"] == "credit"] == [("N-3", "1000.00")]
    assert next(line for line in open_lines if line["invoice"] == "N-4")["aging"] == "90+"


def test_english_statement_pdf_text(tmp_path: Path) -> None:
    """The PDF, read back as text, holds the customer, each open invoice, the aging and the total due in en_US."""
    files = write(english_book(tmp_path), "Northwind Traders", tmp_path)
    text = pdf_text(files["pdf"])
    assert "Statement of account" in text and "Customer: Northwind Traders" in text
    assert "Total due: $8,450.75" in text and f"{NORTHWIND_DUE:,}" == "8,450.75"
    for number in ("N-1", "N-2", "N-3", "N-4", "N-5"):
        assert number in text
    assert "N-7" not in text  # paid long ago: outside the payments period
    assert "Payments received" in text and "$975.25" in text
    assert "in dispute" in text
    assert "Please pay by bank transfer" in text


def test_portuguese_statement_in_the_company_locale(tmp_path: Path) -> None:
    """pt_BR/BRL: the words in Portuguese, R$ 8.450,75, dates as 20/11/2026, in the PDF and the HTML."""
    files = write(portuguese_book(tmp_path), "northwind traders", tmp_path)
    text = pdf_text(files["pdf"])
    assert "Extrato de conta" in text and "Total devido: R$ 8.450,75" in text
    assert "Pagamentos recebidos" in text and "em disputa" in text
    assert "cobranca@acme.com.br" in text
    page = files["html"].read_text(encoding="utf-8")
    assert 'lang="pt-BR"' in page and "R$\xa08.450,75" in page
    assert "20/11/2026" in page  # the as-of date, pt_BR short form


def test_html_is_self_contained(tmp_path: Path) -> None:
    """No script, no link, no src: nothing loaded; the CSP forbids it anyway; A4 page size set for print."""
    files = write(english_book(tmp_path), "Northwind Traders", tmp_path)
    page = files["html"].read_text(encoding="utf-8")
    dom = lxml_html.fromstring(page)
    assert dom.xpath("//script | //link | //*[@src] | //iframe") == []
    assert "default-src 'none'" in page and "size: A4" in page


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["en", "pt_BR"])
def test_statement_in_chromium(chromium: str, tmp_path: Path, locale: str) -> None:  # noqa: F811
    """Chromium opens the page with no console message, and shows it (screenshot in test-artifacts/); prints on A4."""
    book = english_book(tmp_path) if locale == "en" else portuguese_book(tmp_path)
    files = write(book, "Northwind Traders", tmp_path)
    result = run_chromium(chromium, files["html"].as_uri(), tmp_path / "profile", "--dump-dom")
    assert console_messages(result.stderr) == []
    dom = lxml_html.fromstring(result.stdout)
    assert dom.findtext(".//h1") == ("Statement of account" if locale == "en" else "Extrato de conta")
    assert len(dom.xpath("//table[1]/tbody/tr")) == 5
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"statement-{locale}.png"
    shot.unlink(missing_ok=True)
    run_chromium(chromium, files["html"].as_uri(), tmp_path / "p2", f"--screenshot={shot}", "--window-size=900,1300")
    with Image.open(shot) as image:
        assert image.size == (900, 1300)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20  # text, not a blank page
    printed = ARTIFACTS / f"statement-{locale}.pdf"
    run_chromium(
        chromium, files["html"].as_uri(), tmp_path / "p3", f"--print-to-pdf={printed}", "--no-pdf-header-footer"
    )
    data = printed.read_bytes()
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+59[45](\.\d+)?\s+84[12](\.\d+)?\s*\]", data)  # A4 in points


def test_all_writes_one_per_customer_with_a_balance(tmp_path: Path) -> None:
    """--all --outdir: HTML, PDF and CSV for each customer who owes something, none for one paid up."""
    book = english_book(tmp_path)
    result = invoke("statement", book, "--all", "--outdir", tmp_path / "out", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    stems = {n.rsplit(".", 1)[0] for n in names}
    assert stems == {f"statement-contoso-retail-{AS_OF_TEXT}", f"statement-northwind-traders-{AS_OF_TEXT}"}
    assert len(names) == 6
    assert "Contoso Retail: 1 open invoice(s), total due $99.99." in result.output


def test_a_long_statement_repeats_its_header_on_every_page(tmp_path: Path) -> None:
    """300 open invoices: a PDF of several A4 pages, every invoice on it, the total the sum of all."""
    rows = [row(f"L-{i:04d}", "Long Ledger Ltd", -i, 10.00 + i) for i in range(1, 301)]
    book = make_workbook(tmp_path / "long.xlsx", rows, headers=HEADERS)
    files = write(book, "Long Ledger", tmp_path)
    reader = PdfReader(files["pdf"])
    assert len(reader.pages) >= 5
    text = pdf_text(files["pdf"])
    assert all(f"L-{i:04d}" in text for i in range(1, 301))
    assert text.count("Days overdue") >= len(reader.pages) - 1
    assert f"${sum(Decimal(10 + i) for i in range(1, 301)):,.2f}" in text


def test_refusals_are_one_line(tmp_path: Path) -> None:
    """Neither --customer nor --all, a workbook as output, an unknown name: one line saying what to do."""
    book = english_book(tmp_path)
    assert "give either --customer NAME or --all" in invoke("statement", book).output
    result = invoke("statement", book, "--customer", "Northwind", "--pdf", book)
    assert result.exit_code == 1 and "a statement is never written over one" in result.output
    result = invoke("statement", book, "--customer", "Nortwind Trader", "--csv", tmp_path / "x.csv")
    assert result.exit_code == 1 and "closest: Northwind Traders" in result.output


def test_pdf_without_a_unicode_font_falls_back_to_helvetica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No DejaVu on the system: the PDF is set in Helvetica, accents kept, other letters shown as '?', amounts intact."""
    from toolkit import manual as manual_module
    from toolkit.pipeline import run_source
    from toolkit.statements import pdf as pdf_module
    from toolkit.statements.files import statement_for
    from toolkit.statements.render import StatementStyle
    from toolkit.xlsx.source import XlsxSource

    monkeypatch.setattr(pdf_module, "_FONT_CANDIDATES", ())
    rows = [row("Ł-1", "Łódź Café Ltda", -5, 1234.5)]
    book = make_workbook(tmp_path / "r.xlsx", rows, headers=HEADERS)
    manual = manual_module.load_manual()
    analysis, _ = run_source(XlsxSource(book, writes=False), manual, AS_OF, write=False)
    data = pdf_module.render_pdf(statement_for(analysis, "łódź café"), StatementStyle.of(manual))
    text = " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())
    assert "?ód? Café Ltda" in text and "$1,234.50" in text and "?-1" in text


def test_statement_carries_late_charges_a_filled_link_and_a_pix_code_for_its_total(tmp_path: Path) -> None:
    """With [late_fees] and [payments], the statement adds each invoice's charges, the link, a valid Pix code and who collects."""
    from tests.test_pix import crc_ok, decode_tlv

    book = make_workbook(tmp_path / "r.xlsx", [row("C-1", "Contoso Retail", -30, 1000.00)], headers=HEADERS)
    (tmp_path / "billing-manual.toml").write_text(
        f'[company]\n{BRAZILIAN_COMPANY}\ncurrency = "BRL"\n'
        "[late_fees]\nenabled = true\nfine_percent = 2.0\ninterest_percent_per_month = 1.0\n"
        '[payments]\nmessage_link = "https://pay.example/{customer}?total={total}"\n'
        'pix_key = "financeiro@acme.com.br"\npix_city = "Sao Paulo"\n',
        encoding="utf-8",
    )
    files = write(book, "Contoso Retail", tmp_path)
    # By hand: 2 % fine of 1,000.00 = 20.00; 1 % a month for 30 days = 10.00; due 1,030.00.
    text = pdf_text(files["pdf"])
    assert "20,00" in text or "30,00" in text
    page = files["html"].read_text(encoding="utf-8")
    assert (
        "https://pay.example/Contoso%20Retail?total=1030.00" in page
        or "https://pay.example/Contoso Retail?total=1030.00" in page
    )
    (code,) = re.findall(r"000201[0-9A-Za-z.@ /:-]+6304[0-9A-F]{4}", page)
    assert crc_ok(code) and decode_tlv(code)["54"] == "1030.00"


def test_csv_neutralises_formulas_in_sheet_text(tmp_path: Path) -> None:
    """An invoice number that a spreadsheet would run as a formula stays text in the statement's CSV (a quote in front)."""
    book = make_workbook(tmp_path / "r.xlsx", [row("@SUM(A1)", "Evil Corp", -5, 10.0)], headers=HEADERS)
    files = write(book, "Evil Corp", tmp_path)
    lines = list(csv.DictReader(io.StringIO(files["csv"].read_text(encoding="utf-8-sig"))))
    assert lines[0]["invoice"] == "'@SUM(A1)"


def test_pdf_font_follows_the_text(tmp_path: Path) -> None:
    """Latin-1 text is set in the built-in Helvetica (nothing to load); a name beyond it in DejaVu Sans, embedded."""
    from toolkit.statements import pdf as pdf_module

    if not Path(pdf_module._FONT_CANDIDATES[0][0]).is_file():
        pytest.fail("DejaVu Sans is not installed (apt-get install fonts-dejavu-core; .ci/run does it)")
    rows = [row("A-1", "Açougue São João", -5, 10.0), row("B-1", "Łódź Trading", -5, 20.0)]
    book = make_workbook(tmp_path / "r.xlsx", rows, headers=HEADERS)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    latin = write(book, "Açougue São João", tmp_path / "a")
    other = write(book, "Łódź Trading", tmp_path / "b")
    latin_pdf, other_pdf = latin["pdf"].read_bytes(), other["pdf"].read_bytes()
    assert b"/Helvetica" in latin_pdf and b"DejaVu" not in latin_pdf
    assert b"DejaVu" in other_pdf
    assert "Customer: Łódź Trading" in pdf_text(other["pdf"])
    assert "Customer: Açougue São João" in pdf_text(latin["pdf"])


def test_statement_of_a_google_sheet(tmp_path: Path, emulator: Any, google: list) -> None:  # noqa: F811
    """The same statement from a Google Sheet (emulator, real gspread client), which is only read."""
    add_sheet(emulator, [row("G-1", "Northwind Traders", -40, 300.0), row("G-2", "Northwind Traders", 5, 45.5)])
    result = invoke(
        "statement", f"gsheet:{KEY}", "--customer", "northwind", "--csv", tmp_path / "s.csv", "--as-of", AS_OF_TEXT
    )
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text(encoding="utf-8-sig"))))
    assert [(line["invoice"], line["aging"]) for line in lines if line["section"] == "open"] == [
        ("G-1", "31-60"),
        ("G-2", "Current"),
    ]
    assert next(line["balance"] for line in lines if line["section"] == "total_due") == "345.50"
    assert not [r for r in emulator.requests if "update" in r.kind.lower()]
