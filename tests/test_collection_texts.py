"""The built-in messages say who is collecting, offer an opt-out, and stay within CDC art. 42 (no threats)."""

from __future__ import annotations

import re
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.conftest import AS_OF_TEXT, invoke
from tests.reminder_kit import BRAZILIAN_COMPANY, MANUAL, clear_environment, invoice, make_book, write_manual
from tests.smtp_server import SmtpTestServer
from tests.test_reminder_templates import builder, reminder
from toolkit.policy.late_fees import LateCharges
from toolkit.reminders.compose import TEMPLATE_PARTS

# Words a collection message must never use: threats, exposure, third parties (CDC art. 42 and 71; FDCPA).
THREAT_WORDS = {
    "en": [
        "lawsuit",
        r"\bsue\b",
        "court",
        "legal action",
        "attorney",
        "lawyer",
        "police",
        "arrest",
        "jail",
        "prison",
        "credit bureau",
        "blacklist",
        "garnish",
        "seize",
        "repossess",
        "collection agency",
        "debt collector",
        "criminal",
        "employer",
        "neighbo",
        "shame",
        "publish",
    ],
    "pt_BR": [
        "processo",
        "justiça",
        "judicial",
        "advogad",
        "polícia",
        "prisão",
        "cadeia",
        "protesto",
        "cartório",
        "serasa",
        r"\bspc\b",
        "negativa",
        "penhora",
        "bloqueio de bens",
        "empregador",
        "vizinh",
        "constrang",
        "ameaç",
        "crime",
        "expor",
    ],
}

IDENTITY = """
legal_name = "Acme Supplies Limited"
address = "1 Market Street, Springfield"
tax_id = "12-3456789"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)


@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_no_built_in_text_holds_a_threat_word(language: str, tmp_path: Path) -> None:
    """Every stage, one invoice or three, late charges shown, subject/text/HTML: none of the threat words."""
    built = builder(tmp_path, language)
    rendered = []
    for index, stage in enumerate(built.manual.reminder_stages):
        for count in (1, 3):
            message = reminder(index, built, count)
            built.charges = {
                item.invoice.row: LateCharges(item.balance, 30, Decimal("20"), Decimal("10")) for item in message.items
            }
            context = built.context(message)
            rendered += [built.templates.render(f"{stage.template}.{part}", context) for part in TEMPLATE_PARTS]
    text = "\n".join(rendered).lower()
    assert "multa de" in text or "fine" in text  # the charges were rendered too
    found = [word for word in THREAT_WORDS[language] if re.search(word, text)]
    assert found == []


def parse(path: Path) -> object:
    return BytesParser(policy=policy.default).parse(path.open("rb"))


def test_every_eml_has_list_unsubscribe_the_opt_out_and_the_footer(tmp_path: Path) -> None:
    """Each .eml of the preview: List-Unsubscribe mailto, the opt-out sentence, legal name, address and tax id."""
    write_manual(tmp_path, text=MANUAL.replace('currency = "USD"', 'currency = "USD"' + IDENTITY))
    book = make_book(tmp_path, [invoice("INV-1", "Northwind", 20), invoice("INV-2", "Contoso", -3)])
    assert invoke("run", book, "--as-of", AS_OF_TEXT).exit_code == 0
    files = sorted((tmp_path / "outbox" / AS_OF_TEXT).glob("*.eml"))
    assert len(files) == 2
    for path in files:
        msg = parse(path)
        assert msg["List-Unsubscribe"] == "<mailto:billing@acme.example?subject=unsubscribe>"  # type: ignore[index]
        for part in ("plain", "html"):
            body = msg.get_body((part,)).get_content()  # type: ignore[attr-defined]
            assert "Acme Supplies Limited" in body and "Tax ID 12-3456789" in body, path.name
            assert "1 Market Street, Springfield" in body
            assert "To stop receiving these reminders by email, reply to" in body


def test_messages_delivered_carry_the_header_and_the_cnpj(server: SmtpTestServer, tmp_path: Path) -> None:
    """Sent through a real SMTP server: List-Unsubscribe and the CNPJ arrive in every message (pt_BR)."""
    write_manual(tmp_path, text=MANUAL.replace('locale = "en_US"', BRAZILIAN_COMPANY).replace("USD", "BRL"))
    book = make_book(tmp_path, [invoice("NF-1", "Padaria", 20), invoice("NF-2", "Colégio", 3)])
    result = invoke("run", book, "--as-of", AS_OF_TEXT, "--send")
    assert result.exit_code == 0, result.output
    assert len(server.messages) == 2
    for delivered in server.messages:
        msg = delivered.message
        assert msg["List-Unsubscribe"] == "<mailto:billing@acme.example?subject=unsubscribe>"
        text = msg.get_body(("plain",)).get_content()
        assert "CNPJ/CPF 11.222.333/0001-81" in text and "Rua das Flores, 10, São Paulo - SP" in text
        assert 'com a palavra "descadastrar"' in text
