"""Reading one landing file: the bytes of a shop export (CSV with UTF-8 or cp1252 lines, or an .xlsx
workbook) become its raw records, every field the string found, with our column names, record numbers and
the span of physical lines each came from; and those records become bronze rows placed in their business
dates.

Pure: it takes bytes and returns frames. Which files exist, and reading them from disk, is the landing
zone's job (``adapters/landing_zone.py``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from retail_pipeline.core.contracts import BUSINESS_COLUMNS
from retail_pipeline.core.parsing import parse_timestamp

# Header variants of the Online Retail exports found in the wild -> our names.
HEADER_VARIANTS: dict[str, dict[str, str]] = {
    "online_retail_i": {
        "InvoiceNo": "invoice_no",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoice_ts",
        "UnitPrice": "unit_price",
        "CustomerID": "customer_id",
        "Country": "country",
    },
    "online_retail_ii": {
        "Invoice": "invoice_no",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoice_ts",
        "Price": "unit_price",
        "Customer ID": "customer_id",
        "Country": "country",
    },
}

SUPPORTED_SUFFIXES = (".csv", ".xlsx")

_UTF8_BOM = b"\xef\xbb\xbf"


class LandingError(ValueError):
    """A landing file that cannot be read as an Online Retail export; the message names the file."""


class HeaderError(LandingError):
    """A header that is none of ``HEADER_VARIANTS``; ``missing``: the columns the closest variant lacks."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class RawFile:
    """One landing file's records as the strings found, with our column names and record numbers."""

    path: str
    sha256: str
    format: str
    # BUSINESS_COLUMNS, _extra, _field_count, _raw_record, _source_sheet, _source_row, and _LINEAGE
    records: pl.DataFrame
    extra_columns: tuple[str, ...] = ()
    # Physical lines of the file (a workbook: its sheets' rows, headers included), and those no record holds:
    # header and blank lines. Every other line is in exactly one record's span (_first_line.._last_line).
    lines: int = 0
    lines_outside_records: int = 0


UTF8, CP1252, INVALID = "utf-8", "cp1252", "invalid"

# What a blank line may hold. Not str.strip()'s set, which also takes the control characters 0x1C-0x1F (and
# polars' strip_chars(), which takes other Unicode spaces): a line of them is a record, quarantined as such.
BLANK = " \t\r\f\v"


