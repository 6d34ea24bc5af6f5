"""Silver: reference dimensions and typed, validated, deduplicated, enriched transactions."""


import dagster as dg
import polars as pl

from retail_pipeline.enrichment.countries import build_dim_country, current_countries
from retail_pipeline.enrichment.fx import build_fx_daily
from retail_pipeline.io_manager import PARTITION_COLUMN
from retail_pipeline.partitions import daily_partitions, partition_bounds, window_dates
from retail_pipeline.transforms.silver import build_silver


@dg.asset(
    key=["silver", "fx_daily"],
    ins={"fx_rates": dg.AssetIn(key=["bronze", "fx_rates"])},
    group_name="silver",
    kinds={"delta", "polars"},
)
def fx_daily(context: dg.AssetExecutionContext, fx_rates: pl.LazyFrame) -> pl.LazyFrame:
    """GBP->EUR and GBP->USD for every calendar day: the last ECB fixing on or before the day (weekends and
    holidays carry the previous fixing, never an interpolation), USD crossed through EUR. The fixing date
    and its source are columns: an API fixing beats the offline bundle's, the latest fetch wins."""
    _, end = partition_bounds()
    daily = build_fx_daily(fx_rates, end=end)
    by_source = dict(daily.group_by("source").len().iter_rows())
    context.add_output_metadata({f"days_from_{source}": n for source, n in sorted(by_source.items())})
    return daily.lazy()


@dg.asset(
    key=["silver", "dim_country"],
    ins={"countries": dg.AssetIn(key=["bronze", "countries"])},
    group_name="silver",
    kinds={"delta", "polars"},
)
def dim_country(context: dg.AssetExecutionContext, countries: pl.LazyFrame) -> pl.LazyFrame:
    """Country lookup: one row per country name as shops write it (normalised ``country_key``) with its ISO
    alpha-2/alpha-3 codes, name, UN region and continent; shop aliases (EIRE, RSA, USA...) included. Each
    country comes from its latest API payload when there is one, else from the offline bundle."""
    current = current_countries(countries).collect()
    context.add_output_metadata(
        {f"countries_from_{source}": n for source, n in sorted(current.group_by("source").len().iter_rows())}
    )
    return build_dim_country(current).lazy()


@dg.multi_asset(
    outs={
        "transactions": dg.AssetOut(
            key=["silver", "transactions"],
            description="Sales lines typed, trimmed and deduplicated, classified (line_type, is_product) and "
            "enriched with ISO country, region and line totals in GBP, EUR and USD. One row per distinct "
            "valid record; every row points to its landing file and record number.",
            metadata={PARTITION_COLUMN: "invoice_date"},
            kinds={"delta", "polars"},
        ),
        "quarantine": dg.AssetOut(
            key=["silver", "quarantine"],
            description="Bronze rows that cannot be trusted (missing fields, unparseable values, dates out of "
            "range), as they arrived, with a stable reason_code and a sentence saying what is wrong.",
            metadata={PARTITION_COLUMN: "_partition_date"},
            kinds={"delta", "polars"},
        ),
        "partition_stats": dg.AssetOut(
            key=["silver", "partition_stats"],
            description="Per business date: bronze rows, silver rows, quarantined rows (by reason) and "
            "duplicates dropped. bronze = silver + quarantined + duplicates on every row.",
            metadata={PARTITION_COLUMN: "business_date"},
            kinds={"delta", "polars"},
        ),
    },
    ins={
        "bronze": dg.AssetIn(key=["bronze", "transactions"]),
        "fx_daily": dg.AssetIn(key=["silver", "fx_daily"]),
        "dim_country": dg.AssetIn(key=["silver", "dim_country"]),
    },
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="silver",
)
def silver_transactions(
    context: dg.AssetExecutionContext, bronze: pl.LazyFrame, fx_daily: pl.LazyFrame, dim_country: pl.LazyFrame
):
    start, end = window_dates(context)
    valid_start, valid_end = partition_bounds()
    result = build_silver(bronze, fx_daily, dim_country, start, end, valid_start, valid_end, context.run_id)

    stats = result.partition_stats
    by_reason = result.quarantine.group_by("reason_code").len().sort("reason_code")
    context.add_output_metadata(
        {
            "bronze_rows": int(stats["bronze_rows"].sum()),
            "duplicates_dropped": int(stats["duplicates_dropped"].sum()),
            "quarantined_rows": result.quarantine.height,
            "rows_without_fx_rate": result.transactions["gbp_eur"].null_count(),
            "rows_without_iso_country": result.transactions["country_iso2"].null_count(),
        },
        output_name="transactions",
    )
    context.add_output_metadata(
        {f"reason_{code}": n for code, n in by_reason.iter_rows()}, output_name="quarantine"
    )
    return result.transactions.lazy(), result.quarantine.lazy(), stats.lazy()
