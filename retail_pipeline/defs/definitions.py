"""The Dagster definitions of the retail lakehouse, assembled from the settings: what ``dagster dev``,
``dg check defs`` and ``retail-pipeline run`` load.

Nothing here runs at import: resources, sensors, schedules and the executor are built when
``build_definitions`` is called (Dagster calls it through ``retail_pipeline/definitions.py``). The assets and
their checks are module-level objects, one module per asset under ``defs/<group>/<name>.py``, collected from
those packages.
"""

import dagster as dg

from retail_pipeline.adapters.io_manager import column_schema
from retail_pipeline.core import tables
from retail_pipeline.defs import bronze, gold, serving, silver
from retail_pipeline.defs.jobs import ASSET_JOBS
from retail_pipeline.defs.maintenance import build_maintenance_job
from retail_pipeline.defs.resources import build_resources
from retail_pipeline.defs.schedules import build_maintenance_schedule, build_nightly_schedule
from retail_pipeline.defs.sensors import build_sensors
from retail_pipeline.settings import Settings

ASSET_PACKAGES = (bronze, silver, gold, serving)


def with_column_schema(spec: dg.AssetSpec) -> dg.AssetSpec:
    """A lakehouse table's asset shows its columns (name, type, description from the contract) in the UI
    before anything is materialised; each materialisation records the columns it wrote (the IO manager)."""
    table = tables.by_key(spec.key.path)
    if table is None:
        return spec
    schema = column_schema(table.schema, table.descriptions())
    return spec.merge_attributes(metadata={"dagster/column_schema": schema})


def executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor of the jobs launched by Dagster (the UI, sensors, schedules), from ``RETAIL_EXECUTOR``.

    ``in_process`` (the default): one process per run. The multiprocess executor starts a Python per step
    (~3 s each here, measured: a one-day run of the daily assets took minutes), which costs more than the
    steps' own work on a laptop. ``multiprocess``: Dagster's multiprocess executor, for a deployment whose
    steps outweigh that cost; it starts its step processes with ``spawn`` unless the run config says
    ``execution: {config: {start_method: {forkserver: {}}, max_concurrent: N}}``. Never ``fork`` (Dagster
    does not offer it): deltalake panics in a forked child of a process that has used it (tokio runtime).
    It needs a persistent instance (``DAGSTER_HOME``). ``retail-pipeline run`` always runs in process.
    """
    return dg.multiprocess_executor if settings.executor == "multiprocess" else dg.in_process_executor


def build_definitions(settings: Settings | None = None, resources: dict | None = None) -> dg.Definitions:
    """The definitions of ``settings`` (default: ``Settings.from_env()``), with ``resources`` instead of the
    ones the settings describe when given (tests, ``retail-pipeline run --lakehouse``)."""
    settings = settings or Settings.from_env()
    maintenance_job = build_maintenance_job(settings)
    assets = [a for package in ASSET_PACKAGES for a in dg.load_assets_from_package_module(package)]
    if not settings.postgres_enabled:  # serving/postgres_marts exists where it has somewhere to publish
        assets = [a for a in assets if dg.AssetKey(tables.POSTGRES_MARTS.split("/")) not in a.keys]
    return dg.Definitions(
        assets=dg.map_asset_specs(with_column_schema, assets),
        asset_checks=[c for package in ASSET_PACKAGES for c in dg.load_asset_checks_from_package_module(package)],
        jobs=[*ASSET_JOBS, maintenance_job],
        sensors=build_sensors(settings),
        schedules=[build_nightly_schedule(settings), build_maintenance_schedule(maintenance_job)],
        executor=executor(settings),
        resources=resources or build_resources(settings=settings),
    )
