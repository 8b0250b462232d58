"""A way to pay in every reminder: the Pix BR Code (checked by independent decoders), payment links, boleto lines."""

from __future__ import annotations

import io
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
import zxingcpp
from crc import Calculator, Crc16
from PIL import Image

from tests.conftest import AS_OF_TEXT, invoke
from tests.factory import DEFAULT_HEADERS
from tests.reminder_kit import BRAZILIAN_COMPANY, MANUAL, invoice, make_book, write_manual
from toolkit.errors import ManualError
from toolkit.manual import load_manual
from toolkit.payments.pix import pix_payload, txid_for

PIX_MANUAL = """
[payments]
pix_key = "financeiro@acme.com.br"
pix_merchant_name = "Acme Suprimentos Comércio de Materiais Ltda"
pix_city = "São José dos Campos"
"""


def decode_tlv(payload: str) -> dict[str, str]:
    """An EMV payload as {id: value}, read field by field (a decoder independent of the one that wrote it)."""
    fields, at = {}, 0
    while at < len(payload):
        tag, length = payload[at : at + 2], int(payload[at + 2 : at + 4])
        fields[tag] = payload[at + 4 : at + 4 + length]
        at += 4 + length
    assert at == len(payload), "a field runs past the end of the payload"
    return fields


def crc_ok(payload: str) -> bool:
    """The last 4 characters are the CRC-16/CCITT-FALSE (IBM-3740) of all before them, by the crc package."""
    expected = Calculator(Crc16.IBM_3740).checksum(payload[:-4].encode("utf-8"))
    return payload[-8:-4] == "6304" and f"{expected:04X}" == payload[-4:]


def test_the_crc_of_the_central_banks_example() -> None:
    """The BR Code example of the Banco Central's manual ends in the CRC our builder computes."""
    from toolkit.payments.pix import crc16_ccitt_false

    example = (
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
        "5913Fulano de Tal6008BRASILIA62070503***6304"
    )
    assert f"{crc16_ccitt_false(example.encode()):04X}" == "1D3D"
    assert crc_ok(example + "1D3D")


def test_payload_fields_decode_with_a_valid_crc() -> None:
    """GUI, key, amount with 2 decimals, currency 986, country BR, name and city cut to 25 and 15, the txid."""
    txid = txid_for(["NF-1003", "NF 1004"])
    payload = pix_payload(
        "+5511987654321", Decimal("1234.5"), "ACME SUPRIMENTOS COMERCIO DE MATERIAIS", "SAO JOSE DOS CAMPOS", txid
    )
    assert crc_ok(payload)
    fields = decode_tlv(payload)
    account = decode_tlv(fields["26"])
    assert account == {"00": "br.gov.bcb.pix", "01": "+5511987654321"}
    assert fields["00"] == "01" and fields["52"] == "0000" and fields["53"] == "986" and fields["58"] == "BR"
    assert fields["54"] == "1234.50"
    assert fields["59"] == "ACME SUPRIMENTOS COMERCIO" and len(fields["59"]) == 25
    assert fields["60"] == "SAO JOSE DOS CA" and len(fields["60"]) == 15
    assert decode_tlv(fields["62"]) == {"05": "NF1003NF1004"}


def test_a_long_list_of_invoices_gives_a_txid_of_at_most_25_letters_and_digits() -> None:
    """Many invoices: their numbers, cut, and a short hash, so two lists never share a txid by the cut alone."""
    first = txid_for([f"INV-{n}" for n in range(1000, 1010)])
    second = txid_for([f"INV-{n}" for n in range(1000, 1011)])
    assert len(first) == 25 and first.isalnum() and first != second


BRAZILIAN_MANUAL = MANUAL.replace('currency = "USD"', 'currency = "BRL"').replace('locale = "en_US"', BRAZILIAN_COMPANY)


def pix_book(tmp_path: Path) -> Path:
    write_manual(tmp_path, PIX_MANUAL, text=BRAZILIAN_MANUAL)
    rows = [
        invoice("NF-1003", "Padaria Pão Quente", 5, 1200.00, paid=200.00),
        invoice("NF-1004", "Padaria Pão Quente", 5, 340.55),
        invoice("NF-1005", "Oficina Irmãos Souza", 5, 99.90),
    ]
    return make_book(tmp_path, rows)


