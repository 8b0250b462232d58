"""The .eml bytes of a reminder are exactly what the standard email library writes for the same message."""

from __future__ import annotations

import re
from dataclasses import replace
from email import policy, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.reminders.eml import AlternativeEmail, message_id_line, new_boundary, quoted_printable, to_line

BASE = AlternativeEmail(
    sender="Acme Supplies Ltd <billing@acme.example>",
    to_name="Northwind Traders",
    to_address="ap@northwindtraders.example",
    cc=(),
    bcc=(),
    reply_to="",
    subject="Final notice: 2 invoices overdue – Acme Supplies Ltd",
    date="Fri, 20 Nov 2026 09:30:00 +0000",
    message_id="<179543991188.4659.4668311951073934323.reminder@acme.example>",
    language="en",
    text="Dear Northwind Traders,\n\nTotal due: $1,500.50\n",
    html='<p style="margin: 0">Dear Northwind Traders,</p>\n<p>Total due: <strong>$1,500.50</strong></p>\n',
    boundary="===============0434369761624046528==",
)

LONG = "x" * 200
NAMES = [
    "Northwind Traders",
    "O'Brien & Sons",
    "Jean-Luc Picard-Smith",
    "Customer 0001 Ltd",
    "Acme Inc.",
    'Acme "Boss", Inc <boss@evil.example>',
    "Evil Corp Bcc: attacker@evil.example X-Injected: yes",
    "Comércio São João Ltda",
    "Papelaria Ipê — Cobrança",
    "=?utf-8?q?Mallory?=",
    "a=?b",
    "<script>alert('x')</script> & Co",
    "{{ company.name }} {% for i in range(3) %}X{% endfor %}",
    "Müller (Zürich) GmbH; Abt. Buchhaltung",
    "A" * 60,
    "Word " * 20,
    "José",
    "日本の会社",
    "",
    "x",
    "Who?",
    "back\\slash",
]
ADDRESSES = [
    "ap@northwindtraders.example",
    "billing0001@customer0001.example.com",
    "first.last+tag@sub.domain.example",
    "ap@xn--padaria-so-joo-yhbe.example",
    "a@b.c",
    "very.long.local.part.of.an.address.that.goes.on@and-on-and-on.example.com",
]
SUBJECTS = [
    "Payment reminder: invoice INV-1 is overdue",
    "Final notice: 2 invoices overdue – Acme Supplies Ltd",
    "Aviso final: fatura NF-2403 em atraso – Papelaria Ipê Ltda",
    "Second reminder: invoice =?utf-8?q?x?= is 16 days overdue",
    "Friendly reminder: " + "very long subject words " * 8,
    "Fatura nº 1 vencida — lembrete " + "ç" * 90,
    "",
]
BODIES = [
    "",
    "\n",
    "one line without a newline",
    "Dear José,\n\nR$\xa01.234,56 is due. Accents: ção, ü, 日本.\n",
    "a = b and c == d; =?utf-8?q?x?=\n",
    "trailing spaces   \ntrailing tab\t\n" + "x" * 75 + " \n" + "y" * 76 + "\t\n",
    LONG + "\n" + "=" * 100 + "\n" + "é" * 50 + "\n",
    "--===============0434369761624046528==\n--\n.\nFrom the start\n",
    '<td style="border: 1px solid #ccc">' + "z" * 70 + "=</td>\n" * 3,
    "line\r\nwith\rold\rline ends\n",
]


def stdlib_bytes(email: AlternativeEmail) -> bytes:
    msg = email.to_message()
    return msg.as_bytes(policy=msg.policy)


def variants() -> list[AlternativeEmail]:
    emails = [BASE]
    emails += [replace(BASE, to_name=name) for name in NAMES]
    emails += [replace(BASE, to_address=address) for address in ADDRESSES]
    emails += [replace(BASE, subject=subject) for subject in SUBJECTS]
    emails += [replace(BASE, text=body, html=body) for body in BODIES]
    emails += [
        replace(BASE, cc=("accountant@acme.example",)),
        replace(BASE, cc=("a@acme.example", "b@acme.example"), bcc=("audit@acme.example",)),
        replace(BASE, bcc=("audit@acme.example",), reply_to="billing@acme.example"),
        replace(BASE, sender="Papelaria Ipê — Cobrança <cobranca@papelariaipe.example>", language="pt-BR"),
        replace(BASE, sender="noreply@acme.example", reply_to="Accounts Team <accounts@acme.example>"),
        replace(BASE, message_id="<1.2.3.reminder@localhost>"),
        replace(BASE, message_id="<1795439911880.123456.18446744073709551615.reminder@" + "d" * 40 + ".example>"),
        replace(BASE, date="Mon, 23 Nov 2026 13:18:31 -0300"),
        replace(BASE, boundary=new_boundary()),
    ]
    return emails


