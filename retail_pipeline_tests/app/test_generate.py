"""Tests of the synthetic Online Retail landing source (retail_pipeline.app.generate).

Files are generated for real in temporary folders and read back as strings, the way the landing code
sees them. Two module-scoped samples (50k and 200k rows) keep the whole file to a few seconds.
"""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta

import polars as pl
import pytest

from retail_pipeline.app.generate import (
    DEFAULT_END,
    DEFAULT_START,
    FILE_PREFIX,
    HEADER,
    GenerateSummary,
    generate_landing,
)

FILE_NAME = re.compile(rf"^{FILE_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.csv$")
# M/D/YYYY H:MM with no zero padding but the minutes.
INVOICE_DATE = re.compile(r"^([1-9]|1[0-2])/([1-9]|[12]\d|3[01])/(\d{4}) (\d{1,2}):(\d{2})$")
FEE_CODES = {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"}
ODD_COUNTRIES = {"EIRE", "RSA", "USA", "Channel Islands", "European Community", "Unspecified"}
ALL_COUNTRIES = {
    "United Kingdom", "Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium", "Switzerland", "Portugal",
    "Australia", "Norway", "Italy", "Channel Islands", "Finland", "Cyprus", "Sweden", "Unspecified", "Austria",
    "Denmark", "Japan", "Poland", "Israel", "USA", "Hong Kong", "Singapore", "Iceland", "Canada", "Greece", "Malta",
    "United Arab Emirates", "European Community", "RSA", "Lebanon", "Lithuania", "Brazil", "Czech Republic",
    "Bahrain", "Saudi Arabia",
}


def _read(summary: GenerateSummary) -> pl.DataFrame:
    """All files as one all-string frame, with the file's date and each line's position in its file."""
    frames = []
    for path in summary.files:
        day = date.fromisoformat(FILE_NAME.match(path.name).group(1))
        frames.append(
            pl.read_csv(path, infer_schema=False)
            .with_row_index("line")
            .with_columns(file_date=pl.lit(day))
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[GenerateSummary, pl.DataFrame]:
    summary = generate_landing(tmp_path_factory.mktemp("small"), rows=50_000, seed=7)
    return summary, _read(summary)


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> tuple[GenerateSummary, pl.DataFrame]:
    summary = generate_landing(tmp_path_factory.mktemp("medium"), rows=200_000, seed=11)
    return summary, _read(summary)


def _share(df: pl.DataFrame, predicate: pl.Expr) -> float:
    return df.select(predicate.mean()).item()


# --- files, rows, determinism --------------------------------------------------------------------------------------


def test_exact_row_count_and_summary(small):
    summary, df = small
    assert summary.rows == 50_000
    assert df.height == 50_000
    assert summary.days == len(summary.files) == df["file_date"].n_unique()
    assert summary.files == sorted(summary.files)
    assert summary.seconds > 0
    # Nothing but the daily files (no leftover temporary files).
    assert sorted(p.name for p in summary.files[0].parent.iterdir()) == [p.name for p in summary.files]


def test_one_file_per_business_day_and_no_saturday(small):
    summary, _ = small
    dates = [date.fromisoformat(FILE_NAME.match(p.name).group(1)) for p in summary.files]
    assert all(d.weekday() != 5 for d in dates)
    assert min(dates) >= DEFAULT_START and max(dates) <= DEFAULT_END
    calendar = [DEFAULT_START + timedelta(days=i) for i in range((DEFAULT_END - DEFAULT_START).days + 1)]
    assert dates == [d for d in calendar if d.weekday() != 5]


def test_header_encoding_and_line_endings(small):
    summary, _ = small
    for path in summary.files:
        raw = path.read_bytes()
        assert raw.startswith((",".join(HEADER) + "\n").encode())
        assert b"\r" not in raw
        raw.decode("utf-8")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = generate_landing(tmp_path / "a", rows=20_000, seed=3)
    again = generate_landing(tmp_path / "b", rows=20_000, seed=3)
    other = generate_landing(tmp_path / "c", rows=20_000, seed=4)
    assert [p.name for p in first.files] == [p.name for p in again.files]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first.files, again.files))
    by_name = {p.name: p.read_bytes() for p in other.files}
    assert sum(by_name.get(p.name) != p.read_bytes() for p in first.files) > len(first.files) // 2
    assert other.rows == 20_000


