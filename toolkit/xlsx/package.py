"""Opening an .xlsx/.xlsm package safely and reading its shared parts.

An .xlsx file is a zip of XML parts written by anyone, so it is treated as data
from outside: member names, sizes and compression ratios are checked before
anything is decompressed, and every XML part is parsed with entity resolution
and network access off, after refusing any DTD (a workbook never needs one).
"""

from __future__ import annotations

import contextlib
import posixpath
import queue
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.parsers import expat

from lxml import etree

from toolkit.errors import WorkbookError, WriteRefused
from toolkit.xlsx.scan import MAX_STRING, Readable, plain_shared_strings

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
# Excel's "Strict Open XML Spreadsheet" format: the same parts under other namespaces.
NS_STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
M = "{%s}" % NS_MAIN

# Limits that a genuine workbook of a business stays far below, and that keep a
# zip bomb or a flood of XML from filling the memory or the disk, or running for hours.
MAX_PART_BYTES = 2 * 1024**3  # one part, uncompressed (sheets and shared strings are streamed)
MAX_TREE_BYTES = 64 * 1024**2  # one part parsed whole into memory: workbook, rels, styles
MAX_TOTAL_BYTES = 4 * 1024**3  # all parts, uncompressed
MAX_SHARED_STRINGS_BYTES = 256 * 1024**2  # the shared strings part, all kept in memory as text
MAX_RATIO = 200  # uncompressed / compressed, for parts over RATIO_FROM_BYTES and for the whole package
RATIO_FROM_BYTES = 16 * 1024**2  # below this a part unpacks quickly, however well it compressed
MAX_MEMBERS = 10_000
# Streamed XML read without one complete element (a row, a shared string) coming out:
# the parser holds all of it in memory, up to some 40 times its size in nodes, so
# this is kept small; a real row or shared string is far smaller.
MAX_SPAN_BYTES = 4 * 1024**2
MAX_ROWS = 1_048_576  # the most rows a worksheet can have in Excel
MAX_COLUMNS = 16_384  # and columns (A to XFD)
MAX_FORMAT_CODE = 255  # the longest number format Excel allows; longer ones are not looked at
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}  # all that Excel writes
_LOCAL_HEADER = 30  # bytes of a zip local file header before the name

# Built-in number formats that show a date (ECMA-376 18.8.30), beyond the
# format codes openpyxl recognises.
_BUILTIN_DATE_FORMATS = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))

# What a format code shows that is not a date part: quoted text, and bracketed codes
# ([Red], [$-409]) other than the elapsed-time ones ([h], [mm], [ss]).
_NOT_DATE_PARTS = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_PART = re.compile(r"(?<![_\\])[dmhysDMHYS]")  # a date or time letter not escaped by \ or _


def is_date_format(code: str | None) -> bool:
    """Whether a number format code shows dates or times (the rule openpyxl applies, without importing it).

    Only the first section counts (a code is positive;negative;zero;text).
    """
    if code is None:
        return False
    return _DATE_PART.search(_NOT_DATE_PARTS.sub("", code.split(";")[0])) is not None


