"""Rebuild the sample workbooks the demo and the docs run on.

    python sample_workbooks/build_samples.py

writes sample_workbooks/acme/receivables.xlsx (English, "Acme Supplies Ltd") and
sample_workbooks/brasil/recebiveis.xlsx (Brazilian Portuguese, "Papelaria Ipê Ltda").
Everything is fixed: dates are relative to the demo date 2026-11-20 (run the tool with
--as-of 2026-11-20), nothing is random, and the document and zip timestamps are fixed,
so a rebuild gives the same bytes (with the same openpyxl, Pillow and zlib).

Both workbooks look like what an accountant keeps: title and note rows above the
header (header on row 4, invoices from row 5), Balance as a formula with its cached
result, a frozen and filtered header, a drop-down list of payment methods,
conditional formatting, a cell comment, a logo, and a customers sheet with credit
limits, a chart and a defined name. They also hold a few realistic mistakes for the
validator to find; the SAMPLE_MISTAKES lists below say which.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.factory import DEFAULT_HEADERS, PT_HEADER_MAP, PT_HEADERS, make_workbook  # noqa: E402

AS_OF = date(2026, 11, 20)
HERE = Path(__file__).resolve().parent
ACME_PATH = HERE / "acme" / "receivables.xlsx"
BRASIL_PATH = HERE / "brasil" / "recebiveis.xlsx"

D = date


# --- Acme Supplies Ltd (English) ----------------------------------------------------------

# fmt: off
ACME_CUSTOMERS: list[dict[str, Any]] = [
    {"Customer": "Northwind Traders", "Email": "billing@northwind.example", "Credit Limit": 25000, "Phone": "(555) 014-2231"},
    {"Customer": "Contoso Retail", "Email": "accounts.payable@contoso-retail.example", "Credit Limit": 40000, "Phone": "(555) 013-8870"},
    {"Customer": "Fabrikam Hardware", "Email": "ap@fabrikamhardware.example", "Credit Limit": 15000, "Phone": "+44 20 7946 0321"},
    {"Customer": "Brightwater Dental", "Email": "office@brightwaterdental.example", "Credit Limit": 5000, "Phone": "(555) 017-4409"},
    {"Customer": "Hollis & Reed Builders", "Email": "invoices@hollisreed.example", "Credit Limit": 25000, "Phone": "+44 161 496 0752"},
    {"Customer": "Maple Street Bakery", "Email": "maplestreetbakery@gmail.example", "Credit Limit": 3000, "Phone": "(555) 019-2286"},
    {"Customer": "Oakridge Veterinary Clinic", "Email": "accounts@oakridgevets.example", "Credit Limit": 8000, "Phone": "(555) 011-6543"},
    {"Customer": "Summit Office Interiors", "Email": "finance@summitinteriors.example", "Credit Limit": 35000, "Phone": "(555) 016-9921"},
    {"Customer": "Harbour View Hotel", "Email": "purchasing@harbourviewhotel.example", "Credit Limit": 12000, "Phone": "+44 117 496 0180"},
    {"Customer": "Riverside School District", "Email": "ap@riversidesd.example", "Credit Limit": 50000, "Phone": "(555) 012-3300"},
    {"Customer": "Greenleaf Garden Centre", "Email": "accounts@greenleafgardens.example", "Credit Limit": 6000, "Phone": "+44 113 496 0457"},
    {"Customer": "Kestrel Logistics", "Email": "payables@kestrellogistics.example", "Credit Limit": 18000, "Phone": "(555) 018-7714"},
]
# fmt: on
_ACME_EMAIL = {c["Customer"]: c["Email"] for c in ACME_CUSTOMERS}

ACME_TERMS_DAYS = {"Net 15": 15, "Net 30": 30, "Net 45": 45, "Net 60": 60, "Due on receipt": 0}


def acme(
    invoice: str,
    customer: str,
    issue: date | str,
    terms: str,
    amount: float,
    paid: float | None = None,
    method: str = "Bank transfer",
    *,
    due: date | str | None = None,
    email: str | None = None,
    hold: str | None = None,
    promised: date | None = None,
    installment_of: str | None = None,
    notes: str | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """One invoice row; the due date follows from the terms unless given."""
    if due is None:
        assert isinstance(issue, date)
        due = issue + timedelta(days=ACME_TERMS_DAYS[terms])
    row: dict[str, Any] = {
        "Invoice": invoice,
        "Customer": customer,
        "Email": email or _ACME_EMAIL[customer],
        "Issue Date": issue,
        "Due Date": due,
        "Amount": amount,
        "Paid": paid,
        "Payment Method": method,
        "Terms": terms,
        "Hold": hold,
        "Promised Date": promised,
        "Installment Of": installment_of,
        "Notes": notes,
    }
    if comment:
        row["_comment"] = comment
    return row


# fmt: off
ACME_ROWS: list[dict[str, Any]] = [
    acme("INV-1001", "Northwind Traders", D(2026, 5, 4), "Net 30", 4820.00, 4820.00, notes="Paid 2 Jun"),
    acme("INV-1002", "Contoso Retail", D(2026, 5, 11), "Net 30", 12450.00, 12450.00, "Check"),
    acme("INV-1003", "Hollis & Reed Builders", D(2026, 6, 1), "Net 45", 8750.00, 2000.00, notes="Part payment 14 Aug, rest promised 'soon'"),
    acme("INV-1004", "Maple Street Bakery", D(2026, 6, 15), "Net 30", 640.00, None, "Card", notes="Card declined twice"),
    acme("INV-1005", "Riverside School District", D(2026, 6, 22), "Net 60", 15300.00, 15300.00, "Check", notes="PO RSD-26-0412"),
    acme(
        "INV-1006",
        "Fabrikam Hardware",
        D(2026, 7, 1),
        "Net 30",
        3275.40,
        None,
        hold="Disputed",
        notes="Damaged goods - see comment",
        comment="Customer says 4 of 12 cartons arrived crushed. Credit note for 1,091.80 under review - do not chase until the carrier's report is in.",
    ),
    acme("INV-1007", "Kestrel Logistics", D(2026, 7, 8), "Net 30", 6120.00, 6120.00),
    acme("INV-1008", "Oakridge Veterinary Clinic", D(2026, 7, 14), "Net 30", 1185.75, 0),
    acme("INV-1009", "Summit Office Interiors", D(2026, 7, 20), "Net 45", 9860.00, 5000.00),
    acme("INV-1010", "Harbour View Hotel", D(2026, 7, 27), "Net 30", 2430.00, None, "Card"),
    acme("INV-1011", "Northwind Traders", D(2026, 8, 3), "Net 30", 5610.00, None, notes="PO 88213"),
    acme("INV-1012", "Greenleaf Garden Centre", D(2026, 8, 10), "Net 30", 1940.00, 1940.00),
    acme("INV-1013", "Brightwater Dental", D(2026, 8, 17), "Net 30", 780.00, None, "Card"),
    acme("INV-1014", "Hollis & Reed Builders", D(2026, 8, 24), "Net 30", 11200.00, None),
    acme("INV-1015", "Contoso Retail", D(2026, 8, 31), "Net 30", 7345.20, None, "Check"),
    acme(
        "INV-1016",
        "Kestrel Logistics",
        D(2026, 9, 7),
        "Net 30",
        3880.00,
        1000.00,
        promised=D(2026, 11, 27),
        notes="Dave (AP) promised the balance by phone on 18 Nov",
    ),
    acme("INV-1017", "Maple Street Bakery", D(2026, 9, 14), "Net 15", 415.50, None, "Card"),
    acme("INV-1018", "Riverside School District", D(2026, 9, 21), "Net 60", 22500.00, None, "Check", notes="PO RSD-26-0587"),
    acme("INV-1019", "Oakridge Veterinary Clinic", D(2026, 9, 28), "Net 30", 2260.00, 0),
    # Mistake: a comma for the dot in the email address.
    acme("INV-1020", "Northwind Traders", D(2026, 10, 1), "Net 30", 3145.00, None, email="billing@northwind,example"),
    acme("INV-1021", "Summit Office Interiors", D(2026, 10, 5), "Net 30", 4720.00, None),
    acme("INV-1022", "Harbour View Hotel", D(2026, 10, 8), "Net 30", 1365.00, None, "Card"),
    # Mistake: a payment method that is not in the drop-down list.
    acme("INV-1023", "Fabrikam Hardware", D(2026, 10, 12), "Net 30", 2890.00, None, "Bitcoin", notes="Customer asked to pay in crypto"),
    # Mistake: paid more than the amount (overpayment).
    acme("INV-1024", "Greenleaf Garden Centre", D(2026, 10, 15), "Net 30", 860.00, 960.00),
    acme("INV-1025", "Hollis & Reed Builders", D(2026, 10, 19), "Net 30", 9400.00, None),
    acme("INV-1026", "Contoso Retail", D(2026, 10, 22), "Net 30", 5980.00, None, "Check"),
    acme("INV-1027", "Brightwater Dental", D(2026, 10, 26), "Net 30", 1120.00, None, "Card"),
    acme("INV-1028", "Kestrel Logistics", D(2026, 10, 29), "Net 30", 4415.00, None),
    acme("INV-1029", "Riverside School District", D(2026, 11, 2), "Net 30", 8250.00, None, "Check", notes="PO RSD-26-0633"),
    # Mistake: a date typed as text that is no date at all.
    acme("INV-1030", "Northwind Traders", D(2026, 11, 3), "Net 30", 2980.00, None, due="31/02/2026"),
    acme("INV-1031", "Summit Office Interiors", D(2026, 11, 5), "Net 30", 6340.00, None),
    acme("INV-1032", "Oakridge Veterinary Clinic", D(2026, 11, 6), "Net 30", 945.00, None, "Card"),
    acme("INV-1033", "Harbour View Hotel", D(2026, 11, 9), "Net 30", 3075.00, None, "Card"),
    acme("INV-1034", "Greenleaf Garden Centre", D(2026, 11, 10), "Net 15", 1290.00, None),
    # Mistake: a duplicate invoice number (copied row, number not changed).
    acme("INV-1033", "Brightwater Dental", D(2026, 11, 10), "Net 30", 1450.00, None, "Card"),
    # Mistake: due date before the issue date (wrong month typed).
    acme("INV-1035", "Hollis & Reed Builders", D(2026, 11, 12), "Net 30", 7860.00, None, due=D(2026, 10, 12)),
    acme("INV-1036", "Maple Street Bakery", D(2026, 11, 13), "Due on receipt", 385.00, None, "Card"),
    acme("INV-1037", "Contoso Retail", D(2026, 11, 16), "Net 30", 10275.00, None, "Check"),
    acme("INV-1038", "Fabrikam Hardware", D(2026, 11, 17), "Net 30", 1760.00, None),
    acme("INV-1039", "Kestrel Logistics", D(2026, 11, 18), "Net 30", 2640.00, None),
    # One invoice of 12,000.00 split into two instalments.
    acme("INV-1040-1", "Summit Office Interiors", D(2026, 9, 15), "Net 30", 6000.00, 6000.00, installment_of="INV-1040", notes="1 of 2"),
    acme("INV-1040-2", "Summit Office Interiors", D(2026, 9, 15), "Net 60", 6000.00, None, installment_of="INV-1040", notes="2 of 2"),
]
# fmt: on

ACME_MISTAKES = {
    "duplicate invoice": "INV-1033 appears twice (rows 37 and 39)",
    "due before issue": "INV-1035 due 2026-10-12, issued 2026-11-12",
    "bad email": "INV-1020 billing@northwind,example",
    "unknown payment method": "INV-1023 Bitcoin",
    "overpayment": "INV-1024 paid 960.00 of 860.00",
    "date as text": "INV-1030 due date '31/02/2026'",
    "over credit limit": "Hollis & Reed Builders owes 35,210.00, limit 25,000.00",
}


# --- Papelaria Ipê Ltda (Brazilian Portuguese) ------------------------------------------

# fmt: off
BR_CUSTOMERS: list[dict[str, Any]] = [
    {"Customer": "Padaria São João", "Email": "financeiro@padariasaojoao.example", "Credit Limit": 8000},
    {"Customer": "Açougue Irmãos Conceição", "Email": "contato@acougueconceicao.example", "Credit Limit": 5000},
    {"Customer": "Colégio Santa Inês", "Email": "tesouraria@colegiosantaines.example", "Credit Limit": 30000},
    {"Customer": "Farmácia Bem-Estar", "Email": "compras@farmaciabemestar.example", "Credit Limit": 10000},
    {"Customer": "Livraria Ávila & Filhos", "Email": "financeiro@livrariaavila.example", "Credit Limit": 12000},
    {"Customer": "Construtora Jequitibá", "Email": "contasapagar@construtorajequitiba.example", "Credit Limit": 40000},
    {"Customer": "Clínica Odontológica Sorriso", "Email": "administracao@clinicasorriso.example", "Credit Limit": 6000},
    {"Customer": "Mercadinho Estrela do Norte", "Email": "mercadinhoestrela@gmail.example", "Credit Limit": 4000},
]
# fmt: on
_BR_EMAIL = {c["Customer"]: c["Email"] for c in BR_CUSTOMERS}

BR_TERMS_DAYS = {"30 dias": 30, "28 dias": 28, "45 dias": 45, "À vista": 0}


def br(
    invoice: str,
    customer: str,
    issue: date | str,
    terms: str,
    amount: float,
    paid: float | None = None,
    method: str = "Boleto",
    *,
    due: date | str | None = None,
    email: str | None = None,
    hold: str | None = None,
    promised: date | None = None,
    installment_of: str | None = None,
    notes: str | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """Uma fatura; o vencimento segue do prazo, a não ser que seja dado."""
    if due is None:
        issue_date = issue if isinstance(issue, date) else _parse_br(issue)
        due = issue_date + timedelta(days=BR_TERMS_DAYS[terms])
    row: dict[str, Any] = {
        "Invoice": invoice,
        "Customer": customer,
        "Email": email or _BR_EMAIL[customer],
        "Issue Date": issue,
        "Due Date": due,
        "Amount": amount,
        "Paid": paid,
        "Payment Method": method,
        "Terms": terms,
        "Hold": hold,
        "Promised Date": promised,
        "Installment Of": installment_of,
        "Notes": notes,
    }
    if comment:
        row["_comment"] = comment
    return row


def _parse_br(text: str) -> date:
    day, month, year = (int(part) for part in text.split("/"))
    return date(year, month, day)


# fmt: off
BR_ROWS: list[dict[str, Any]] = [
    br("NF-2401", "Padaria São João", D(2026, 7, 6), "30 dias", 1850.00, 1850.00),
    br("NF-2402", "Colégio Santa Inês", D(2026, 7, 10), "45 dias", 12400.00, 6000.00, notes="Pagou metade, o restante no próximo repasse"),
    br("NF-2403", "Açougue Irmãos Conceição", D(2026, 7, 15), "30 dias", 960.00, None, "PIX"),
    br("NF-2404", "Farmácia Bem-Estar", D(2026, 7, 22), "30 dias", 2340.50, 2340.50, "PIX"),
    br(
        "NF-2405",
        "Livraria Ávila & Filhos",
        D(2026, 8, 3),
        "30 dias",
        3275.00,
        None,
        hold="Em disputa",
        notes="Ver comentário",
        comment="Cliente alega que 40 resmas chegaram molhadas. Aguardando laudo da transportadora - não cobrar por enquanto.",
    ),
    br("NF-2406", "Construtora Jequitibá", D(2026, 8, 12), "28 dias", 8920.00, None, "Transferência", notes="Pedido 1187"),
    br("NF-2407", "Mercadinho Estrela do Norte", D(2026, 8, 20), "30 dias", 1480.00),
    br("NF-2408", "Clínica Odontológica Sorriso", D(2026, 8, 28), "30 dias", 690.00, 690.00, "Cartão"),
    br(
        "NF-2409",
        "Padaria São João",
        D(2026, 9, 4),
        "30 dias",
        2115.00,
        None,
        promised=D(2026, 11, 25),
        notes="Prometeu pagar dia 25 (falou com a Dona Rita)",
    ),
    # Data digitada como texto (válida).
    br("NF-2410", "Mercadinho Estrela do Norte", "11/09/2026", "30 dias", 1260.00),
    br("NF-2411", "Colégio Santa Inês", D(2026, 9, 18), "45 dias", 9750.00),
    # Erro: e-mail sem @.
    br("NF-2412", "Açougue Irmãos Conceição", D(2026, 9, 25), "30 dias", 1135.00, None, "PIX", email="contato.acougueconceicao.com.br"),
    br("NF-2413", "Farmácia Bem-Estar", D(2026, 10, 2), "30 dias", 3480.00, 1500.00, "Transferência"),
    # Vencimento digitado como texto (válido).
    br("NF-2414", "Construtora Jequitibá", D(2026, 10, 8), "28 dias", 11600.00, None, "Transferência", due="05/11/2026"),
    br("NF-2415", "Mercadinho Estrela do Norte", D(2026, 10, 15), "30 dias", 1390.00),
    br("NF-2416", "Livraria Ávila & Filhos", D(2026, 10, 20), "30 dias", 2860.00, notes="Enviada 2ª via do boleto em 10/11"),
    br("NF-2417", "Clínica Odontológica Sorriso", D(2026, 10, 26), "30 dias", 1240.00, None, "Cartão"),
    # Uma venda de R$ 15.000,00 em três parcelas.
    br("NF-2418-1", "Construtora Jequitibá", D(2026, 10, 1), "30/45/60 dias", 5000.00, 5000.00, due=D(2026, 10, 31), installment_of="NF-2418", notes="Parcela 1/3"),
    br("NF-2418-2", "Construtora Jequitibá", D(2026, 10, 1), "30/45/60 dias", 5000.00, None, due=D(2026, 11, 15), installment_of="NF-2418", notes="Parcela 2/3"),
    br("NF-2418-3", "Construtora Jequitibá", D(2026, 10, 1), "30/45/60 dias", 5000.00, None, due=D(2026, 11, 30), installment_of="NF-2418", notes="Parcela 3/3"),
    br("NF-2419", "Padaria São João", D(2026, 11, 3), "À vista", 480.00, 480.00, "PIX"),
    br("NF-2420", "Colégio Santa Inês", D(2026, 11, 5), "45 dias", 7300.00),
    # Erro: vencimento antes da emissão (mês errado: 09/10 em vez de 09/12).
    br("NF-2421", "Farmácia Bem-Estar", D(2026, 11, 9), "30 dias", 2150.00, None, "Transferência", due=D(2026, 10, 9)),
    br("NF-2422", "Mercadinho Estrela do Norte", "12/11/2026", "30 dias", 880.00),
    br("NF-2423", "Açougue Irmãos Conceição", D(2026, 11, 16), "30 dias", 1020.00, None, "PIX"),
]
# fmt: on

BR_MISTAKES = {
    "bad email": "NF-2412 contato.acougueconceicao.com.br",
    "due before issue": "NF-2421 vencimento 09/10/2026, emissão 09/11/2026",
    "over credit limit": "Mercadinho Estrela do Norte deve R$ 5.010,00, limite R$ 4.000,00",
}

BR_CUSTOMER_HEADERS = {"Customer": "Cliente", "Email": "E-mail", "Credit Limit": "Limite de Crédito"}


def build_acme(path: Path = ACME_PATH) -> Path:
    return make_workbook(
        path,
        ACME_ROWS,
        headers=DEFAULT_HEADERS,
        sheet="Invoices",
        title_rows=(
            "Acme Supplies Ltd - Accounts Receivable",
            "Maintained by the accountant (J. Morris) - updated every Monday. Amounts in USD. Balance = Amount - Paid.",
        ),
        customers=ACME_CUSTOMERS,
        customers_sheet="Customers",
        credit_limits_name="CreditLimits",
        payment_methods=("Bank transfer", "Card", "Check", "ACH"),  # as in acme/billing-manual.toml
        comment_author="Jane Morris",
        logo_text="ACME",
        chart_title="Credit limit by customer",
        author="Jane Morris",
    )


def build_brasil(path: Path = BRASIL_PATH) -> Path:
    return make_workbook(
        path,
        BR_ROWS,
        headers=PT_HEADERS,
        header_map=PT_HEADER_MAP,
        sheet="Faturas",
        title_rows=(
            "Papelaria Ipê Ltda - Contas a Receber",
            "Planilha mantida pela contabilidade (Márcia) - atualizada toda segunda-feira. Saldo = Valor - Pago.",
        ),
        customers=BR_CUSTOMERS,
        customers_sheet="Clientes",
        customer_keys=("Customer", "Email", "Credit Limit"),
        customer_header_map=BR_CUSTOMER_HEADERS,
        credit_limits_name="LimitesDeCredito",
        payment_methods=("PIX", "Boleto", "Transferência", "Cartão"),
        date_format="dd/mm/yyyy",
        money_format='"R$" #,##0.00',
        comment_author="Márcia Oliveira",
        logo_text="IPÊ",
        chart_title="Limite de crédito por cliente",
        author="Márcia Oliveira",
    )


# --- a summary, to check the data covers what the demo needs --------------------------------


def _as_date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return _parse_br(str(value))
    except (ValueError, TypeError):
        return None


def summarize(rows: list[dict[str, Any]], customers: list[dict[str, Any]]) -> dict[str, Any]:
    """Aging bucket counts and customers over their credit limit, as of AS_OF."""
    buckets: Counter[str] = Counter()
    owed: Counter[str] = Counter()
    for row in rows:
        balance = (row["Amount"] or 0) - (row["Paid"] or 0)
        due = _as_date(row["Due Date"])
        if balance <= 0:
            buckets["paid"] += 1
            continue
        owed[row["Customer"]] += balance
        if due is None:
            buckets["bad date"] += 1
            continue
        days = (AS_OF - due).days
        if days <= 0:
            buckets["current"] += 1
        elif days <= 30:
            buckets["1-30"] += 1
        elif days <= 60:
            buckets["31-60"] += 1
        elif days <= 90:
            buckets["61-90"] += 1
        else:
            buckets["90+"] += 1
    limits = {c["Customer"]: c["Credit Limit"] for c in customers}
    over = {name: round(total, 2) for name, total in owed.items() if total > limits.get(name, float("inf"))}
    return {"rows": len(rows), "buckets": dict(buckets), "over_limit": over}


def main() -> None:
    acme_summary = summarize(ACME_ROWS, ACME_CUSTOMERS)
    br_summary = summarize(BR_ROWS, BR_CUSTOMERS)
    for summary in (acme_summary, br_summary):
        for bucket in ("current", "1-30", "31-60", "61-90", "90+", "paid"):
            assert summary["buckets"].get(bucket), f"no invoice in {bucket}: {summary}"
        assert len(summary["over_limit"]) == 1, summary
    assert len({c["Customer"] for c in ACME_CUSTOMERS}) == 12
    for path in (build_acme(), build_brasil()):
        print(f"wrote {path.relative_to(ROOT)}")
    print("acme:", acme_summary)
    print("brasil:", br_summary)


if __name__ == "__main__":
    main()
