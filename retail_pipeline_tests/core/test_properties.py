"""Property: whatever a shop's file holds, landing, bronze and silver never crash and never lose a row.

Hypothesis writes CSV files from valid Online Retail lines and corrupts some of them in the ways real exports
do (a field missing or added, garbage numbers and dates, stray quotes, blank lines, cp1252 bytes, CRLF), then
checks that every record read from the file is either a silver line, a quarantined row or a dropped duplicate.
"""

import csv
from datetime import date, datetime, timezone

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_pipeline.core.contracts import BUSINESS_COLUMNS as BUSINESS
from retail_pipeline.core.landing_files import LandingError, parse_csv, to_bronze
from retail_pipeline.core.transforms.silver import build_silver
from retail_pipeline_tests.core.test_line_accounting import assert_lines_accounted

START, END = date(2010, 12, 1), date(2011, 1, 1)
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
FX = pl.LazyFrame(
    {"date": pl.date_range(START, END, "1d", eager=True)}
).with_columns(pl.lit(1.2).alias("gbp_eur"), pl.lit(1.5).alias("gbp_usd"), pl.col("date").alias("fixing_date"))
COUNTRIES = pl.LazyFrame({"country_key": ["eire"], "country_iso2": ["IE"], "region": ["Northern Europe"]})

good_line = st.builds(
    lambda inv, code, desc, qty, day, hour, price, cust, country: ",".join(
        [str(inv), code, desc, str(qty), f"12/{day}/2010 {hour}:05", price, cust, country]
    ),
    st.integers(536365, 536400),
    st.sampled_from(["85123A", "22633", "POST", "21777"]),
    st.sampled_from(["HEART", '"SET OF 3, TINS"', '"12 ""SMALL"" PENCILS"', "  SPACED  ", ""]),
    st.integers(-5, 12),
    st.integers(1, 3),
    st.integers(8, 19),
    st.sampled_from(["2.55", "0", "18", "1.25"]),
    st.sampled_from(["17850", "17850.0", ""]),
    st.sampled_from(["United Kingdom", "EIRE", "Unspecified", ""]),
)

corruption = st.sampled_from(
    [
        lambda l: l,
        lambda l: l,
        lambda l: l.rsplit(",", 1)[0],  # a field missing
        lambda l: l + ",surplus",  # a field too many
        lambda l: l.replace("12/", "31/", 1),  # an impossible date
        lambda l: l.replace("2010", "2031"),  # a date out of range
        lambda l: "x" + l,  # garbage in the invoice number
        lambda l: l.replace(",", ',"', 1),  # a stray opening quote
        lambda l: l.replace("HEART", 'HE"ART'),  # a quote inside a field
        lambda l: "",  # a blank line
        lambda l: l.replace("HEART", "HE\u00a3RT"),  # a pound sign: cp1252 when encoded so
    ]
)


@st.composite
def shop_file(draw) -> bytes:
    lines = [draw(corruption)(draw(good_line)) for _ in range(draw(st.integers(1, 25)))]
    duplicates = draw(st.lists(st.integers(0, len(lines) - 1), max_size=3))
    lines += [lines[i] for i in duplicates]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([HEADER, *lines]) + newline
    return text.encode(draw(st.sampled_from(["utf-8", "cp1252"])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop_file())
def test_every_record_is_accounted_for(data: bytes):
    try:
        raw = parse_csv("shop.csv", data)
    except LandingError:
        return  # a whole file that cannot be read is rejected with its reason; nothing of it lands
    bronze = to_bronze(raw, START, END, datetime(2026, 1, 1, tzinfo=timezone.utc), "run")
    if bronze.select(pl.col("_partition_date").is_null().any()).collect().item():
        return  # no placeable date at all: landing rejects such a file (tested in test_landing)
    frame = bronze.collect()
    if frame.height == 0:
        return  # only a header (and blank lines): a file with no records lands nothing
    first, last = frame["_partition_date"].min(), frame["_partition_date"].max()
    result = build_silver(frame.lazy(), FX, COUNTRIES, first, date.fromordinal(last.toordinal() + 1), START, END, "run")

    assert frame.height == raw.records.height
    stats = result.partition_stats
    assert int(stats["bronze_rows"].sum()) == frame.height
    assert frame.height == result.transactions.height + result.quarantine.height + int(stats["duplicates_dropped"].sum())
    assert result.quarantine["reason_code"].null_count() == 0
    assert set(result.quarantine["_source_row"]) | set(result.transactions["_source_row"]) <= set(frame["_source_row"])


@st.composite
def corrupted_file(draw) -> tuple[bytes, list[tuple[int, str]]]:
    """A shop file with some lines corrupted, and the untouched ones: (physical line number, text)."""
    lines, untouched = [], []
    for _ in range(draw(st.integers(1, 30))):
        line = draw(good_line)
        which = draw(st.integers(0, 12))  # 0-3: untouched (about a third), else CORRUPTIONS[which - 4]
        lines.append(CORRUPTIONS[which - 4](line) if which > 3 else line)
        if which <= 3:
            untouched.append((len(lines) + 1, line))  # the header is line 1
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return (newline.join([HEADER, *lines]) + newline).encode(draw(st.sampled_from(["utf-8", "cp1252"]))), untouched


CORRUPTIONS = [
    lambda l: l.rsplit(",", 1)[0],  # a field missing
    lambda l: l + ",surplus",  # a field too many
    lambda l: '"' + l,  # a quote opened at the start of the line, never closed
    lambda l: l.replace(",", ',"', 1),  # one opened at the second field
    lambda l: l.replace(",", ',"', 2).replace(',"', ",", 1),  # at the third
    lambda l: "",  # a blank line
    lambda l: "   ",  # one of spaces
    lambda l: l.replace("HEART", 'HE"ART'),  # a quote inside a field: a character
    lambda l: l.rsplit(",", 1)[0] + ',"' + l.rsplit(",", 1)[1],  # a quote opening the last field
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_file())
def test_every_untouched_line_reaches_silver_with_its_own_values(case):
    data, untouched = case
    raw = parse_csv("shop.csv", data)
    records = raw.records
    by_first = {row["_first_line"]: row for row in records.iter_rows(named=True)}
    # Spans are disjoint and in order: no line belongs to two records.
    spans = list(zip(records["_first_line"], records["_last_line"], strict=True))
    assert all(a <= b for a, b in spans) and all(b < c for (_, b), (c, _) in zip(spans, spans[1:]))
    # Every other line is the header or a blank line: line conservation holds.
    assert_lines_accounted(raw, data)
    for number, line in untouched:
        record = by_first.get(number)
        assert record is not None and record["_last_line"] == number, (number, line, spans)
        fields = next(csv.reader([line]))
        assert [record[c] for c in BUSINESS] == [f if f != "" else None for f in fields], (number, line)
    bronze = to_bronze(raw, START, END, datetime(2026, 1, 1, tzinfo=timezone.utc), "run").collect()
    if bronze.is_empty() or bronze["_partition_date"].is_null().any():
        return  # no placeable date at all: landing rejects such a file (tested in test_landing)
    first, last = bronze["_partition_date"].min(), bronze["_partition_date"].max()
    result = build_silver(bronze.lazy(), FX, COUNTRIES, first, date.fromordinal(last.toordinal() + 1), START, END, "run")
    quarantined_lines = set(result.quarantine["_first_line"])
    assert not quarantined_lines & {number for number, _ in untouched}
