"""gold/country_sales: sales KPIs per month and country."""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.history_refresh import build_by_month, months_behind
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.transforms import marts
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.COUNTRY_SALES), ins=SILVER_IN, **HISTORY_MART)
def country_sales(context: dg.AssetExecutionContext, silver: pl.LazyFrame, lakehouse: Lakehouse) -> pl.LazyFrame:
    """Sales KPIs per month and country (as the shop wrote it, with ISO code and region): revenue in three
    currencies, orders, cancellations, customers, units and average order value. Refreshed for the months
    of silver that changed since it was built (adapters/history_refresh.py)."""
    refresh = months_behind(lakehouse, tables.COUNTRY_SALES, tables.SILVER_TRANSACTIONS)
    context.add_output_metadata(refresh.describe())
    return build_by_month(
        refresh, silver, lambda previous, months: marts.country_sales(silver, previous, months), tables.COUNTRY_SALES.schema
    )


matches_contract = contract_check(tables.COUNTRY_SALES)
