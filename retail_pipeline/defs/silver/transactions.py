"""silver/transactions and silver/quarantine: typed, validated, deduplicated, enriched sales lines and the rows
that cannot be trusted; silver/partition_stats, where every bronze row went, a side table of their step
(``adapters/io_manager.write_side_table``); and their checks."""

from datetime import date

import dagster as dg
import polars as pl

from retail_pipeline.adapters.io_manager import write_side_table
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.partition_metadata import add_partition_metadata
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import BUSINESS_COLUMNS
from retail_pipeline.core.dates import Window
from retail_pipeline.core.invariants import row_conservation_failures
from retail_pipeline.core.transforms.silver import build_silver
from retail_pipeline.defs.checks import (
    blocking_check,
    check_result,
    check_window,
    contract_check,
    daily_check,
    scan_window,
)
from retail_pipeline.defs.partitions import partition_bounds, window_dates
from retail_pipeline.defs.policies import DAILY, DELTA, input_of, key_of
from retail_pipeline.defs.resources import QualityThresholds


@dg.multi_asset(
    outs={
        "transactions": dg.AssetOut(
            key=key_of(tables.SILVER_TRANSACTIONS),
            description="Sales lines typed, trimmed and deduplicated, classified (line_type, is_product) and "
            "enriched with ISO country, region and line totals in GBP, EUR and USD. One row per distinct "
            "valid record; every row points to its landing file and record number.",
            kinds=DELTA,
        ),
        "quarantine": dg.AssetOut(
            key=key_of(tables.QUARANTINE),
            description="Bronze rows that cannot be trusted (missing fields, unparseable values, dates out of "
            "range), as they arrived, with a stable reason_code and a sentence saying what is wrong.",
            kinds=DELTA,
        ),
    },
    ins={
        "bronze": input_of(tables.BRONZE_TRANSACTIONS),
        "fx_daily": input_of(tables.FX_DAILY),
        "dim_country": input_of(tables.DIM_COUNTRY),
    },
    **DAILY,
    group_name="silver",
)
def silver_transactions(
    context: dg.AssetExecutionContext,
    bronze: pl.LazyFrame,
    fx_daily: pl.LazyFrame,
    dim_country: pl.LazyFrame,
    lakehouse: Lakehouse,
):
    """Silver's lines and quarantine of the run's business dates. The same step then writes
    ``silver/partition_stats``: per business date, bronze rows, silver rows, quarantined rows (by reason) and
    duplicates dropped, bronze = silver + quarantined + duplicates on every row (the checks and the scorecard
    read it)."""
    start, end = window_dates(context)
    valid_start, valid_end = partition_bounds()
    result = build_silver(bronze, fx_daily, dim_country, start, end, valid_start, valid_end, context.run_id)

    stats = result.partition_stats
    # Each day's figures on its own event (adapters/partition_metadata.py).
    silver_figures = result.transactions.group_by(pl.col("invoice_date").alias("business_date")).agg(
        pl.col("gbp_eur").null_count().alias("rows_without_fx_rate"),
        pl.col("country_iso2").null_count().alias("rows_without_iso_country"),
    )
    add_partition_metadata(
        context.add_asset_metadata,
        key_of(tables.SILVER_TRANSACTIONS),
        context.partition_keys,
        stats.select("business_date", "bronze_rows", "duplicates_dropped", "quarantined_rows").join(
            silver_figures, on="business_date", how="left"
        ).fill_null(0),
        "business_date",
    )
    day = tables.QUARANTINE.date_column
    by_reason = (
        result.quarantine.group_by(day, "reason_code").len()
        .with_columns(pl.format("reason_{}", "reason_code").alias("reason"))
        .pivot(on="reason", index=day, values="len", sort_columns=True)
    ) if result.quarantine.height else pl.DataFrame(schema={day: pl.Date})
    add_partition_metadata(context.add_asset_metadata, key_of(tables.QUARANTINE), context.partition_keys, by_reason, day)
    yield dg.Output(result.transactions.lazy(), "transactions")
    yield dg.Output(result.quarantine.lazy(), "quarantine")
    write_side_table(context, lakehouse, tables.PARTITION_STATS, stats, Window(start, end))


matches_contract = contract_check(tables.SILVER_TRANSACTIONS)
quarantine_matches_contract = contract_check(tables.QUARANTINE)


