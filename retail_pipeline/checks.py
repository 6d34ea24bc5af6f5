"""Asset checks that hold the lakehouse to its invariants (DESIGN.md section 3).

Checks of daily tables are daily-partitioned like their assets: in a run over a range of days they look at
exactly those days (a one-day run reads one month's files, whatever the history), and run on their own they
look at every day. Checks of whole tables read the rows the run wrote where the table has ``_run_id``
(append-only fetch logs), else the whole table. Each returns an ``AssetCheckResult`` with failure counts and
a few failing rows. Silver and gold checks are blocking (warnings aside): a failure stops the assets below in
the same run.
"""

import warnings
import os
from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl

from retail_pipeline import contracts
from retail_pipeline.lakehouse import Lakehouse, Window
from retail_pipeline.partitions import daily_partitions
from retail_pipeline.preview import markdown_preview
from retail_pipeline.schemas import BUSINESS_COLUMNS
from retail_pipeline.transforms.gold import CURRENCIES, IS_CANCELLATION, IS_GROSS

MANIFEST = dg.AssetKey(["bronze", "landed_files"])
SILVER = dg.AssetKey(["silver", "transactions"])
DAILY_SALES = dg.AssetKey(["gold", "daily_sales"])
MONTHLY_KPIS = dg.AssetKey(["gold", "monthly_kpis"])
FACT_SALES = dg.AssetKey(["gold", "fact_sales"])
# Money in gold is exact to the millionth; half a penny leaves room for float representation only.
MONEY_TOLERANCE = 0.005


def _daily_check(**kwargs):
    """``dg.asset_check`` partitioned like the daily assets. Unpartitioned, a check of a daily asset costs
    Dagster ~0.2 s per step to list all ~5,800 partition keys while it looks up the materialisation it
    checked (13 checks per run: most of a one-day run, measured); partitioned, it looks up the run's days.
    Partitioned checks are a preview feature of dagster 1.13, hence the silenced warning."""
    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(partitions_def=daily_partitions, **kwargs)(fn)

    return decorate


def check_window(context: dg.AssetCheckExecutionContext) -> Window | None:
    """The business dates of the run's partition or partition range; None when the check runs with no
    partition (every day)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return Window(window.start.date(), window.end.date())


def _result(failures: pl.DataFrame, what: str, **metadata) -> dg.AssetCheckResult:
    sample = markdown_preview(failures)
    return dg.AssetCheckResult(
        passed=failures.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{failures.height} {what}" if failures.height else None,
        metadata={"failures": failures.height, **metadata, **({"sample": dg.MetadataValue.md(sample)} if failures.height else {})},
    )


def row_conservation_failures(
    bronze: pl.LazyFrame, silver: pl.LazyFrame, quarantine: pl.LazyFrame, stats: pl.LazyFrame
) -> pl.DataFrame:
    """Dates where bronze rows != silver rows + quarantined rows + duplicates dropped, counted in the tables."""
    def per_day(frame: pl.LazyFrame, column: str, name: str) -> pl.LazyFrame:
        return frame.group_by(pl.col(column).alias("business_date")).agg(pl.len().alias(name))

    counts = (
        stats.select("business_date", "duplicates_dropped")
        .join(per_day(bronze, "_partition_date", "bronze"), on="business_date", how="left")
        .join(per_day(silver, "invoice_date", "silver"), on="business_date", how="left")
        .join(per_day(quarantine, "_partition_date", "quarantined"), on="business_date", how="left")
        .with_columns(pl.col("bronze", "silver", "quarantined").fill_null(0))
    )
    accounted = pl.col("silver") + pl.col("quarantined") + pl.col("duplicates_dropped")
    return counts.filter(pl.col("bronze") != accounted).sort("business_date").collect()


def revenue_mismatches(silver: pl.LazyFrame, daily_sales: pl.LazyFrame) -> pl.DataFrame:
    """Dates where gold's gross or cancelled revenue differs from the sum of silver's lines, per currency."""
    measures = []
    for ccy in CURRENCIES:
        total = pl.col(f"line_total_{ccy}")
        measures += [
            total.filter(IS_GROSS).sum().alias(f"gross_revenue_{ccy}"),
            (-total.filter(IS_CANCELLATION).sum()).alias(f"cancelled_revenue_{ccy}"),
        ]
    names = [m.meta.output_name() for m in measures]
    from_silver = silver.group_by("invoice_date").agg(measures)
    from_gold = daily_sales.group_by("invoice_date").agg(pl.col(names).sum())
    joined = from_silver.join(from_gold, on="invoice_date", how="full", suffix="_gold", coalesce=True).fill_null(0.0)
    off = pl.any_horizontal([(pl.col(n) - pl.col(f"{n}_gold")).abs() > MONEY_TOLERANCE for n in names])
    return joined.filter(off).sort("invoice_date").collect()


@dg.asset_check(
    asset=SILVER,
    blocking=True,
    additional_deps=[["bronze", "transactions"], ["silver", "quarantine"], ["silver", "partition_stats"]],
)
def row_conservation(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every bronze row of each date written is in silver, in quarantine, or counted as a dropped duplicate."""
    window = check_window(context)
    failures = row_conservation_failures(
        lakehouse.scan("bronze/transactions", "_partition_date", window),
        lakehouse.scan("silver/transactions", "invoice_date", window),
        lakehouse.scan("silver/quarantine", "_partition_date", window),
        lakehouse.scan("silver/partition_stats", "business_date", window),
    )
    return _result(failures, "business dates lose or invent rows between bronze and silver")


