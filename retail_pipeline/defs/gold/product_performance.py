"""gold/product_performance: per month and product, revenue, units, orders and rank."""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.history_refresh import build_by_month, months_behind
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.transforms import marts
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, input_of, key_of


@dg.asset(key=key_of(tables.PRODUCT_PERFORMANCE), ins={**SILVER_IN, "dim_product": input_of(tables.DIM_PRODUCT)}, **HISTORY_MART)
def product_performance(
    context: dg.AssetExecutionContext, silver: pl.LazyFrame, dim_product: pl.LazyFrame, lakehouse: Lakehouse
) -> pl.LazyFrame:
    """Per month and product: gross revenue in GBP, EUR and USD, units, orders, distinct customers, and
    the product's revenue rank in the month (1 = best). Refreshed for the months of silver that changed
    since it was built (adapters/history_refresh.py)."""
    refresh = months_behind(lakehouse, tables.PRODUCT_PERFORMANCE, tables.SILVER_TRANSACTIONS)
    context.add_output_metadata(refresh.describe())
    return build_by_month(
        refresh, silver, lambda previous, months: marts.product_performance(silver, dim_product, previous, months),
        tables.PRODUCT_PERFORMANCE.schema,
    )


matches_contract = contract_check(tables.PRODUCT_PERFORMANCE)
