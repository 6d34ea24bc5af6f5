"""gold/country_sales: sales KPIs per month and country."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import marts
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.COUNTRY_SALES), ins=SILVER_IN, **HISTORY_MART)
def country_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per month and country (as the shop wrote it, with ISO code and region): revenue in three
    currencies, orders, cancellations, customers, units and average order value."""
    return marts.country_sales(silver)


matches_contract = contract_check(tables.COUNTRY_SALES)