def safe_parser(**kwargs: object) -> etree.XMLParser:
    """An lxml parser that never resolves entities nor touches the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, **kwargs)


@dataclass(frozen=True)
class SheetInfo:
    """A worksheet as the workbook part lists it."""

    name: str
    part: str  # e.g. "xl/worksheets/sheet1.xml"
    state: str = "visible"


@dataclass
class Styles:
    """What the tool needs from styles.xml: which cell styles show dates, which show General."""

    date_styles: frozenset[int] = frozenset()
    general_styles: frozenset[int] = frozenset()  # styles whose number format is General
    # Each style's look (font, fill, border, alignment, protection), and the first General style of each look.
    looks: tuple[tuple[str, ...], ...] = ()
    general_by_look: dict[tuple[str, ...], int] = field(default_factory=dict)

    def look_only(self, style: int) -> int | None:
        """A style with the look of ``style`` and the General number format: itself, another, or None."""
        if style in self.general_styles:
            return style
        if 0 <= style < len(self.looks):
            return self.general_by_look.get(self.looks[style])
        return None

    def is_date(self, style: int) -> bool:
        return style in self.date_styles

    def is_general(self, style: int) -> bool:
        return style in self.general_styles


def sniff(path: Path) -> None:
    """Refuse, with a message saying what to do, anything that is not an .xlsx package."""
    name = str(path)
    if not path.exists():
        raise WorkbookError(f"{name}: file not found")
    if path.is_dir():
        raise WorkbookError(f"{name}: is a folder, not a workbook")
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if head.startswith(b"\xd0\xcf\x11\xe0"):
                # An OLE compound file: an old .xls, or an .xlsx encrypted with a password,
                # which Excel stores inside such a file next to an EncryptionInfo stream.
                fh.seek(0)
                blob = fh.read(4 * 1024 * 1024)
                if "EncryptionInfo".encode("utf-16-le") in blob:
                    raise WorkbookError(
                        f"{name}: the workbook is protected with a password; "
                        "remove the password in Excel (File > Info > Protect Workbook) and run again"
                    )
                raise WorkbookError(
                    f"{name}: an old Excel 97-2003 (.xls) workbook; open it in Excel or LibreOffice "
                    "and save it as .xlsx, then run again"
                )
    except OSError as exc:
        raise WorkbookError(f"{name}: cannot read the file ({exc.strerror})") from None
    if not head.startswith(b"PK"):
        if not head:
            raise WorkbookError(f"{name}: the file is empty, not a workbook")
        raise WorkbookError(f"{name}: not an Excel workbook (.xlsx); save it from Excel or LibreOffice as .xlsx")


class XlsxPackage:
    """A read-only view of an .xlsx package with checked members."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        sniff(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except OSError as exc:
            raise WorkbookError(f"{self.name}: cannot read the file ({exc.strerror})") from None
        except Exception:  # BadZipFile, and the ValueError/UnicodeDecodeError of a garbled directory
            raise WorkbookError(
                f"{self.name}: the file is damaged (not a complete zip package); "
                "restore it from a backup or save it again from Excel"
            ) from None
        self._styles: Styles | None = None
        self._shared: list[str] | None = None
        try:
            self._open_workbook()
        except WorkbookError:
            self.zip.close()
            raise

    def _open_workbook(self) -> None:
        self._check_members()
        self.members = {info.filename: info for info in self.zip.infolist()}
        if "mimetype" in self.members and "content.xml" in self.members:
            raise WorkbookError(
                f"{self.name}: an OpenDocument spreadsheet (.ods); save it as .xlsx (Excel 2007-365) and run again"
            )
        self.workbook_part = self._workbook_part()
        if self.workbook_part.endswith(".bin"):
            raise WorkbookError(f"{self.name}: a binary workbook (.xlsb); save it as .xlsx and run again")
        self.sheets, self.date1904 = self._read_workbook()

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> XlsxPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- members ---------------------------------------------------------------------------

    def _check_members(self) -> None:
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise WorkbookError(f"{self.name}: holds {len(infos)} parts, more than any workbook needs; refused")
        total = 0
        seen: set[str] = set()
        for info in infos:
            member = info.filename
            normalized = posixpath.normpath(member)
            if (
                member.startswith(("/", "\\"))
                or "\\" in member
                or normalized.startswith("..")
                or (len(member) > 1 and member[1] == ":")
                or "\x00" in member
            ):
                raise WorkbookError(f"{self.name}: holds a part with an unsafe name {member!r}; refused")
            if info.flag_bits & 0x1:
                raise WorkbookError(f"{self.name}: holds an encrypted part {member!r}; refused")
            if info.compress_type not in _METHODS:
                raise WorkbookError(
                    f"{self.name}: part {member} uses zip compression method {info.compress_type}, "
                    "which Excel never writes; refused"
                )
            # Part names are case-insensitive: two parts of one name would let the tool read
            # one and Excel show the other.
            if member.casefold() in seen:
                raise WorkbookError(f"{self.name}: holds the part {member} twice; refused (the file is damaged)")
            seen.add(member.casefold())
            if info.file_size > MAX_PART_BYTES:
                raise WorkbookError(f"{self.name}: part {member} would unpack to {info.file_size:,} bytes; refused")
            if info.file_size > RATIO_FROM_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise WorkbookError(
                    f"{self.name}: part {member} is compressed {info.file_size // max(info.compress_size, 1)}:1, "
                    "the mark of a zip bomb; refused"
                )
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise WorkbookError(f"{self.name}: would unpack to {total:,} bytes; refused")
        size = self.path.stat().st_size
        if total > RATIO_FROM_BYTES and total > MAX_RATIO * size:
            raise WorkbookError(
                f"{self.name}: would unpack to {total:,} bytes from {size:,}, the mark of a zip bomb; refused"
            )
        self._check_no_overlap(infos)

    def _check_no_overlap(self, infos: list[zipfile.ZipInfo]) -> None:
        """Refuse parts that share bytes: the trick that makes a small zip unpack (or copy) to terabytes."""
        spans = sorted((info.header_offset, info.compress_size, info.filename) for info in infos)
        ends = [start for start, _, _ in spans[1:]] + [self.zip.start_dir]
        for (start, length, member), next_start in zip(spans, ends, strict=True):
            if start + _LOCAL_HEADER + length > next_start:
                raise WorkbookError(
                    f"{self.name}: part {member} overlaps another part, the mark of a zip bomb; "
                    "refused (the file is damaged)"
                )

    def has(self, member: str) -> bool:
        return member in self.members

    def open(self, member: str) -> _BoundedReader:
        """A stream of one part, decompressed, that stops at the size its header declares."""
        info = self.members.get(member)
        if info is None:
            raise WorkbookError(f"{self.name}: the package has no part {member}; the file is damaged")
        try:
            raw = self.zip.open(info)
        except Exception as exc:  # BadZipFile (local header disagrees with the directory), OSError
            raise WorkbookError(
                f"{self.name}: {member}: the part is damaged ({_detail(exc)}); restore the file from a backup"
            ) from None
        return _BoundedReader(raw, info.file_size, f"{self.name}: {member}")

    def read(self, member: str) -> bytes:
        with self.open(member) as fh:
            return fh.read()

    def parse(self, member: str) -> etree._Element:
        """Parse a small XML part (workbook, rels, styles) safely."""
        where = f"{self.name}: {member}"
        info = self.members.get(member)
        if info is not None and info.file_size > MAX_TREE_BYTES:
            raise WorkbookError(f"{where}: the part is {info.file_size:,} bytes, far more than any workbook's; refused")
        data = self.read(member)
        refuse_dtd(data, where)
        try:
            root = etree.fromstring(data, safe_parser())
        except etree.XMLSyntaxError as exc:
            raise WorkbookError(f"{where}: not well-formed XML ({_detail(exc)}); the file is damaged") from None
        refuse_doctype(root, where)
        return root

    # -- workbook structure ----------------------------------------------------------------

    def _rels(self, part: str) -> dict[str, str]:
        """Relationship id -> target part name, for a part."""
        folder, base = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", base + ".rels")
        if not self.has(rels_part):
            return {}
        root = self.parse(rels_part)
        out = {}
        for rel in root.iter(f"{{{NS_PKG_REL}}}Relationship"):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External":
                continue
            if target.startswith("/"):
                resolved = target.lstrip("/")
            else:
                resolved = posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id", "")] = resolved
        return out

    def _workbook_part(self) -> str:
        """The main part named by the package's root relationships (usually xl/workbook.xml)."""
        if self.has("_rels/.rels"):
            root = self.parse("_rels/.rels")
            for rel in root.iter(f"{{{NS_PKG_REL}}}Relationship"):
                if rel.get("Type", "").endswith("/officeDocument"):
                    target = str(rel.get("Target", "")).lstrip("/")
                    if self.has(target):
                        return target
        if self.has("xl/workbook.xml"):
            return "xl/workbook.xml"
        raise WorkbookError(
            f"{self.name}: the package has no workbook part; it is not an Excel workbook or it is damaged"
        )

    def _read_workbook(self) -> tuple[list[SheetInfo], bool]:
        root = self.parse(self.workbook_part)
        if root.tag == f"{{{NS_STRICT_MAIN}}}workbook":
            raise WorkbookError(
                f"{self.name}: is a Strict Open XML workbook (Excel's 'Strict Open XML Spreadsheet' format), "
                "which this tool does not read. Open it in Excel, choose File > Save As and the type "
                "'Excel Workbook (*.xlsx)' (in LibreOffice: 'Excel 2007-365 (.xlsx)'), and run on that file"
            )
        rels = self._rels(self.workbook_part)
        sheets = []
        for sheet in root.iter(f"{M}sheet"):
            target = rels.get(sheet.get(f"{{{NS_REL}}}id", ""))
            if target is None or not self.has(target):
                raise WorkbookError(
                    f"{self.name}: {self.workbook_part}: sheet {sheet.get('name', '')!r} points to "
                    f"{'the missing part ' + target if target else 'no part'}; the file is damaged, "
                    "restore it from a backup"
                )
            if not target.endswith(".xml") or "/worksheets/" not in target:
                continue  # a chartsheet: nothing to read there
            sheets.append(SheetInfo(sheet.get("name", ""), target, sheet.get("state", "visible")))
        pr = root.find(f"{M}workbookPr")
        date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        return sheets, date1904

    def sheet(self, name: str) -> SheetInfo | None:
        for info in self.sheets:
            if info.name == name:
                return info
        folded = name.casefold()
        for info in self.sheets:
            if info.name.casefold() == folded:
                return info
        return None

    @property
    def styles(self) -> Styles:
        if self._styles is None:
            self._styles = self._read_styles()
        return self._styles

    def _read_styles(self) -> Styles:
        rels = self._rels(self.workbook_part)
        part = next((t for t in rels.values() if t.endswith("styles.xml")), None)
        if part is None or not self.has(part):
            return Styles()
        root = self.parse(part)
        custom = {}
        numfmts = root.find(f"{M}numFmts")
        try:
            if numfmts is not None:
                for fmt in numfmts.iter(f"{M}numFmt"):
                    custom[int(fmt.get("numFmtId", "0"))] = fmt.get("formatCode", "")
            formats = []
            looks: tuple[tuple[str, ...], ...] = ()
            xfs = root.find(f"{M}cellXfs")
            if xfs is not None:
                formats = [int(xf.get("numFmtId", "0") or 0) for xf in xfs.iter(f"{M}xf")]
                looks = tuple(_look(xf) for xf in xfs.iter(f"{M}xf"))
        except ValueError:
            raise WorkbookError(
                f"{self.name}: {part}: a number format id is not a number; the file is damaged"
            ) from None
        # openpyxl's test is quadratic in the length of the code: only codes Excel could write are looked at.
        date_ids = {i for i, code in custom.items() if len(code) <= MAX_FORMAT_CODE and is_date_format(code)}
        date_ids |= _BUILTIN_DATE_FORMATS - custom.keys()
        # LibreOffice writes General as a custom format (id 164+, code "General").
        general_ids = {0} | {i for i, code in custom.items() if code.strip().lower() == "general"}
        dates = {index for index, fmt_id in enumerate(formats) if fmt_id in date_ids}
        general = {index for index, fmt_id in enumerate(formats) if fmt_id in general_ids}
        general_by_look: dict[tuple[str, ...], int] = {}
        for index in sorted(general):
            if index < len(looks):
                general_by_look.setdefault(looks[index], index)
        return Styles(frozenset(dates), frozenset(general), looks, general_by_look)

    @property
    def shared_strings(self) -> list[str]:
        if self._shared is None:
            self._shared = self._read_shared_strings()
        return self._shared

    def _read_shared_strings(self) -> list[str]:
        rels = self._rels(self.workbook_part)
        part = next((t for t in rels.values() if t.endswith("sharedStrings.xml")), None)
        if part is None or not self.has(part):
            return []
        size = self.members[part].file_size
        if size > MAX_SHARED_STRINGS_BYTES:
            raise WorkbookError(
                f"{self.name}: {part}: the shared strings are {size:,} bytes, more than "
                f"{MAX_SHARED_STRINGS_BYTES // 1024**2} MiB, far beyond any invoice workbook; refused"
            )
        with self.open(part) as stream:
            plain = plain_shared_strings(stream, max_span=MAX_STRING, where=f"{self.name}: {part}")
        if plain is not None:
            return plain
        strings: list[str] = []
        si_tag, t_tag, rph_tag = f"{M}si", f"{M}t", f"{M}rPh"
        for elem in iterparse_safe(self.open(part), f"{self.name}: {part}", si_tag):
            # Rich text is several runs; phonetic guides (rPh) are not part of the text.
            strings.append(
                "".join(
                    t.text or "" for t in elem.iter(t_tag) if t.getparent() is not None and t.getparent().tag != rph_tag
                )
            )
            if len(strings[-1]) > MAX_STRING:
                raise WorkbookError(
                    f"{self.name}: {part}: shared string #{len(strings)} is more than {MAX_STRING // 1024**2} MiB "
                    "long, far more than any workbook holds; refused"
                )
            elem.clear()
            # Drop the items already read so the tree does not grow with the table.
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
        return strings