def _normalised(data: bytes) -> bytes:
    """The bytes without a UTF-8 BOM; a file whose lines end in CR alone (classic Mac) gets LF line ends.
    Lines end at LF (a CR before it is part of the line end), as polars reads them."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")
    return data


def decode_lines(data: bytes) -> tuple[list[str], list[str]]:
    """The physical lines of a file (without their line ends) and how each was decoded.

    Each line on its own: valid UTF-8 is read as UTF-8; any other line as cp1252 (a shop's legacy export, or
    one pasted line of one); a line that is not cp1252 either (five byte values mean nothing in it) is
    decoded with U+FFFD for those bytes and marked ``invalid``, so silver quarantines its record as
    bad_encoding instead of the file being rejected. polars reads only UTF-8, and its ``utf8-lossy``
    would turn cp1252's ``£`` into a replacement character.
    """
    raw = _normalised(data).split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()  # the last line's end
    raw = [line[:-1] if line.endswith(b"\r") else line for line in raw]
    lines, encodings = [], []
    for line in raw:
        try:
            lines.append(line.decode("utf-8"))
            encodings.append(UTF8)
        except UnicodeDecodeError:
            try:
                lines.append(line.decode("cp1252"))
                encodings.append(CP1252)
            except UnicodeDecodeError:
                lines.append(line.decode("cp1252", errors="replace"))
                encodings.append(INVALID)
    return lines, encodings


def map_header(columns: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """The header variant of ``columns``, the renaming to our names, and the extra columns."""
    stripped = [c.strip() for c in columns]
    best_missing: dict[str, list[str]] = {}
    for variant, mapping in HEADER_VARIANTS.items():
        missing = [name for name in mapping if name not in stripped]
        if not missing:
            rename = {raw: mapping[raw.strip()] for raw in columns if raw.strip() in mapping}
            extras = [raw for raw in columns if raw.strip() not in mapping]
            return variant, rename, extras
        best_missing[variant] = missing
    closest = min(best_missing, key=lambda v: len(best_missing[v]))
    # Only the known names: a file without a header reads its first record as one, customer id included.
    known = [c for c in stripped if any(c in mapping for mapping in HEADER_VARIANTS.values())]
    raise HeaderError(
        f"unknown header ({len(stripped)} columns, known names among them: {known or 'none'}): closest is "
        f"{closest} (HEADER_VARIANTS), which lacks columns {best_missing[closest]}",
        best_missing[closest],
    )


def csv_header_variant(head: bytes) -> str:
    """The header variant of a CSV file that begins with ``head`` (its first bytes, the header line among
    them), read as the landing reads it; ``HeaderError`` naming the missing columns, ``LandingError`` for a
    file without a header line."""
    line = _header_line(_normalised(head))
    if not line:
        raise LandingError("empty file (no header line)")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("cp1252", errors="replace")
    try:
        columns = next(csv.reader([text]))
    except csv.Error as exc:
        raise LandingError(f"the header line cannot be read as CSV ({exc})") from exc
    return map_header(columns)[0]


def xlsx_header_variants(data: bytes) -> list[str]:
    """The header variant of each sheet with a header of a workbook's bytes, reading the header rows only; ``HeaderError`` names the sheet and the missing columns, ``LandingError`` a file that is not a
    workbook or has no sheet with a header."""
    import fastexcel

    try:
        workbook = fastexcel.read_excel(data)
        sheets = {name: [c.name for c in workbook.load_sheet(name, n_rows=0).available_columns()] for name in workbook.sheet_names}
    except Exception as exc:  # fastexcel raises its own error types for a file that is not a workbook
        raise LandingError(f"not a readable .xlsx workbook: {exc}") from exc
    variants = []
    for name, columns in sheets.items():
        if not columns:
            continue
        try:
            variants.append(map_header(columns)[0])
        except HeaderError as exc:
            raise HeaderError(f"sheet {name!r}: {exc}", exc.missing) from exc
    if not variants:
        raise LandingError("workbook has no sheet with a header")
    return variants


# A file is parsed in chunks of about this many bytes, each cut where no record can span it (``safe_cut``): memory
# follows the chunk, not the file (a 2.4 GB export is ~40 chunks).
CHUNK_BYTES = 64 * 2**20


def parse_csv(path: str, data: bytes, chunk_bytes: int = CHUNK_BYTES) -> RawFile:
    """Read one CSV landing file (RFC 4180 quoting, each line in its encoding) into its raw records, each
    with the span of physical lines it came from (``CsvStream``, all chunks at once)."""
    return CsvStream(path, [data], chunk_bytes).raw()


def safe_cut(buffer: bytes, target: int) -> int | None:
    """An offset at or after ``target`` just past a line end, with more than ``MAX_RECORD_LINES`` line ends
    between the last quote before it and it, or None if ``buffer`` has none yet. No record can span such a
    cut: a record takes more than one line only from a line with an open quote, and looks at most
    ``MAX_RECORD_LINES`` lines ahead (``read_records``), so parsing the two sides apart reads the same records
    as parsing them together."""
    end = buffer.find(b"\n", max(target - 1, 0))
    while end >= 0:
        cut = end + 1
        quote = buffer.rfind(b'"', 0, cut)
        if quote < 0:
            return cut
        short = MAX_RECORD_LINES + 1 - buffer.count(b"\n", quote, cut)
        if short <= 0:
            return cut
        for _ in range(short):  # move past enough line ends, then look for a quote among them again
            end = buffer.find(b"\n", end + 1)
            if end < 0:
                return None
    return None


class CsvStream:
    """One CSV landing file read in chunks: ``chunks()`` yields each chunk's records (numbered file-wide:
    ``_source_row``, ``_first_line``, ``_last_line``); once it is exhausted, ``sha256``, ``format``,
    ``lines``, ``lines_outside_records`` and ``extra_columns`` describe the whole file.

    Each chunk is parsed as a file of its own behind the file's header line (``_parse``): polars reads
    it fast when every non-blank line is one record; a record spanning lines (a quoted line break, or a
    quote that never closes), a short record or a stray quote sends the chunk to ``read_records``, which
    reads it line by line. A chunk that is not valid UTF-8 is decoded line by line first (``decode_lines``).
    """

    def __init__(self, path: str, blocks, chunk_bytes: int = CHUNK_BYTES):
        self.path, self._blocks, self._chunk_bytes = path, blocks, chunk_bytes
        self.sha256 = ""
        self.format = ""
        self.extra_columns: tuple[str, ...] = ()
        self.lines = self.lines_outside_records = 0
        self._header: bytes | None = None
        self._variant = ""
        self._flags = {CP1252: False, "non_ascii_utf8": False, INVALID: False}
        self._records = 0

    def raw(self) -> RawFile:
        """The whole file's records at once."""
        parts = list(self.chunks())
        return RawFile(
            self.path, self.sha256, self.format, pl.concat(parts), self.extra_columns, self.lines,
            self.lines_outside_records,
        )

    def chunks(self):
        hasher = hashlib.sha256()
        buffer, first = b"", True
        for block in self._blocks:
            hasher.update(block)
            buffer += block
            while len(buffer) >= self._chunk_bytes and (cut := safe_cut(buffer, self._chunk_bytes)) is not None:
                yield self._chunk(buffer[:cut], first)
                buffer, first = buffer[cut:], False
        if first or buffer:
            yield self._chunk(buffer, first)
        self.sha256 = hasher.hexdigest()
        base = (
            "mixed" if self._flags[CP1252] and self._flags["non_ascii_utf8"] else CP1252 if self._flags[CP1252] else UTF8
        )
        encoding = f"{base}-with-undecodable-bytes" if self._flags[INVALID] else base
        self.format = f"csv/{self._variant}/{encoding}"

    def _chunk(self, data: bytes, first: bool) -> pl.DataFrame:
        if first:
            data = _normalised(data)
            self._header = _header_line(data)
            (self._variant, records, extras), outside, physical = self._parse(data)
            self.extra_columns = tuple(extras)
            line_offset = 0
        else:
            # Behind the file's header, so that it reads as the first chunk did; the header line is not counted.
            (_, records, _), outside, physical = self._parse(self._header + b"\n" + data)
            outside, physical, line_offset = outside - 1, physical - 1, self.lines - 1
        records = records.with_columns(
            pl.col("_source_row") + self._records, pl.col("_first_line", "_last_line") + line_offset
        )
        self._records += records.height
        self.lines += physical
        self.lines_outside_records += outside
        return records

    def _parse(self, utf8: bytes) -> tuple[tuple[str, pl.DataFrame, list[str]], int, int]:
        """((header variant, records with our names, extra columns), lines outside records, physical lines)
        of one chunk's bytes."""
        # Counted on the bytes, apart from any reader, so that a line a reader drops cannot go unnoticed.
        physical = utf8.count(b"\n") + (1 if utf8 and not utf8.endswith(b"\n") else 0)
        lines: list[str] | None = None
        encodings: list[str] | None = None
        try:
            utf8.decode("utf-8")
            self._flags["non_ascii_utf8"] |= not utf8.isascii()
        except UnicodeDecodeError:
            lines, encodings = decode_lines(utf8)
            for line, found in zip(lines, encodings, strict=True):
                self._flags[found] = True
                self._flags["non_ascii_utf8"] |= found == UTF8 and not line.isascii()
            utf8 = "\n".join(lines).encode("utf-8")
        fast = _one_record_per_line(utf8, encodings)
        if fast is not None:
            frame, outside = fast
            return _to_records(frame, sheet=None), outside, physical
        if lines is None:
            lines, encodings = decode_lines(utf8)
        try:
            frame = read_records(lines, encodings)
        except csv.Error as exc:  # e.g. a lone carriage return inside an unquoted field
            raise LandingError(f"cannot be read as CSV ({exc})") from exc
        if len(frame.columns) <= len(_READER_COLUMNS):
            raise LandingError("empty file (no header)")  # only a first chunk can lack a header
        mapped = _to_records(frame, sheet=None)
        return mapped, _lines_outside_records(lines, mapped[1]), physical


