"""A reminder email (plain text and HTML), as an ``EmailMessage`` to send and as ``.eml`` bytes to preview.

The standard library builds an ``EmailMessage`` by parsing every header it is given
(its header registry) and folds every header again when it writes the message out:
about 3 ms a message, most of a run with thousands of reminders. Yet nearly every
header of a reminder is the same from one message to the next (From, Cc, Reply-To,
the MIME headers), so ``to_bytes`` has the library fold each distinct header line
once and reuses it, writes the To and Message-ID lines directly in the shapes where
the library's result is known (its encoder makes the encoded words), and encodes the
bodies as quoted-printable the way ``set_content`` does, with C-level string passes.

``to_message()`` builds the message the usual way: it is what is sent, and what
``receivables preview`` shows. ``to_bytes()`` gives exactly ``to_message().as_bytes()``;
tests/test_eml.py holds the two together over plain, hostile and non-ASCII names,
subjects and bodies, and checks each shortcut against the library on its own.
"""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass
from email import _encoded_words, policy  # type: ignore[attr-defined]
from email.headerregistry import Address
from email.message import EmailMessage
from functools import lru_cache

POLICY = policy.default
MAX_LINE: int = POLICY.max_line_length or 78

# RFC 5322 atext, less "=", which could start an encoded word (=?utf-8?q?...?=) the parser decodes.
_ATOM = r"[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+"
_PLAIN_NAME = re.compile(rf"{_ATOM}(?: {_ATOM})*")
_ATOM_WORD = re.compile(_ATOM)
# A word with letters beyond ASCII: letters and digits of any script, and the ASCII atom characters.
_LETTERS_WORD = re.compile(r"(?:[^\W_]|[!#$%&'*+/?^_`{|}~-])+")
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLAIN_MESSAGE_ID = re.compile(r"<[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")


def new_boundary() -> str:
    """A MIME boundary of the form the email library picks: ``===============`` and 19 digits, ``==``.

    Quoted-printable writes every ``=`` of a body as ``=3D`` or at the end of a line, so
    ``==`` never occurs in a body and one boundary can serve a whole run.
    """
    return "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message (a statement of account as PDF or CSV)."""

    filename: str
    maintype: str  # "application", "text"
    subtype: str  # "pdf", "csv"
    data: bytes