def _look(xf: etree._Element) -> tuple[str, ...]:
    """What a cell style looks like, apart from its number format."""
    inner = tuple(etree.tostring(child, method="c14n").decode() for child in xf)
    return (xf.get("fontId", "0"), xf.get("fillId", "0"), xf.get("borderId", "0"), xf.get("xfId", "0"), *inner)


class _BoundedReader:
    """Reads a zip member and refuses to give more bytes than its header declared.

    zipfile already checks the CRC at the end, but the declared size is what the
    checks above trusted, so a member that inflates past it is stopped here.
    """

    def __init__(self, raw: IO[bytes], limit: int, where: str) -> None:
        self.raw, self.limit, self.where, self.count = raw, limit, where, 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.raw.read(size)
        except Exception as exc:  # BadZipFile (CRC), EOFError, OSError, zlib.error from a corrupt deflate stream
            raise WorkbookError(
                f"{self.where}: the part is damaged ({_detail(exc)}); restore the file from a backup"
            ) from None
        self.count += len(data)
        if self.count > self.limit:
            raise WorkbookError(f"{self.where}: unpacks to more than it declares; refused")
        return data

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> _BoundedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detail(exc: Exception) -> str:
    """An exception's message on one line (libxml2's end in a newline), for a message to the user."""
    return " ".join(str(exc).split())[:300]


