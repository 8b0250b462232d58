"""Small text helpers shared by the reader, the validator and the writer."""

from __future__ import annotations

import functools
import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# Characters XML 1.0 cannot carry at all; a cell value holding them would make the
# sheet unreadable, so they are dropped from anything we write.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# What a terminal acts on rather than shows: control characters (escape sequences start
# with one) and the bidirectional overrides that make text read differently from what it is.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def normalize_header(text: object) -> str:
    """Fold a header for matching: ``'Data de Emissão'`` and ``'data de emissao'`` match."""
    return _fold(str(text))


@functools.lru_cache(maxsize=65536)
def _fold(text: str) -> str:
    # Cached: the same customer names, methods and hold words come back on every row.
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    without_accents = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub("", without_accents)


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """A -> 1, AA -> 27. Raises ValueError for more letters than a column has (XFD is the last)."""
    if len(letters) > 3:
        raise ValueError(f"{letters[:10]!r} is not a column")
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - 64)
    return index


def xml_safe(text: str) -> str:
    """Text with the characters XML cannot hold removed."""
    return _XML_ILLEGAL.sub("", text)


_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What JSON may carry raw inside a string but a terminal acts on: C0/C1 controls and bidi overrides.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(text: str) -> str:
    """Text without the invisible marks that reorder what follows them (U+202E and kin)."""
    return _BIDI_CONTROLS.sub("", text)


def terminal_safe_json(text: str) -> str:
    """JSON text with every control or bidi character inside its strings written as a ``\\uXXXX`` escape.

    The JSON means the same; a terminal shows it as written. (``json.dumps`` already
    escapes C0 controls; ``ensure_ascii=False`` leaves the rest raw.)
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def printable(text: str) -> str:
    """Text from a workbook made safe to show on a terminal, on one line: ``\\x1b``, ``\\n``, ``\\u202e`` written out."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


# The most characters one text cell may bring into a message (an email, a finding); a
# customer name or an invoice number is far shorter. A longer cell is a mistake or an attack.
MAX_CELL_TEXT = 1000
QUOTE_CHARACTERS = 80  # how much of a cell a finding quotes


def clip(text: str, limit: int = QUOTE_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was: a cell quoted in a message stays short."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"
