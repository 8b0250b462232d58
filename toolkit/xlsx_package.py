"""Opening an .xlsx/.xlsm package safely and reading its shared parts.

An .xlsx file is a zip of XML parts written by anyone, so it is treated as data
from outside: member names, sizes and compression ratios are checked before
anything is decompressed, and every XML part is parsed with entity resolution
and network access off, after refusing any DTD (a workbook never needs one).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lxml import etree

from toolkit.errors import WorkbookError
from toolkit.sheet_scan import Readable, plain_shared_strings

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
M = "{%s}" % NS_MAIN

# Limits that a genuine workbook of a business stays far below, and that keep a
# zip bomb from filling the memory or the disk.
MAX_PART_BYTES = 2 * 1024**3  # one part, uncompressed
MAX_TOTAL_BYTES = 4 * 1024**3  # all parts, uncompressed
MAX_RATIO = 200  # uncompressed / compressed, for parts over 1 MiB
MAX_MEMBERS = 10_000

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
    number_formats: list[int] = field(default_factory=list)  # cellXfs index -> numFmtId

    def is_date(self, style: int) -> bool:
        return style in self.date_styles

    def is_general(self, style: int) -> bool:
        return 0 <= style < len(self.number_formats) and self.number_formats[style] == 0


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
        except zipfile.BadZipFile:
            raise WorkbookError(
                f"{self.name}: the file is damaged (not a complete zip package); "
                "restore it from a backup or save it again from Excel"
            ) from None
        except OSError as exc:
            raise WorkbookError(f"{self.name}: cannot read the file ({exc.strerror})") from None
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
        self._styles: Styles | None = None
        self._shared: list[str] | None = None

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
            if info.file_size > MAX_PART_BYTES:
                raise WorkbookError(f"{self.name}: part {member} would unpack to {info.file_size:,} bytes; refused")
            if info.file_size > 1024**2 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise WorkbookError(
                    f"{self.name}: part {member} is compressed {info.file_size // max(info.compress_size, 1)}:1, "
                    "the mark of a zip bomb; refused"
                )
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise WorkbookError(f"{self.name}: would unpack to {total:,} bytes; refused")

    def has(self, member: str) -> bool:
        return member in self.members

    def open(self, member: str) -> _BoundedReader:
        """A stream of one part, decompressed, that stops at the size its header declares."""
        info = self.members.get(member)
        if info is None:
            raise WorkbookError(f"{self.name}: the package has no part {member}; the file is damaged")
        return _BoundedReader(self.zip.open(info), info.file_size, f"{self.name}: {member}")

    def read(self, member: str) -> bytes:
        with self.open(member) as fh:
            return fh.read()

    def parse(self, member: str) -> etree._Element:
        """Parse a small XML part (workbook, rels, styles) safely."""
        data = self.read(member)
        refuse_dtd(data[:4096], f"{self.name}: {member}")
        try:
            return etree.fromstring(data, safe_parser())
        except etree.XMLSyntaxError as exc:
            raise WorkbookError(
                f"{self.name}: part {member} is not well-formed XML ({exc}); the file is damaged"
            ) from None

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
                    target = rel.get("Target", "").lstrip("/")
                    if self.has(target):
                        return target
        if self.has("xl/workbook.xml"):
            return "xl/workbook.xml"
        raise WorkbookError(
            f"{self.name}: the package has no workbook part; it is not an Excel workbook or it is damaged"
        )

    def _read_workbook(self) -> tuple[list[SheetInfo], bool]:
        root = self.parse(self.workbook_part)
        rels = self._rels(self.workbook_part)
        sheets = []
        for sheet in root.iter(f"{M}sheet"):
            target = rels.get(sheet.get(f"{{{NS_REL}}}id", ""))
            if target is None or not self.has(target):
                continue  # a chartsheet or a dangling entry: nothing to read there
            if not target.endswith(".xml") or "/worksheets/" not in target:
                continue
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
        if numfmts is not None:
            for fmt in numfmts.iter(f"{M}numFmt"):
                custom[int(fmt.get("numFmtId", "0"))] = fmt.get("formatCode", "")
        formats = []
        dates = set()
        xfs = root.find(f"{M}cellXfs")
        if xfs is not None:
            for index, xf in enumerate(xfs.iter(f"{M}xf")):
                fmt_id = int(xf.get("numFmtId", "0") or 0)
                formats.append(fmt_id)
                if fmt_id in custom:
                    if is_date_format(custom[fmt_id]):
                        dates.add(index)
                elif fmt_id in _BUILTIN_DATE_FORMATS:
                    dates.add(index)
        return Styles(frozenset(dates), formats)

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
        with self.open(part) as stream:
            plain = plain_shared_strings(stream)
        if plain is not None:
            return plain
        strings: list[str] = []
        si_tag, t_tag, rph_tag = f"{M}si", f"{M}t", f"{M}rPh"
        for elem in iterparse_safe(self.open(part), f"{self.name}: {part}", tag=si_tag):
            # Rich text is several runs; phonetic guides (rPh) are not part of the text.
            strings.append(
                "".join(
                    t.text or "" for t in elem.iter(t_tag) if t.getparent() is not None and t.getparent().tag != rph_tag
                )
            )
            elem.clear()
            # Drop the items already read so the tree does not grow with the table.
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
        return strings


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
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise WorkbookError(f"{self.where}: the part is damaged ({exc}); restore the file from a backup") from None
        except Exception as exc:  # zlib.error and friends, from a corrupt deflate stream
            raise WorkbookError(f"{self.where}: the part is damaged ({exc}); restore the file from a backup") from None
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


def refuse_dtd(head: bytes, where: str) -> None:
    """Workbook XML never has a DTD; one is only there to declare entities, so refuse it."""
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise WorkbookError(f"{where}: the XML declares a DTD or entities, which workbooks never do; refused")


class _DtdGuard:
    """Wraps a stream so the first chunk is checked for a DTD before the parser sees it."""

    def __init__(self, raw: Readable, where: str) -> None:
        self.raw, self.where, self.first = raw, where, True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size and size > 0 else 65536)
        if self.first:
            self.first = False
            refuse_dtd(data, self.where)
        elif b"<!ENTITY" in data or b"<!DOCTYPE" in data:
            refuse_dtd(data, self.where)
        return data


def iterparse_safe(stream: Readable, where: str, tag: str | tuple[str, ...]) -> Iterator[etree._Element]:
    """``lxml.etree.iterparse`` over a part, safely, yielding elements at their end tag."""
    try:
        for _event, elem in etree.iterparse(
            _DtdGuard(stream, where),
            events=("end",),
            tag=tag,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        ):
            yield elem
    except etree.XMLSyntaxError as exc:
        raise WorkbookError(f"{where}: not well-formed XML ({exc}); the file is damaged") from None