def _header_line(data: bytes) -> bytes:
    """The first non-blank line of a file's first chunk (without its line end): what each later chunk is
    parsed behind."""
    for line in data.split(b"\n", 64):
        line = line[:-1] if line.endswith(b"\r") else line
        if line.strip(BLANK.encode()):
            return line
    return b""


def _lines_outside_records(lines: list[str], records: pl.DataFrame) -> int:
    """The header (and blank lines before it) and the blank lines in no record's span: the lines no record
    holds. A non-blank line in no record is not counted, so it breaks line conservation."""
    blank = pl.Series("line", lines, pl.String).str.strip_chars(BLANK).str.len_bytes() == 0
    covered = records.select(pl.int_ranges("_first_line", pl.col("_last_line") + 1).explode().unique()).to_series()
    numbered = pl.DataFrame({"n": pl.int_range(1, len(lines) + 1, eager=True), "blank": blank})
    header = numbered.filter(~pl.col("blank"))["n"].min()
    if header is None:
        return len(lines)
    outside = numbered.filter((pl.col("n") <= header) | (pl.col("blank") & ~pl.col("n").is_in(covered.implode())))
    return outside.height


def _one_record_per_line(utf8: bytes, encodings: list[str] | None) -> tuple[pl.DataFrame, int] | None:
    """polars' records of a UTF-8 file with their line numbers and the lines outside them (the header and
    blank lines), or None unless every non-blank line after the header is one record of the header's width. The lines are read as one column (no quoting) to tell
    blank lines, which polars reads as empty records, from records with every field empty."""
    read = dict(infer_schema=False, raise_if_empty=False)
    if b"\x1f" in utf8:
        return None  # the separator that reads each line as one column: such a file is read line by line
    try:
        lines = pl.read_csv(
            io.BytesIO(utf8), has_header=False, new_columns=["line"], separator="\x1f", quote_char=None,
            truncate_ragged_lines=True, **read,
        )
        records = pl.read_csv(io.BytesIO(utf8), has_header=True, **read)
    except pl.exceptions.PolarsError:
        return None
    if lines.height < 1 or not records.columns or records.height != lines.height - 1:
        return None
    if encodings is not None and len(encodings) != lines.height:
        return None
    filled = lines["line"].str.strip_chars(BLANK).fill_null("").str.len_bytes() > 0
    if not filled[0]:
        return None  # a blank line before the header
    keep = filled.slice(1)
    records = records.filter(keep)
    if records[records.columns[-1]].null_count():
        return None  # a short record, padded with nulls: read record by record
    numbers = pl.int_range(2, lines.height + 1, dtype=pl.Int64, eager=True).filter(keep)
    found = pl.Series(encodings[1:], dtype=pl.String).filter(keep) if encodings else pl.repeat(UTF8, records.height, eager=True)
    framed = records.with_columns(
        pl.lit(None, pl.Int64).alias("_field_count"),
        pl.lit(None, pl.String).alias("_raw_record"),
        numbers.alias("_first_line"),
        numbers.alias("_last_line"),
        found.alias("_encoding"),
        pl.lit(False).alias("_unbalanced_quote"),
    ).with_row_index("_source_row", offset=1)
    return framed, 1 + keep.len() - records.height  # the header and the blank lines


