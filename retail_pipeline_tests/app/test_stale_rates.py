"""No stale exchange rate used silently: an ECB fixing is carried forward at most ``RETAIL_FX_MAX_AGE_DAYS``
(7) days. A later sale keeps its GBP figures, has no EUR or USD figure and says why; the run succeeds, a
warning check names the dates and the remedy, and the marts count the lines without a rate."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.core.enrichment.fx import build_fx_daily
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.resources import build_resources
from retail_pipeline_tests.conftest import write_csv

LAST_BUNDLED_FIXING = date(2026, 10, 30)  # the bundled ECB history ends on this Friday


def test_a_fixing_is_carried_forward_at_most_the_maximum_age():
    rates = pl.DataFrame(
        {
            "rate_date": [date(2024, 1, 5)] * 2 + [date(2024, 1, 15)] * 2,
            "currency": ["GBP", "USD"] * 2,
            "rate_per_eur": [0.86, 1.09, 0.85, 1.10],
            "source": ["bundle"] * 4,
        }
    )
    daily = build_fx_daily(rates, end=date(2024, 1, 31), max_age_days=7)
    days = set(daily["date"].to_list())
    assert date(2024, 1, 12) in days and date(2024, 1, 13) not in days  # 7 days after the 5th, not 8
    assert date(2024, 1, 22) in days and date(2024, 1, 23) not in days  # and after the last fixing
    assert (daily["date"] - daily["fixing_date"]).dt.total_days().max() == 7


def _landing(root):
    return write_csv(
        root / "online_retail_2026-11.csv",
        [
            "581001,22139,RETROSPOT TEA SET CERAMIC 11 PC,2,10/30/2026 9:00,4.95,14527,United Kingdom",
            "581002,22139,RETROSPOT TEA SET CERAMIC 11 PC,3,11/2/2026 9:00,4.95,14527,United Kingdom",
            "581003,21777,RECIPE BOX,4,11/16/2026 9:00,7.95,13047,France",
        ],
    ).parent


def test_a_sale_after_the_last_fixing_has_no_eur_or_usd_and_says_why(tmp_path):
    landing, lake = _landing(tmp_path / "landing"), tmp_path / "lake"
    house = run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=lambda _: None).lakehouse

    silver = house.read(tables.SILVER_TRANSACTIONS.path).sort("invoice_date")
    assert silver["invoice_date"].to_list() == [LAST_BUNDLED_FIXING, date(2026, 11, 2), date(2026, 11, 16)]
    with_rate, stale = silver.head(2), silver.row(2, named=True)
    assert stale["line_total_gbp"] == 4 * 7.95
    assert stale["gbp_eur"] is None and stale["line_total_eur"] is None and stale["line_total_usd"] is None
    assert "2026-11-16" in stale["fx_missing_reason"] and str(LAST_BUNDLED_FIXING) in stale["fx_missing_reason"]
    assert with_rate["gbp_eur"].null_count() == 0 and with_rate["fx_missing_reason"].null_count() == 2
    assert with_rate["gbp_eur"][1] == with_rate["gbp_eur"][0]  # 3 days after the last fixing: carried

    daily = house.read(tables.DAILY_SALES.path).filter(pl.col("invoice_date") == date(2026, 11, 16)).row(0, named=True)
    assert daily["gross_revenue_gbp"] == 4 * 7.95 and daily["gross_revenue_eur"] == 0.0
    assert daily["lines_without_fx"] == 1
    monthly = house.read(tables.MONTHLY_KPIS.path).sort("month")
    assert monthly["lines_without_fx"].to_list() == [0, 1]

    # The warning check names the date and the remedy.
    defs = build_definitions(resources=build_resources(str(landing), str(lake)))
    check = dg.AssetCheckKey(dg.AssetKey(["silver", "transactions"]), "fx_rates_are_current")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_check_selection={check})
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, partition_key="2026-11-16")
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "2026-11-16" in evaluation.description and "RETAIL_FX_API_URL" in evaluation.description


def test_the_maximum_age_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_FX_MAX_AGE_DAYS", "30")
    landing, lake = _landing(tmp_path / "landing"), tmp_path / "lake"
    house = run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse
    silver = house.read(tables.SILVER_TRANSACTIONS.path)
    assert silver["fx_missing_reason"].null_count() == 3 and silver["gbp_eur"].null_count() == 0