# "<!DOCTYPE" and "<!ENTITY" as they look in each encoding an XML part may use without
# declaring it (told apart by its first bytes, XML 1.0 appendix F).
_DTD_PATTERNS = {
    encoding: re.compile(b"|".join(re.escape(m.encode(encoding)) for m in ("<!DOCTYPE", "<!ENTITY")))
    for encoding in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
}
_MARKER_OVERLAP = 4 * len("<!DOCTYPE")


def _encoding_of(head: bytes) -> str:
    if head.startswith((b"\xff\xfe\x00\x00", b"<\x00\x00\x00")):
        return "utf-32-le"
    if head.startswith((b"\x00\x00\xfe\xff", b"\x00\x00\x00<")):
        return "utf-32-be"
    if head.startswith((b"\xff\xfe", b"<\x00")):
        return "utf-16-le"
    if head.startswith((b"\xfe\xff", b"\x00<")):
        return "utf-16-be"
    return "ascii"  # UTF-8 and the like; an exotic declared encoding is caught by refuse_doctype


def refuse_dtd(data: bytes, where: str, encoding: str | None = None) -> None:
    """Workbook XML never has a DTD; one is only there to declare entities, so refuse it.

    No "!" byte (in any of the encodings, "<!" holds one) means no DTD: looked for first, at
    the speed of ``memchr``, where the patterns stop at every "<" of a sheet.
    """
    if b"!" in data and _DTD_PATTERNS[encoding or _encoding_of(data)].search(data):
        raise WorkbookError(f"{where}: the XML declares a DTD or entities, which workbooks never do; refused")