_READER_COLUMNS = (
    "_field_count", "_raw_record", "_source_row", "_first_line", "_last_line", "_encoding", "_unbalanced_quote"
)
# The reader's columns a bronze record keeps, in the table's order (besides _source_row).
_LINEAGE = ("_first_line", "_last_line", "_encoding", "_unbalanced_quote")


def _to_records(frame: pl.DataFrame, sheet: str | None) -> tuple[str, pl.DataFrame, list[str]]:
    """Our column names for a frame read with its own header, plus ``_extra`` and the sheet; the variant and
    the extra columns found."""
    columns = [c for c in frame.columns if c not in _READER_COLUMNS]
    variant, rename, extras = map_header(columns)
    extra = pl.struct(extras).struct.json_encode() if extras else pl.lit(None, pl.String)
    records = frame.select(
        *[pl.col(raw).alias(ours) for raw, ours in rename.items()],
        extra.alias("_extra"),
        "_field_count",
        "_raw_record",
        pl.lit(sheet, pl.String).alias("_source_sheet"),
        pl.col("_source_row").cast(pl.Int64),
        pl.col("_first_line", "_last_line").cast(pl.Int64),
        pl.col("_encoding").cast(pl.String),
        pl.col("_unbalanced_quote").cast(pl.Boolean),
    ).select(*BUSINESS_COLUMNS, "_extra", "_field_count", "_raw_record", "_source_sheet", "_source_row", *_LINEAGE)
    return variant, records, [c.strip() for c in extras]


