"""silver/dim_country: the lookup from country names as shops write them to ISO codes and regions."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.enrichment.countries import build_dim_country, current_countries
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import DELTA, input_of, key_of


@dg.asset(
    key=key_of(tables.DIM_COUNTRY),
    ins={"countries": input_of(tables.COUNTRIES)},
    group_name="silver",
    kinds=DELTA,
)
def dim_country(context: dg.AssetExecutionContext, countries: pl.LazyFrame) -> pl.LazyFrame:
    """Country lookup: one row per country name as shops write it (normalised ``country_key``) with its ISO
    alpha-2/alpha-3 codes, name, UN region and continent; shop aliases (EIRE, RSA, USA...) included. Each
    country comes from its latest API payload when there is one, else from the offline bundle."""
    current = current_countries(countries).collect()
    context.add_output_metadata(
        {f"countries_from_{source}": n for source, n in sorted(current.group_by("source").len().iter_rows())}
    )
    return build_dim_country(current).lazy()


matches_contract = contract_check(tables.DIM_COUNTRY)