@_daily_check(asset=SILVER, blocking=True)
def no_duplicate_lines(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """No two silver lines are equal on all eight business fields (exact duplicates were dropped)."""
    silver = lakehouse.scan("silver/transactions", "invoice_date", check_window(context))
    failures = (
        silver.group_by(BUSINESS_COLUMNS).agg(pl.len().alias("copies")).filter(pl.col("copies") > 1).collect()
    )
    return _result(failures, "business keys appear more than once")


@_daily_check(asset=SILVER, blocking=True)
def every_line_has_an_fx_rate(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every silver line has its GBP->EUR and GBP->USD rates, so its money exists in three currencies."""
    silver = lakehouse.scan("silver/transactions", "invoice_date", check_window(context))
    failures = (
        silver.filter(pl.col("gbp_eur").is_null() | pl.col("gbp_usd").is_null())
        .select("invoice_date", "invoice_no", "stock_code", "_source_file", "_source_sheet", "_source_row")
        .collect()
    )
    return _result(failures, "lines have no exchange rate")


@_daily_check(asset=DAILY_SALES, blocking=True)
def revenue_reconciles_with_silver(
    context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse
) -> dg.AssetCheckResult:
    """Per business date, gold's gross and cancelled revenue in GBP, EUR and USD equal silver's lines."""
    window = check_window(context)
    failures = revenue_mismatches(
        lakehouse.scan("silver/transactions", "invoice_date", window),
        lakehouse.scan("gold/daily_sales", "invoice_date", window),
    )
    return _result(failures, "business dates where gold's revenue differs from silver's")


def fact_mismatches(silver: pl.LazyFrame, fact: pl.LazyFrame) -> pl.DataFrame:
    """Dates where the star's fact rows or money differ from silver's lines."""
    def per_day(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.group_by("invoice_date").agg(
            pl.len().alias("lines"), *[pl.col(f"line_total_{c}").sum().alias(c) for c in CURRENCIES]
        )

    joined = per_day(silver).join(per_day(fact), on="invoice_date", how="full", suffix="_fact", coalesce=True)
    joined = joined.with_columns(pl.exclude("invoice_date").fill_null(0))
    off = (pl.col("lines") != pl.col("lines_fact")) | pl.any_horizontal(
        [(pl.col(c) - pl.col(f"{c}_fact")).abs() > MONEY_TOLERANCE for c in CURRENCIES]
    )
    return joined.filter(off).sort("invoice_date").collect()


@_daily_check(asset=FACT_SALES, blocking=True, additional_deps=[SILVER])
def reconciles_with_silver(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Per business date, the fact has exactly silver's lines and the same money in GBP, EUR and USD."""
    window = check_window(context)
    failures = fact_mismatches(
        lakehouse.scan("silver/transactions", "invoice_date", window),
        lakehouse.scan("gold/fact_sales", "invoice_date", window),
    )
    return _result(failures, "business dates where the fact differs from silver")


@dg.asset_check(asset=MONTHLY_KPIS, blocking=True)
def monthly_revenue_reconciles_with_silver(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Over the whole history, the monthly marts' revenue equals silver's lines, per currency."""
    silver = lakehouse.scan("silver/transactions").with_columns(pl.col("invoice_date").dt.truncate("1mo"))
    monthly = lakehouse.scan("gold/monthly_kpis").rename({"month": "invoice_date"})
    failures = revenue_mismatches(silver, monthly)
    return _result(failures, "months where gold's revenue differs from silver's")


class QualityThresholds(dg.ConfigurableResource):
    """Where the warning checks draw the line (``RETAIL_MAX_UNKNOWN_COUNTRY_SHARE``, ``RETAIL_FRESHNESS_DAYS``)."""

    max_unknown_country_share: float = 0.05
    freshness_days: int = 2

    @classmethod
    def from_env(cls) -> "QualityThresholds":
        return cls(
            max_unknown_country_share=float(os.environ.get("RETAIL_MAX_UNKNOWN_COUNTRY_SHARE", "0.05")),
            freshness_days=int(os.environ.get("RETAIL_FRESHNESS_DAYS", "2")),
        )


@_daily_check(asset=SILVER)
def country_coverage(
    context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse, quality: QualityThresholds
) -> dg.AssetCheckResult:
    """The share of lines whose country has no ISO code (Unspecified, European Community, unknown names)
    stays under the configured threshold; above it, a warning names the countries."""
    silver = lakehouse.scan("silver/transactions", "invoice_date", check_window(context))
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


@_daily_check(asset=SILVER)
def latest_data_is_fresh(lakehouse: Lakehouse, quality: QualityThresholds) -> dg.AssetCheckResult:
    """The newest business date in silver is at most the configured number of days old (a warning: history
    loaded on purpose is old by nature)."""
    latest = lakehouse.scan("silver/transactions").select(pl.col("invoice_date").max()).collect().item()
    age = (date.today() - latest).days if latest else None
    return dg.AssetCheckResult(
        passed=age is not None and age <= quality.freshness_days,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"latest_business_date": str(latest), "age_days": age if age is not None else -1},
    )


@dg.asset_check(asset=MANIFEST)
def no_schema_drift(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Active landing files have exactly the columns of a known Online Retail header; a file with more is
    still landed (the extras are kept in bronze's ``_extra``) and named here as a warning."""
    drifted = (
        lakehouse.scan("bronze/landed_files")
        .filter((pl.col("status") == "active") & (pl.col("extra_columns").list.len() > 0))
        .select("path", pl.col("extra_columns").list.join(", "))
        .sort("path")
        .collect()
    )
    return dg.AssetCheckResult(
        passed=drifted.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{p}: extra columns {c}" for p, c in drifted.head(10).iter_rows()) or None,
        metadata={"files_with_extra_columns": drifted.height},
    )


def contract_failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """Pandera's failure cases of ``frame`` against ``model`` (empty when it passes). Collected frames only:
    on a LazyFrame pandera checks the schema and silently skips the data rules."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases.select("column", "check", "failure_case", "index")
    return pl.DataFrame(schema={"column": pl.String, "check": pl.String, "failure_case": pl.String, "index": pl.Int32})


def _contract_check(
    key: dg.AssetKey, model: type[pa.DataFrameModel], date_column: str | None, blocking: bool
) -> dg.AssetChecksDefinition:
    table = "/".join(key.path)

    @(_daily_check if date_column else dg.asset_check)(
        asset=key,
        name="matches_contract",
        blocking=blocking,
        description=f"The rows written match {model.__name__}: types, nullability, allowed values, ranges, "
        "uniqueness and cross-column rules (retail_pipeline/contracts.py).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
        if date_column is not None:
            frame = lakehouse.scan(table, date_column, check_window(context))
        else:
            frame = lakehouse.scan(table)
            if "_run_id" in frame.collect_schema().names():
                # The rows this run appended carry its id (none when the check runs on its own: check them all).
                written = frame.filter(pl.col("_run_id") == context.run.run_id)
                frame = written if written.select(pl.len()).collect().item() else frame
        collected = frame.collect()
        failures = contract_failures(model, collected)
        by_rule = failures.group_by("column", "check").len().sort("len", descending=True)
        result = _result(failures, f"contract failures in {table}", rows_checked=collected.height)
        if failures.height:
            for column, check, n in by_rule.head(10).iter_rows():
                result.metadata[f"failures: {column} / {check}"] = dg.MetadataValue.int(n)
        return result

    return _check


CONTRACT_CHECKS = [
    _contract_check(MANIFEST, contracts.LandedFilesModel, None, False),
    _contract_check(dg.AssetKey(["bronze", "fx_rates"]), contracts.FxRatesModel, None, False),
    _contract_check(dg.AssetKey(["bronze", "countries"]), contracts.CountriesModel, None, False),
    _contract_check(dg.AssetKey(["silver", "fx_daily"]), contracts.FxDailyModel, None, True),
    _contract_check(dg.AssetKey(["silver", "dim_country"]), contracts.DimCountryModel, None, True),
    _contract_check(dg.AssetKey(["bronze", "transactions"]), contracts.BronzeTransactionsModel, "_partition_date", False),
    _contract_check(SILVER, contracts.SilverTransactionsModel, "invoice_date", True),
    _contract_check(dg.AssetKey(["silver", "quarantine"]), contracts.SilverQuarantineModel, "_partition_date", True),
    _contract_check(dg.AssetKey(["silver", "partition_stats"]), contracts.PartitionStatsModel, "business_date", True),
    _contract_check(DAILY_SALES, contracts.DailySalesModel, "invoice_date", True),
    _contract_check(MONTHLY_KPIS, contracts.MonthlyKpisModel, None, True),
    _contract_check(dg.AssetKey(["gold", "dq_scorecard"]), contracts.DqScorecardModel, "business_date", True),
    _contract_check(FACT_SALES, contracts.FactSalesModel, "invoice_date", True),
    *[
        _contract_check(dg.AssetKey(["gold", name]), model, None, True)
        for name, model in (
            ("dim_date", contracts.DimDateModel),
            ("dim_product", contracts.DimProductModel),
            ("dim_customer", contracts.DimCustomerModel),
            ("dim_country", contracts.GoldDimCountryModel),
            ("product_performance", contracts.ProductPerformanceModel),
            ("product_features", contracts.ProductFeaturesModel),
            ("customer_rfm", contracts.CustomerRfmModel),
            ("country_sales", contracts.CountrySalesModel),
        )
    ],
]


CHECKS = [
    *CONTRACT_CHECKS,
    no_schema_drift,
    row_conservation,
    no_duplicate_lines,
    every_line_has_an_fx_rate,
    revenue_reconciles_with_silver,
    reconciles_with_silver,
    monthly_revenue_reconciles_with_silver,
    country_coverage,
    latest_data_is_fresh,
]
