"""Gold star schema: the sales fact at line grain and its date, product, customer and country dimensions,
joined by surrogate keys that are the same in every run (transforms/star.py)."""


import dagster as dg
import polars as pl

from retail_pipeline.assets.gold import DAILY_MART, HISTORY_MART, SILVER_IN
from retail_pipeline.io_manager import PARTITION_COLUMN
from retail_pipeline.partitions import partitions_start
from retail_pipeline.transforms import star


@dg.asset(
    key=["gold", "fact_sales"],
    ins=SILVER_IN,
    metadata={PARTITION_COLUMN: "invoice_date"},
    **DAILY_MART,
)
def fact_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """The sales fact: one row per silver line (every line type), with date_key, product_key, customer_key
    and country_key into the dimensions, quantity, unit price, line totals in GBP, EUR and USD, ``is_gross``
    and the line's source file and record. Its totals reconcile with silver."""
    return star.fact_sales(silver)


@dg.asset(key=["gold", "dim_date"], ins=SILVER_IN, **HISTORY_MART)
def dim_date(silver: pl.LazyFrame) -> pl.LazyFrame:
    """The calendar: one row per day of every year with sales (date_key = yyyymmdd), with ISO week, month,
    quarter, weekday, weekend and the bank holidays of England and Wales."""
    first, last = silver.select(pl.col("invoice_date").min().alias("a"), pl.col("invoice_date").max().alias("b")).collect().row(0)
    start = partitions_start()
    return star.dim_date(first or start, last or start).lazy()


@dg.asset(key=["gold", "dim_product"], ins=SILVER_IN, **HISTORY_MART)
def dim_product(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Products: one row per stock code ever seen, with its most frequent description, first and last date
    seen and sold, and whether it is a product (not postage, a fee or a manual line)."""
    return star.dim_product(silver)


@dg.asset(key=["gold", "dim_customer"], ins=SILVER_IN, **HISTORY_MART)
def dim_customer(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Customers: one row per customer id, with the country they buy from most, first and last purchase
    and cohort month (the month of the first purchase)."""
    return star.dim_customer(silver)


@dg.asset(
    key=["gold", "dim_country"],
    ins={**SILVER_IN, "dim_country": dg.AssetIn(key=["silver", "dim_country"])},
    **HISTORY_MART,
)
def gold_dim_country(silver: pl.LazyFrame, dim_country: pl.LazyFrame) -> pl.LazyFrame:
    """Countries: silver/dim_country (ISO codes, name, region, continent) with a surrogate key, plus every
    country name in the sales the lookup does not know (``match`` = unknown)."""
    return star.gold_dim_country(dim_country, silver)