def refuse_doctype(root: etree._Element, where: str) -> None:
    """After parsing: refuse a DTD the byte check could not see (an exotic declared encoding)."""
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype or docinfo.system_url:
        raise WorkbookError(f"{where}: the XML declares a DTD or entities, which workbooks never do; refused")


class _DtdScan:
    """Refuses a DTD in a part read chunk by chunk: the encoding told from the first, a marker cut in two found."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.encoding: str | None = None
        self.tail = b""  # the end of the previous chunk

    def scan(self, data: bytes) -> None:
        if self.encoding is None:
            self.encoding = _encoding_of(data)
        refuse_dtd(self.tail + data, self.where, self.encoding)
        self.tail = data[-_MARKER_OVERLAP:]


def expat_parser() -> expat.XMLParserType:
    """An expat parser with no handlers, that never reads parameter entities: a well-formedness check at C speed.

    Only ever given bytes already checked for a DTD (``refuse_dtd``).
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def expat_problem(parser: expat.XMLParserType, data: bytes, final: bool) -> str | None:
    """Feed ``data`` to ``parser``: None, or what makes the XML not well formed."""
    try:
        parser.Parse(data, final)
    except (expat.ExpatError, LookupError) as exc:  # LookupError: an encoding no codec knows
        return f"not well-formed XML ({exc})"
    return None


