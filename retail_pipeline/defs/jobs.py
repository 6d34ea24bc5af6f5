"""The jobs of the graph: what the UI, the sensors, the schedules and ``retail-pipeline run`` launch. Asset
selections name tables of the registry (``core/tables.py``), so a job never depends on where an asset's
module lives."""

import dagster as dg

from retail_pipeline.core import tables
from retail_pipeline.defs.policies import key_of

# A run over a range of daily partitions carries these tags (one run, not one per day).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The runs the landing sensor and the API queue carry this tag; dagster.yaml (and deploy/dagster.yaml) let one
# such run out of the queue at a time, in the order they were queued: they would only wait for the writer
# lock otherwise, a process each, and a rebuild's whole-history run must follow its range runs. Not a job
# tag: `retail-pipeline run` records its in-process runs in the same instance, and a killed one (left
# STARTED, with no process the sensor could look at) would then hold the queue.
WRITER_TAGS = {"retail_pipeline/writes": "lakehouse"}


def _assets(*selected: tables.Table) -> dg.AssetSelection:
    """The assets of ``selected`` (a side table comes with the asset whose step writes it)."""
    return dg.AssetSelection.assets(*(key_of(table) for table in selected if table.is_asset))


LANDING = _assets(tables.MANIFEST)
REFERENCE = _assets(tables.FX_RATES, tables.COUNTRIES, tables.FX_DAILY, tables.DIM_COUNTRY)
DAILY = _assets(*tables.DAILY_TABLES)
HISTORY = _assets(*tables.HISTORY_TABLES) | dg.AssetSelection.groups("serving")

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
nightly_job = dg.define_asset_job(
    "nightly_job",
    selection=LANDING | REFERENCE | DAILY | HISTORY,
    description="Land, refresh reference data, materialise one business date and the whole-history outputs (the "
    "nightly schedule's job; its other runs complete what the planner finds behind).",
)
history_job = dg.define_asset_job(
    "history_job",
    selection=HISTORY,
    description="The whole-history marts, from the daily tables as they stand.",
)

ASSET_JOBS = (landing_job, daily_job, partitions_job, nightly_job, history_job)


def history_selection(outputs: list[str], universe: tuple[str, ...] = tables.HISTORY_OUTPUTS) -> list[dg.AssetKey]:
    """The whole-history outputs to rebuild: those behind, the warehouse and the report when a mart is (they
    read the marts), and the Postgres publication when the warehouse is and ``universe`` (the deployment's
    outputs, ``tables.history_outputs``) has it."""
    chosen = set(outputs)
    if chosen - {tables.WAREHOUSE, tables.KPI_REPORT, tables.POSTGRES_MARTS}:
        chosen |= {tables.WAREHOUSE, tables.KPI_REPORT}
    if tables.WAREHOUSE in chosen and tables.POSTGRES_MARTS in universe:
        chosen.add(tables.POSTGRES_MARTS)
    return [dg.AssetKey(name.split("/")) for name in universe if name in chosen]
