"""The jobs of the graph: what the UI, the sensors, the schedules and ``retail-pipeline run`` launch. Asset
selections name tables of the registry (``core/tables.py``), so a job never depends on where an asset's
module lives."""

import dagster as dg

from retail_pipeline.core import tables
from retail_pipeline.defs.policies import key_of

# A run over a range of daily partitions carries these tags (one run, not one per day).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# The whole-history marts, rebuilt from all of silver; the serving group (warehouse, report) follows them.
HISTORY_TABLES = (
    tables.MONTHLY_KPIS,
    tables.PRODUCT_PERFORMANCE,
    tables.PRODUCT_FEATURES,
    tables.CUSTOMER_RFM,
    tables.COUNTRY_SALES,
    tables.DIM_DATE,
    tables.DIM_PRODUCT,
    tables.DIM_CUSTOMER,
    tables.GOLD_DIM_COUNTRY,
)


def _assets(*selected: tables.Table) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*(key_of(table) for table in selected))


LANDING = _assets(tables.MANIFEST)
REFERENCE = _assets(tables.FX_RATES, tables.COUNTRIES, tables.FX_DAILY, tables.DIM_COUNTRY)
DAILY = _assets(*tables.DAILY_TABLES)
HISTORY = _assets(*HISTORY_TABLES) | dg.AssetSelection.groups("serving")

landing_job = dg.define_asset_job(
    "landing_job",
    selection=LANDING | REFERENCE,
    description="Land the files of the landing zone (the manifest) and refresh the reference data.",
)
daily_job = dg.define_asset_job(
    "daily_job",
    selection=DAILY | HISTORY,
    description="Bronze, silver and gold for a business date or a range of them, then the whole-history marts.",
)
partitions_job = dg.define_asset_job(
    "partitions_job",
    selection=DAILY,
    description="Bronze, silver and daily gold for a business date or a range (one chunk of a backfill).",
)
incremental_job = dg.define_asset_job(
    "incremental_job",
    selection=REFERENCE | DAILY,
    description="Reference data, then bronze, silver and daily gold for a range of business dates (what the "
    "landing sensor requests after it has landed files; the whole-history marts follow by automation).",
)
nightly_job = dg.define_asset_job(
    "nightly_job",
    selection=LANDING | REFERENCE | DAILY,
    description="Land, refresh reference data and materialise one business date (the nightly schedule's job).",
)
history_job = dg.define_asset_job(
    "history_job",
    selection=HISTORY,
    description="The whole-history marts, from the daily tables as they stand.",
)

ASSET_JOBS = (landing_job, daily_job, partitions_job, incremental_job, nightly_job, history_job)