def parse_xlsx(path: str, data: bytes) -> RawFile:
    """Read an .xlsx workbook (the form the UCI dataset is published in): every sheet with a header is a
    source, its rows numbered from 1 after the header like a CSV's records; empty rows are not records."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        sheets = pl.read_excel(
            io.BytesIO(data), sheet_id=0, engine="calamine", infer_schema_length=0,
            raise_if_empty=False, drop_empty_rows=False,
        )
    except Exception as exc:  # fastexcel raises its own error types for a file that is not a workbook
        raise LandingError(f"not a readable .xlsx workbook: {exc}") from exc
    variants, parts, extras = [], [], []
    lines = outside = 0
    for name, sheet in sheets.items():
        if not sheet.columns:
            continue
        lines += sheet.height + 1  # its rows after the header row
        numbered = sheet.with_row_index("_source_row", offset=1).filter(
            ~pl.all_horizontal(pl.exclude("_source_row").is_null())
        ).with_columns(
            pl.lit(None, pl.Int64).alias("_field_count"),
            pl.lit(None, pl.String).alias("_raw_record"),
            # The sheet's own row numbers: the header is row 1.
            (pl.col("_source_row") + 1).alias("_first_line"),
            (pl.col("_source_row") + 1).alias("_last_line"),
            pl.lit(UTF8).alias("_encoding"),
            pl.lit(False).alias("_unbalanced_quote"),
        )
        try:
            variant, records, sheet_extras = _to_records(numbered, sheet=name)
        except LandingError as exc:
            raise LandingError(f"sheet {name!r}: {exc}") from exc
        variants.append(variant)
        parts.append(records)
        outside += 1 + sheet.height - records.height  # its header row and empty rows
        extras += [c for c in sheet_extras if c not in extras]
    if not parts:
        raise LandingError("workbook has no sheet with a header")
    variant = "+".join(sorted(set(variants)))
    return RawFile(path, sha256, f"xlsx/{variant}", pl.concat(parts), tuple(extras), lines, outside)


# A quoted field may hold line breaks (RFC 4180); one open for more lines than this is a quote that never closed.
MAX_RECORD_LINES = 50


def _read(text: str) -> tuple[list[str], bool]:
    """The fields of one record's text as the csv module reads it (a stray quote inside a field is a
    character, as spreadsheets read it), and whether the text ends inside a quoted field (its record goes
    on to the next line). One parse: a line end is appended, which only a still-open quote keeps."""
    fields = next(csv.reader([text + "\n"]), [])
    if fields and fields[-1].endswith("\n"):
        return fields, True
    return fields, False


def _fields(text: str) -> list[str]:
    return _read(text)[0] if '"' in text else text.split(",")


def _opens_quote(text: str) -> bool:
    return '"' in text and _read(text)[1]


def read_records(lines: list[str] | str, encodings: list[str] | None = None) -> pl.DataFrame:
    """Every record of a CSV file's lines, whatever its field count, with the span of lines it came from.

    A record is one line, or, when a quoted field is still open at the end of a line, the lines up to the
    one that closes it, if that makes a record of the header's width and none of the lines taken is a
    record by itself. Otherwise the quote never closed: the line alone is a record flagged
    ``_unbalanced_quote`` with its raw text, and the next line starts the next record, so no line is
    swallowed. A record whose field count differs from the header's is kept (padded with nulls or cut to the
    header's width) with ``_field_count`` and ``_raw_record`` set. Blank lines are not records. Python's
    csv module reads a stray quote inside a field as a character, as spreadsheets do.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    encodings = encodings or [UTF8] * len(lines)
    n = len(lines)
    i = 0
    while i < n and not lines[i].strip(BLANK):
        i += 1
    if i == n:
        return pl.DataFrame()
    header = _fields(lines[i])
    width = len(header)
    i += 1

    def alone(line: str) -> bool:
        return bool(line.strip(BLANK)) and not _opens_quote(line) and len(_fields(line)) == width

    rows: list[list[str | None]] = []
    counts: list[int | None] = []
    raws: list[str | None] = []
    firsts: list[int] = []
    lasts: list[int] = []
    unbalanced: list[bool] = []

    def add(first: int, last: int, fields: list[str], broken: bool, text: str) -> None:
        firsts.append(first + 1)
        lasts.append(last + 1)
        unbalanced.append(broken)
        if not broken and len(fields) == width:
            rows.append(fields)
            counts.append(None)
            raws.append(None)
        else:
            rows.append((fields + [None] * width)[:width])
            counts.append(None if broken else len(fields))
            raws.append(text)

    def spanning(first: int) -> int:
        """The record starting at line ``first``, whose quote is open at its end: up to the line that closes
        it, or that line alone (unbalanced); the index of its last line."""
        text, j = lines[first], first + 1
        while j < n and j - first < MAX_RECORD_LINES and not alone(lines[j]):
            text += "\n" + lines[j]
            if not _opens_quote(text):
                fields = _fields(text)
                if len(fields) == width:
                    add(first, j, fields, False, text)
                    return j
                break
            j += 1
        add(first, first, next(csv.reader([lines[first]]), []), True, lines[first])
        return first

    # One csv reader over the lines, as long as each record it reads is one line (C speed); a record that
    # takes more lines (an open quote) is decided by ``spanning``, and a new reader starts after it.
    while i < n:
        reader = csv.reader(itertools.islice(lines, i, None))
        consumed, resume = 0, None
        try:
            for fields in reader:
                first, consumed = i + consumed, reader.line_num
                line = lines[first]
                # Several lines read, or the last line of the file ending inside a quote.
                if i + consumed - 1 > first or (first == n - 1 and _opens_quote(line)):
                    resume = spanning(first) + 1
                    break
                if line.strip(BLANK):
                    add(first, first, fields, False, line)
        except csv.Error as exc:
            # A quote that never closes made the reader take the rest of the file as one field, past the csv
            # module's field size limit (128 KiB): that record is decided line by line like any other open quote.
            if "field larger than field limit" not in str(exc):
                raise
            resume = spanning(i + consumed) + 1
        if resume is None:
            break
        i = resume
    names = [f"column_{k}" for k in range(width)]
    frame = pl.DataFrame(rows, schema={name: pl.String for name in names}, orient="row")
    # Empty fields are nulls, as polars' fast path reads them.
    frame = frame.with_columns(pl.when(pl.col(name) != "").then(pl.col(name)).alias(name) for name in names)

    def record_encoding(first: int, last: int) -> str:
        found = set(encodings[first - 1 : last])
        return INVALID if INVALID in found else CP1252 if CP1252 in found else UTF8

    return (
        frame.rename(dict(zip(names, _unique(header), strict=True)))
        .with_columns(
            pl.Series("_field_count", counts, pl.Int64),
            pl.Series("_raw_record", raws, pl.String),
            pl.Series("_first_line", firsts, pl.Int64),
            pl.Series("_last_line", lasts, pl.Int64),
            pl.Series("_encoding", [record_encoding(a, b) for a, b in zip(firsts, lasts, strict=True)], pl.String),
            pl.Series("_unbalanced_quote", unbalanced, pl.Boolean),
        )
        .with_row_index("_source_row", offset=1)
    )


