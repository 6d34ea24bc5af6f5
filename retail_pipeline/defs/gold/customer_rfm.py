"""gold/customer_rfm: per customer, RFM figures, scores and segment."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms import marts
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import HISTORY_MART, SILVER_IN, key_of


@dg.asset(key=key_of(tables.CUSTOMER_RFM), ins=SILVER_IN, **HISTORY_MART)
def customer_rfm(context: dg.AssetExecutionContext, silver: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer with a purchase: recency, frequency and monetary value, their 1-5 scores, the RFM
    segment (champions, loyal, new, potential loyalists, at risk, hibernating, lost), and the customer
    features: average basket, tenure and average days between orders."""
    frame = marts.customer_rfm(silver).collect(engine="streaming")  # order-free aggregates, as product_features
    context.add_output_metadata(
        {f"customers_{segment}": n for segment, n in sorted(frame.group_by("segment").len().iter_rows())}
    )
    return frame.lazy()


matches_contract = contract_check(tables.CUSTOMER_RFM)
