"""silver/fx_daily: GBP exchange rates for every calendar day."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.enrichment.fx import build_fx_daily
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.policies import DELTA, input_of, key_of


@dg.asset(
    key=key_of(tables.FX_DAILY),
    ins={"fx_rates": input_of(tables.FX_RATES)},
    group_name="silver",
    kinds=DELTA,
)
def fx_daily(context: dg.AssetExecutionContext, fx_rates: pl.LazyFrame) -> pl.LazyFrame:
    """GBP->EUR and GBP->USD for every calendar day: the last ECB fixing on or before the day (weekends and
    holidays carry the previous fixing, never an interpolation), USD crossed through EUR. The fixing date
    and its source are columns: an API fixing beats the offline bundle's, the latest fetch wins."""
    _, end = partition_bounds()
    daily = build_fx_daily(fx_rates, end=end)
    by_source = dict(daily.group_by("source").len().iter_rows())
    context.add_output_metadata({f"days_from_{source}": n for source, n in sorted(by_source.items())})
    return daily.lazy()


matches_contract = contract_check(tables.FX_DAILY)
