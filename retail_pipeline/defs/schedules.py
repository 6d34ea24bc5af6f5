"""The schedules: the nightly run (off by default) and the weekly table maintenance, built from the settings
when the definitions load."""

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.dates import TIMEZONE
from retail_pipeline.core.planning import LandingCursor
from retail_pipeline.defs.jobs import nightly_job
from retail_pipeline.defs.policies import key_of
from retail_pipeline.defs.sensors import confirm_succeeded, plan_requests
from retail_pipeline.settings import Settings


class _NightRuns:
    """No run asked for yet: every piece of work behind is asked for (once per night, by its run key); runs
    are looked up in the instance to confirm what succeeded."""

    def __init__(self, instance: dg.DagsterInstance | None):
        self.instance = instance

    def status(self, key: str) -> None:
        return None

    def run_status(self, run_id: str) -> str | None:
        run = self.instance.get_run_by_id(run_id) if self.instance is not None else None
        return run.status.value if run is not None else None


def build_nightly_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Every night at ``RETAIL_SCHEDULE_TIME`` (Europe/London): land and materialise the previous day, and
    whatever else the planner finds behind (a run that died, a date held back by a check since fixed)."""

    @dg.schedule(
        name="nightly_schedule",
        job=nightly_job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Every night: land the landing zone, materialise the previous day's partitions, and complete "
        "whatever else is behind.",
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext, lakehouse: Lakehouse) -> list[dg.RunRequest]:
        day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)
        # One attempt per night at what is behind (the run keys name the night): no cursor, no backoff needed.
        book = _NightRuns(context.instance if context.instance_ref is not None else None)
        confirm_succeeded(lakehouse, book)
        healing, _, _ = plan_requests(
            lakehouse, LandingCursor(), book, settings.max_partitions_per_run, time.time(), settings.retry_backoff_s, context.log
        )
        daily = [key_of(table) for table in tables.DAILY_TABLES if table.is_asset]
        return [
            dg.RunRequest(run_key=f"nightly-{day}", partition_key=day.isoformat()),
            *(
                dg.RunRequest(
                    run_key=f"nightly-{day}-{r.run_key}",
                    job_name=nightly_job.name,
                    tags=r.tags,
                    asset_selection=r.asset_selection or daily,
                )
                for r in healing
            ),
        ]

    return nightly_schedule


def build_maintenance_schedule(maintenance_job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="maintenance_schedule",
        job=maintenance_job,
        cron_schedule="0 3 * * 0",  # Sundays 03:00, after the nightly run
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Weekly table maintenance (retention: RETAIL_VACUUM_RETENTION_HOURS).",
    )
