"""Operating the lakehouse: the weekly table maintenance job and its schedule (maintenance.py does the work)."""

import os

import dagster as dg
from pydantic import Field

from retail_pipeline.lakehouse import Lakehouse
from retail_pipeline.maintenance import DEFAULT_RETENTION_HOURS, maintain
from retail_pipeline.partitions import TIMEZONE
from retail_pipeline.warehouse import SQL_TABLES

MAINTENANCE_JOB = "maintenance_job"


def _retention_from_env() -> int:
    raw = os.environ.get("RETAIL_VACUUM_RETENTION_HOURS", str(DEFAULT_RETENTION_HOURS))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"RETAIL_VACUUM_RETENTION_HOURS must be a whole number of hours, got {raw!r}") from exc


class MaintenanceConfig(dg.Config):
    retention_hours: int = Field(
        default_factory=_retention_from_env,
        ge=0,
        description="Vacuum keeps the files that versions younger than this need (RETAIL_VACUUM_RETENTION_HOURS, "
        "default 168: Delta's 7-day minimum; lower only when no reader may be looking at older versions).",
    )


@dg.op(description="Compact, checkpoint and vacuum every Delta table of the lakehouse; files and bytes before "
       "and after are recorded on each table's asset page (an observation).")
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, lakehouse: Lakehouse) -> None:
    for table in sorted(SQL_TABLES.values()):  # every Delta table of the graph (a test keeps the list complete)
        if not lakehouse.exists(table):  # not written yet
            continue
        done = maintain(table, lakehouse.uri(table), config.retention_hours)
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(table.split("/")), metadata=done.metadata()))
        context.log.info(
            f"{table}: {done.before.stored} -> {done.after.stored} data files stored, "
            f"{done.before.active} -> {done.after.active} active ({done.files_compacted} compacted, "
            f"{done.files_vacuumed} vacuumed)"
        )


@dg.job(name=MAINTENANCE_JOB, description="Table maintenance: compact small files, checkpoint, vacuum old files.")
def maintenance_job() -> None:
    maintain_tables()


maintenance_schedule = dg.ScheduleDefinition(
    name="maintenance_schedule",
    job=maintenance_job,
    cron_schedule="0 3 * * 0",  # Sundays 03:00, after the nightly run
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly table maintenance (retention: RETAIL_VACUUM_RETENTION_HOURS).",
)