def _unique(names: list[str]) -> list[str]:
    """Header names made unique the way polars does (``x``, ``x_duplicated_0`` ...)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            out.append(f"{name}_duplicated_{seen[name]}")
            seen[name] += 1
        else:
            out.append(name)
            seen[name] = 0
    return out


BUSINESS_DATE = "_business_date"  # a staged record's parsed business date, placeable or not


def with_business_date(records: pl.DataFrame | pl.LazyFrame):
    """``records`` with ``_business_date``: the date of its invoice timestamp, null when unparseable. What
    the landing stages, and what places a record in a partition (``bronze_rows``)."""
    return records.with_columns(parse_timestamp(pl.col("invoice_ts")).dt.date().alias(BUSINESS_DATE))


def earliest_placeable(records: pl.LazyFrame, start: date, end: date) -> date | None:
    """The earliest business date of ``records`` (with ``_business_date``) inside ``[start, end)``: where its
    file's unplaceable rows go."""
    placeable = pl.col(BUSINESS_DATE).filter((pl.col(BUSINESS_DATE) >= start) & (pl.col(BUSINESS_DATE) < end))
    return records.select(placeable.min()).collect().item()


def _placed(start: date, end: date, earliest: date | None) -> pl.Expr:
    """``_partition_date`` of a record with ``_business_date``: that date, or, when it is unparseable or
    outside ``[start, end)``, ``earliest`` (its file's earliest placeable date), so silver can quarantine it
    there."""
    day = pl.col(BUSINESS_DATE)
    return pl.when((day >= start) & (day < end)).then(day).otherwise(pl.lit(earliest, pl.Date)).alias("_partition_date")


