"""gold/daily_sales: sales KPIs per business date and country, and their reconciliation with silver."""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.invariants import revenue_mismatches
from retail_pipeline.core.transforms import kpis
from retail_pipeline.defs.checks import check_result, check_window, contract_check, daily_check, scan_window
from retail_pipeline.defs.policies import DAILY_MART, SILVER_IN, key_of


@dg.asset(
    key=key_of(tables.DAILY_SALES),
    ins=SILVER_IN,
    **DAILY_MART,
)
def daily_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per business date and country: gross, product, cancelled and net revenue in GBP, EUR and
    USD, orders, customers, lines, units and average order value."""
    return kpis.daily_sales(silver)


@daily_check(asset=key_of(tables.DAILY_SALES), blocking=True)
def revenue_reconciles_with_silver(
    context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse
) -> dg.AssetCheckResult:
    """Per business date, gold's gross and cancelled revenue in GBP, EUR and USD equal silver's lines."""
    window = check_window(context)
    failures = revenue_mismatches(
        scan_window(lakehouse, tables.SILVER_TRANSACTIONS, window),
        scan_window(lakehouse, tables.DAILY_SALES, window),
    )
    return check_result(failures, "business dates where gold's revenue differs from silver's")


matches_contract = contract_check(tables.DAILY_SALES)
