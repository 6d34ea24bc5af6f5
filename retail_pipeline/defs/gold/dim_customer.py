"""gold/dim_customer: the customer dimension of the star schema."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import star
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.DIM_CUSTOMER), ins=SILVER_IN, **HISTORY_MART)
def dim_customer(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Customers: one row per customer id, with the country they buy from most, first and last purchase
    and cohort month (the month of the first purchase)."""
    return star.dim_customer(silver)


matches_contract = contract_check(tables.DIM_CUSTOMER)