def test_custom_range_and_fewer_rows_than_days(tmp_path):
    summary = generate_landing(tmp_path / "range", rows=1_000, seed=1, start=date(2011, 3, 1), end=date(2011, 3, 14))
    names = [p.name for p in summary.files]
    # 14 days, two Saturdays (5th and 12th).
    assert len(names) == 12 and f"{FILE_PREFIX}2011-03-05.csv" not in names
    assert _read(summary).height == 1_000
    # Fewer rows than business days: only days that drew a row get a file (a header-only file has no date).
    tiny = generate_landing(tmp_path / "tiny", rows=5, seed=1)
    assert tiny.rows == 5 and 1 <= tiny.days <= 5
    assert _read(tiny).height == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 0},
        {"rows": -1},
        {"seed": -1},
        {"start": date(2011, 12, 10), "end": date(2011, 12, 10)},  # a Saturday only
        {"start": date(2011, 12, 9), "end": date(2011, 12, 1)},
    ],
)
def test_invalid_arguments_raise_value_error(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_landing(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


# --- invoices --------------------------------------------------------------------------------------------------------


def test_invoice_numbers_and_dates(small):
    _, df = small
    parts = df.with_columns(
        number=pl.col("InvoiceNo").str.replace(r"^[CA]", "").cast(pl.Int64),
        stamp=pl.col("InvoiceDate").str.to_datetime("%m/%d/%Y %H:%M"),
    )
    assert parts["InvoiceNo"].str.contains(r"^[CA]?\d{6}$").all()
    assert parts["number"].min() == 536_365
    assert parts["InvoiceDate"].str.contains(INVOICE_DATE.pattern).all()
    assert not parts["InvoiceDate"].str.contains(r"(^0|/0| 0)").any(), "no zero padding but minutes"
    assert (parts["stamp"].dt.date() == parts["file_date"]).all()
    assert parts["stamp"].dt.hour().is_between(7, 20).all()
    # One timestamp, customer and country per invoice; numbers follow the clock across the whole range.
    per_invoice = parts.group_by("InvoiceNo").agg(
        pl.col("InvoiceDate", "CustomerID", "Country").n_unique(), pl.col("number", "stamp").first()
    )
    assert per_invoice.select(pl.max_horizontal(pl.col("InvoiceDate", "CustomerID", "Country").max())).item() == 1
    ordered = per_invoice.sort("number")
    assert ordered["stamp"].is_sorted()
    lines_per_invoice = df.height / per_invoice.height
    assert 15 <= lines_per_invoice <= 25


def test_cancellations(small):
    _, df = small
    cancel = df.filter(pl.col("InvoiceNo").str.starts_with("C"))
    assert 0.015 <= cancel.height / df.height <= 0.026
    assert (cancel["Quantity"].cast(pl.Int64) < 0).all()
    assert (df.filter(~pl.col("InvoiceNo").str.starts_with("C"))["Quantity"].cast(pl.Int64) > 0).mean() > 0.99


def test_missing_and_float_customer_ids(small):
    _, df = small
    assert 0.2 <= _share(df, pl.col("CustomerID").is_null()) <= 0.3
    ids = df["CustomerID"].drop_nulls()
    assert ids.str.contains(r"^\d{5}(\.0)?$").all()
    assert ids.str.replace(r"\.0$", "").cast(pl.Int64).is_between(12346, 18287).all()
    # Each file uses one form; roughly half the days use the float form.
    is_float = pl.col("CustomerID").str.ends_with(".0")
    forms = (
        df.drop_nulls("CustomerID")
        .group_by("file_date")
        .agg(is_float.n_unique().alias("forms"), is_float.first().alias("float"))
    )
    assert forms["forms"].max() == 1
    assert 0.3 <= forms["float"].mean() <= 0.7


def test_duplicates_are_adjacent_exact_copies(small):
    _, df = small
    business = pl.col(*HEADER)
    duplicates = 0
    adjacent = 0
    for _, day in df.group_by("file_date"):
        day = day.sort("line")
        duplicates += day.height - day.select(business).unique().height
        same_as_previous = pl.all_horizontal([pl.col(c).eq_missing(pl.col(c).shift(1)) for c in HEADER])
        adjacent += day.select(same_as_previous.fill_null(False).sum()).item()
    assert 0.007 <= duplicates / df.height <= 0.013
    # Every exact duplicate is a copy written right after its original: no other lines coincide.
    assert adjacent == duplicates


def test_write_offs(small):
    _, df = small
    write_offs = df.filter((pl.col("UnitPrice") == "0") & ~pl.col("InvoiceNo").str.starts_with("C"))
    assert 0.001 <= write_offs.height / df.height <= 0.006
    assert write_offs["CustomerID"].is_null().all()
    assert write_offs["InvoiceNo"].str.contains(r"^\d{6}$").all()
    qty = write_offs["Quantity"].cast(pl.Int64)
    assert (qty <= 0).all() and (qty == 0).any() and (qty < 0).any()
    assert write_offs["Description"].is_null().any()
    assert {"damaged", "check", "?"} & set(write_offs["Description"].drop_nulls())


def test_fees(medium):
    _, df = medium
    non_product = df.filter(~pl.col("StockCode").str.contains(r"^\d{5}"))
    fees = non_product.filter(pl.col("StockCode") != "B")
    assert 0.003 <= fees.height / df.height <= 0.009
    codes = set(fees["StockCode"])
    assert FEE_CODES <= codes
    assert any(c.startswith("DCGS") for c in codes) and any(c.startswith("gift_0001_") for c in codes)
    described = dict(fees.select("StockCode", "Description").unique().iter_rows())
    assert described["POST"] == "POSTAGE" and described["DOT"] == "DOTCOM POSTAGE"
    assert described["PADS"] == "PADS TO MATCH ALL CUSHIONS"
    assert described["gift_0001_20"] == "Dotcomgiftshop Gift Voucher £20.00"
    assert set(fees.filter(pl.col("StockCode") == "PADS")["UnitPrice"]) == {"0.001"}
    post = fees.filter(pl.col("StockCode") == "POST")
    assert "18" in set(post["UnitPrice"])
    amazon = fees.filter(pl.col("StockCode") == "AMAZONFEE")
    assert amazon["InvoiceNo"].str.starts_with("C").all()


def test_bad_debt_adjustments(medium):
    _, df = medium
    adjust = df.filter(pl.col("InvoiceNo").str.starts_with("A"))
    assert 1 <= adjust.height <= 10
    assert set(adjust["StockCode"]) == {"B"}
    assert set(adjust["Description"]) == {"Adjust bad debt"}
    assert set(adjust["Quantity"]) == {"1"}
    assert (adjust["UnitPrice"].cast(pl.Float64) > 0).all()


# --- values ---------------------------------------------------------------------------------------------------------


def test_quantities_and_prices(small):
    _, df = small
    assert df["Quantity"].str.contains(r"^-?\d+$").all()
    assert df["UnitPrice"].str.contains(r"^\d+(\.\d{1,2})?$|^0\.001$").all()
    products = df.filter(pl.col("StockCode").str.contains(r"^\d{5}") & (pl.col("UnitPrice") != "0"))
    qty = products["Quantity"].cast(pl.Int64).abs()
    assert qty.is_between(1, 12).mean() > 0.8
    assert {24, 48, 96, 144} <= set(qty)
    price = products["UnitPrice"].cast(pl.Float64)
    assert price.is_between(0.29, 15).mean() > 0.85
    assert price.max() > 100
    # One price and one description per stock code: a fixed catalogue.
    per_code = products.group_by("StockCode").agg(pl.col("UnitPrice", "Description").n_unique())
    assert per_code["UnitPrice"].max() == 1 and per_code["Description"].max() == 1
    assert 2_000 <= per_code.height <= 4_000
    assert products["StockCode"].str.contains(r"^\d{5}[A-Z]$").any()


def test_dirty_descriptions_survive_the_csv_round_trip(small):
    summary, df = small
    products = df.filter(pl.col("StockCode").str.contains(r"^\d{5}"))
    description = products["Description"].drop_nulls()
    assert 0.015 <= description.str.contains(",").mean() <= 0.05
    assert 0.004 <= description.str.contains('"').mean() <= 0.02
    assert 0.03 <= description.str.contains(r"^ | $|\S  \S").mean() <= 0.08
    assert description.str.starts_with(" ").any() and description.str.ends_with(" ").any()
    assert description.str.contains(r'^\S+ "[A-Z ]+" ').any()
    # Catalogue descriptions are upper case (write-offs, at price 0, carry the warehouse's own notes).
    sold = products.filter(pl.col("UnitPrice") != "0")["Description"]
    assert sold.str.contains(r"^[A-Z0-9 ,\"/\-]+$").all()
    # An independent RFC 4180 reader sees the same fields as polars, file by file.
    for path in summary.files[:60]:
        with path.open(newline="", encoding="utf-8") as fh:
            records = list(csv.reader(fh))
        assert records[0] == HEADER
        assert all(len(r) == len(HEADER) for r in records)
        ours = pl.read_csv(path, infer_schema=False).rows()
        assert [tuple(v if v != "" else None for v in r) for r in records[1:]] == ours
    assert b'""' in b"".join(p.read_bytes() for p in summary.files)


def test_countries(medium):
    _, df = medium
    countries = set(df["Country"])
    assert countries <= ALL_COUNTRIES
    assert ODD_COUNTRIES <= countries
    assert 0.86 <= _share(df, pl.col("Country") == "United Kingdom") <= 0.92
    assert {"Germany", "France"} <= countries
    # One country per customer, whatever the id's form.
    per_customer = (
        df.drop_nulls("CustomerID")
        .group_by(pl.col("CustomerID").str.replace(r"\.0$", ""))
        .agg(pl.col("Country").n_unique())
    )
    assert per_customer["Country"].max() == 1


def test_volume_has_seasonality_and_quiet_sundays(small):
    _, df = small
    per_day = df.group_by("file_date").len().with_columns(
        month=pl.col("file_date").dt.month(), weekday=pl.col("file_date").dt.weekday()
    )
    by_month = dict(per_day.group_by("month").agg(pl.col("len").mean()).iter_rows())
    assert by_month[11] > 1.4 * by_month[2]
    sunday = per_day.filter(pl.col("weekday") == 7)["len"].mean()
    weekday = per_day.filter(pl.col("weekday") < 6)["len"].mean()
    assert sunday < 0.8 * weekday
