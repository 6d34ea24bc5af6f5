"""The weekly table maintenance job (``adapters/maintenance.py`` does the work)."""

import dagster as dg
from pydantic import Field

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.maintenance import maintain
from retail_pipeline.adapters.writer_lock import writer_lock
from retail_pipeline.core import tables
from retail_pipeline.settings import DEFAULT_RETENTION_HOURS, Settings


class MaintenanceConfig(dg.Config):
    retention_hours: int = Field(
        default=DEFAULT_RETENTION_HOURS,
        ge=0,
        description="Vacuum keeps the files that versions younger than this need (RETAIL_VACUUM_RETENTION_HOURS, "
        "default 168: Delta's 7-day minimum; lower only when no reader may be looking at older versions).",
    )


@dg.op(description="Compact, checkpoint and vacuum every Delta table of the lakehouse; files and bytes before "
       "and after are recorded on each table's asset page (an observation).")
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, lakehouse: Lakehouse) -> None:
    # Compaction commits beside a rebuild would conflict with it: maintenance is a writer like the others.
    with writer_lock(lakehouse, f"maintenance run {context.run_id}", say=context.log.info):
        for table in [*tables.catalogue(), tables.BUILD_LOG]:
            if not lakehouse.exists(table):  # not written yet
                continue
            _maintain_one(context, lakehouse, table, config.retention_hours)


def _maintain_one(context: dg.OpExecutionContext, lakehouse: Lakehouse, table: str, retention_hours: int) -> None:
    done = maintain(lakehouse, table, retention_hours)
    if table in tables.BY_PATH and tables.BY_PATH[table].is_asset:  # the build log and side tables are not assets
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(table.split("/")), metadata=done.metadata()))
    context.log.info(
        f"{table}: {done.before.stored} -> {done.after.stored} data files stored, "
        f"{done.before.active} -> {done.after.active} active ({done.files_compacted} compacted, "
        f"{done.files_vacuumed} vacuumed)"
    )


def maintenance_run_config(retention_hours: int) -> dict:
    return {"ops": {"maintain_tables": {"config": {"retention_hours": retention_hours}}}}


def build_maintenance_job(settings: Settings) -> dg.JobDefinition:
    """The maintenance job, its retention defaulting to ``RETAIL_VACUUM_RETENTION_HOURS`` (a run may set
    another in its config)."""

    @dg.job(
        name="maintenance_job",
        config=maintenance_run_config(settings.vacuum_retention_hours),
        description="Table maintenance: compact small files, checkpoint, vacuum old files.",
    )
    def maintenance_job() -> None:
        maintain_tables()

    return maintenance_job
