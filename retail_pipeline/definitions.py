"""The Dagster definitions of the retail lakehouse: what `dagster dev` and `retail-pipeline run` load."""

import dagster as dg

from retail_pipeline.assets import bronze, gold, silver
from retail_pipeline.checks import CHECKS
from retail_pipeline.resources import build_resources

LANDING_JOB = "landing_job"
DAILY_JOB = "daily_job"

REFERENCE_AND_LANDING = dg.AssetSelection.assets(
    bronze.landed_files, bronze.fx_rates, bronze.countries, silver.fx_daily, silver.dim_country
)
DAILY = dg.AssetSelection.assets(
    bronze.transactions, silver.silver_transactions, gold.daily_sales, gold.dq_scorecard
)

landing_job = dg.define_asset_job(
    LANDING_JOB,
    selection=REFERENCE_AND_LANDING,
    description="Land the files of the landing zone (the manifest) and refresh the reference data.",
)
daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=DAILY | dg.AssetSelection.assets(gold.monthly_kpis),
    description="Bronze, silver and gold for a business date or a range of them, then the monthly KPIs.",
)


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The definitions with the given resources (default: from the environment, see ``build_resources``)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([bronze, silver, gold]),
        asset_checks=CHECKS,
        jobs=[landing_job, daily_job],
        resources=resources or build_resources(),
    )


defs = build_definitions()