class _StreamGuard:
    """Wraps a part's stream: refuses a DTD anywhere in it, and too much XML between two elements.

    The parser keeps in memory everything it read since the consumer last took an
    element (and cleared it); ``span`` counts those bytes, ``reset()`` starts again.
    """

    def __init__(self, raw: Readable, where: str, what: str) -> None:
        self.raw, self.where, self.what = raw, where, what
        self.dtd = _DtdScan(where)
        self.span = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size and size > 0 else 65536)
        self.dtd.scan(data)
        self.span += len(data)
        if self.span > MAX_SPAN_BYTES:
            raise WorkbookError(
                f"{self.where}: more than {MAX_SPAN_BYTES // 1024**2} MiB of XML without one complete "
                f"<{self.what}>, far more than any workbook holds; refused"
            )
        return data

    def reset(self) -> None:
        self.span = 0


class _WellFormed:
    """Wraps a part's stream for a reader that works on its bytes: refuses a DTD, and checks the XML is well formed.

    Every byte read is also fed to expat, with no handlers (so at C speed, a
    quarter of a second for 40 MB), which raises at the first byte that breaks
    the XML; the stream read to its end proves the whole part well formed. Only
    UTF-8 is checked here: a reader working on bytes hands any other encoding
    to lxml, which checks it.
    """

    def __init__(self, raw: Readable, where: str, parse: bool = True) -> None:
        self.raw, self.where, self.parse = raw, where, parse
        self.dtd = _DtdScan(where)
        self.parser: expat.XMLParserType | None = None

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size and size > 0 else 65536)
        first = self.dtd.encoding is None
        self.dtd.scan(data)
        if first and self.dtd.encoding == "ascii" and self.parse:
            self.parser = expat_parser()
        if self.parser is not None:
            problem = expat_problem(self.parser, data, not data)
            if problem is not None:
                self.parser = None
                raise WorkbookError(f"{self.where}: {problem}; the file is damaged")
        return data


def well_formed(stream: Readable, where: str, parse: bool = True) -> Readable:
    """``stream``, refusing as it is read a DTD or XML that is not well formed (``WorkbookError``).

    ``parse=False`` leaves the well-formedness to another check (``toolkit.xlsx.check.PartCheck``).
    """
    return _WellFormed(stream, where, parse)


_ODD_MARKUP = re.compile(rb"<[!?]")


class _PlainMarkup:
    """Wraps a part's stream for the writer, which patches XML as bytes: only elements, attributes and text.

    Comments, CDATA sections and processing instructions (which Excel never writes)
    could hide or fake the tags the writer looks for, so they are refused.
    """

    def __init__(self, raw: Readable, where: str) -> None:
        self.raw, self.where = raw, where
        self.offset = 0
        self.last = b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        window = self.last + data
        for match in _ODD_MARKUP.finditer(window):
            at = self.offset - len(self.last) + match.start()
            if at <= 3 and window.startswith(b"<?xml ", match.start()):
                continue  # the XML declaration (after a byte order mark, perhaps)
            raise WriteRefused(
                f"{self.where}: the sheet's XML holds comments, CDATA or processing instructions, which Excel "
                "never writes, so the tool cannot update it safely; nothing was written. "
                "Open the workbook in Excel or LibreOffice, save it, and run again"
            )
        self.offset += len(data)
        self.last = data[-1:]
        return data


def plain_markup(stream: Readable, where: str) -> Readable:
    """``stream``, refusing (``WriteRefused``) as it is read any markup but elements, attributes and text."""
    return _PlainMarkup(stream, where)


