"""bronze/countries: ISO 3166-1 countries as each source served them (an append-only fetch log)."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.reference_apis import CountriesApi
from retail_pipeline.adapters.reference_bundles import read_bundled_countries
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import COUNTRIES
from retail_pipeline.defs.bronze.reference_log import API_ROWS, append_new, report_api, stored_log
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import DELTA, key_of


@dg.asset(
    key=key_of(tables.COUNTRIES),
    group_name="bronze",
    kinds=DELTA,
)
def countries(context: dg.AssetExecutionContext, lakehouse: Lakehouse, countries_api: CountriesApi) -> pl.LazyFrame:
    """ISO 3166-1 countries (codes, names, UN region, continent) as each source served them: the offline
    bundle (pycountry + country_converter) and, when ``RETAIL_COUNTRIES_API_URL`` is set, the payloads of a
    REST-Countries-compatible API (with currencies). Append-only by payload sha256."""
    stored = stored_log(lakehouse, tables.COUNTRIES.path, COUNTRIES)
    now = datetime.now(timezone.utc)
    bundle = read_bundled_countries()
    payloads = [bundle.with_columns(pl.lit(now).alias("_fetched_at"))]
    metadata: dict[str, object] = {"api_configured": countries_api.enabled}

    if countries_api.enabled:
        last_fetch = (
            stored.filter(pl.col("source") == API_ROWS).select(pl.col("_fetched_at").max()).collect().item()
        )
        age_hours = (now - last_fetch).total_seconds() / 3600 if last_fetch is not None else None
        if age_hours is not None and age_hours < countries_api.refresh_hours:
            context.log.info(
                f"Countries API {countries_api.host}: the stored payload is {age_hours:.1f} h old "
                f"(refresh after {countries_api.refresh_hours:g} h); not fetched"
            )
            metadata["api_requests_sent"] = 0
        else:
            report = countries_api.fetch()
            payloads += report.payloads
            metadata |= report_api(context, "Countries", report)
    else:
        context.log.info("Countries API not configured (RETAIL_COUNTRIES_API_URL): the offline bundle is the source")

    return append_new(context, payloads, stored, COUNTRIES, metadata)


matches_contract = contract_check(tables.COUNTRIES)
