"""Ways to pay, put in every reminder: a payment link per invoice and per message, a Pix code, the boleto line.

``payment_context`` gives what the templates show under ``payment`` (and the
``pay_link`` and ``boleto`` of each invoice); the built-in templates show each
only where the manual or the sheet sets it, and nothing where not.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from toolkit.errors import ManualError
from toolkit.payments.pix import MAX_CITY, MAX_NAME, pix_payload, plain_ascii, qr_png, txid_for

INVOICE_LINK_FIELDS = ("invoice", "balance")
MESSAGE_LINK_FIELDS = ("customer", "total", "invoices")
PIX_IMAGE_ID = "pix-qr"


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows by ``cid:`` (multipart/related)."""

    content_id: str
    png: bytes


def check_link_template(template: str, fields: Sequence[str], where: str) -> None:
    """A link template may hold only the named ``{fields}``, without formats or attributes."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ManualError(f"{where} is not a link template ({exc}); write fields as {{invoice}}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in fields or spec or conversion:
            allowed = ", ".join("{" + f + "}" for f in fields)
            raise ManualError(f"{where} holds {{{name}}}; the fields it may hold are {allowed}")


def fill_link(template: str, **values: str) -> str:
    """The template with each field URL-quoted (a customer name with spaces or & stays one value)."""
    if not template:
        return ""
    return template.format(**{key: quote(value, safe="") for key, value in values.items()})


def invoice_link(settings: dict[str, Any], number: str, balance: Decimal) -> str:
    """``[payments] link`` for one invoice, or "" when there is none."""
    return fill_link(str(settings.get("link", "")).strip(), invoice=number, balance=_plain_amount(balance))


def payment_context(
    settings: dict[str, Any],
    company_name: str,
    customer: str,
    numbers: Sequence[str],
    total: Decimal,
    *,
    with_images: bool = True,
) -> tuple[dict[str, Any], list[InlineImage]]:
    """``payment`` for the templates (link, pix), and the images the HTML part needs (none without ``with_images``)."""
    link = fill_link(
        str(settings.get("message_link", "")).strip(),
        customer=customer,
        total=_plain_amount(total),
        invoices=",".join(numbers),
    )
    key = str(settings.get("pix_key", "")).strip()
    pix = None
    images: list[InlineImage] = []
    if key and total > 0:
        name = plain_ascii(str(settings.get("pix_merchant_name") or company_name), MAX_NAME)
        city = plain_ascii(str(settings.get("pix_city", "")), MAX_CITY)
        code = pix_payload(key, total, name, city, txid_for(numbers))
        pix = {"code": code, "image": f"cid:{PIX_IMAGE_ID}", "key": key}
        if with_images:
            images.append(InlineImage(PIX_IMAGE_ID, qr_png(code)))
    return {"link": link, "pix": pix}, images


def _plain_amount(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"