class ReadAhead:
    """Reads a stream on a thread of its own, a few chunks ahead of the caller; a context manager.

    Inflating a zip member releases the interpreter: the writer reads the sheet this way
    so that the inflating happens while it patches the chunk before (some 0.07 s of
    100,000 rows off the writing thread). Errors reach the caller at the read they
    belong to; leaving the block stops the thread.
    """

    def __init__(self, stream: Readable, chunk_size: int = 1 << 20, ahead: int = 2) -> None:
        self.stream, self.chunk_size = stream, chunk_size
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a thread waiting to put its next chunk
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def read(self, size: int = -1) -> bytes:
        """The next chunk as it was read (whatever ``size``); b"" at the end."""
        if self._ended:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
        return item

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self.stream.read(self.chunk_size)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # handed to the reader of the chunks, raised there
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.05)
                return


def too_many(where: str, what: str, limit: int) -> WorkbookError:
    """The refusal of a part holding more ``<what>`` elements than Excel allows."""
    return WorkbookError(f"{where}: holds more than {limit:,} <{what}> elements, more than Excel allows; refused")


def iterparse_safe(
    stream: Readable,
    where: str,
    tag: str,
    *,
    until: str | None = None,
    max_items: int | None = None,
) -> Iterator[etree._Element]:
    """``lxml.etree.iterparse`` over a part, safely, yielding the ``tag`` elements at their end tag.

    The consumer must clear each element it is given (and drop those before it), so
    that memory stays flat. Reading stops at the end of the ``until`` element (the
    rest of the part is not needed), or with a refusal after ``max_items`` elements.
    With ``until``, the elements must be right inside it, itself right under the root,
    where the writer (which patches the XML as bytes) looks for them.
    """
    what = tag.rpartition("}")[2]
    guard = _StreamGuard(stream, where, what)
    count = 0
    container: etree._Element | None = None  # the element the first one is in: all must be in it
    try:
        parser = etree.iterparse(
            guard,
            events=("end",),
            tag=(tag, until) if until else tag,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        for _event, elem in parser:
            if count == 0:
                refuse_doctype(elem, where)
            if elem.tag == until:
                return
            if until is not None:
                # Only where the writer looks for them too: right in <until>, itself right under the root.
                parent = elem.getparent()
                if container is None and parent is not None and parent.tag == until:
                    grandparent = parent.getparent()
                    if grandparent is not None and grandparent.getparent() is None:
                        container = parent
                if parent is None or parent is not container:
                    raise WorkbookError(
                        f"{where}: a <{what}> outside the <{until.rpartition('}')[2]}> at the top of the part, "
                        "which no workbook has; the file is damaged"
                    )
            count += 1
            if max_items is not None and count > max_items:
                raise too_many(where, what, max_items)
            guard.reset()
            yield elem
        if count == 0 and parser.root is not None:
            refuse_doctype(parser.root, where)
    except etree.XMLSyntaxError as exc:
        raise WorkbookError(f"{where}: not well-formed XML ({_detail(exc)}); the file is damaged") from None


def check_written(path: Path, part: str, workbook: str, xml_problem: str | None = None) -> None:
    """Open a package the tool just wrote, before it replaces ``workbook``.

    The write-back patches the sheet as bytes; this proves the result is still a
    workbook: a zip whose parts pass the checks any input passes, ``part`` among
    them. That the patched part inflates to the bytes written, ``zip_rewrite``
    checked as it wrote them; ``xml_problem`` is what the check of those bytes as
    XML found (``toolkit.xlsx.check``, run as they were written): anything there
    refuses the write too.
    """
    problem = f"{part}: {xml_problem}" if xml_problem else None
    if problem is None:
        try:
            with XlsxPackage(path) as pkg:
                if not pkg.has(part):
                    raise WorkbookError(f"{part} is missing")
        except WorkbookError as exc:
            problem = str(exc)
        except zipfile.BadZipFile as exc:
            problem = f"{part}: {exc}"
        else:
            return
    raise WriteRefused(
        f"{workbook}: the updated workbook did not pass its check, so nothing was written ({problem}). "
        "The sheet holds XML the tool cannot patch safely; please report it"
    )