def _lineage(path: str, sha256: str, file_format: str, ingested_at: datetime, run_id: str) -> list[pl.Expr]:
    return [
        pl.lit(path).alias("_source_file"),
        pl.lit(sha256).alias("_file_sha256"),
        pl.lit(file_format).alias("_format"),
        pl.lit(ingested_at).alias("_ingested_at"),
        pl.lit(run_id).alias("_run_id"),
    ]


def bronze_rows(
    records: pl.LazyFrame, path: str, sha256: str, file_format: str, start: date, end: date, earliest: date | None,
    window_start: date, window_end: date, ingested_at: datetime, run_id: str,
) -> pl.LazyFrame:
    """The bronze rows of one file version in ``[window_start, window_end)``, from its records with
    ``_business_date``, placed by ``_placed``. The filter is on ``_business_date`` itself where it can be, so
    a scan of staged records skips whole row groups of other dates."""
    day = pl.col(BUSINESS_DATE)
    placeable = (day >= start) & (day < end)
    in_window = placeable & (day >= max(start, window_start)) & (day < min(end, window_end))
    if earliest is not None and window_start <= earliest < window_end:
        in_window = in_window | ~placeable.fill_null(False)
    return (
        records.filter(in_window)
        .with_columns(_placed(start, end, earliest))
        .drop(BUSINESS_DATE)
        .with_columns(_lineage(path, sha256, file_format, ingested_at, run_id))
    )


def place_rows(records: pl.LazyFrame, start: date, end: date) -> pl.LazyFrame:
    """``records`` (a whole file's) with ``_partition_date``, placed as bronze places them (``_placed``)."""
    dated = with_business_date(records)
    return dated.with_columns(_placed(start, end, earliest_placeable(dated, start, end))).drop(BUSINESS_DATE)


def to_bronze(raw: RawFile, start: date, end: date, ingested_at: datetime, run_id: str) -> pl.LazyFrame:
    """Bronze rows of one whole file, every record kept (a file with no placeable date keeps them
    unplaced): what bronze writes of it over the partitions' whole range."""
    return place_rows(raw.records.lazy(), start, end).with_columns(
        _lineage(raw.path, raw.sha256, raw.format, ingested_at, run_id)
    )
