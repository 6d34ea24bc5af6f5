"""Reading one landing file: the bytes of a shop export (CSV in UTF-8 or cp1252, or an .xlsx workbook)
become its raw records, every field the string found, with our column names and record numbers; and
those records become bronze rows placed in their business dates.

Pure: it takes bytes and returns frames. Which files exist, and reading them from disk, is the landing
zone's job (``adapters/landing_zone.py``).
"""

from __future__ import annotations

import csv
import hashlib
import io
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


@dataclass(frozen=True)
class RawFile:
    """One landing file's records as the strings found, with our column names and record numbers."""

    path: str
    sha256: str
    format: str
    records: pl.DataFrame  # BUSINESS_COLUMNS, _extra, _field_count, _raw_record, _source_sheet, _source_row
    extra_columns: tuple[str, ...] = ()


def decode(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes of a file that may be UTF-8 (with or without BOM) or cp1252, and the encoding found.

    polars reads only UTF-8, and its ``utf8-lossy`` would turn cp1252's ``£`` into a replacement character.
    """
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:
        # Five byte values mean nothing in cp1252. Rather than reject the whole file for a few bad bytes,
        # they become U+FFFD and silver quarantines the records holding one as bad_encoding.
        return data.decode("cp1252", errors="replace").encode("utf-8"), "cp1252-with-undecodable-bytes"


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
    raise LandingError(
        f"unknown header {stripped}: closest is {closest} (HEADER_VARIANTS), "
        f"which lacks columns {best_missing[closest]}"
    )


def parse_csv(path: str, data: bytes) -> RawFile:
    """Read one CSV landing file (RFC 4180 quoting, any accepted encoding) into its raw records.

    polars reads well-formed files fast. It cannot say how many fields a record had (a short record is
    padded with nulls, a long one or a stray quote stops the read), so a file where it fails, or where a
    record ends with a missing last field, is read again record by record: see ``read_records``.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    utf8, encoding = decode(data)
    try:
        frame = pl.read_csv(io.BytesIO(utf8), infer_schema=False, has_header=True, raise_if_empty=False)
        regular = not frame.columns or frame[frame.columns[-1]].null_count() == 0
    except pl.exceptions.PolarsError:
        regular = False
    if regular:
        frame = frame.with_columns(
            pl.lit(None, pl.Int64).alias("_field_count"), pl.lit(None, pl.String).alias("_raw_record")
        ).with_row_index("_source_row", offset=1)
    else:
        frame = read_records(utf8.decode("utf-8"))
    if len(frame.columns) <= len(_READER_COLUMNS):
        raise LandingError("empty file (no header)")
    variant, records, extras = _to_records(frame, sheet=None)
    return RawFile(path, sha256, f"csv/{variant}/{encoding}", records, tuple(extras))


_READER_COLUMNS = ("_field_count", "_raw_record", "_source_row")


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
    ).select(*BUSINESS_COLUMNS, "_extra", *_READER_COLUMNS[:2], "_source_sheet", "_source_row")
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
    for name, sheet in sheets.items():
        if not sheet.columns:
            continue
        numbered = sheet.with_row_index("_source_row", offset=1).filter(
            ~pl.all_horizontal(pl.exclude("_source_row").is_null())
        ).with_columns(pl.lit(None, pl.Int64).alias("_field_count"), pl.lit(None, pl.String).alias("_raw_record"))
        try:
            variant, records, sheet_extras = _to_records(numbered, sheet=name)
        except LandingError as exc:
            raise LandingError(f"sheet {name!r}: {exc}") from exc
        variants.append(variant)
        parts.append(records)
        extras += [c for c in sheet_extras if c not in extras]
    if not parts:
        raise LandingError("workbook has no sheet with a header")
    return RawFile(path, sha256, f"xlsx/{'+'.join(sorted(set(variants)))}", pl.concat(parts), tuple(extras))


def read_records(text: str) -> pl.DataFrame:
    """Every record of a CSV text, whatever its field count, with the raw text of the irregular ones.

    A record whose field count differs from the header's is kept (padded with nulls or cut to the header's
    width) with ``_field_count`` and ``_raw_record`` set, so silver quarantines it with its source text.
    Blank lines are not records. Python's csv module reads a stray quote as a character, as spreadsheets do.
    """
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines))
    header = next(reader, None)
    if header is None:
        return pl.DataFrame()
    width = len(header)
    rows: list[list[str | None]] = []
    counts: list[int | None] = []
    raws: list[str | None] = []
    consumed = reader.line_num
    for fields in reader:
        start, consumed = consumed, reader.line_num
        if not fields:
            continue
        if len(fields) == width:
            rows.append(fields)
            counts.append(None)
            raws.append(None)
        else:
            rows.append((fields + [None] * width)[:width])
            counts.append(len(fields))
            raws.append("".join(lines[start:consumed]).rstrip("\r\n"))
    names = [f"column_{i}" for i in range(width)]
    frame = pl.DataFrame(rows, schema={n: pl.String for n in names}, orient="row")
    # Empty fields are nulls, as polars' fast path reads them.
    frame = frame.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    return (
        frame.rename(dict(zip(names, _unique(header), strict=True)))
        .with_columns(
            pl.Series("_field_count", counts, pl.Int64),
            pl.Series("_raw_record", raws, pl.String),
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


def place_rows(records: pl.LazyFrame, start: date, end: date) -> pl.LazyFrame:
    """Add ``_partition_date``: the row's business date, or, when that date is unparseable or outside
    ``[start, end)``, the earliest placeable date of its file, so silver can quarantine it there."""
    business_date = parse_timestamp(pl.col("invoice_ts")).dt.date()
    placeable = pl.when((business_date >= start) & (business_date < end)).then(business_date)
    return records.with_columns(pl.coalesce(placeable, placeable.min()).alias("_partition_date"))


def to_bronze(raw: RawFile, start: date, end: date, ingested_at: datetime, run_id: str) -> pl.LazyFrame:
    """Bronze rows of one file: its records as found, placed in their partitions, with lineage columns."""
    return place_rows(raw.records.lazy(), start, end).with_columns(
        pl.lit(raw.path).alias("_source_file"),
        pl.lit(raw.sha256).alias("_file_sha256"),
        pl.lit(raw.format).alias("_format"),
        pl.lit(ingested_at).alias("_ingested_at"),
        pl.lit(run_id).alias("_run_id"),
    )
