"""A CSV or XLSX file's bytes to a header row and data rows, or a clear refusal.

Spreadsheets reach a CRM from everywhere: Excel on Korean Windows saves CP949,
newer tools UTF-8 with a BOM (which must not end up in the first header),
some UTF-16; Europeans separate with semicolons. So the encoding is detected
(BOM, then UTF-8, then CP949; ``--encoding`` overrides) and the delimiter
sniffed from the header line. A file that is not what it claims (binary,
a zip bomb, no header) is refused before anything is written. A formula cell
of a workbook is read as its text, never evaluated.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from xrm.entities.imports import BadFile

_DELIMITERS = (",", ";", "\t", "|")
_SAMPLE = 65_536
# Past this many empty rows in a row, a sheet is taken to have ended (1M blank formatted
# rows are a known way to make a reader spin).
_EMPTY_RUN = 10_000


@dataclass(frozen=True, slots=True)
class Table:
    """What a file holds: its column names and its non-empty data rows, each with the number
    a person sees for it (the spreadsheet's row, the CSV's line)."""

    headers: list[str]
    rows: list[list[Any]]
    numbers: list[int]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)


def is_workbook(name: str, data: bytes) -> bool:
    """XLSX by its name, or by its zip signature when the name says nothing."""
    lower = name.lower()
    if lower.endswith((".xlsx", ".xlsm")):
        return True
    if lower.endswith((".csv", ".tsv", ".txt")):
        return False
    return data[:4] == b"PK\x03\x04"


def read_table(
    name: str,
    data: bytes,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    max_bytes: int = 100 * 1024 * 1024,
) -> Table:
    """The table in ``data`` (the file ``name``); raises ``BadFile`` naming the problem."""
    if len(data) > max_bytes:
        raise BadFile(
            f"{name} is larger than {max_bytes // (1024 * 1024)} MB (XRM_IMPORT_MAX_FILE_MB)"
        )
    if is_workbook(name, data):
        if encoding:
            raise BadFile("--encoding applies to CSV files; a workbook carries its own")
        return _read_workbook(name, data, sheet, max_bytes)
    if sheet:
        raise BadFile("--sheet applies to XLSX workbooks; a CSV file has one table")
    if data[:4] == b"PK\x03\x04":
        raise BadFile(f"{name} is a zip archive (an XLSX workbook?), not CSV text; name it .xlsx")
    return _read_csv(name, data, encoding)


# --- CSV --------------------------------------------------------------------------------------


def decode(name: str, data: bytes, encoding: str | None) -> tuple[str, str]:
    """``data`` as text and the encoding it was read with (a BOM is never part of the text)."""
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise BadFile(f"--encoding {encoding!r} is not an encoding Python knows") from None
        if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError as exc:
            raise BadFile(
                f"{name} is not {encoding} text: byte {data[exc.start]:#04x} at offset {exc.start} "
                "does not decode; try another --encoding"
            ) from None
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                raise BadFile(
                    f"{name} starts with a {codec} byte-order mark but is not {codec} text"
                ) from None
    guesses = ["utf-8", "cp949"]
    if len(data) >= 4 and data[1] == 0 and data[3] == 0 and data[0] and data[2]:
        guesses.insert(0, "utf-16-le")
    elif len(data) >= 4 and data[0] == 0 and data[2] == 0 and data[1] and data[3]:
        guesses.insert(0, "utf-16-be")
    for codec in guesses:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise BadFile(
        f"{name} is neither UTF-8 nor CP949 (EUC-KR) text; if it is text, name its "
        "encoding with --encoding (e.g. --encoding latin-1)"
    )


def _looks_binary(text: str) -> bool:
    sample = text[:_SAMPLE]
    if "\x00" in text:
        return True
    controls = sum(1 for c in sample if c < " " and c not in "\t\r\n")
    return controls > max(2, len(sample) // 100)


def sniff_delimiter(text: str) -> str:
    """The separator the header line uses most (outside quotes): comma, semicolon, tab or bar."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in text[:_SAMPLE]:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(name: str, data: bytes, encoding: str | None) -> Table:
    text, codec = decode(name, data, encoding)
    text = text.removeprefix("\ufeff")
    if _looks_binary(text):
        raise BadFile(
            f"{name} does not look like CSV text (it holds NUL or other control characters); "
            "is it a binary file?"
        )
    if not text.strip():
        raise BadFile(f"{name} is empty: its first row must name the columns")
    delimiter = sniff_delimiter(text)
    csv.field_size_limit(max(len(text), 131_072))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[str] | None = None
    rows: list[list[Any]] = []
    numbers: list[int] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if headers is None:
                headers = [c.strip() for c in cells]
                continue
            rows.append(cells)
            numbers.append(start)
    except csv.Error as exc:
        raise BadFile(f"{name}, line {reader.line_num}: {exc}") from None
    if headers is None:
        raise BadFile(f"{name} is empty: its first row must name the columns")
    return Table(headers, rows, numbers, encoding=codec, delimiter=delimiter)


# --- XLSX -------------------------------------------------------------------------------------


def _check_archive(name: str, data: bytes, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise BadFile(f"{name} is not an XLSX workbook (not a readable zip archive)") from None
    if unpacked > max_bytes:
        raise BadFile(
            f"{name} unpacks to more than {max_bytes // (1024 * 1024)} MB "
            "(XRM_IMPORT_MAX_FILE_MB); refusing it"
        )
    if "xl/workbook.xml" not in names:
        raise BadFile(f"{name} is a zip archive but not an XLSX workbook")


def _cells(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[Any]]]:
    """Non-empty rows with their spreadsheet numbers; stops after a long run of empty ones."""
    empty = 0
    for number, values in enumerate(rows, start=1):
        cells = list(values)
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            empty += 1
            if empty >= _EMPTY_RUN:
                return
            continue
        empty = 0
        yield number, cells


def _read_workbook(name: str, data: bytes, sheet: str | None, max_bytes: int) -> Table:
    _check_archive(name, data, max_bytes)
    import openpyxl  # imported here: `xrm --help` stays fast

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds on a malformed workbook
        raise BadFile(f"{name} is not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        names = book.sheetnames
        if sheet is not None and sheet not in names:
            raise BadFile(f"{name} has no sheet {sheet!r}; its sheets: {', '.join(names)}")
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        if hasattr(worksheet, "reset_dimensions"):
            worksheet.reset_dimensions()  # a stated size of 1M rows is not believed
        headers: list[str] | None = None
        rows: list[list[Any]] = []
        numbers: list[int] = []
        try:
            for number, cells in _cells(worksheet.iter_rows(values_only=True)):
                if headers is None:
                    headers = ["" if c is None else str(c).strip() for c in cells]
                    continue
                rows.append(cells)
                numbers.append(number)
        except BadFile:
            raise
        except Exception as exc:
            raise BadFile(f"{name}: the sheet cannot be read ({type(exc).__name__})") from None
    finally:
        book.close()
    if headers is None:
        raise BadFile(f"{name} is empty: the sheet's first row must name the columns")
    while headers and not headers[-1]:
        headers.pop()  # formatted but empty columns at the right
    return Table(headers, rows, numbers, sheet=worksheet.title)
