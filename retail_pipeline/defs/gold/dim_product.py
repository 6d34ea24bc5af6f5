"""gold/dim_product: the product dimension of the star schema."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import star
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.DIM_PRODUCT), ins=SILVER_IN, **HISTORY_MART)
def dim_product(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Products: one row per stock code ever seen, with its most frequent description, first and last date
    seen and sold, and whether it is a product (not postage, a fee or a manual line)."""
    return star.dim_product(silver)


matches_contract = contract_check(tables.DIM_PRODUCT)
