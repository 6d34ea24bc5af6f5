"""gold/product_features: per product, the whole-history features a recommender needs."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import marts
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.PRODUCT_FEATURES), ins=SILVER_IN, **HISTORY_MART)
def product_features(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Per product over the whole history, the item features a recommender needs: popularity (orders and
    rank), distinct customers, units, revenue, cancellation rate, first and last date sold."""
    # Every aggregate here is order-free (distinct counts, sums, min, max): the streaming engine computes
    # them in 1.7 s at 10M rows of silver where the in-memory one took 2.3 s.
    return marts.product_features(silver).collect(engine="streaming").lazy()


matches_contract = contract_check(tables.PRODUCT_FEATURES)
