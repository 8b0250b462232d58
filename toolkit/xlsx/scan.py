"""Cutting a worksheet's XML into rows at byte level, and reading plain rows without an XML parser.

A sheet of 100,000 invoices is some 40 MB of XML made of one shape repeated:
``<row r="5"><c r="A5" s="3" t="s"><v>12</v></c>...</row>``. Building an lxml
element for every cell costs more than everything else the tool does, so both
ends of the run work on the bytes:

- ``SheetSplitter`` streams the part as its prologue (up to ``<sheetData>``)
  and then blocks of whole rows, and cuts a block into its rows. The
  write-back patches the rows and copies the rest as is; the reader reads them.
- ``PlainRowReader`` reads the values of a row whose cells all have the plain
  shape spreadsheet programs write (``_cell_grammar``). It answers ``None`` for
  any other row, and the caller reads that row with lxml, which stays the
  reference: a row is never guessed at.
- ``plain_shared_strings`` reads the shared strings table the same way.

Comments, CDATA sections and processing instructions could hide a ``</row>``
from a byte scan; ``has_markup`` finds them, and the reader then hands the rest
of the sheet to lxml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from toolkit.errors import WorkbookError
from toolkit.text import column_index

CHUNK = 1 << 20
MAX_STRING = 4 * 1024**2  # one string in a cell: 4 MiB of XML (of characters, once read)


class Readable(Protocol):
    """Anything with ``read(size)``: a zip member stream, a file."""

    def read(self, size: int = -1, /) -> bytes: ...


PROLOGUE, ROWS = "prologue", "rows"

_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet[\s>]")
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["'](\d+)["']""")
# Day 0 of Excel's two date systems (the 1900 one counts the leap day 1900 never had).
EPOCH_1900 = datetime(1899, 12, 30)
EPOCH_1904 = datetime(1904, 1, 1)


def serial_to_datetime(serial: float, date1904: bool) -> datetime | float:
    """The datetime of a date serial, or the number itself when it is out of range."""
    try:
        return (EPOCH_1904 if date1904 else EPOCH_1900) + timedelta(days=serial)
    except OverflowError:
        return serial


def has_markup(piece: bytes) -> bool:
    """Whether bytes hold a comment, a CDATA section, a DTD or a processing instruction.

    "!" and "?" alone are looked for first: rare in a sheet, each is found at the speed of
    ``memchr``, where looking for "<!" stops at every "<" (30 times slower over a sheet's rows).
    """
    return (b"!" in piece and b"<!" in piece) or (b"?" in piece and b"<?" in piece)


def tags_end_at_first_gt(block: bytes) -> bool:
    """Whether every ">" in well-formed bytes ends a tag, so that a tag can be cut at its first ">".

    ``<`` cannot stand unescaped in text or in an attribute's value, ``>`` can:
    as many of each means no ``>`` stands anywhere else.
    """
    return block.count(b"<") == block.count(b">")


_XML_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[^>]*\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_NAMESPACE_DECLARATION = re.compile(rb"""\sxmlns(?::[\w.-]+)?\s*=\s*(?:"[^"]*"|'[^']*')""")


def is_plain_start(head: bytes) -> bool:
    """Whether XML starts in UTF-8 with no DTD, comment or processing instruction but the declaration."""
    declaration = _XML_DECLARATION.match(head)
    if declaration is not None:
        encoding = _ENCODING.search(declaration.group(0))
        if encoding is not None and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
            return False
        head = head[declaration.end() :]
    return not has_markup(head) and b"\x00" not in head


def is_plain_prologue(prologue: bytes) -> bool:
    """Whether a sheet's start (up to its rows) is plain UTF-8 XML with a worksheet root."""
    return is_plain_start(prologue) and _ROOT.search(prologue) is not None


def namespace_wrapper(prologue: bytes) -> bytes:
    """A start tag declaring the root element's namespaces, so that one row can be parsed on its own."""
    root = _ROOT.search(prologue)
    if root is None:
        return b"<wrapper>"
    start_tag = prologue[root.start() : prologue.find(b">", root.start())]
    return b"<wrapper" + b"".join(_NAMESPACE_DECLARATION.findall(start_tag)) + b">"