@dataclass(frozen=True)
class AlternativeEmail:
    """The headers and the two bodies of one ``multipart/alternative`` email."""

    sender: str  # From: "Company <billing@example.com>"
    to_name: str  # the To display name: one line, no control characters
    to_address: str
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: str  # empty: no Reply-To
    subject: str
    date: str
    message_id: str
    language: str  # Content-Language: "en", "pt-BR"
    text: str  # line breaks as "\n"
    html: str
    boundary: str
    list_unsubscribe: str = ""  # "<mailto:...>": the opt-out address mail programs offer as a button
    # Images the HTML part shows by cid: (content id, PNG bytes); with any, the HTML part is multipart/related.
    images: tuple[tuple[str, bytes], ...] = ()
    attachments: tuple[Attachment, ...] = ()  # with any, the message is multipart/mixed

    def to_message(self) -> EmailMessage:
        """The email as the standard library builds it (Bcc included: sending leaves it out)."""
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self.sender
        msg["To"] = Address(display_name=self.to_name, addr_spec=self.to_address)
        if self.cc:
            msg["Cc"] = ", ".join(self.cc)
        if self.bcc:
            msg["Bcc"] = ", ".join(self.bcc)
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["Date"] = self.date
        msg["Message-ID"] = self.message_id
        if self.list_unsubscribe:
            msg["List-Unsubscribe"] = self.list_unsubscribe
        # Quoted-printable keeps the files readable and needs no 8BITMIME from the server.
        msg.set_content(self.text, cte="quoted-printable")
        msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        if self.images:
            html_part = list(msg.iter_parts())[1]  # the part add_alternative just made
            assert isinstance(html_part, EmailMessage)
            for content_id, png in self.images:
                html_part.add_related(png, "image", "png", cid=f"<{content_id}>", disposition="inline")
        msg["Content-Language"] = self.language  # after: set_content clears Content-*
        msg.set_boundary(self.boundary)
        for attachment in self.attachments:
            msg.add_attachment(
                attachment.data, maintype=attachment.maintype, subtype=attachment.subtype, filename=attachment.filename
            )
        return msg

    def to_bytes(self) -> bytes:
        """The ``.eml`` file: the very bytes of ``self.to_message().as_bytes()``, written faster."""
        if self.images or self.attachments:  # rare (a Pix picture, a long list's statement): the library writes it
            return self.to_message().as_bytes()
        delimiter = f"--{self.boundary}\n".encode("ascii")
        parts = [
            header_line("From", self.sender),
            to_line(self.to_name, self.to_address),
            header_line("Cc", ", ".join(self.cc)) if self.cc else b"",
            header_line("Bcc", ", ".join(self.bcc)) if self.bcc else b"",
            header_line("Reply-To", self.reply_to) if self.reply_to else b"",
            header_line("Subject", self.subject),
            header_line("Date", self.date),
            message_id_line(self.message_id),
            header_line("List-Unsubscribe", self.list_unsubscribe) if self.list_unsubscribe else b"",
            header_line("MIME-Version", "1.0"),
            header_line("Content-Type", f'multipart/alternative; boundary="{self.boundary}"'),
            header_line("Content-Language", self.language),
            b"\n",
            delimiter,
            header_line("Content-Type", 'text/plain; charset="utf-8"'),
            header_line("Content-Transfer-Encoding", "quoted-printable"),
            b"\n",
            quoted_printable(self.text).encode("ascii"),
            b"\n",
            delimiter,
            header_line("Content-Type", 'text/html; charset="utf-8"'),
            header_line("Content-Transfer-Encoding", "quoted-printable"),
            header_line("MIME-Version", "1.0"),  # the library gives the added part one of its own
            b"\n",
            quoted_printable(self.html).encode("ascii"),
            f"\n--{self.boundary}--\n".encode("ascii"),
        ]
        return b"".join(parts)


@lru_cache(maxsize=4096)
def header_line(name: str, value: str) -> bytes:
    """One header line as the email library stores and writes it (folded, encoded, ending in a newline)."""
    return _folded(name, value)


def _folded(name: str, value: object) -> bytes:
    # The two steps EmailMessage takes: parse on ``msg[name] = value``, fold when written.
    return POLICY.fold_binary(name, POLICY.header_store_parse(name, value)[1])


def to_line(name: str, address: str) -> bytes:
    """``To: Name <address>``, as the library writes it.

    Written here when the name is words of letters (ASCII or not) and plain ASCII
    punctuation, and the address plain ASCII: the library keeps the ASCII words before
    the first and after the last other word as they are, puts the run between into one
    encoded word, and folds before the value, or before the address of a name that is
    all one encoded word, when the line is too long (folding such a name costs it a
    millisecond or more). Anything else is the library's own line.
    """
    if _PLAIN_ADDRESS.fullmatch(address):
        phrase = _phrase(name)
        if phrase is not None:
            value = f"{phrase} <{address}>"
            if len("To: ") + len(value) <= MAX_LINE:
                return f"To: {value}\n".encode("ascii")
            # Fits on a line of its own (an encoded name may take the whole width after the fold's space).
            if (len(" ") if name.isascii() else 0) + len(value) <= MAX_LINE:
                return f"To:\n {value}\n".encode("ascii")
            # A name that is one encoded word on the first line, the address on the next.
            whole_name_encoded = phrase.startswith("=?") and " " not in phrase
            if whole_name_encoded and len(f"To: {phrase}") <= MAX_LINE and len(f" <{address}>") <= MAX_LINE:
                return f"To: {phrase}\n <{address}>\n".encode("ascii")
    return _folded("To", Address(display_name=name, addr_spec=address))