def outbox_messages(book: Path) -> dict[str, EmailMessage]:
    found = {}
    for path in sorted((book.parent / "outbox").rglob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(msg, EmailMessage)
        found[str(msg["To"])] = msg
    return found


def test_a_reminder_carries_the_pix_code_as_text_and_as_a_qr_image(tmp_path: Path) -> None:
    """The code on its own line in the text part; the HTML shows an inline PNG (Content-ID) that decodes to it."""
    book = pix_book(tmp_path)
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    messages = outbox_messages(book)
    msg = next(m for to, m in messages.items() if "Padaria" in to)
    text = msg.get_body(("plain",)).get_content()
    code = next(line for line in text.splitlines() if line.startswith("000201"))
    assert crc_ok(code)
    fields = decode_tlv(code)
    assert fields["54"] == "1340.55"  # the message's total: 1000.00 + 340.55
    assert decode_tlv(fields["26"])["01"] == "financeiro@acme.com.br"
    assert decode_tlv(fields["62"])["05"] == "NF1003NF1004"
    related = next(part for part in msg.walk() if part.get_content_type() == "multipart/related")
    html = next(p for p in related.iter_parts() if p.get_content_type() == "text/html").get_content()
    assert 'src="cid:pix-qr"' in html and code in html
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<pix-qr>"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    assert [d.text for d in decoded] == [code]
    other = next(m for to, m in messages.items() if "Oficina" in to)
    other_code = next(
        line for line in other.get_body(("plain",)).get_content().splitlines() if line.startswith("000201")
    )
    assert decode_tlv(other_code)["54"] == "99.90" and crc_ok(other_code)


def test_links_and_boleto_lines_show_where_set_and_nothing_where_not(tmp_path: Path) -> None:
    """A link per invoice and per message, the boleto of an invoice that has one; no Pix block without a key."""
    write_manual(
        tmp_path,
        '[payments]\nlink = "https://pay.acme.example/{invoice}?amount={balance}"\n'
        'message_link = "https://pay.acme.example/all?c={customer}&i={invoices}"\n',
    )
    boleto = "34191.79001 01043.510047 91020.150008 1 96610000120000"
    rows = [
        invoice("INV-1", "Northwind & Co", 5, 1200.00, Boleto=boleto),
        invoice("INV-2", "Northwind & Co", 5, 300.00),
    ]
    book = make_book(tmp_path, rows, headers=(*DEFAULT_HEADERS, "Boleto"))
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    (msg,) = outbox_messages(book).values()
    text = msg.get_body(("plain",)).get_content()
    assert "Pay INV-1 online: https://pay.acme.example/INV-1?amount=1200.00" in text
    assert "Pay INV-2 online: https://pay.acme.example/INV-2?amount=300.00" in text
    assert f"Boleto for INV-1: {boleto}" in text and "Boleto for INV-2" not in text
    assert "https://pay.acme.example/all?c=Northwind%20%26%20Co&i=INV-1%2CINV-2" in text
    assert "Pix" not in text
    html = msg.get_body(("html",)).get_content()
    assert 'href="https://pay.acme.example/all?c=Northwind%20%26%20Co&amp;i=INV-1%2CINV-2"' in html
    assert not any(part.get_content_type() == "image/png" for part in msg.walk())


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            'link = "https://pay.example/{invoce}"',
            "[payments] link holds {invoce}; the fields it may hold are {invoice}, {balance}",
        ),
        ('pix_key = "x@y.example"\npix_city = ""', "pix_city is needed with a pix_key"),
        ('pix_key = "' + "k" * 78 + '"\npix_city = "RIO"', "pix_key has 78 characters; a Pix key has at most 77"),
        ('pix_key = "x@y.example"\npix_city = "RIO"', "Pix is paid in reais and [company] currency is 'USD'"),
    ],
)
def test_payment_settings_that_cannot_work_are_refused_when_the_manual_is_read(
    tmp_path: Path, setting: str, message: str
) -> None:
    """A misspelt link field or a Pix key without a city is an error naming the manual and the setting."""
    path = tmp_path / "billing-manual.toml"
    currency = "USD" if "reais" in message else "BRL"
    path.write_text(f'[company]\ncurrency = "{currency}"\n[payments]\n{setting}\n', encoding="utf-8")
    with pytest.raises(ManualError) as caught:
        load_manual(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
