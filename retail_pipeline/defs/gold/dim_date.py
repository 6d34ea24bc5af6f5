"""gold/dim_date: the calendar dimension of the star schema."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import star
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.partitions import FIRST_DATE
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.DIM_DATE), ins=SILVER_IN, **HISTORY_MART)
def dim_date(silver: pl.LazyFrame) -> pl.LazyFrame:
    """The calendar: one row per day of every year with sales (date_key = yyyymmdd), with ISO week, month,
    quarter, weekday, weekend and the bank holidays of England and Wales."""
    first, last = silver.select(pl.col("invoice_date").min().alias("a"), pl.col("invoice_date").max().alias("b")).collect().row(0)
    return star.dim_date(first or FIRST_DATE, last or FIRST_DATE).lazy()


matches_contract = contract_check(tables.DIM_DATE)