@pytest.mark.parametrize("email", variants())
def test_the_eml_bytes_are_the_email_librarys(email: AlternativeEmail) -> None:
    """Plain, quoted, encoded and over-long names, subjects and bodies: byte for byte what as_bytes() writes."""
    assert email.to_bytes() == stdlib_bytes(email)


def test_the_eml_parses_back_to_the_same_headers_and_bodies() -> None:
    """The standard parser reads the file back: every header as given, both bodies as rendered, Bcc kept."""
    email = replace(BASE, to_name="Comércio São João Ltda", cc=("a@acme.example",), bcc=("audit@acme.example",))
    msg = BytesParser(policy=policy.default).parsebytes(email.to_bytes())
    assert msg["From"] == email.sender
    assert msg["To"].addresses == (Address(email.to_name, addr_spec=email.to_address),)
    assert (msg["Cc"], msg["Bcc"], msg["Subject"]) == ("a@acme.example", "audit@acme.example", email.subject)
    assert (msg["Date"], msg["Message-ID"], msg["Content-Language"]) == (email.date, email.message_id, "en")
    text, html = msg.iter_parts()
    assert text.get_content() == email.text and html.get_content() == email.html


def test_a_line_break_in_a_header_is_refused_as_the_library_refuses_it() -> None:
    """A subject or display name with a line break raises ValueError on both paths; nothing is written."""
    for email in (replace(BASE, subject="Hi\r\nBcc: attacker@evil.example"), replace(BASE, to_name="Evil\nCorp")):
        with pytest.raises(ValueError):
            email.to_message()
        with pytest.raises(ValueError):
            email.to_bytes()


# --------------------------------------------------------------------------------------------
# Each shortcut against the library


def library_line(name: str, value: object) -> bytes:
    msg = policy.default
    return msg.fold_binary(name, msg.header_store_parse(name, value)[1])


atext = "ABCXYZabcxyz0189!#$%&'*+/?^_`{|}~-"
words = st.text(alphabet=atext, min_size=1, max_size=12)
plainish_names = st.lists(words, min_size=1, max_size=8).map(" ".join)
accented = st.text(alphabet="aoçãéíÁÇñüßØ日本語Ωж٣0-'&", min_size=1, max_size=10)
accented_names = st.lists(words | accented, min_size=1, max_size=7).map(" ".join)
any_names = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40).map(
    lambda s: " ".join(s.split())
)
labels = st.text(alphabet="abcxyz019-", min_size=1, max_size=20).filter(lambda s: not s.startswith("-"))
addresses = st.builds(
    lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
    st.lists(words, min_size=1, max_size=3),
    st.lists(labels, min_size=1, max_size=4),
)


@settings(max_examples=500, deadline=None)
@given(name=st.one_of(plainish_names, accented_names, any_names, st.sampled_from(NAMES)), address=addresses)
def test_the_to_line_is_the_librarys(name: str, address: str) -> None:
    """Any display name and address: the To line the library writes (or the error it raises)."""
    try:
        expected = library_line("To", Address(display_name=name, addr_spec=address))
    except Exception as exc:  # an address the library refuses is refused on both paths
        with pytest.raises(type(exc)):
            to_line(name, address)
        return
    assert to_line(name, address) == expected


@pytest.mark.parametrize("address_length", [10, 40, 73, 74, 75, 76])
def test_an_encoded_name_and_a_long_address_fold_as_the_library_folds_them(address_length: int) -> None:
    """An accented name of every encoded length around the fold, then a short or long address: the library's lines."""
    address = "b" * (address_length - len("@x.io")) + "@x.io"
    for name in ("Á" + "a" * n for n in range(40, 70)):
        assert to_line(name, address) == library_line("To", Address(name, addr_spec=address)), name


