"""gold/dim_country: the country dimension of the star schema."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import star
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, input_of, key_of


@dg.asset(
    key=key_of(tables.GOLD_DIM_COUNTRY),
    ins={**SILVER_IN, "dim_country": input_of(tables.DIM_COUNTRY)},
    **HISTORY_MART,
)
def gold_dim_country(silver: pl.LazyFrame, dim_country: pl.LazyFrame) -> pl.LazyFrame:
    """Countries: silver/dim_country (ISO codes, name, region, continent) with a surrogate key, plus every
    country name in the sales the lookup does not know (``match`` = unknown)."""
    return star.gold_dim_country(dim_country, silver)


matches_contract = contract_check(tables.GOLD_DIM_COUNTRY)
