"""Brazil's Pix: a static "BR Code" (EMV merchant-presented QR payload) for a reminder's total.

The payload is a string of ID-length-value fields (EMV QRCPS, as the Banco Central
do Brasil's "Manual do BR Code" profiles it):

* ``00`` payload format ``01``;
* ``26`` merchant account: ``00`` GUI ``br.gov.bcb.pix``, ``01`` the Pix key;
* ``52`` merchant category ``0000``, ``53`` currency ``986`` (BRL), ``54`` the amount
  with 2 decimals, ``58`` country ``BR``, ``59`` merchant name (at most 25
  characters), ``60`` city (at most 15);
* ``62`` additional data: ``05`` the txid (at most 25 letters and digits), here
  made from the invoice numbers so the payment names them;
* ``63`` the CRC16/CCITT-FALSE of everything before it, ``6304`` included, as 4 hex digits.

The QR code of the payload is drawn with ``segno`` as a PNG (mail programs block SVG).
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

from toolkit.errors import ManualError

GUI = "br.gov.bcb.pix"
MAX_KEY, MAX_NAME, MAX_CITY, MAX_TXID = 77, 25, 15, 25
_NOT_TXID = re.compile(r"[^A-Za-z0-9]")
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 .,\-/&]")


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"Pix field {tag} is {len(value)} characters; at most 99 fit")
    return f"{tag}{len(value):02d}{value}"


def plain_ascii(text: str, limit: int) -> str:
    """Text a payer's bank app shows everywhere: accents dropped, odd characters out, at most ``limit``."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NOT_PLAIN.sub("", ascii_text).split())[:limit].strip()


def txid_for(invoices: Sequence[str]) -> str:
    """A txid from the invoice numbers: their letters and digits, joined; a short hash keeps a long list within 25."""
    joined = "".join(_NOT_TXID.sub("", number) for number in invoices)
    if not joined:
        return "***"  # the BR Code's "no txid"
    if len(joined) <= MAX_TXID:
        return joined
    digest = hashlib.sha256("|".join(invoices).encode("utf-8")).hexdigest()[:9].upper()
    return joined[: MAX_TXID - len(digest)] + digest


def pix_payload(key: str, amount: Decimal, merchant_name: str, city: str, txid: str) -> str:
    """The BR Code for paying ``amount`` to ``key``, its CRC included."""
    if not 0 < len(key) <= MAX_KEY:
        raise ValueError(f"a Pix key has 1 to {MAX_KEY} characters, not {len(key)}")
    if amount <= 0:
        raise ValueError("a Pix code is for an amount more than zero")
    value = f"{amount.quantize(Decimal('0.01'))}"
    if len(value) > 13:
        raise ValueError(f"{value} is longer than a Pix amount may be (13 characters)")
    account = _field("00", GUI) + _field("01", key)
    body = "".join(
        (
            _field("00", "01"),
            _field("26", account),
            _field("52", "0000"),
            _field("53", "986"),
            _field("54", value),
            _field("58", "BR"),
            _field("59", merchant_name[:MAX_NAME]),
            _field("60", city[:MAX_CITY]),
            _field("62", _field("05", txid[:MAX_TXID])),
            "6304",
        )
    )
    return body + f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


def qr_png(payload: str, scale: int = 5) -> bytes:
    """The payload as a QR code, a PNG image (error correction M, the usual quiet zone)."""
    import segno

    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def check_pix_settings(settings: dict[str, object], company: dict[str, object], source: str) -> None:
    """The [payments] Pix settings, checked once when the manual is read: a code must come out of them."""
    key = str(settings.get("pix_key", "")).strip()
    if not key:
        return
    where = f"{source}: [payments]"
    if str(company.get("currency", "")).upper() != "BRL":
        raise ManualError(
            f"{where} pix_key is set, but Pix is paid in reais and [company] currency is "
            f'{company.get("currency")!r}; set currency = "BRL" or leave pix_key empty'
        )
    company_name = str(company.get("name", ""))
    if len(key) > MAX_KEY:
        raise ManualError(f"{where} pix_key has {len(key)} characters; a Pix key has at most {MAX_KEY}")
    name = plain_ascii(str(settings.get("pix_merchant_name") or company_name), MAX_NAME)
    if not name:
        raise ManualError(f"{where} pix_merchant_name is needed with a pix_key (the name the payer's bank shows)")
    city = plain_ascii(str(settings.get("pix_city", "")), MAX_CITY)
    if not city:
        raise ManualError(f'{where} pix_city is needed with a pix_key (the company\'s city, like "SAO PAULO")')