def _phrase(name: str) -> str | None:
    if name.isascii():
        return name if _PLAIN_NAME.fullmatch(name) else None
    words = name.split(" ")
    plain = [word.isascii() for word in words]
    for word, is_ascii in zip(words, plain, strict=True):
        if not (_ATOM_WORD if is_ascii else _LETTERS_WORD).fullmatch(word):
            return None
    first = plain.index(False)
    last = len(words) - plain[::-1].index(False)
    encoded = encoded_word(" ".join(words[first:last]))
    return " ".join([*words[:first], encoded, *words[last:]])


def encoded_word(text: str) -> str:
    """An RFC 2047 encoded word, q or b as the email library picks (its own encoder)."""
    return str(_encoded_words.encode(text, charset="utf-8"))


def message_id_line(message_id: str) -> bytes:
    """``Message-ID: <...>``, on the next line when it does not fit (as the library folds it)."""
    if _PLAIN_MESSAGE_ID.fullmatch(message_id):
        if len("Message-ID: ") + len(message_id) <= MAX_LINE:
            return f"Message-ID: {message_id}\n".encode("ascii")
        if 1 + len(message_id) <= MAX_LINE:
            return f"Message-ID:\n {message_id}\n".encode("ascii")
    return _folded("Message-ID", message_id)


# What quoted-printable writes as it is ("=" aside): printable ASCII, tab and newline.
_QP_PLAIN_BYTES = bytes(range(0x20, 0x7F)) + b"\t\n"


def quoted_printable(text: str) -> str:
    """A body as ``set_content(text, cte="quoted-printable")`` encodes it (UTF-8, "\\n" line ends).

    ``quoprimime.body_encode`` translates the body one character at a time and then
    looks at every line in Python; here the same escaping is done with one ``replace``
    per distinct character, and only the lines it changes further (longer than a line
    may be, or ending in white space) are looked at one by one.
    """
    raw = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    escaped = raw.decode("latin-1").replace("=", "=3D")
    # Each byte besides printable ASCII, tab and newline becomes "=XX": one replace per distinct byte.
    for byte in set(raw.translate(None, _QP_PLAIN_BYTES)):
        escaped = escaped.replace(chr(byte), f"={byte:02X}")
    lines = escaped.split("\n")
    for i, line in enumerate(lines):
        if len(line) > MAX_LINE or line.endswith((" ", "\t")):
            lines[i] = _wrapped_line(line)
    return "\n".join(lines)


def _wrapped_line(escaped: str) -> str:
    """Soft line breaks in one escaped line, where ``quoprimime.body_encode`` puts them.

    Pieces of at most ``MAX_LINE - 1`` characters and an ``=``, never cutting an ``=XX``
    in two; white space ending the line is escaped, or kept before a last soft break
    when only that fits. (tests/test_eml.py compares the result with the library's.)
    """
    pieces = []
    start, last_start = 0, len(escaped) - 1 - MAX_LINE
    while start <= last_start:
        stop = start + MAX_LINE - 1
        if escaped[stop - 2] == "=":
            pieces.append(escaped[start : stop - 1])
            start = stop - 2
        elif escaped[stop - 1] == "=":
            pieces.append(escaped[start:stop])
            start = stop - 1
        else:
            pieces.append(escaped[start:stop] + "=")
            start = stop
    if escaped.endswith((" ", "\t")):
        room = start - last_start
        white = escaped[-1]
        if room >= 3:
            ending = f"={ord(white):02X}"
        elif room == 2:
            ending = white + "=\n"
        else:
            ending = f"=\n={ord(white):02X}"
        pieces.append(escaped[start:-1] + ending)
    else:
        pieces.append(escaped[start:])
    return "\n".join(pieces)
