"""The Dagster definitions of the retail lakehouse: what `dagster dev` and `retail-pipeline run` load."""

import os

import dagster as dg

from retail_pipeline.assets import bronze, gold, serving, silver, star
from retail_pipeline.automation import (
    INCREMENTAL_JOB,
    NIGHTLY_JOB,
    history_marts_sensor,
    landing_sensor,
    nightly_schedule,
)
from retail_pipeline.checks import CHECKS
from retail_pipeline.operations import maintenance_job, maintenance_schedule, run_failure_alert
from retail_pipeline.resources import build_resources

LANDING_JOB = "landing_job"
DAILY_JOB = "daily_job"
PARTITIONS_JOB = "partitions_job"
HISTORY_JOB = "history_job"

LANDING = dg.AssetSelection.assets(bronze.landed_files)
REFERENCE = dg.AssetSelection.assets(bronze.fx_rates, bronze.countries, silver.fx_daily, silver.dim_country)
DAILY = dg.AssetSelection.assets(
    bronze.transactions, silver.silver_transactions, gold.daily_sales, gold.dq_scorecard, star.fact_sales
)
HISTORY = dg.AssetSelection.assets(
    gold.monthly_kpis,
    gold.product_performance,
    gold.product_features,
    gold.customer_rfm,
    gold.country_sales,
    star.dim_date,
    star.dim_product,
    star.dim_customer,
    star.gold_dim_country,
    serving.warehouse,
    serving.kpi_report,
)

landing_job = dg.define_asset_job(
    LANDING_JOB,
    selection=LANDING | REFERENCE,
    description="Land the files of the landing zone (the manifest) and refresh the reference data.",
)
daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=DAILY | HISTORY,
    description="Bronze, silver and gold for a business date or a range of them, then the whole-history marts.",
)
partitions_job = dg.define_asset_job(
    PARTITIONS_JOB,
    selection=DAILY,
    description="Bronze, silver and daily gold for a business date or a range (one chunk of a backfill).",
)
incremental_job = dg.define_asset_job(
    INCREMENTAL_JOB,
    selection=REFERENCE | DAILY,
    description="Reference data, then bronze, silver and daily gold for a range of business dates (what the "
    "landing sensor requests after it has landed files; the whole-history marts follow by automation).",
)
nightly_job = dg.define_asset_job(
    NIGHTLY_JOB,
    selection=LANDING | REFERENCE | DAILY,
    description="Land, refresh reference data and materialise one business date (the nightly schedule's job).",
)
history_job = dg.define_asset_job(
    HISTORY_JOB,
    selection=HISTORY,
    description="The whole-history marts, from the daily tables as they stand.",
)


EXECUTORS = ("in_process", "multiprocess")


def executor_from_env(environ=None) -> dg.ExecutorDefinition:
    """The executor of the jobs launched by Dagster (the UI, sensors, schedules), from ``RETAIL_EXECUTOR``.

    ``in_process`` (the default): one process per run. The multiprocess executor starts a Python per step
    (~3 s each here, measured: a one-day run of incremental_job took minutes), which costs more than the
    steps' own work on a laptop. ``multiprocess``: Dagster's multiprocess executor, for a deployment whose
    steps outweigh that cost; it starts its step processes with ``spawn`` unless the run config says
    ``execution: {config: {start_method: {forkserver: {}}, max_concurrent: N}}``. Never ``fork`` (Dagster
    does not offer it): deltalake panics in a forked child of a process that has used it (tokio runtime).
    It needs a persistent instance (``DAGSTER_HOME``). ``retail-pipeline run`` always runs in process.
    """
    environ = os.environ if environ is None else environ
    choice = (environ.get("RETAIL_EXECUTOR") or "in_process").strip().lower().replace("-", "_")
    if choice not in EXECUTORS:
        raise ValueError(f"RETAIL_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {environ['RETAIL_EXECUTOR']!r}")
    return dg.multiprocess_executor if choice == "multiprocess" else dg.in_process_executor


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The definitions with the given resources (default: from the environment, see ``build_resources``)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([bronze, silver, gold, star, serving]),
        asset_checks=CHECKS,
        jobs=[landing_job, daily_job, partitions_job, incremental_job, nightly_job, history_job, maintenance_job],
        sensors=[landing_sensor, history_marts_sensor, run_failure_alert],
        schedules=[nightly_schedule, maintenance_schedule],
        # One process per run unless RETAIL_EXECUTOR=multiprocess (see executor_from_env for why).
        executor=executor_from_env(),
        resources=resources or build_resources(),
    )


defs = build_definitions()