@blocking_check(
    asset=key_of(tables.SILVER_TRANSACTIONS),
    additional_deps=[key_of(tables.BRONZE_TRANSACTIONS), key_of(tables.QUARANTINE)],
)
def row_conservation(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every bronze row of each date written is in silver, in quarantine, or counted as a dropped duplicate."""
    window = check_window(context)
    failures = row_conservation_failures(
        scan_window(lakehouse, tables.BRONZE_TRANSACTIONS, window),
        scan_window(lakehouse, tables.SILVER_TRANSACTIONS, window),
        scan_window(lakehouse, tables.QUARANTINE, window),
        scan_window(lakehouse, tables.PARTITION_STATS, window),
    )
    return check_result(failures, "business dates lose or invent rows between bronze and silver")


@daily_check(asset=key_of(tables.SILVER_TRANSACTIONS), blocking=True)
def no_duplicate_lines(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """No two silver lines are equal on all eight business fields (exact duplicates were dropped)."""
    silver = scan_window(lakehouse, tables.SILVER_TRANSACTIONS, check_window(context))
    failures = (
        silver.group_by(BUSINESS_COLUMNS).agg(pl.len().alias("copies")).filter(pl.col("copies") > 1).collect()
    )
    return check_result(failures, "business keys appear more than once")


@daily_check(asset=key_of(tables.SILVER_TRANSACTIONS), blocking=True)
def every_line_has_an_fx_rate(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every silver line has its GBP->EUR and GBP->USD rates, or says why not (``fx_missing_reason``: no
    fixing recent enough), so no money is converted at a stale rate and none goes missing unexplained."""
    silver = scan_window(lakehouse, tables.SILVER_TRANSACTIONS, check_window(context))
    failures = (
        silver.filter((pl.col("gbp_eur").is_null() | pl.col("gbp_usd").is_null()) & pl.col("fx_missing_reason").is_null())
        .select("invoice_date", "invoice_no", "stock_code", "_source_file", "_source_sheet", "_source_row")
        .collect()
    )
    return check_result(failures, "lines have no exchange rate and no reason")


@daily_check(asset=key_of(tables.SILVER_TRANSACTIONS))
def fx_rates_are_current(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every business date has a current exchange rate; a warning names the dates whose lines have no EUR or
    USD figure and how to get the rates (an API, or a release with newer bundled rates)."""
    silver = scan_window(lakehouse, tables.SILVER_TRANSACTIONS, check_window(context))
    missing = (
        silver.filter(pl.col("fx_missing_reason").is_not_null())
        .group_by("invoice_date")
        .agg(pl.len().alias("lines"), pl.col("fx_missing_reason").first().alias("reason"))
        .sort("invoice_date")
        .collect()
    )
    if missing.is_empty():
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN, metadata={"dates_without_rate": 0})
    dates = missing["invoice_date"].cast(pl.String)
    shown = ", ".join(dates.head(5).to_list()) + (f" and {dates.len() - 5} more" if dates.len() > 5 else "")
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{int(missing['lines'].sum())} lines on {dates.len()} business date(s) ({shown}) have no EUR or "
        "USD figure: no ECB fixing within RETAIL_FX_MAX_AGE_DAYS days. Set RETAIL_FX_API_URL to fetch current "
        "rates, or install a release with newer bundled rates; then rebuild those dates.",
        metadata={
            "dates_without_rate": dates.len(),
            "lines_without_rate": int(missing["lines"].sum()),
            "first_date": dates[0],
            "last_date": dates[-1],
        },
    )


@daily_check(asset=key_of(tables.SILVER_TRANSACTIONS))
def country_coverage(
    context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse, quality: QualityThresholds
) -> dg.AssetCheckResult:
    """The share of lines whose country has no ISO code (Unspecified, European Community, unknown names)
    stays under the configured threshold; above it, a warning names the countries."""
    silver = scan_window(lakehouse, tables.SILVER_TRANSACTIONS, check_window(context))
    unknown = (
        silver.group_by("country")
        .agg(pl.len().alias("rows"), pl.col("country_iso2").is_null().all().alias("no_iso"))
        .collect()
    )
    total = int(unknown["rows"].sum())
    missing = unknown.filter(pl.col("no_iso")).sort("rows", descending=True)
    share = float(missing["rows"].sum()) / total if total else 0.0
    return dg.AssetCheckResult(
        passed=share <= quality.max_unknown_country_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "share_without_iso_country": share,
            "threshold": quality.max_unknown_country_share,
            "countries_without_iso": ", ".join(f"{c} ({n})" for c, n in missing.select("country", "rows").iter_rows()),
        },
    )


@daily_check(asset=key_of(tables.SILVER_TRANSACTIONS))
def latest_data_is_fresh(lakehouse: Lakehouse, quality: QualityThresholds) -> dg.AssetCheckResult:
    """The newest business date in silver is at most the configured number of days old (a warning: history
    loaded on purpose is old by nature)."""
    latest = lakehouse.scan(tables.SILVER_TRANSACTIONS.path).select(pl.col("invoice_date").max()).collect().item()
    age = (date.today() - latest).days if latest else None
    return dg.AssetCheckResult(
        passed=age is not None and age <= quality.freshness_days,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"latest_business_date": str(latest), "age_days": age if age is not None else -1},
    )
