"""silver/fx_daily: GBP exchange rates for every calendar day."""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.reference_apis import FxApi
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
def fx_daily(context: dg.AssetExecutionContext, fx_rates: pl.LazyFrame, fx_api: FxApi) -> pl.LazyFrame:
    """GBP->EUR and GBP->USD for every calendar day with a current rate: the last ECB fixing on or before the
    day (weekends and holidays carry the previous fixing, never an interpolation) if it is at most
    RETAIL_FX_MAX_AGE_DAYS (7) days old, USD crossed through EUR. A later day has no row: its lines get no
    EUR or USD figure and say why. The fixing date and its source are columns: an API fixing beats the
    offline bundle's, the latest fetch wins."""
    _, end = partition_bounds()
    daily = build_fx_daily(fx_rates, end=end, max_age_days=fx_api.max_age_days)
    by_source = dict(daily.group_by("source").len().iter_rows())
    context.add_output_metadata({
        **{f"days_from_{source}": n for source, n in sorted(by_source.items())},
        "last_fixing": str(daily["fixing_date"].max()) if daily.height else "none",
        "last_day_with_a_rate": str(daily["date"].max()) if daily.height else "none",
    })
    return daily.lazy()


matches_contract = contract_check(tables.FX_DAILY)