@dataclass
class ScanNotes:
    """What the reader learnt of a sheet's rows, for the writer: those it could not read from their bytes.

    Rows are counted by their place in the part (0 for the first row element),
    as ``SheetSplitter`` finds them. The writer patches a row from its bytes
    only where the reader could read it so (the row passed the plain cell
    grammar); any other row takes the careful path, which refuses what it
    cannot patch safely.
    """

    odd_rows: set[int] = field(default_factory=set)  # rows read with lxml, one at a time
    odd_from: int | None = None  # this row and every one after it were read with lxml
    # The sheet's XML before its rows and after them, when read from its bytes to the end
    # (for ``toolkit.xlsx.grid``: hidden columns, merged cells); None when not.
    markup: tuple[bytes, bytes] | None = None

    def is_plain(self, index: int) -> bool:
        return index not in self.odd_rows and (self.odd_from is None or index < self.odd_from)

    def plain_to_end(self) -> bool:
        """Whether every row was read from its bytes, to the end of the part.

        The reader then found, in every block of the part, no comment, CDATA or processing
        instruction (``has_markup``) and no ">" but those that end tags (``tags_end_at_first_gt``):
        the writer, patching the same bytes (the workbook's fingerprint is checked before it
        is replaced), need not look for them again.
        """
        return not self.odd_rows and self.odd_from is None and self.markup is not None


