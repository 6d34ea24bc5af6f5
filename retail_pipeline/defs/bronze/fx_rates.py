"""bronze/fx_rates: the ECB reference rates as each source served them (an append-only fetch log)."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.reference_apis import FxApi
from retail_pipeline.adapters.reference_bundles import read_bundled_ecb_rates
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import FX_RATES
from retail_pipeline.core.enrichment.fx import missing_ranges, needed_range
from retail_pipeline.defs.bronze.reference_log import append_new, report_api, stored_log
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.policies import DELTA, input_of, key_of


@dg.asset(
    key=key_of(tables.FX_RATES),
    ins={"manifest": input_of(tables.MANIFEST)},
    group_name="bronze",
    kinds=DELTA,
)
def fx_rates(
    context: dg.AssetExecutionContext, manifest: pl.LazyFrame, lakehouse: Lakehouse, fx_api: FxApi
) -> pl.LazyFrame:
    """ECB euro reference rates as each source served them (units of currency per EUR, business days only):
    the offline bundle, and, when ``RETAIL_FX_API_URL`` is set, the payloads of a Frankfurter-compatible API
    with their request URL, HTTP status and requested range. Append-only: a payload is stored once (by its
    sha256), so a re-run adds nothing and the table shows what each source said when."""
    stored = stored_log(lakehouse, tables.FX_RATES.path, FX_RATES)
    now = datetime.now(timezone.utc)
    bundle, bundle_sha256 = read_bundled_ecb_rates()
    payloads = [bundle.with_columns(pl.lit(now).alias("_fetched_at"))]
    metadata: dict[str, object] = {"bundle_sha256": bundle_sha256, "api_configured": fx_api.enabled}

    if fx_api.enabled:
        dates = (
            manifest.filter(pl.col("status") == "active")
            .select(pl.col("business_dates").explode().alias("business_date"))
            .drop_nulls()
        )
        needed = needed_range(dates, today=now.date())
        todo = missing_ranges(needed, stored, fx_api.days_per_request)
        context.log.info(
            f"FX API {fx_api.host}: transactions need {needed[0]}..{needed[1]}, {len(todo)} range(s) not yet fetched"
            if needed else f"FX API {fx_api.host}: no business dates landed, nothing to fetch"
        )
        report = fx_api.fetch(todo)
        payloads += report.payloads
        metadata |= report_api(context, "FX", report)
        metadata["fx_ranges_fetched"] = ", ".join(f"{a}..{b}" for a, b in todo) or "none (all stored)"
    else:
        context.log.info("FX API not configured (RETAIL_FX_API_URL): the offline ECB bundle is the source")

    return append_new(context, payloads, stored, FX_RATES, metadata)


matches_contract = contract_check(tables.FX_RATES)
