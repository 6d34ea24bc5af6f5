"""gold/fact_sales: the star schema's sales fact at line grain, and its reconciliation with silver."""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.invariants import fact_mismatches
from retail_pipeline.core.transforms import star
from retail_pipeline.defs.checks import check_result, check_window, contract_check, daily_check, scan_window
from retail_pipeline.defs.policies import DAILY_MART, SILVER_IN, key_of


@dg.asset(
    key=key_of(tables.FACT_SALES),
    ins=SILVER_IN,
    **DAILY_MART,
)
def fact_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """The sales fact: one row per silver line (every line type), with date_key, product_key, customer_key
    and country_key into the dimensions, quantity, unit price, line totals in GBP, EUR and USD, ``is_gross``
    and the line's source file and record. Its totals reconcile with silver."""
    return star.fact_sales(silver)


@daily_check(asset=key_of(tables.FACT_SALES), blocking=True, additional_deps=[key_of(tables.SILVER_TRANSACTIONS)])
def reconciles_with_silver(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Per business date, the fact has exactly silver's lines and the same money in GBP, EUR and USD."""
    window = check_window(context)
    failures = fact_mismatches(
        scan_window(lakehouse, tables.SILVER_TRANSACTIONS, window),
        scan_window(lakehouse, tables.FACT_SALES, window),
    )
    return check_result(failures, "business dates where the fact differs from silver")


matches_contract = contract_check(tables.FACT_SALES)