class SheetSplitter:
    """Streams a worksheet part as ``(kind, bytes)`` pieces: its PROLOGUE, then blocks of ROWS.

    The prologue is everything before ``<sheetData>``. Each block holds whole
    rows (and whatever lies between them), about one chunk's worth, and ends
    where the next row starts; the last block holds the end of the part.
    Joining the pieces gives back the part byte for byte. ``prefix`` is the
    namespace prefix of the sheet's elements (``b"x:"`` for a sheet written
    with ``<x:worksheet>``), known once the prologue has been yielded;
    ``split_rows`` cuts a block into its rows.

    Working a block at a time lets C code (``bytes.split``) find the rows, and
    one test over a megabyte of rows replace the same test over each row.
    """

    def __init__(
        self, stream: Readable, chunk_size: int = CHUNK, *, max_span: int | None = None, where: str = "the sheet"
    ) -> None:
        self.stream = stream
        self.chunk_size = chunk_size
        # The most bytes held while looking for the next row (or for the rows' start): a flood
        # of other XML is refused rather than kept in memory.
        self.max_span = max_span
        self.where = where
        # Whether the last block ``split_rows`` cut held one row start per row closed, and nothing else that could
        # be a row: what the ``bytes.split`` way vouches for (the regex way does not).
        self.one_row_each = False
        self._set_prefix(b"")

    def _set_prefix(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.row_open, self.row_close = b"<" + prefix + b"row", b"</" + prefix + b"row>"
        self.data_open, self.data_close = b"<" + prefix + b"sheetData", b"</" + prefix + b"sheetData"
        self._rows = _row_pattern(prefix)
        self._self_closing_row = re.compile(rb"<" + re.escape(prefix) + rb"row(?=[\s/])[^>]*/>")

    def split_rows(self, block: bytes) -> tuple[list[Row], bytes]:
        """The rows of a block, each as ``(bytes before it, its attributes, its content)``, and the bytes after them.

        The content is None for a self-closing row. A row's XML is
        ``row_open + attributes + b">" + content + row_close`` (or ``+ b"/>"``).
        """
        self.one_row_each = False
        pieces = block.split(self.row_close)
        closed = len(pieces) - 1
        tail_at = len(block) - len(pieces[-1])
        # Every "</row" a "</row>", and as many rows started as closed before the tail: no row
        # self-closing there (nor one row inside another); and none in the tail.
        if (
            block.count(self.row_close[:-1]) == closed
            and block.count(self.row_open, 0, tail_at) == closed
            and self._self_closing_row.search(pieces[-1]) is None
        ):
            rows: list[Row] = []
            width = len(self.row_open)
            for piece in pieces[:-1]:
                start = piece.find(self.row_open)
                end = piece.find(b">", start)
                if start < 0 or end < 0 or piece[start + width : start + width + 1] not in _AFTER_ROW_NAME:
                    break  # not the plain shape after all
                rows.append((piece[:start], piece[start + width : end], piece[end + 1 :]))
            else:
                self.one_row_each = True
                return rows, pieces[-1]
        rows, pos = [], 0
        for match in self._rows.finditer(block):
            rows.append((block[pos : match.start()], match.group(1), match.group(2)))
            pos = match.end()
        return rows, block[pos:]

    def row_xml(self, attributes: bytes, content: bytes | None) -> bytes:
        """A row element put back together from what ``split_rows`` gave."""
        if content is None:
            return self.row_open + attributes + b"/>"
        return self.row_open + attributes + b">" + content + self.row_close

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        buffer = b""
        in_rows = False
        while True:
            chunk = self.stream.read(self.chunk_size)
            buffer += chunk
            if not in_rows:
                at = buffer.find(b"sheetData")
                if at < 0:
                    if chunk:
                        self._check_span(buffer)
                        continue  # the sheet's prologue is longer than one chunk
                    yield PROLOGUE, buffer  # no rows at all
                    return
                root = _ROOT.search(buffer)
                self._set_prefix((root.group(1) + b":") if root and root.group(1) else b"")
                lt = buffer.rfind(b"<", 0, at)
                yield PROLOGUE, buffer[:lt]
                buffer = buffer[lt:]
                in_rows = True
            if chunk:
                # Every row before the last one that starts in the buffer is whole.
                cut = buffer.rfind(self.row_open)
                if cut <= 0:
                    self._check_span(buffer)
                    continue
                block, buffer = buffer[:cut], buffer[cut:]
            else:
                block, buffer = buffer, b""
            if block:
                yield ROWS, block
            if not chunk:
                return

    def _check_span(self, buffer: bytes) -> None:
        if self.max_span is not None and len(buffer) > self.max_span:
            raise WorkbookError(
                f"{self.where}: more than {self.max_span // 1024**2} MiB of XML without one complete <row>, "
                "far more than any workbook holds; refused"
            )


Row = tuple[bytes, bytes, bytes | None]  # bytes before the row, its attributes, its content
_AFTER_ROW_NAME = (b" ", b">", b"\t", b"\r", b"\n")  # "<row" then one of these: not "<rowBreaks"


def _row_pattern(prefix: bytes) -> re.Pattern[bytes]:
    """A row element of any shape (slower than splitting, for the blocks that need it)."""
    p = re.escape(prefix)
    return re.compile(rb"<" + p + rb"row(?=[\s>/])([^>]*?)(?:/>|>(.*?)</" + p + rb"row\s*>)", re.DOTALL)


def has_row(xml: bytes, row_open: bytes, start: int = 0) -> bool:
    """Whether a row element (``row_open``, ``b"<row"`` with the sheet's prefix) starts in ``xml`` after ``start``.

    ``<rowBreaks>``, which follows the rows, is not one.
    """
    at = xml.find(row_open, start)
    while at >= 0:
        if xml[at + len(row_open) : at + len(row_open) + 1] in (*_AFTER_ROW_NAME, b"/"):
            return True
        at = xml.find(row_open, at + 1)
    return False


def row_number_in(attributes: bytes) -> int | None:
    """The ``r`` attribute among a row's attributes, if it has one."""
    if attributes.startswith(b' r="'):  # where every program puts it
        end = attributes.find(b'"', 4)
        if end > 4 and attributes[4:end].isdigit():
            return int(attributes[4:end])
    match = _ROW_NUMBER.search(attributes)
    return int(match.group(1)) if match else None


def _cell_grammar(p: bytes) -> bytes:
    """One cell as spreadsheet programs write it, attributes in the usual order r, s, t.

    Groups: column letters, style, type, the ``<v>`` text, the inline string text.
    A formula is skipped over: its cached result is the ``<v>``. The possessive
    quantifiers (``*+``, ``?+``) keep the regex from trying other splits of a
    cell that cannot match anyway, which makes it a third faster.
    """
    p = re.escape(p)
    return (
        rb"<" + p + rb'c r="([A-Z]{1,3})\d++"(?: s="(0|[1-9]\d*+)")?+(?: t="([a-zA-Z]++)")?+'
        rb"(?:/>|>"
        rb"(?:<" + p + rb"f(?:\s[^>]*)?(?:/>|>[^<]*+</" + p + rb"f>))?+"
        rb"(?:<" + p + rb"v>([^<]*+)</" + p + rb"v>)?+"
        rb"(?:<" + p + rb"is><" + p + rb't(?: xml:space="preserve")?+>([^<]*+)</' + p + rb"t></" + p + rb"is>)?+"
        rb"</" + p + rb"c>)"
    )


class PlainRowReader:
    """Reads the values of plain rows straight from their bytes, as the lxml reader would."""

    def __init__(self, prefix: bytes, shared: list[str], date_styles: frozenset[int], date1904: bool) -> None:
        # split() gives, for n cells: the bytes before the first cell, then 5 groups and the
        # bytes up to the next cell, n times. A row is plain when those bytes are only whitespace.
        self._split = re.compile(_cell_grammar(prefix)).split
        self.shared = shared
        # Styles as the grammar captures them: digits without a leading zero.
        self.date_styles = {str(style).encode() for style in date_styles}
        self.date1904 = date1904
        self._columns: dict[bytes, int] = {}
        self._dates: dict[bytes, Any] = {}  # serial -> datetime: invoices share a few hundred dates

    def values(self, body: bytes, clean: bool = False) -> dict[int, Any] | None:
        """``{column: value}`` of a row's content, or None when the row is not plain (read it with lxml).

        ``clean`` says the row's block already passed ``is_clean``.
        """
        if not clean and not self.is_clean(body):
            return None
        parts = self._split(body)
        if b"".join(parts[::6]).strip():
            return None  # something else than plain cells: rich text, other attributes, markup
        try:
            return self._values(parts)
        except UnicodeDecodeError:
            return None  # let the XML parser report it

    def _values(self, parts: list[Any]) -> dict[int, Any] | None:
        values: dict[int, Any] = {}
        columns = self._columns
        date_styles = self.date_styles
        dates = self._dates
        for letters, style, kind, v, inline in zip(
            parts[1::6], parts[2::6], parts[3::6], parts[4::6], parts[5::6], strict=True
        ):
            col = columns.get(letters)
            if col is None:
                col = columns[letters] = column_index(letters.decode())
            if kind is None or kind == b"n":
                if not v:
                    continue
                if style in date_styles:
                    day = dates.get(v)
                    values[col] = day if day is not None else self._date(v)
                elif v.isdigit() and len(v) < 16:
                    values[col] = int(v)  # whole numbers, the commonest cells, without going through float
                else:
                    # number_value(v, False, ...), its common case here: a number with a fraction.
                    try:
                        number = float(v)
                    except ValueError:
                        values[col] = number_value(v, False, self.date1904)
                        continue
                    values[col] = int(number) if number.is_integer() and abs(number) < 2**53 else number
            elif kind == b"s":
                if v:
                    index = int(v)
                    if not 0 <= index < len(self.shared):
                        return None  # let the XML reader report the damaged reference
                    values[col] = self.shared[index]
            elif kind == b"inlineStr":
                if inline and len(inline) > MAX_STRING:
                    return None  # the XML reader refuses it, naming the cell
                values[col] = inline.decode() if inline else ""
            elif not v:
                continue  # an empty cell, or a formula never calculated
            elif kind == b"str":
                if len(v) > MAX_STRING:
                    return None
                values[col] = v.decode()
            else:
                return None  # booleans, errors, ISO dates: rare, left to the XML reader
        return values

    @staticmethod
    def is_clean(xml: bytes) -> bool:
        """No entities to decode, line ends to normalise or markup to skip: nothing a byte scan would get wrong."""
        return b"&" not in xml and b"\r" not in xml and not has_markup(xml)

    def _date(self, v: bytes) -> Any:
        value = self._dates.get(v)
        if value is None:
            value = number_value(v, True, self.date1904)
            if len(self._dates) < 100_000:  # dates repeat; timestamps would not, and are not kept
                self._dates[v] = value
        return value


def number_value(text: str | bytes, is_date: bool, date1904: bool) -> Any:
    """The value of a number cell: an int when whole, a datetime in a date-formatted cell."""
    if not is_date and text.isdigit() and text.isascii():
        whole = int(text)  # the common case, without going through float
        return whole if whole < 2**53 else float(whole)
    try:
        number = float(text)
    except ValueError:
        return text.decode() if isinstance(text, bytes) else text
    if is_date:
        return serial_to_datetime(number, date1904)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


class DateStyles:
    """Whether a cell's ``s`` attribute, as written, names a date style; one int() per distinct style."""

    def __init__(self, date_styles: frozenset[int]) -> None:
        self.date_styles = date_styles
        self._known: dict[str | bytes | None, bool] = {None: False}

    def __call__(self, style: str | bytes | None) -> bool:
        known = self._known.get(style)
        if known is None:
            try:
                known = int(style) in self.date_styles  # type: ignore[arg-type]
            except ValueError:
                known = False
            self._known[style] = known
        return known


_SST_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sst[\s>/]")
_ENTITY = re.compile(rb"&(?:#([0-9]+)|#x([0-9a-fA-F]+)|(lt|gt|amp|quot|apos));")
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"', b"apos": "'"}


def plain_shared_strings(
    stream: Readable, chunk_size: int = CHUNK, *, max_span: int | None = None, where: str = "the shared strings"
) -> list[str] | None:
    """The shared strings table read from its bytes, or None when it is not plain (read it with lxml).

    Plain: every item is one ``<si><t>text</t></si>``, as Excel writes text without
    formatting; rich text runs and phonetic guides are left to lxml. An item of more
    than ``max_span`` bytes is refused, as lxml's reading refuses it.
    """
    buffer = b""
    strings: list[str] = []
    split: Callable[[bytes], list[Any]] | None = None
    close = item_close = b""
    while True:
        chunk = stream.read(chunk_size)
        buffer += chunk
        if split is None:
            root = _SST_ROOT.search(buffer)
            start_end = buffer.find(b">", root.start()) if root else -1
            if root is None or start_end < 0:
                if chunk and (max_span is None or len(buffer) <= max_span):
                    continue  # the start of the table is not all read yet
                return None
            if not is_plain_start(buffer[: root.start()]):
                return None
            ns = root.group(1) + b":" if root.group(1) else b""
            split = re.compile(_item_grammar(ns)).split
            close, item_close = b"</" + ns + b"sst>", b"</" + ns + b"si>"
            if buffer[start_end - 1] == 0x2F:  # an empty <sst/>
                return strings
            buffer = buffer[start_end + 1 :]
        last_item = buffer.rfind(item_close)
        end = len(buffer) if not chunk else last_item + len(item_close) if last_item >= 0 else 0
        region, buffer = buffer[:end], buffer[end:]
        if max_span is not None and len(buffer) > max_span:
            raise _string_too_long(where, len(strings), max_span)
        if not chunk:
            if not region.rstrip().endswith(close):
                return None
            region = region.rstrip()[: -len(close)]
        if b"\r" in region or has_markup(region):
            return None
        parts = split(region)
        if b"".join(parts[::2]).strip():
            return None  # rich text, phonetic guides, empty <t/>: not plain
        if max_span is not None and len(region) > max_span:
            texts = parts[1::2]
            longest = max(range(len(texts)), key=lambda i: len(texts[i]), default=0)
            if texts and len(texts[longest]) > max_span:
                raise _string_too_long(where, len(strings) + longest, max_span)
        try:
            for text in parts[1::2]:
                decoded = _unescape(text) if b"&" in text else text.decode()
                if decoded is None:
                    return None
                strings.append(decoded)
        except UnicodeDecodeError:
            return None  # let the XML parser report it
        if not chunk:
            return strings


def _string_too_long(where: str, index: int, max_span: int) -> WorkbookError:
    return WorkbookError(
        f"{where}: shared string #{index + 1} is more than {max_span // 1024**2} MiB long, far more than any "
        "workbook holds; refused"
    )


def _item_grammar(ns: bytes) -> bytes:
    """One plain item of the shared strings table; the group is its text."""
    p = re.escape(ns)
    return rb"<" + p + rb"si><" + p + rb't(?: xml:space="preserve")?+>([^<]*+)</' + p + rb"t></" + p + rb"si>"


def _unescape(text: bytes) -> str | None:
    """XML text with its character references decoded, or None for anything a parser would refuse."""
    pieces: list[str] = []
    pos = 0
    for match in _ENTITY.finditer(text):
        if b"&" in text[pos : match.start()]:
            return None
        pieces.append(text[pos : match.start()].decode())
        decimal, hexadecimal, name = match.groups()
        if name:
            pieces.append(_NAMED[name])
        else:
            code = int(decimal) if decimal else int(hexadecimal, 16)
            if not (
                code in (0x9, 0xA, 0xD)
                or 0x20 <= code <= 0xD7FF
                or 0xE000 <= code <= 0xFFFD
                or 0x10000 <= code <= 0x10FFFF
            ):
                return None
            pieces.append(chr(code))
        pos = match.end()
    if b"&" in text[pos:]:
        return None
    pieces.append(text[pos:].decode())
    return "".join(pieces)