@settings(max_examples=300, deadline=None)
@given(
    numbers=st.lists(st.integers(min_value=0, max_value=2**64), min_size=1, max_size=4),
    domain=st.lists(labels, min_size=1, max_size=5).map(".".join),
    tag=st.sampled_from(["reminder", "", "x"]),
)
def test_the_message_id_line_is_the_librarys(numbers: list[int], domain: str, tag: str) -> None:
    """Message-IDs of every length around the fold: the line the library writes."""
    left = ".".join([*map(str, numbers), *([tag] if tag else [])])
    message_id = f"<{left}@{domain}>"
    assert message_id_line(message_id) == library_line("Message-ID", message_id)


@pytest.mark.parametrize("length", range(60, 100))
def test_lines_at_the_folding_width_are_the_librarys(length: int) -> None:
    """To and Message-ID lines one character either side of 78: the library's, folded or not."""
    for words in ("Customer ", "Comércio São João ", "Padaria Açaí ", "São " + "y" * 100):
        name = (words * 12)[: length - len("To:  <ap@x.example>")].strip()
        assert to_line(name, "ap@x.example") == library_line("To", Address(name, addr_spec="ap@x.example"))
    for name in ("Padaria São João", "Customer 0001 Ltd"):
        address = f"{'a' * (length - len(f'To: {name} <@x.example>'))}@x.example"
        assert to_line(name, address) == library_line("To", Address(name, addr_spec=address))
    message_id = f"<{'1' * (length - len('Message-ID: <@x.example>'))}@x.example>"
    assert message_id_line(message_id) == library_line("Message-ID", message_id)


def library_body(text: str) -> str:
    """The payload ``set_content(text, cte="quoted-printable")`` stores."""
    msg = EmailMessage(policy=policy.default)
    msg.set_content(text, cte="quoted-printable")
    payload = msg.get_payload()
    assert isinstance(payload, str)
    return payload


tricky_line = st.text(alphabet="ab =\t\x0bé€.", max_size=20) | st.text(alphabet="ab =\té", min_size=70, max_size=240)
tricky_lines = st.lists(tricky_line, max_size=6).map("\n".join)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(tricky_lines, st.text(max_size=500)))
def test_bodies_are_encoded_as_the_library_encodes_them(text: str) -> None:
    """Long lines, '=' and spaces at the wrap points, tabs, accents, control characters: the library's payload."""
    assert quoted_printable(text) == library_body(text)


@pytest.mark.parametrize("ending", ["", " ", "\t"])
def test_soft_breaks_fall_where_the_library_puts_them(ending: str) -> None:
    """Lines of 70 to 240 characters, an '=' or an 'é' at each place a break could cut, white space last or not."""
    # The reference is quoprimime.body_encode, which set_content calls: quicker than a message each time.
    for length in range(70, 240):
        for special in ("=", "é"):
            for at in {74, 75, 76, 77, 150, 151, 152, 153, length - 2, length - 1}:
                if 0 <= at < length:
                    line = "a" * at + special + "a" * (length - at - 1) + ending
                    expected = quoprimime.body_encode((line + "\n").encode().decode("latin-1"), 78)
                    assert quoted_printable(line) == expected, (length, special, at)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_a_quoted_printable_body_never_holds_the_boundary(text: str) -> None:
    """No body can contain '==' once encoded, so the '='-built boundary cannot occur in it."""
    body = text.replace("\r", "")
    assert "==" not in quoted_printable(body)


@settings(max_examples=200, deadline=None)
@given(
    name=st.one_of(plainish_names, accented_names, any_names),
    subject=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=120),
    text=st.text(max_size=300),
    html=st.text(max_size=300),
)
def test_any_message_is_written_as_the_library_writes_it(name: str, subject: str, text: str, html: str) -> None:
    """Random names, subjects and bodies: byte for byte what as_bytes() writes."""
    email = replace(BASE, to_name=name, subject=" ".join(subject.split()), text=text, html=html)
    assert email.to_bytes() == stdlib_bytes(email)


def test_the_boundary_looks_like_the_librarys() -> None:
    """'===============' then 19 digits then '=='."""
    assert re.fullmatch(r"={15}\d{19}==", new_boundary())
